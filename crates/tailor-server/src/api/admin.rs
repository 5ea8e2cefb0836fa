//! Administration: an account's status and reloading its package.

use super::*;

pub(super) fn status_json(state: &AppState, acct: &Account, profiles: u64) -> J {
    let live = acct.live.load_full();
    let summary = live.package().summary();
    // Times in the edition's zone, as outcomes give them.
    let tz = &live.package().compiled().edition.timezone;
    let local = |t: jiff::Timestamp| tailor_engine::value::format_time(t, tz);
    let last = acct.last_reload().map(|r| {
        json!({
            "at": local(r.at),
            "trigger": r.trigger,
            "ok": r.ok,
            "version": r.version,
            "diagnostics": r.diagnostics,
        })
    });
    json!({
        "account": acct.name,
        "package": acct.config.package.display().to_string(),
        "version": live.version,
        "generation": live.generation,
        "loaded_at": local(live.loaded_at),
        "edition": live.package().compiled().edition.name,
        "rules": summary.rules,
        "catalog_blocks": live.catalog().len(),
        "profiles": profiles,
        "history_kept_secs": live.keep.as_secs(),
        "mode": format!("{:?}", acct.config.mode).to_lowercase(),
        "now": local(state.clock.now()),
        "last_reload": last,
    })
}

/// `GET /v1/{account}/status`.
pub(crate) async fn status(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let store = Arc::clone(&state.store);
    let n = acct.name.clone();
    let profiles = blocking(move || Ok(store.profile_count(&n)?)).await?;
    Ok(Json(status_json(&state, &acct, profiles)).into_response())
}

/// `POST /v1/{account}/reload`: 200 with the status when the new version serves, 422
/// with the diagnostics when it was rejected (the old version keeps serving).
pub(crate) async fn post_reload(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let report = reload::reload(&state, &acct, "api").await;
    if report.ok {
        let store = Arc::clone(&state.store);
        let n = acct.name.clone();
        let profiles = blocking(move || Ok(store.profile_count(&n)?)).await?;
        Ok(Json(status_json(&state, &acct, profiles)).into_response())
    } else {
        Err(ApiError::unprocessable(
            format!(
                "the package was rejected; version {} keeps serving",
                report.version
            ),
            report.diagnostics,
        ))
    }
}
