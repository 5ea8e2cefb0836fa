//! `GET /v1/{account}/stats?from=T&to=T` (issue 21): which rules work — the figures of
//! `tailor_engine::stats` (the same as `tailor stats` on the same records) over every
//! reader's stored history, days in the edition's time zone.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tailor_engine::History;
use tailor_engine::stats::Stats;

use crate::api::{ApiError, account};
use crate::state::AppState;

/// Readers read from the store per page.
const PAGE: usize = 1000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatsQuery {
    from: Option<String>,
    to: Option<String>,
}

fn time(name: &str, t: Option<&str>) -> Result<Option<jiff::Timestamp>, ApiError> {
    t.map(|t| {
        t.parse().map_err(|e| {
            ApiError::bad(format!(
                "`{name}`: `{t}` is not an RFC 3339 time such as 2013-02-21T19:30:00+08:00: {e}"
            ))
        })
    })
    .transpose()
}

/// `GET /v1/{account}/stats`: `{"rules": […], "sections": […], "days": […]}`.
pub(crate) async fn get_stats(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    let acct = account(&state, &name)?;
    let (from, to) = (
        time("from", q.from.as_deref())?,
        time("to", q.to.as_deref())?,
    );
    let tz = acct
        .live
        .load_full()
        .package()
        .compiled()
        .edition
        .timezone
        .clone();
    let store = Arc::clone(&state.store);
    let stats = tokio::task::spawn_blocking(move || -> Result<Stats, ApiError> {
        let mut history = History::default();
        let mut after: Option<String> = None;
        loop {
            let ids = store.profile_ids(&acct.name, after.as_deref(), PAGE)?;
            for id in &ids {
                let records = store.records(&acct.name, id)?;
                for d in records.deliveries {
                    history.push(d);
                }
                // Open records (language.md §12), as `/t/{token}` and open events store them.
                for o in records.opens {
                    history.push_open(o);
                }
            }
            match ids.last() {
                Some(last) if ids.len() == PAGE => after = Some(last.clone()),
                _ => break,
            }
        }
        Ok(Stats::compute(&history, from, to, &tz))
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(Json(stats).into_response())
}
