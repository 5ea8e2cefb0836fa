//! The server's configuration: the TOML file of `tailor serve --config FILE` (its keys are a
//! contract), resolved into [`Config`] with absolute paths and every default filled in.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tailor_wechat::Mode;

use crate::Error;

/// The configuration file as written (see `docs/api.md` for every key).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    store: Option<String>,
    data_dir: Option<PathBuf>,
    admin_token: Option<String>,
    budget_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_body_bytes: Option<usize>,
    max_import_bytes: Option<usize>,
    dedup_ttl_secs: Option<u64>,
    store_quick_repair: Option<bool>,
    watch: Option<bool>,
    clock: Option<String>,
    clock_frozen: Option<bool>,
    header_read_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    metrics_token: Option<String>,
    #[serde(default)]
    accounts: BTreeMap<String, FileAccount>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAccount {
    package: PathBuf,
    profiles: Option<PathBuf>,
    catalog: Option<PathBuf>,
    token: Option<String>,
    app_id: Option<String>,
    encoding_aes_key: Option<String>,
    mode: Option<String>,
    max_body_bytes: Option<usize>,
    timestamp_window_secs: Option<u64>,
    track_base: Option<String>,
    track_secret: Option<String>,
}

/// Where the clock of the server starts (tests and demos of a dated catalog).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockStart {
    /// The instant the clock shows when the server starts.
    pub at: jiff::Timestamp,
    /// Whether it stays there (`true`) or advances with real time (`false`).
    pub frozen: bool,
}

/// Where state lives: the `store` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// `"redb"` (the default): the embedded file `tailor.redb` under `data_dir`.
    Redb,
    /// `"redis://…"` or `"redis-cluster://…"`: shared by every node configured alike.
    Redis(crate::store::RedisTarget),
}

/// The resolved configuration. Its `Debug` shows no secret (tokens and keys are
/// `<redacted>`), so that it can be logged.
#[derive(Clone)]
pub struct Config {
    /// `listen`: the socket address to bind (port 0 picks a free port).
    pub listen: SocketAddr,
    /// `store`: where state lives.
    pub store: StoreKind,
    /// `data_dir`: where the redb file `tailor.redb` lives (with `store = "redb"`).
    pub data_dir: PathBuf,
    /// `admin_token`: the Bearer token of the JSON API; `None` disables the JSON API.
    pub admin_token: Option<String>,
    /// `budget_ms`: how long a WeChat event may take before it is answered `success`.
    pub budget: Duration,
    /// `request_timeout_ms`: the timeout of every request but the bulk imports.
    pub request_timeout: Duration,
    /// `max_body_bytes`: the largest JSON API body (bulk imports excepted).
    pub max_body_bytes: usize,
    /// `max_import_bytes`: the largest bulk import (profiles or catalog, JSON lines).
    pub max_import_bytes: usize,
    /// `dedup_ttl_secs`: how long the first reply to a WeChat delivery is kept for retries.
    pub dedup_ttl: Duration,
    /// `store_quick_repair`: commit in redb's quick-repair mode (fast restart after a
    /// crash, slower commits). Default `false`.
    pub store_quick_repair: bool,
    /// `watch`: reload a package when its files change.
    pub watch: bool,
    /// `clock` and `clock_frozen`: a clock that starts at a given instant.
    pub clock: Option<ClockStart>,
    /// `header_read_timeout_ms`: how long a connection may take to send its request
    /// headers, counted from when it opened or from its previous answer (so an idle
    /// keep-alive connection is closed after it too).
    pub header_read_timeout: Duration,
    /// `max_connections`: the most connections open at once (lowered at start to fit the
    /// file-descriptor limit); further ones wait in the listen queue.
    pub max_connections: usize,
    /// `metrics_token`: when set, `/metrics` needs `Authorization: Bearer <metrics_token>`.
    pub metrics_token: Option<String>,
    /// The configuration file it was read from; `None` for the built-in configuration of
    /// `tailor serve` without `--config`. The start-up banner names it as where the
    /// tokens are, instead of printing them.
    pub file: Option<PathBuf>,
    /// `[accounts.NAME]`, by name.
    pub accounts: BTreeMap<String, AccountConfig>,
}

/// One `[accounts.NAME]` table: a package served at `/wechat/NAME` and `/v1/NAME/…`.
/// Its `Debug` shows neither the token nor the AES key.
#[derive(Clone)]
pub struct AccountConfig {
    /// The account's name (from the table's key).
    pub name: String,
    /// `package`: the package directory.
    pub package: PathBuf,
    /// `profiles`: JSON lines imported at start into an empty store.
    pub profiles: Option<PathBuf>,
    /// `catalog`: JSON lines upserted at start.
    pub catalog: Option<PathBuf>,
    /// `token`: the WeChat server token.
    pub token: String,
    /// `app_id`.
    pub app_id: String,
    /// `encoding_aes_key`: 43 characters; needed for the compatible and safe modes.
    pub encoding_aes_key: Option<String>,
    /// `mode`: plain, compatible or safe.
    pub mode: Mode,
    /// `max_body_bytes`: the largest WeChat body (default 64 KiB).
    pub max_body_bytes: usize,
    /// `timestamp_window_secs`: how far a WeChat timestamp may be from the server clock.
    pub timestamp_window_secs: u64,
    /// `track_base` and `track_secret`: tracked links in news replies (issue 21); `None`
    /// without `track_base` (replies keep the blocks' own URLs).
    pub track: Option<TrackConfig>,
}

/// Tracked links of one account: every item URL of a news reply becomes
/// `{base}/{token}`, the token signed with `secret` ([`crate::track`]). Its `Debug`
/// does not show the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct TrackConfig {
    /// `track_base`: an `http://` or `https://` URL without query or fragment, with no
    /// trailing `/`; a reverse proxy maps it to the server's `/t/`.
    pub base: String,
    /// `track_secret`: the HMAC key of the tokens.
    pub secret: String,
}

impl std::fmt::Debug for TrackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackConfig")
            .field("base", &self.base)
            .field("secret", &Redacted(!self.secret.is_empty()))
            .finish()
    }
}

/// The shortest `track_secret` accepted, in bytes.
pub const MIN_TRACK_SECRET_BYTES: usize = 16;

/// The account's tracked-link settings: both keys or neither.
fn track_config(
    name: &str,
    base: Option<String>,
    secret: Option<String>,
) -> Result<Option<TrackConfig>, Error> {
    let bad = |m: String| Error::Config(format!("account `{name}`: {m}"));
    match (base, secret) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(bad(
            "`track_base` needs `track_secret` (the key that signs the tracked links)".into(),
        )),
        (None, Some(_)) => Err(bad(
            "`track_secret` without `track_base`: set `track_base` to the public URL mapped to `/t/`, or remove `track_secret`".into(),
        )),
        (Some(base), Some(secret)) => {
            let rest = base
                .strip_prefix("https://")
                .or_else(|| base.strip_prefix("http://"));
            let host = rest.map(|r| r.split('/').next().unwrap_or(""));
            let fine = host.is_some_and(|h| {
                !h.is_empty()
                    && !h.contains('@')
                    && h.chars().all(|c| c.is_ascii_graphic())
            }) && !base.contains(['?', '#'])
                && base.chars().all(|c| c.is_ascii_graphic());
            if !fine {
                return Err(bad(format!(
                    "track_base: `{base}` is not an http(s) URL such as https://t.example.com/t (no query, fragment, spaces or user name)"
                )));
            }
            if secret.len() < MIN_TRACK_SECRET_BYTES {
                return Err(bad(format!(
                    "track_secret: too short ({} bytes): use at least {MIN_TRACK_SECRET_BYTES} random bytes, e.g. `openssl rand -hex 32`",
                    secret.len()
                )));
            }
            Ok(Some(TrackConfig {
                base: base.trim_end_matches('/').to_owned(),
                secret,
            }))
        }
    }
}

impl AccountConfig {
    /// The `tailor-wechat` configuration of this account.
    ///
    /// # Errors
    ///
    /// A bad `encoding_aes_key`.
    pub fn wechat(&self) -> Result<tailor_wechat::Config, Error> {
        let mut config = tailor_wechat::Config::new(self.token.clone(), self.app_id.clone())
            .with_mode(self.mode)
            .with_max_body_bytes(self.max_body_bytes)
            .with_timestamp_window_secs(self.timestamp_window_secs);
        if let Some(key) = &self.encoding_aes_key {
            config = config.with_encoding_aes_key(key).map_err(|e| {
                Error::Config(format!("account `{}`: encoding_aes_key: {e}", self.name))
            })?;
        }
        Ok(config)
    }
}

/// The defaults of the server-wide keys.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default evaluation budget of a WeChat event.
pub const DEFAULT_BUDGET_MS: u64 = 2_000;
/// Default `header_read_timeout_ms`.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
/// Default `max_connections` (before it is lowered to fit the file-descriptor limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;

impl Config {
    /// Reads and resolves a configuration file; relative paths are relative to the file.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the file cannot be read or is not a valid configuration.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("cannot read `{}`: {e}", path.display())))?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut config = Config::from_toml(&text, &base).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("`{}`: {m}", path.display())),
            other => other,
        })?;
        config.file = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses a configuration; relative paths are resolved against `base`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for TOML errors, unknown keys and invalid values.
    pub fn from_toml(text: &str, base: &Path) -> Result<Config, Error> {
        let file: FileConfig =
            toml::from_str(text).map_err(|e| Error::Config(toml_error(text, &e)))?;
        resolve(file, base)
    }

    /// The configuration of `tailor serve` without `--config`: `rules/qianjiang` (below
    /// `base`) as account `qianjiang` on 127.0.0.1:8080, the store under `base/data`,
    /// the package's `profiles.jsonl` and `catalog.jsonl` imported, WeChat token `tailor`
    /// in plain mode, and the given admin token.
    ///
    /// # Errors
    ///
    /// None in practice; the signature matches [`Config::from_toml`].
    pub fn default_qianjiang(base: &Path, admin_token: String) -> Result<Config, Error> {
        let file = FileConfig {
            data_dir: Some("data".into()),
            admin_token: Some(admin_token),
            accounts: BTreeMap::from([(
                "qianjiang".to_owned(),
                FileAccount {
                    package: "rules/qianjiang".into(),
                    profiles: Some("rules/qianjiang/profiles.jsonl".into()),
                    catalog: Some("rules/qianjiang/catalog.jsonl".into()),
                    token: Some("tailor".into()),
                    app_id: Some("wx0000000000000000".into()),
                    ..FileAccount::default()
                },
            )]),
            ..FileConfig::default()
        };
        resolve(file, base)
    }
}

/// A TOML error as `line L, column C: message`, without the excerpt of the file that
/// `toml`'s own message quotes: that line may hold a token.
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    let Some(at) = e.span().map(|span| span.start) else {
        return message.to_owned();
    };
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {message}")
}

/// Shows `<redacted>` for a secret that is set, `None` otherwise.
struct Redacted(bool);

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0 { "Some(<redacted>)" } else { "None" })
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("store", &self.store)
            .field("data_dir", &self.data_dir)
            .field("admin_token", &Redacted(self.admin_token.is_some()))
            .field("budget", &self.budget)
            .field("request_timeout", &self.request_timeout)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_import_bytes", &self.max_import_bytes)
            .field("dedup_ttl", &self.dedup_ttl)
            .field("watch", &self.watch)
            .field("clock", &self.clock)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("metrics_token", &Redacted(self.metrics_token.is_some()))
            .field("file", &self.file)
            .field("accounts", &self.accounts)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountConfig")
            .field("name", &self.name)
            .field("package", &self.package)
            .field("profiles", &self.profiles)
            .field("catalog", &self.catalog)
            .field("token", &Redacted(!self.token.is_empty()))
            .field("app_id", &self.app_id)
            .field(
                "encoding_aes_key",
                &Redacted(self.encoding_aes_key.is_some()),
            )
            .field("mode", &self.mode)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("timestamp_window_secs", &self.timestamp_window_secs)
            .field("track", &self.track)
            .finish_non_exhaustive()
    }
}

/// `base/p` (or `p` when absolute) with `.` and `..` resolved lexically.
fn join_normalized(base: &Path, p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in base.join(p).components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

fn resolve(file: FileConfig, base: &Path) -> Result<Config, Error> {
    let path = |p: PathBuf| join_normalized(base, &p);
    let listen_text = file.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
    let listen: SocketAddr = listen_text.parse().map_err(|e| {
        Error::Config(format!(
            "listen: `{listen_text}` is not a socket address such as 127.0.0.1:8080: {e}"
        ))
    })?;
    let clock = match &file.clock {
        None => None,
        Some(text) => Some(ClockStart {
            at: text.parse().map_err(|e| {
                Error::Config(format!(
                    "clock: `{text}` is not an RFC 3339 time such as 2013-02-21T19:30:00+08:00: {e}"
                ))
            })?,
            frozen: file.clock_frozen.unwrap_or(false),
        }),
    };
    if file.accounts.is_empty() {
        return Err(Error::Config(
            "no account: add an `[accounts.NAME]` table with at least `package`".to_owned(),
        ));
    }
    let header_read_timeout_ms = file
        .header_read_timeout_ms
        .unwrap_or(DEFAULT_HEADER_READ_TIMEOUT_MS);
    if header_read_timeout_ms == 0 {
        return Err(Error::Config(
            "header_read_timeout_ms: must be positive (a connection needs time to send its headers)"
                .to_owned(),
        ));
    }
    let max_connections = file.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 {
        return Err(Error::Config(
            "max_connections: must be positive".to_owned(),
        ));
    }
    let mut accounts = BTreeMap::new();
    for (name, a) in file.accounts {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::Config(format!(
                "account `{name}`: names are ASCII letters, digits, `-` and `_` (they appear in URLs)"
            )));
        }
        let mode = match a.mode.as_deref().unwrap_or("plain") {
            "plain" => Mode::Plain,
            "compatible" => Mode::Compatible,
            "safe" => Mode::Safe,
            other => {
                return Err(Error::Config(format!(
                    "account `{name}`: mode `{other}` is not one of plain, compatible, safe"
                )));
            }
        };
        let account = AccountConfig {
            name: name.clone(),
            package: path(a.package),
            profiles: a.profiles.map(path),
            catalog: a.catalog.map(path),
            token: a.token.unwrap_or_default(),
            // Plain mode never uses the app id; the encrypted modes check it.
            app_id: match a.app_id {
                Some(id) => id,
                None if mode == Mode::Plain => "unused".to_owned(),
                None => {
                    return Err(Error::Config(format!(
                        "account `{name}`: `app_id` is required in the compatible and safe modes"
                    )));
                }
            },
            encoding_aes_key: a.encoding_aes_key,
            mode,
            max_body_bytes: a
                .max_body_bytes
                .unwrap_or(tailor_wechat::DEFAULT_MAX_BODY_BYTES),
            timestamp_window_secs: a
                .timestamp_window_secs
                .unwrap_or(tailor_wechat::DEFAULT_TIMESTAMP_WINDOW_SECS),
            track: track_config(&name, a.track_base, a.track_secret)?,
        };
        // Validate the WeChat side now rather than at the first request.
        tailor_wechat::Callback::new(account.wechat()?)
            .map_err(|e| Error::Config(format!("account `{name}`: {e}")))?;
        accounts.insert(name, account);
    }
    let store = match file.store.as_deref() {
        None | Some("redb") => StoreKind::Redb,
        Some(url) => StoreKind::Redis(
            crate::store::RedisTarget::parse(url)
                .map_err(|e| Error::Config(format!("`store`: {e}")))?,
        ),
    };
    Ok(Config {
        listen,
        store,
        data_dir: path(file.data_dir.unwrap_or_else(|| "data".into())),
        admin_token: file.admin_token.filter(|t| !t.is_empty()),
        budget: Duration::from_millis(file.budget_ms.unwrap_or(DEFAULT_BUDGET_MS)),
        request_timeout: Duration::from_millis(file.request_timeout_ms.unwrap_or(10_000)),
        max_body_bytes: file.max_body_bytes.unwrap_or(1 << 20),
        max_import_bytes: file.max_import_bytes.unwrap_or(256 << 20),
        dedup_ttl: Duration::from_secs(file.dedup_ttl_secs.unwrap_or(3_600)),
        store_quick_repair: file.store_quick_repair.unwrap_or(false),
        watch: file.watch.unwrap_or(true),
        clock,
        header_read_timeout: Duration::from_millis(header_read_timeout_ms),
        max_connections,
        metrics_token: file.metrics_token.filter(|t| !t.is_empty()),
        file: None,
        accounts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contract_keys_parse_and_paths_are_relative_to_the_file() {
        let text = r#"
            listen = "127.0.0.1:0"
            data_dir = "state"
            admin_token = "secret"
            [accounts.qianjiang]
            package = "rules/qianjiang"
            profiles = "rules/qianjiang/profiles.jsonl"
            catalog = "rules/qianjiang/catalog.jsonl"
            token = "tok"
            app_id = "wx1234"
            encoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
            mode = "safe"
        "#;
        let c = Config::from_toml(text, Path::new("/etc/tailor")).unwrap();
        assert_eq!(c.data_dir, Path::new("/etc/tailor/state"));
        assert_eq!(
            join_normalized(Path::new("crates/x"), Path::new("../../rules/q")),
            Path::new("rules/q")
        );
        let a = &c.accounts["qianjiang"];
        assert_eq!(a.package, Path::new("/etc/tailor/rules/qianjiang"));
        assert_eq!(a.mode, Mode::Safe);
        assert_eq!(c.admin_token.as_deref(), Some("secret"));
    }

    #[test]
    fn the_store_is_redb_by_default_or_a_redis_url() {
        let base = Path::new("/etc/tailor");
        let account = "[accounts.a]\npackage = \"p\"\ntoken = \"t\"\n";
        let c = Config::from_toml(account, base).unwrap();
        assert_eq!(c.store, StoreKind::Redb);
        let c = Config::from_toml(&format!("store = \"redb\"\n{account}"), base).unwrap();
        assert_eq!(c.store, StoreKind::Redb);
        let c = Config::from_toml(
            &format!("store = \"redis://127.0.0.1:6379/0\"\n{account}"),
            base,
        )
        .unwrap();
        assert_eq!(
            c.store,
            StoreKind::Redis(crate::store::RedisTarget::Single(
                "redis://127.0.0.1:6379/0".into()
            ))
        );
        let c = Config::from_toml(
            &format!("store = \"redis-cluster://127.0.0.1:7000,127.0.0.1:7001\"\n{account}"),
            base,
        )
        .unwrap();
        assert!(
            matches!(c.store, StoreKind::Redis(crate::store::RedisTarget::Cluster(ref n)) if n.len() == 2)
        );
        let e = Config::from_toml(&format!("store = \"postgres://x\"\n{account}"), base);
        assert!(e.is_err_and(|e| e.to_string().contains("redis://")));
    }

    #[test]
    fn unknown_keys_and_bad_modes_are_rejected() {
        let e = Config::from_toml("listn = \"x\"", Path::new(".")).unwrap_err();
        assert!(e.to_string().contains("listn"), "{e}");
        let e = Config::from_toml(
            "[accounts.a]\npackage = \"p\"\nmode = \"secret\"",
            Path::new("."),
        )
        .unwrap_err();
        assert!(e.to_string().contains("mode `secret`"), "{e}");
    }

    #[test]
    fn debug_and_errors_show_no_secret() {
        let text = r#"
            admin_token = "admin-s3cret"
            metrics_token = "metrics-s3cret"
            [accounts.q]
            package = "p"
            token = "wechat-s3cret"
            app_id = "wx1"
            encoding_aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
            mode = "safe"
            track_base = "https://t.example.com/t"
            track_secret = "track-s3cret-0123456789"
        "#;
        let c = Config::from_toml(text, Path::new(".")).unwrap();
        let debug = format!("{c:?} {c:#?}");
        assert!(debug.contains("https://t.example.com/t"), "{debug}");
        for secret in [
            "track-s3cret-0123456789",
            "admin-s3cret",
            "metrics-s3cret",
            "wechat-s3cret",
            "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
        assert!(debug.contains("<redacted>"), "{debug}");
        // A syntax error on a token's line is reported by position, not quoted.
        let e = Config::from_toml("admin_token = \"admin-s3cret\n", Path::new(".")).unwrap_err();
        let e = e.to_string();
        assert!(!e.contains("admin-s3cret"), "{e}");
        assert!(e.contains("line 1, column"), "{e}");
    }

    #[test]
    fn track_keys_come_together_and_the_base_is_an_http_url() {
        let with = |extra: &str| {
            Config::from_toml(
                &format!("[accounts.a]\npackage = \"p\"\ntoken = \"t\"\n{extra}"),
                Path::new("."),
            )
        };
        let secret = "track_secret = \"0123456789abcdef\"";
        let c = with(&format!(
            "track_base = \"https://t.example.com/t/\"\n{secret}"
        ))
        .unwrap();
        let track = c.accounts["a"].track.clone().unwrap();
        assert_eq!(track.base, "https://t.example.com/t");
        assert_eq!(track.secret, "0123456789abcdef");
        assert!(with("").unwrap().accounts["a"].track.is_none());
        let c = with(&format!(
            "track_base = \"http://127.0.0.1:8080/t\"\n{secret}"
        ))
        .unwrap();
        assert_eq!(
            c.accounts["a"].track.clone().unwrap().base,
            "http://127.0.0.1:8080/t"
        );
        for base in [
            "ftp://t.example.com/t",
            "t.example.com/t",
            "https://",
            "https:///t",
            "https://t.example.com/t?x=1",
            "https://t.example.com/t#x",
            "https://t.example .com/t",
            "https://user@t.example.com/t",
            "javascript:alert(1)",
        ] {
            let e = with(&format!("track_base = \"{base}\"\n{secret}")).unwrap_err();
            let e = e.to_string();
            assert!(
                e.contains("track_base") && e.contains("http(s) URL"),
                "{base}: {e}"
            );
        }
        let e = with("track_base = \"https://t.example.com/t\"").unwrap_err();
        assert!(e.to_string().contains("needs `track_secret`"), "{e}");
        let e = with(secret).unwrap_err();
        assert!(e.to_string().contains("without `track_base`"), "{e}");
        let e = with("track_base = \"https://t.example.com/t\"\ntrack_secret = \"short-s3cret\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("too short") && !e.contains("short-s3cret"),
            "{e}"
        );
    }

    #[test]
    fn connection_limits_default_and_must_be_positive() {
        let c = Config::from_toml(
            "[accounts.a]\npackage = \"p\"\ntoken = \"t\"",
            Path::new("."),
        )
        .unwrap();
        assert_eq!(c.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.max_connections, DEFAULT_MAX_CONNECTIONS);
        for key in ["header_read_timeout_ms", "max_connections"] {
            let text = format!("{key} = 0\n[accounts.a]\npackage = \"p\"\ntoken = \"t\"");
            let e = Config::from_toml(&text, Path::new(".")).unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
    }
}
