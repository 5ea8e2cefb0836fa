//! The server's shared state: accounts with their live package and catalog (swapped
//! atomically), the caches in front of the store, and the per-user locks.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use dashmap::DashMap;
use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};
use tailor_engine::{Catalog, Delivery, Index, Package};
use tailor_lang::SourceMap;
use tailor_wechat::Callback;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use crate::Error;
use crate::clock::Clock;
use crate::config::{AccountConfig, Config};
use crate::metrics::Metrics;
use crate::store::{JsonMap, Store, Write};

/// Number of lock stripes: events of users whose ids hash to the same stripe are
/// serialized too (rarely, and harmlessly).
const STRIPES: usize = 4096;
/// Cached profiles (and histories) per account before the cache is emptied.
const CACHE_ENTRIES: usize = 200_000;
/// Cached delivery records per account (all readers together) before the history cache
/// is emptied: the cache is bounded in bytes too (a record with its items is about
/// 1–2 KB), not only in readers, however many digests a reader draws within the window.
const CACHE_RECORDS: usize = 250_000;

/// One version of an account's package with the catalog parsed against it, indexed for
/// evaluation. Events take an `Arc<Live>` when they start and finish on it, whatever is
/// swapped in meanwhile.
#[derive(Debug)]
pub struct Live {
    /// The package and the catalog (validated against the package's content schema),
    /// indexed: every outcome the server computes comes from it. It owns the only copy
    /// of the catalog; [`Live::package`] and [`Live::catalog`] borrow from it (for
    /// learning, explanations and the preview pages).
    pub index: Index,
    /// `sha256:` and 12 hex digits of the package's sources.
    pub version: String,
    /// Counts successful loads since start (1 = the package loaded at start).
    pub generation: u64,
    /// When this version was loaded (server clock).
    pub loaded_at: Timestamp,
    /// How long history is kept: the longest cap or repeat window of the package.
    pub keep: SignedDuration,
}

impl Live {
    /// Indexes `catalog` for `package`: the one way a `Live` is made, at start, on a
    /// reload and when the catalog changes. Building the index takes time that grows
    /// with the catalog (about 0.4 s at 100k blocks), so callers run it off the async
    /// runtime, and never per event.
    #[must_use]
    pub fn new(package: &Package, catalog: Catalog, generation: u64, loaded_at: Timestamp) -> Live {
        Live {
            version: package_version(package),
            keep: keep_window(package),
            index: Index::new(package, catalog),
            generation,
            loaded_at,
        }
    }

    /// The same package version with another catalog (an upsert or a delete): the
    /// catalog is indexed again; version, generation and load time stay.
    #[must_use]
    pub fn with_catalog(&self, catalog: Catalog) -> Live {
        Live::new(self.package(), catalog, self.generation, self.loaded_at)
    }

    /// The compiled package.
    #[must_use]
    pub fn package(&self) -> &Package {
        self.index.package()
    }

    /// The catalog, validated against the package's content schema.
    #[must_use]
    pub fn catalog(&self) -> &Catalog {
        self.index.catalog()
    }
}

/// The result of the last reload attempt, for `/v1/{account}/status`.
#[derive(Debug, Clone)]
pub struct ReloadReport {
    /// When it was attempted.
    pub at: Timestamp,
    /// `start`, `api` or `watch`.
    pub trigger: &'static str,
    /// Whether the new version is serving.
    pub ok: bool,
    /// The version that serves after the attempt.
    pub version: String,
    /// Every diagnostic of a rejected package (empty when it loaded).
    pub diagnostics: String,
}

/// One account: a package served at `/wechat/NAME` and `/v1/NAME/…`.
#[derive(Debug)]
pub struct Account {
    /// The account's name.
    pub name: String,
    /// Its configuration.
    pub config: AccountConfig,
    /// Its WeChat endpoint.
    pub callback: Callback,
    /// The version serving now.
    pub live: ArcSwap<Live>,
    /// Serializes reloads and catalog changes of this account.
    pub admin: AsyncMutex<()>,
    /// The last reload attempt.
    pub last_reload: Mutex<Option<ReloadReport>>,
    /// Profiles as stored, by id (written only after a commit, under the user's lock).
    pub profiles: DashMap<String, Arc<JsonMap>>,
    /// Delivery records as stored, by user (idem).
    pub history: DashMap<String, Arc<Vec<Delivery>>>,
    /// About how many delivery records `history` holds (for [`CACHE_RECORDS`]).
    pub history_records: std::sync::atomic::AtomicUsize,
    /// Whether the two caches above are used: not when the store is shared with other
    /// processes, whose commits this one would not see.
    pub caching: bool,
    /// The catalog version (a shared store's counter) the serving `Live` was built from.
    pub catalog_version: std::sync::atomic::AtomicU64,
}

impl Account {
    /// Caches a profile as committed.
    pub(crate) fn cache_profile(&self, id: &str, profile: Option<JsonMap>) {
        if !self.caching {
            return;
        }
        match profile {
            None => {
                self.profiles.remove(id);
                if let Some((_, old)) = self.history.remove(id) {
                    self.forget_records(old.len());
                }
            }
            Some(p) => {
                if self.profiles.len() >= CACHE_ENTRIES {
                    self.profiles.clear();
                }
                self.profiles.insert(id.to_owned(), Arc::new(p));
            }
        }
    }

    /// Caches a user's history as committed.
    pub(crate) fn cache_history(&self, user: &str, history: Vec<Delivery>) {
        use std::sync::atomic::Ordering;
        if !self.caching {
            return;
        }
        let n = history.len();
        if n > CACHE_RECORDS / 4 {
            // One reader's history that large is read from the store each time.
            if let Some((_, old)) = self.history.remove(user) {
                self.forget_records(old.len());
            }
            return;
        }
        if self.history.len() >= CACHE_ENTRIES
            || self.history_records.load(Ordering::Relaxed) + n > CACHE_RECORDS
        {
            self.history.clear();
            self.history_records.store(0, Ordering::Relaxed);
        }
        if let Some(old) = self.history.insert(user.to_owned(), Arc::new(history)) {
            self.forget_records(old.len());
        }
        self.history_records.fetch_add(n, Ordering::Relaxed);
    }

    fn forget_records(&self, n: usize) {
        use std::sync::atomic::Ordering;
        let _ = self
            .history_records
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
                Some(c.saturating_sub(n))
            });
    }

    /// The reload report, if any.
    #[must_use]
    pub fn last_reload(&self) -> Option<ReloadReport> {
        self.last_reload.lock().ok().and_then(|r| r.clone())
    }

    pub(crate) fn set_last_reload(&self, report: ReloadReport) {
        if let Ok(mut r) = self.last_reload.lock() {
            *r = Some(report);
        }
    }
}

/// How long a reader's lock across processes is held at most (a node that dies holding
/// it delays that reader's next event by at most this much), and how long a node waits
/// for it.
const REMOTE_LOCK_TTL: std::time::Duration = std::time::Duration::from_secs(15);

/// A reader's lock across the processes sharing a store, released when dropped. Writes
/// committed under it carry its [`RemoteLock::fence`], so that a holder whose lock
/// expired (a stalled process) can no longer commit.
pub(crate) struct RemoteLock {
    store: Arc<dyn Store>,
    account: String,
    user: String,
    token: String,
}

impl RemoteLock {
    /// The write that makes a batch conditional on still holding this lock.
    pub(crate) fn fence(&self) -> Write {
        Write::Fence {
            account: self.account.clone(),
            user: self.user.clone(),
            token: self.token.clone(),
        }
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        if let Err(e) = self
            .store
            .unlock_user(&self.account, &self.user, &self.token)
        {
            // It expires by itself.
            tracing::warn!(account = %self.account, error = %e, "cannot release a reader's lock");
        }
    }
}

/// Blocking: takes `user`'s lock across processes in a shared store, waiting for
/// another holder at most [`REMOTE_LOCK_TTL`]; `None` for a store that is not shared
/// (the in-process lock is the whole story there).
///
/// # Errors
///
/// The store's failures; [`StoreError::Unavailable`] when the lock stays taken.
pub(crate) fn lock_remote(
    store: &Arc<dyn Store>,
    account: &str,
    user: &str,
) -> Result<Option<RemoteLock>, crate::store::StoreError> {
    if !store.shared() {
        return Ok(None);
    }
    let deadline = std::time::Instant::now() + REMOTE_LOCK_TTL;
    let mut pause = std::time::Duration::from_millis(2);
    loop {
        if let Some(token) = store.try_lock_user(account, user, REMOTE_LOCK_TTL)? {
            return Ok(Some(RemoteLock {
                store: Arc::clone(store),
                account: account.to_owned(),
                user: user.to_owned(),
                token,
            }));
        }
        if std::time::Instant::now() >= deadline {
            return Err(crate::store::StoreError::Unavailable(format!(
                "the lock of reader `{user}` stayed taken for {} s",
                REMOTE_LOCK_TTL.as_secs()
            )));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(50));
    }
}

/// Everything the handlers share.
#[derive(Debug)]
pub struct AppState {
    /// The configuration.
    pub config: Config,
    /// The clock events are evaluated at.
    pub clock: Arc<dyn Clock>,
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Accounts by name.
    pub accounts: BTreeMap<String, Arc<Account>>,
    /// `/metrics`.
    pub metrics: Metrics,
    /// Events started and not finished (shutdown waits for them).
    pub(crate) inflight: AtomicUsize,
    locks: Vec<Arc<AsyncMutex<()>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl AppState {
    pub(crate) fn new(
        config: Config,
        clock: Arc<dyn Clock>,
        store: Arc<dyn Store>,
        accounts: BTreeMap<String, Arc<Account>>,
    ) -> AppState {
        AppState {
            config,
            clock,
            store,
            accounts,
            metrics: Metrics::default(),
            inflight: AtomicUsize::new(0),
            locks: (0..STRIPES)
                .map(|_| Arc::new(AsyncMutex::new(())))
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn stripe(&self, account: &str, user: &str) -> usize {
        let h = self.hasher.hash_one((account, user));
        usize::try_from(h % STRIPES as u64).unwrap_or(0)
    }

    /// Waits for the lock of one user: learn → evaluate → record runs under it.
    pub(crate) async fn lock_user(&self, account: &str, user: &str) -> OwnedMutexGuard<()> {
        let i = self.stripe(account, user);
        let lock = self
            .locks
            .get(i)
            .cloned()
            .unwrap_or_else(|| Arc::new(AsyncMutex::new(())));
        lock.lock_owned().await
    }

    /// Waits for the locks of several users, in stripe order (no deadlock).
    pub(crate) async fn lock_users<'a>(
        &self,
        account: &str,
        users: impl IntoIterator<Item = &'a str>,
    ) -> Vec<OwnedMutexGuard<()>> {
        let mut stripes: Vec<usize> = users.into_iter().map(|u| self.stripe(account, u)).collect();
        stripes.sort_unstable();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for i in stripes {
            if let Some(lock) = self.locks.get(i) {
                guards.push(Arc::clone(lock).lock_owned().await);
            }
        }
        guards
    }

    /// An account by name.
    #[must_use]
    pub fn account(&self, name: &str) -> Option<&Arc<Account>> {
        self.accounts.get(name)
    }
}

/// The longest window the package looks back in history.
#[must_use]
pub fn keep_window(package: &Package) -> SignedDuration {
    let c = package.compiled();
    let mut keep = SignedDuration::ZERO;
    let caps = c
        .edition
        .cap
        .iter()
        .chain(c.rules.iter().filter_map(|r| r.cap.as_ref()))
        .map(|cap| cap.per);
    for d in caps.chain(c.edition.repeat) {
        keep = keep.max(d);
    }
    keep
}

/// `sha256:` and the first 12 hex digits of the hash of the package's sources.
#[must_use]
pub fn package_version(package: &Package) -> String {
    let mut h = Sha256::new();
    for (_, source) in package.sources().iter() {
        h.update(source.name.as_bytes());
        h.update([0]);
        h.update(source.text.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Parses stored blocks against a package's content schema.
///
/// # Errors
///
/// The rendered diagnostics of the blocks that do not fit the schema.
pub fn build_catalog(package: &Package, blocks: &[JsonMap]) -> Result<Catalog, String> {
    let mut text = String::new();
    for b in blocks {
        text.push_str(&serde_json::to_string(b).map_err(|e| e.to_string())?);
        text.push('\n');
    }
    let mut sources = SourceMap::new();
    package
        .parse_catalog(&mut sources, "catalog (store)", &text)
        .map_err(|d| d.render(&sources, false))
}

/// Loads a package and parses and indexes the stored catalog against it (a reload).
///
/// # Errors
///
/// The rendered diagnostics of the package, or of the catalog under the new schema.
pub fn load_live(
    account: &AccountConfig,
    store: &dyn Store,
    generation: u64,
    now: Timestamp,
) -> Result<Live, String> {
    let package = Package::load(&account.package).map_err(|r| r.render(false))?;
    let blocks = store.blocks(&account.name).map_err(|e| e.to_string())?;
    let catalog = build_catalog(&package, &blocks).map_err(|d| {
        format!("the stored catalog does not fit the new package's content schema:\n{d}")
    })?;
    Ok(Live::new(&package, catalog, generation, now))
}

/// Opens one account at start: loads its package, imports its profiles into an empty
/// store and upserts its catalog file, then parses and indexes the stored catalog.
///
/// # Errors
///
/// [`Error::Package`] with the diagnostics, [`Error::Data`] for bad data files,
/// [`Error::Store`].
pub fn open_account(
    config: &AccountConfig,
    store: &dyn Store,
    now: Timestamp,
) -> Result<Account, Error> {
    let name = &config.name;
    let package = Package::load(&config.package).map_err(|r| Error::Package {
        account: name.clone(),
        diagnostics: r.render(false),
    })?;
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path)
            .map_err(|e| Error::Data(format!("cannot read `{}`: {e}", path.display())))
    };
    if let Some(path) = &config.profiles
        && !store.has_profiles(name)?
    {
        let text = read(path)?;
        let mut sources = SourceMap::new();
        let profiles = package
            .parse_profiles(&mut sources, &path.display().to_string(), &text)
            .map_err(|d| Error::Data(d.render(&sources, false)))?;
        let writes: Vec<Write> = profiles
            .into_iter()
            .map(|p| Write::InsertProfile {
                account: name.clone(),
                id: p.id().to_owned(),
                profile: std::sync::Arc::unwrap_or_clone(p.raw),
            })
            .collect();
        for chunk in writes.chunks(1000) {
            store.apply(chunk.to_vec())?;
        }
        tracing::info!(account = %name, path = %path.display(), "imported profiles into an empty store");
    }
    if let Some(path) = &config.catalog {
        let text = read(path)?;
        let mut sources = SourceMap::new();
        let catalog = package
            .parse_catalog(&mut sources, &path.display().to_string(), &text)
            .map_err(|d| Error::Data(d.render(&sources, false)))?;
        let writes: Vec<Write> = catalog
            .blocks()
            .iter()
            .map(|b| Write::PutBlock {
                account: name.clone(),
                id: b.id().to_owned(),
                block: b.raw.clone(),
            })
            .collect();
        for chunk in writes.chunks(1000) {
            store.apply(chunk.to_vec())?;
        }
    }
    let catalog_version = store.catalog_version(name)?;
    let blocks = store.blocks(name)?;
    let catalog = build_catalog(&package, &blocks).map_err(Error::Data)?;
    let callback = Callback::new(config.wechat()?)
        .map_err(|e| Error::Config(format!("account `{name}`: {e}")))?;
    let live = Live::new(&package, catalog, 1, now);
    let report = ReloadReport {
        at: now,
        trigger: "start",
        ok: true,
        version: live.version.clone(),
        diagnostics: String::new(),
    };
    Ok(Account {
        name: name.clone(),
        config: config.clone(),
        callback,
        live: ArcSwap::from_pointee(live),
        admin: AsyncMutex::new(()),
        last_reload: Mutex::new(Some(report)),
        profiles: DashMap::new(),
        history: DashMap::new(),
        history_records: std::sync::atomic::AtomicUsize::new(0),
        caching: !store.shared(),
        catalog_version: std::sync::atomic::AtomicU64::new(catalog_version),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn account() -> (Account, tempfile::TempDir) {
        let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let config = Config::from_toml(
            &format!(
                "[accounts.q]\npackage = \"{}\"\ntoken = \"t\"\n",
                repo.join("rules/qianjiang").display()
            ),
            &repo,
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::RedbStore::open(dir.path()).unwrap();
        let now: Timestamp = "2013-02-21T19:30:00+08:00".parse().unwrap();
        let account = open_account(config.accounts.get("q").unwrap(), &store, now).unwrap();
        (account, dir)
    }

    fn history(n: usize) -> Vec<Delivery> {
        let d: Delivery = serde_json::from_value(serde_json::json!({
            "user": "u", "at": "2013-02-21T19:30:00+08:00", "event": "enter",
            "blocks": ["h-101"], "fired": ["front_page"]
        }))
        .unwrap();
        vec![d; n]
    }

    #[test]
    fn the_history_cache_is_bounded_in_records_not_only_in_readers() {
        let (a, _dir) = account();
        // 400 readers of 1,000 records each: far fewer readers than CACHE_ENTRIES, but
        // more records than CACHE_RECORDS.
        for r in 0..400 {
            a.cache_history(&format!("r{r}"), history(1_000));
            let cached: usize = a.history.iter().map(|h| h.len()).sum();
            assert!(cached <= CACHE_RECORDS, "{cached} records cached");
            assert_eq!(a.history_records.load(Ordering::Relaxed), cached);
        }
        // Replacing a reader's history counts only the new one.
        a.cache_history("r399", history(10));
        let cached: usize = a.history.iter().map(|h| h.len()).sum();
        assert_eq!(a.history_records.load(Ordering::Relaxed), cached);
        // A history larger than a quarter of the budget is not cached at all.
        a.cache_history("huge", history(CACHE_RECORDS / 4 + 1));
        assert!(a.history.get("huge").is_none());
        // Deleting a profile forgets its history's records.
        a.cache_profile("r399", None);
        let cached: usize = a.history.iter().map(|h| h.len()).sum();
        assert_eq!(a.history_records.load(Ordering::Relaxed), cached);
    }
}
