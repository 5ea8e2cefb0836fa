//! Hot reload: a package is compiled, and the stored catalog indexed for it, off the
//! request path and swapped in atomically; a package that fails to compile (or whose
//! schema no longer fits the stored catalog) is rejected with its diagnostics and the old
//! version keeps serving.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::state::{Account, AppState, ReloadReport, load_live};

/// Reloads one account's package. Returns the report (also kept for `status`).
pub async fn reload(
    state: &Arc<AppState>,
    account: &Arc<Account>,
    trigger: &'static str,
) -> ReloadReport {
    let _admin = account.admin.lock().await;
    let generation = account.live.load().generation + 1;
    let config = account.config.clone();
    let store = Arc::clone(&state.store);
    let now = state.clock.now();
    let loaded = tokio::task::spawn_blocking(move || load_live(&config, &*store, generation, now))
        .await
        .unwrap_or_else(|e| Err(format!("the reload task failed: {e}")));
    let report = match loaded {
        Ok(live) => {
            let version = live.version.clone();
            account.live.store(Arc::new(live));
            state.metrics.reload(&account.name, "ok");
            tracing::info!(account = %account.name, %version, trigger, "package reloaded");
            ReloadReport {
                at: now,
                trigger,
                ok: true,
                version,
                diagnostics: String::new(),
            }
        }
        Err(diagnostics) => {
            state.metrics.reload(&account.name, "rejected");
            let version = account.live.load().version.clone();
            tracing::warn!(account = %account.name, %version, trigger, %diagnostics,
                "package rejected; the old version keeps serving");
            ReloadReport {
                at: now,
                trigger,
                ok: false,
                version,
                diagnostics,
            }
        }
    };
    account.set_last_reload(report.clone());
    report
}

/// Whether a changed path can change the package (`.rules` and `.rhai` files).
fn relevant(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "rules" || e == "rhai")
}

/// Watches every account's package directory and reloads on change (debounced). The
/// watchers stop when the returned value is dropped.
pub(crate) fn watch(state: &Arc<AppState>) -> Vec<notify::RecommendedWatcher> {
    use notify::Watcher as _;
    let mut watchers = Vec::new();
    for account in state.accounts.values() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let handler = move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event
                && !event.kind.is_access()
                && event.paths.iter().any(|p| relevant(p))
            {
                let _ = tx.send(());
            }
        };
        let mut watcher = match notify::recommended_watcher(handler) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(account = %account.name, error = %e, "cannot watch the package");
                continue;
            }
        };
        if let Err(e) = watcher.watch(&account.config.package, notify::RecursiveMode::Recursive) {
            tracing::warn!(account = %account.name, error = %e, "cannot watch the package");
            continue;
        }
        watchers.push(watcher);
        let state = Arc::clone(state);
        let account = Arc::clone(account);
        tokio::spawn(async move {
            while rx.recv().await.is_some() {
                // Debounce: an editor's save is several events.
                tokio::time::sleep(Duration::from_millis(200)).await;
                while rx.try_recv().is_ok() {}
                reload(&state, &account, "watch").await;
            }
        });
    }
    watchers
}
