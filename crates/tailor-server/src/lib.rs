//! The Tailor runtime: `tailor serve`.
//!
//! It receives each user event — above all WeChat's enter-conversation event — learns from
//! it (language.md §9), answers with that user's digest within WeChat's 5-second deadline,
//! and remembers what it delivered so that caps and `repeat after` hold, through retries,
//! restarts, reloads and bad input.
//!
//! * State (profiles, the catalog, delivery history, first replies to WeChat deliveries)
//!   lives in a [`Store`]; [`RedbStore`] is the embedded default, with dashmap caches in
//!   front (written only after a commit).
//! * Events of one user are serialized: learn → evaluate → record runs under the user's
//!   lock and commits profile, delivery record and answer in one durable write, before
//!   the answer is sent. Different users proceed in parallel.
//! * Each account's package and catalog are an `Arc<Live>` swapped atomically by
//!   reloads ([`reload`]) and catalog changes; an event finishes on the version it
//!   started with, and a package that fails to compile never replaces a good one.
//! * Events are evaluated through the `Live`'s [`tailor_engine::Index`] (the reference
//!   evaluator's outcomes, found by index), built with each `Live`, never per event.
//! * Dry runs — `GET /v1/{account}/users/{id}/digest` (with `explain=true`, the full
//!   explanation), the preview page `GET /preview/{account}/{user}` and the index of
//!   the readers `GET /preview/{account}` — read the same inputs an event would, under
//!   the same lock, and store nothing.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tailor_server::Error> {
//! let config = tailor_server::Config::load(std::path::Path::new("tailor.toml"))?;
//! let server = tailor_server::start(config, None).await?;
//! println!("listening on {}", server.addr());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod api;
pub mod clock;
pub mod config;
pub mod metrics;
mod opens;
mod preview;
mod process;
pub mod reload;
pub mod serve;
pub mod state;
mod stats;
pub mod store;
pub mod track;
pub mod wechat;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use clock::{Clock, ManualClock, ShiftedClock, SystemClock};
pub use config::{AccountConfig, Config};
pub use state::AppState;
pub use store::{RedbStore, RedisStore, Store, StoreError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A bad configuration.
    #[error("configuration: {0}")]
    Config(String),
    /// A package was rejected at start.
    #[error("account `{account}`: the package was rejected\n{diagnostics}")]
    Package {
        /// The account.
        account: String,
        /// Every diagnostic, rendered.
        diagnostics: String,
    },
    /// A profiles or catalog file was rejected at start.
    #[error("data: {0}")]
    Data(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Binding or serving failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A running server.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    state: Arc<AppState>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    serve: tokio::task::JoinHandle<std::io::Result<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    watchers: Vec<notify::RecommendedWatcher>,
}

impl Running {
    /// The address it listens on.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests look at caches, metrics and the clock).
    #[must_use]
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Graceful shutdown: stops accepting, lets in-flight requests and events finish
    /// (at most 10 s), then closes the store. Every acknowledged write was committed
    /// before it was acknowledged.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), &mut self.serve).await;
        self.watchers.clear();
        for task in &self.background {
            task.abort();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.state.inflight.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let store = Arc::clone(&self.state.store);
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        tracing::info!("tailor serve stopped");
    }

    /// Serves until the process gets Ctrl-C or SIGTERM, then shuts down gracefully.
    pub async fn until_signal(self) {
        shutdown_signal().await;
        tracing::info!("shutting down");
        self.shutdown().await;
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// `200 ok` while the store answers; `503` while a shared store cannot be reached (a load
/// balancer then sends the traffic elsewhere).
async fn healthz(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    if !state.store.shared() {
        return (StatusCode::OK, "ok\n".to_owned());
    }
    let store = Arc::clone(&state.store);
    match tokio::task::spawn_blocking(move || store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ok\n".to_owned()),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")),
    }
}

/// `GET /metrics`; behind `metrics_token` when one is configured.
async fn metrics(
    State(state): State<Arc<AppState>>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    if let Some(token) = &state.config.metrics_token
        && !api::presents_bearer(&headers, token)
    {
        let mut resp = api::ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong metrics token (Authorization: Bearer …)",
        )
        .into_response();
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer"),
        );
        return resp;
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// The HTTP routes over a state.
pub fn router(state: Arc<AppState>) -> Router {
    let cfg = &state.config;
    let wechat_limit = state
        .accounts
        .values()
        .map(|a| a.config.max_body_bytes)
        .max()
        .unwrap_or(tailor_wechat::DEFAULT_MAX_BODY_BYTES);
    let timeout = TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, cfg.request_timeout);
    let wechat = Router::new()
        .route(
            "/wechat/{account}",
            get(wechat::verify).post(wechat::receive),
        )
        .layer(DefaultBodyLimit::max(wechat_limit));
    let api = Router::new()
        .route("/v1/{account}/events", post(api::post_event))
        .route("/v1/{account}/users/{id}/digest", get(api::get_digest))
        .route("/v1/{account}/users/{id}/history", get(api::get_history))
        .route(
            "/v1/{account}/profiles/{id}",
            get(api::get_profile)
                .put(api::put_profile)
                .patch(api::patch_profile)
                .delete(api::delete_profile),
        )
        .route("/v1/{account}/catalog/{id}", delete(api::delete_block))
        .route("/v1/{account}/reload", post(api::post_reload))
        .route("/v1/{account}/status", get(api::status))
        .route("/v1/{account}/stats", get(stats::get_stats))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(timeout);
    // Bulk imports stream and get a longer timeout.
    let imports = Router::new()
        .route("/v1/{account}/profiles", post(api::import_profiles))
        .route("/v1/{account}/catalog", post(api::upsert_catalog))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            cfg.request_timeout.max(Duration::from_secs(600)),
        ));
    let admin = api
        .merge(imports)
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            api::auth,
        ))
        .layer(axum::middleware::from_fn(api::json_errors));
    // Readers' pages show personal data: behind the admin token like the API, which a
    // browser may also give as the Basic auth password.
    let preview = Router::new()
        .route("/preview/{account}", get(preview::get_index))
        .route("/preview/{account}/", get(preview::redirect_to_index))
        .route("/preview/{account}/{user}", get(preview::get_preview))
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .layer(timeout)
        .route_layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            api::preview_auth,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        // Tracked links: public (the token is the credential), the path a reverse proxy
        // maps each account's `track_base` to.
        .route("/t/{token}", get(opens::follow).layer(timeout))
        .merge(wechat.layer(timeout))
        .merge(admin)
        .merge(preview)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Opens the store and the accounts (importing data files), binds, and serves in the
/// background. `clock` overrides the configured clock (tests).
///
/// # Errors
///
/// A rejected package or data file, a store that cannot be opened, an address in use.
pub async fn start(config: Config, clock: Option<Arc<dyn Clock>>) -> Result<Running, Error> {
    start_with_store(config, clock, None).await
}

/// [`start`] on a given store instead of the redb file under `data_dir` (a shared store,
/// or a test's instrumented one).
///
/// # Errors
///
/// As [`start`].
pub async fn start_with_store(
    config: Config,
    clock: Option<Arc<dyn Clock>>,
    store: Option<Arc<dyn Store>>,
) -> Result<Running, Error> {
    let clock: Arc<dyn Clock> = match (clock, config.clock) {
        (Some(c), _) => c,
        (None, Some(start)) => Arc::new(ShiftedClock::new(start.at, start.frozen)),
        (None, None) => Arc::new(SystemClock),
    };
    let setup_config = config.clone();
    let setup_clock = Arc::clone(&clock);
    let (store, accounts) = tokio::task::spawn_blocking(move || {
        let store: Arc<dyn Store> = match store {
            Some(store) => store,
            None => match &setup_config.store {
                config::StoreKind::Redb => Arc::new(RedbStore::open_with(
                    &setup_config.data_dir,
                    setup_config.store_quick_repair,
                )?),
                config::StoreKind::Redis(target) => Arc::new(RedisStore::open(target.clone())?),
            },
        };
        let mut accounts = BTreeMap::new();
        for (name, account) in &setup_config.accounts {
            let opened = state::open_account(account, &*store, setup_clock.now())?;
            accounts.insert(name.clone(), Arc::new(opened));
        }
        Ok::<_, Error>((store, accounts))
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))??;
    let state = Arc::new(AppState::new(config, clock, store, accounts));
    // Every open connection holds a descriptor: use all the process may have.
    let nofile = serve::raise_nofile_limit();
    let listen = state.config.listen;
    let listener = serve::bind(listen).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot listen on {listen}: {e} (set `listen` in a configuration)"),
        ))
    })?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let app = router(Arc::clone(&state));
    let limits = serve::Limits {
        header_read_timeout: state.config.header_read_timeout,
        max_connections: serve::connection_cap(state.config.max_connections, nofile),
    };
    tracing::info!(
        max_connections = limits.max_connections,
        nofile,
        header_read_timeout_ms = limits.header_read_timeout.as_millis() as u64,
        "connection limits"
    );
    let serve = tokio::spawn(serve::serve(listener, app, limits, async {
        let _ = rx.await;
    }));
    let watchers = if state.config.watch {
        reload::watch(&state)
    } else {
        Vec::new()
    };
    let mut background = vec![tokio::spawn(expire_replies(Arc::clone(&state)))];
    if state.store.shared() {
        background.push(tokio::spawn(follow_catalogs(Arc::clone(&state))));
    }
    tracing::info!(%addr, accounts = state.accounts.len(), "tailor serve ready");
    Ok(Running {
        addr,
        state,
        shutdown: Some(tx),
        serve,
        background,
        watchers,
    })
}

/// Most stored replies deleted in one commit: small enough that the events' commits,
/// queued in the store's writer between two batches, never wait long.
const EXPIRE_BATCH: usize = 1_000;

/// Deletes expired replies every 10 s, in batches of at most [`EXPIRE_BATCH`], one
/// after the other until none is left.
async fn expire_replies(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    loop {
        tick.tick().await;
        loop {
            let state = Arc::clone(&state);
            let now = state.clock.now().as_second();
            match tokio::task::spawn_blocking(move || state.store.expire_replies(now, EXPIRE_BATCH))
                .await
            {
                Ok(Ok(n)) if n >= EXPIRE_BATCH as u64 => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "reply expiry failed");
                    break;
                }
                _ => break,
            }
        }
    }
}

/// Installs the log subscriber (`TAILOR_LOG` or `RUST_LOG` filter, default `info`).
/// Does nothing when one is already installed.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TAILOR_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .try_init();
}

/// Quotes `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A shell command that prints the value of `key = "…"` of the TOML table `table`
/// (`None`: the top level) of `file`, for the examples of the banner.
fn read_key_command(file: &std::path::Path, table: Option<&str>, key: &str) -> String {
    let file = shell_quote(&file.display().to_string());
    match table {
        None => format!("sed -n '/^\\[/q; s/^{key} *= *\"\\(.*\\)\"/\\1/p' {file}"),
        Some(table) => {
            let table = table.replace('.', "\\.");
            format!("sed -n '/^\\[{table}\\]/,/^\\[/s/^{key} *= *\"\\(.*\\)\"/\\1/p' {file}")
        }
    }
}

/// The file `tailor serve` without `--config` keeps its admin token in (mode 0600).
#[must_use]
pub fn admin_token_file(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("admin_token")
}

/// What to try once the server runs: a curl line for the JSON API, the preview index to
/// open in a browser and a WeChat ENTER request for the first account, signed at the
/// server clock's now (valid for the timestamp window, 5 minutes by default).
///
/// It prints no secret: it says where each token is (the configuration file, or the
/// file of a generated admin token), and the examples read them from there in the shell.
#[must_use]
pub fn banner(running: &Running) -> String {
    use std::fmt::Write as _;
    let state = running.state();
    let config = &state.config;
    let addr = running.addr();
    let mut out = String::new();
    let _ = writeln!(out, "tailor serve: listening on http://{addr}");
    // Where the secrets are, and a shell command reading each.
    let (source, admin_cmd) = match &config.file {
        Some(file) => (
            format!("in {}", file.display()),
            read_key_command(file, None, "admin_token"),
        ),
        None => {
            let file = admin_token_file(&config.data_dir);
            (
                format!("generated, in {} (mode 0600)", file.display()),
                format!("cat {}", shell_quote(&file.display().to_string())),
            )
        }
    };
    match &config.admin_token {
        Some(_) => {
            let _ = writeln!(out, "  admin token: {source}");
        }
        None => {
            let _ = writeln!(
                out,
                "  admin token: none (the JSON API and the preview answer 403)"
            );
        }
    }
    if config.metrics_token.is_some() {
        let _ = writeln!(out, "  metrics token: {source}");
    }
    for (name, account) in &state.accounts {
        let live = account.live.load();
        let _ = writeln!(
            out,
            "  account `{name}`: package {} ({}), {} blocks",
            account.config.package.display(),
            live.version,
            live.catalog().len()
        );
        let where_ = match &config.file {
            Some(file) => format!("[accounts.{name}] of {}", file.display()),
            None => "built in (the example's)".to_owned(),
        };
        let _ = writeln!(
            out,
            "  WeChat URL: http://{addr}/wechat/{name}  ({} mode; token {where_})",
            format!("{:?}", account.config.mode).to_lowercase()
        );
        if let Some(track) = &account.config.track {
            // Where the reverse proxy must send `{track_base}/{token}`; the secret stays
            // in the configuration.
            let _ = writeln!(
                out,
                "  tracked links: {}/{{token}} -> http://{addr}/t/{{token}}  (secret {where_})",
                track.base.trim_end_matches('/')
            );
        }
    }
    if let Some((name, account)) = state.accounts.iter().next() {
        let user = "li-daye";
        let _ = writeln!(out, "try:");
        if config.admin_token.is_some() {
            let _ = writeln!(
                out,
                "  curl -s -H \"Authorization: Bearer $({admin_cmd})\" http://{addr}/v1/{name}/users/{user}/digest"
            );
            let _ = writeln!(
                out,
                "  in a browser: http://{addr}/preview/{name}  (the readers' pages; any user name, the admin token as the password)"
            );
        }
        if account.config.mode == tailor_wechat::Mode::Plain {
            // The signature is sha1 of the sorted token, timestamp and nonce: computed in
            // the shell from the token where it is kept.
            let token_cmd = match &config.file {
                Some(file) => read_key_command(file, Some(&format!("accounts.{name}")), "token"),
                None => "echo tailor".to_owned(),
            };
            let now = state.clock.unix_secs();
            let nonce = "12345";
            let xml = format!(
                "<xml><ToUserName><![CDATA[gh_{name}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[ENTER]]></Event></xml>"
            );
            let _ = writeln!(
                out,
                "  sig=$(printf '%s\\n' \"$({token_cmd})\" {now} {nonce} | LC_ALL=C sort | tr -d '\\n' | sha1sum | cut -c1-40)"
            );
            let _ = writeln!(
                out,
                "  curl -s -X POST \"http://{addr}/wechat/{name}?signature=$sig&timestamp={now}&nonce={nonce}\" --data '{xml}'"
            );
        }
    }
    match config.metrics_token {
        Some(_) => {
            let cmd = match &config.file {
                Some(file) => read_key_command(file, None, "metrics_token"),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "  curl -s -H \"Authorization: Bearer $({cmd})\" http://{addr}/metrics"
            );
        }
        None => {
            let _ = writeln!(out, "  curl -s http://{addr}/metrics");
        }
    }
    out
}

/// A random admin token: 32 hex digits.
fn random_token() -> Result<String, Error> {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for _ in 0..4 {
        let n = tailor_wechat::random_nonce()
            .map_err(|e| Error::Config(format!("cannot draw an admin token: {e}")))?;
        h.update(n.as_bytes());
    }
    Ok(h.finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// The admin token of the built-in configuration: the one in [`admin_token_file`] when
/// there is one, else a new random one written there (mode 0600 on Unix).
///
/// # Errors
///
/// The file cannot be read or written.
pub fn stored_admin_token(data_dir: &std::path::Path) -> Result<String, Error> {
    use std::io::Write as _;
    let path = admin_token_file(data_dir);
    let cannot =
        |e: std::io::Error| Error::Config(format!("admin token file `{}`: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(text.trim().to_owned()),
        Ok(_) => std::fs::remove_file(&path).map_err(cannot)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(cannot(e)),
    }
    std::fs::create_dir_all(data_dir).map_err(cannot)?;
    let token = random_token()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&path).map_err(cannot)?;
    file.write_all(format!("{token}\n").as_bytes())
        .map_err(cannot)?;
    Ok(token)
}

/// `tailor serve [--config FILE]`: loads the configuration (or the default one: the
/// example package below the current directory), serves until Ctrl-C or SIGTERM.
///
/// # Errors
///
/// As [`start`]; a failure to build the runtime.
pub fn serve_main(config_path: Option<&std::path::Path>) -> Result<(), Error> {
    init_logging();
    let config = match config_path {
        Some(path) => Config::load(path)?,
        None => {
            // The admin token is kept in a file only its owner reads, never printed.
            let base = std::path::Path::new(".");
            let data_dir = Config::default_qianjiang(base, String::new())?.data_dir;
            Config::default_qianjiang(base, stored_admin_token(&data_dir)?)?
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let default = config_path.is_none();
    runtime.block_on(async move {
        let running = start(config, None).await?;
        // The banner is a courtesy: a closed or full stdout (`tailor serve | head`, a
        // detached process) must not stop the server, so write errors are ignored.
        {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", banner(&running));
            if default {
                let _ = writeln!(
                    out,
                    "(the example catalog is dated February 2013, so at today's date readers get `success`;\n \
                     `tailor serve --config crates/tailor-server/qianjiang.toml` runs the clock from its evening)"
                );
            }
            let _ = out.flush();
        }
        running.until_signal().await;
        Ok(())
    })
}

/// How often a node sharing its store looks for catalog changes made by other nodes.
const CATALOG_POLL: Duration = Duration::from_millis(500);

/// A shared store: every [`CATALOG_POLL`], each account's catalog version (a counter
/// every catalog change increases) is read; when another node changed the catalog, the
/// stored blocks are read and indexed, and the new version serves. An unreachable store
/// only delays this.
async fn follow_catalogs(state: Arc<AppState>) {
    let mut tick = tokio::time::interval(CATALOG_POLL);
    loop {
        tick.tick().await;
        for account in state.accounts.values() {
            let known = account
                .catalog_version
                .load(std::sync::atomic::Ordering::SeqCst);
            let store = Arc::clone(&state.store);
            let name = account.name.clone();
            let version = match tokio::task::spawn_blocking(move || store.catalog_version(&name))
                .await
            {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    tracing::warn!(account = %account.name, error = %e, "cannot read the catalog version");
                    continue;
                }
                Err(_) => continue,
            };
            if version == known {
                continue;
            }
            let _admin = account.admin.lock().await;
            let store = Arc::clone(&state.store);
            let acct = Arc::clone(account);
            let rebuilt = tokio::task::spawn_blocking(move || {
                let blocks = store.blocks(&acct.name).map_err(|e| e.to_string())?;
                let live = acct.live.load_full();
                let catalog = state::build_catalog(live.package(), &blocks)?;
                acct.live.store(Arc::new(live.with_catalog(catalog)));
                Ok::<_, String>(blocks.len())
            })
            .await;
            match rebuilt {
                Ok(Ok(n)) => {
                    // The version read before the blocks: a change made meanwhile is
                    // picked up by the next look.
                    account
                        .catalog_version
                        .store(version, std::sync::atomic::Ordering::SeqCst);
                    tracing::info!(account = %account.name, version, blocks = n, "catalog changed elsewhere: indexed again");
                }
                Ok(Err(e)) => {
                    tracing::error!(account = %account.name, error = %e, "the shared catalog does not fit the package: kept the serving one");
                }
                Err(_) => {}
            }
        }
    }
}
