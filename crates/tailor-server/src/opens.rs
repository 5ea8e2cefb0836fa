//! `GET /t/{token}` (issue 21): a reader opening a tracked link of a news reply. The token
//! ([`crate::track`]) is checked in constant time under the secret of each account that
//! tracks links; a valid one is recorded as an `open` in the reader's history, teaches
//! `learn on open` on the first open of that item of that delivery (language.md §12), and
//! is answered `302` to the article. Anything else is `404` and records nothing.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tailor_engine::{Event, OpenedItem};

use crate::process::{self, Job};
use crate::state::{Account, AppState};
use crate::track::{TrackedItem, verify};

fn not_found(body: &'static str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The account whose secret signed `token`, and the item it names.
fn find(state: &AppState, token: &str) -> Option<(Arc<Account>, TrackedItem)> {
    // Every tracking account is tried (each check is constant-time): the token's account
    // is never read before a tag has been verified.
    state.accounts.values().find_map(|a| {
        let t = a.config.track.as_ref()?;
        let item = verify(t.secret.as_bytes(), &a.name, token)?;
        Some((Arc::clone(a), item))
    })
}

/// The `open` event of a tracked item, at `at`, with the opened block as the serving
/// catalog holds it now.
pub(crate) fn open_event(account: &Account, at: jiff::Timestamp, item: OpenedItem) -> Event {
    let data = account.live.load().catalog().shared(&item.block).cloned();
    Event::open(at, item, data)
}

/// `GET /t/{token}`.
pub(crate) async fn follow(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Response {
    let Some((account, item)) = find(&state, &token) else {
        return not_found("no such link");
    };
    if crate::api::user_id_problem(&item.user).is_some() {
        return not_found("no such link");
    }
    let block = item.block.clone();
    let opened = OpenedItem {
        block: item.block,
        rule: Some(item.rule),
        section: Some(item.section),
        delivered: Some(item.delivered),
    };
    let event = open_event(&account, state.clock.event_time(), opened);
    let name = account.name.clone();
    let live = account.live.load_full();
    let job = Job {
        account,
        user: item.user,
        event,
        dedup: None,
        record: true,
        explain: false,
        gate: None,
        abandoned_body: String::new(),
    };
    let render: process::Render = Box::new(|_| Ok(String::new()));
    let url = match process::run_with_budget(Arc::clone(&state), job, render, None).await {
        Ok(Some(handled)) => handled.open.and_then(|o| o.url),
        Ok(None) => None,
        Err(e) => {
            // The reader still gets the article; the open is not recorded.
            tracing::error!(account = name, error = %e, "an open could not be recorded");
            live.catalog()
                .get(&block)
                .and_then(|b| b.raw.get("url"))
                .and_then(serde_json::Value::as_str)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
        }
    };
    match url.as_deref().map(HeaderValue::from_str) {
        Some(Ok(location)) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, location),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        // Neither the delivery nor the catalog keeps a usable URL.
        _ => not_found("the article is no longer available"),
    }
}
