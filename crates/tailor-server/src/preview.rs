//! The live preview: `GET /preview/{account}/{user}`, the page `tailor preview` writes,
//! rendered by `tailor_engine::preview::render_preview` from what the server holds now —
//! the serving package, the stored profile, the account's catalog and the user's stored
//! history — at the server clock; and `GET /preview/{account}`, the index of the
//! account's readers, a page at a time, each with what an `enter` would give them now
//! and a link to their page. Dry runs: they take a user's lock only to read a consistent
//! moment, and learn, record and cache nothing.
//!
//! They show readers' profile-derived digests and the values of their profile fields, so
//! they sit behind the admin token like the JSON API; the pages also take it as the
//! password of HTTP Basic auth, so that an editor can open them in a browser (see
//! `crate::api::preview_auth` and `docs/api.md`). Links between the pages are relative,
//! so they work under the same credentials and behind a proxy that adds a path prefix.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tailor_engine::preview::{
    IndexEntry, IndexOptions, PreviewOptions, profile_name, render_index_page, render_preview,
};
use tailor_engine::{Event, EventKind, History};

use crate::api::{ApiError, EventQuery, account};
use crate::process::{self, EventError};
use crate::state::AppState;

/// Readers on one index page.
pub(crate) const INDEX_PAGE: usize = 1000;

/// A path segment or query value: every byte but the unreserved characters of RFC 3986
/// percent-encoded. (A relative link cannot point to a reader whose id is `.` or `..`:
/// browsers take those, encoded or not, as "this" and "the parent" directory.)
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// An HTML page that no shared cache keeps (a reader's data is personal).
fn html_page(html: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response()
}

/// `GET /preview/{account}/{user}[?event=enter&at=…&text=…]`: the reader's page as HTML.
/// `404` for an unknown account or a user without a stored profile.
pub(crate) async fn get_preview(
    State(state): State<Arc<AppState>>,
    Path((name, user)): Path<(String, String)>,
    Query(query): Query<EventQuery>,
) -> Result<Response, ApiError> {
    let acct = account(&state, &name)?;
    if query.explain {
        return Err(ApiError::bad(
            "`explain` is for `/v1/{account}/users/{id}/digest`; the preview always explains",
        ));
    }
    let event = query.event(&state)?;
    let at = event.at;
    // From `/preview/{account}/{user}`, `../{account}` is the index.
    let options = PreviewOptions {
        index_href: Some(format!("../{}", encode(&name))),
    };
    let page = process::inspect(
        Arc::clone(&state),
        acct,
        user.clone(),
        at,
        true,
        move |inputs| {
            if inputs.is_new {
                return None;
            }
            let live = &inputs.live;
            let mut history = History::new(inputs.recent.iter().cloned());
            for o in &inputs.opens {
                history.push_open(o.clone());
            }
            Some(render_preview(
                live.package(),
                &event,
                &inputs.profile,
                live.catalog(),
                &history,
                &options,
            ))
        },
    )
    .await?;
    let Some(html) = page else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no profile `{user}`"),
        ));
    };
    Ok(html_page(html))
}

/// The query of the index page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IndexQuery {
    /// List the readers whose ids come after this one (the next page).
    after: Option<String>,
}

/// `GET /preview/{account}[?after=ID]`: the account's readers in id order, [`INDEX_PAGE`]
/// at a time, each with the outcome, the number of items and the lead article an `enter`
/// at the server clock would give them (what their page shows by default), linked to
/// their page. `404` for an unknown account.
pub(crate) async fn get_index(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(query): Query<IndexQuery>,
) -> Result<Response, ApiError> {
    let acct = account(&state, &name)?;
    let after = query.after.filter(|a| !a.is_empty());
    let (mut ids, total) = {
        let (state, name, after) = (Arc::clone(&state), name.clone(), after.clone());
        tokio::task::spawn_blocking(move || {
            // One more than a page tells whether there is a next one.
            let ids = state
                .store
                .profile_ids(&name, after.as_deref(), INDEX_PAGE + 1)?;
            // Counting scans the account's profiles: only when the page is not all.
            let total = if after.is_some() || ids.len() > INDEX_PAGE {
                Some(state.store.profile_count(&name)?)
            } else {
                None
            };
            Ok::<_, ApiError>((ids, total))
        })
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??
    };
    let more = ids.len() > INDEX_PAGE;
    ids.truncate(INDEX_PAGE);
    let event = Event::new(EventKind::Enter, state.clock.event_time());
    // Links are relative to `/preview/{account}`.
    let account_href = encode(&name);
    let mut entries = Vec::with_capacity(ids.len());
    for user in &ids {
        let at = event.at;
        let look_event = event.clone();
        let summary = process::inspect(
            Arc::clone(&state),
            Arc::clone(&acct),
            user.clone(),
            at,
            false,
            move |inputs| {
                // Deleted since it was listed.
                if inputs.is_new {
                    return None;
                }
                let live = &inputs.live;
                let outcome = live.index.evaluate(
                    &look_event,
                    &inputs.profile,
                    &History::new(inputs.recent.iter().cloned()),
                );
                Some(IndexEntry {
                    user: String::new(),
                    name: profile_name(&inputs.profile).map(str::to_owned),
                    href: String::new(),
                    outcome: outcome.kind.name().to_owned(),
                    items: outcome.items.len(),
                    lead: outcome.items.first().map(|i| i.title.to_owned()),
                })
            },
        )
        .await;
        let href = format!("{account_href}/{}", encode(user));
        let entry = match summary {
            Ok(None) => continue,
            Ok(Some(entry)) => IndexEntry {
                user: user.clone(),
                href,
                ..entry
            },
            // One reader's bad profile does not hide the others; their page says more.
            Err(EventError::Profile { message, .. }) => IndexEntry {
                user: user.clone(),
                name: None,
                href,
                outcome: "profile error".to_owned(),
                items: 0,
                lead: Some(message),
            },
            Err(e) => return Err(e.into()),
        };
        entries.push(entry);
    }
    let options = IndexOptions {
        total,
        first_href: after.is_some().then(|| account_href.clone()),
        next_href: ids
            .last()
            .filter(|_| more)
            .map(|last| format!("{account_href}?after={}", encode(last))),
    };
    let live = acct.live.load_full();
    Ok(html_page(render_index_page(
        live.package(),
        &entries,
        &options,
    )))
}

/// `GET /preview/{account}/`: the index is `/preview/{account}` (its relative links need
/// that base).
pub(crate) async fn redirect_to_index(Path(name): Path<String>) -> Redirect {
    Redirect::permanent(&format!("../{}", encode(&name)))
}
