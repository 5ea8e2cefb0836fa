//! The live preview: `GET /preview/{account}/{user}`, the page `tailor preview` writes,
//! rendered by `tailor_engine::preview::render_preview` from what the server holds now —
//! the serving package, the stored profile, the account's catalog and the user's stored
//! history — at the server clock. A dry run: it takes the user's lock only to read a
//! consistent moment, and learns, records and caches nothing.
//!
//! It shows a reader's profile-derived digest and the values of their profile fields, so
//! it sits behind the admin token like the JSON API (see `docs/api.md`).

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tailor_engine::History;
use tailor_engine::preview::{PreviewOptions, render_preview};

use crate::api::{ApiError, EventQuery, account};
use crate::process;
use crate::state::AppState;

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
    // No index page is served (the store cannot list an account's users), so the page
    // has no "readers" link.
    let options = PreviewOptions { index_href: None };
    let page = process::inspect(Arc::clone(&state), acct, user.clone(), at, move |inputs| {
        if inputs.is_new {
            return None;
        }
        let live = &inputs.live;
        Some(render_preview(
            &live.package,
            &event,
            &inputs.profile,
            &live.catalog,
            &History::new(inputs.recent.iter().cloned()),
            &options,
        ))
    })
    .await?;
    let Some(html) = page else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no profile `{user}`"),
        ));
    };
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // A reader's page is personal data: no shared cache keeps it.
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response())
}
