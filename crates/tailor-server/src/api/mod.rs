//! The JSON API under `/v1/{account}` (see `docs/api.md`). Every endpoint needs the admin
//! token as `Authorization: Bearer …`: the mutating ones because they change state, the
//! reading ones because profiles and histories are personal data. The preview pages
//! (`crate::preview`) sit behind the same token, which they also take as the password of
//! HTTP Basic auth so that a browser can open them.
//!
//! One file per resource: `auth.rs` (tokens), `events.rs` (events, digests, histories),
//! `profiles.rs` (one profile, and imports), `catalog.rs` and `admin.rs` (status,
//! reload). This file holds what they share: the error answer, the user-id rule, the
//! JSON-errors middleware, account lookup and running blocking store work.

use std::sync::Arc;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures_util::StreamExt as _;
use serde::Deserialize;
use serde_json::{Value as J, json};
use tailor_engine::{Block, Catalog, Event, EventKind, Outcome};
use tailor_lang::SourceMap;

use crate::process::{self, EventError, Job};
use crate::reload;
use crate::state::{Account, AppState};
use crate::store::{JsonMap, Write};

/// An error answer: `{"error": …}` and, for rejected packages or data, `diagnostics`.
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
    diagnostics: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            diagnostics: None,
        }
    }

    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn unprocessable(message: impl Into<String>, diagnostics: String) -> ApiError {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            diagnostics: Some(diagnostics),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": self.message});
        if let (Some(d), Some(obj)) = (self.diagnostics, body.as_object_mut()) {
            obj.insert("diagnostics".into(), J::String(d));
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        use crate::store::StoreError as E;
        let status = match e {
            // A shared store out of reach, or a reader's lock lost to another node:
            // nothing was written, and the same request may succeed later.
            E::Unavailable(_) | E::LockLost => StatusCode::SERVICE_UNAVAILABLE,
            E::Failed(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> ApiError {
        match e {
            EventError::Profile { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
            }
            EventError::Store(e) => e.into(),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        }
    }
}

type ApiResult = Result<Response, ApiError>;

mod admin;
mod auth;
mod catalog;
mod events;
mod profiles;

pub(crate) use admin::{post_reload, status};
pub(crate) use auth::{auth, presents_bearer, preview_auth};
pub(crate) use catalog::{delete_block, upsert_catalog};
pub(crate) use events::{EventQuery, get_digest, get_history, post_event};
pub(crate) use profiles::{
    delete_profile, get_profile, import_profiles, patch_profile, put_profile,
};

/// The longest user id, in bytes (a WeChat openid has 28 characters).
pub const MAX_USER_ID_BYTES: usize = 128;

/// Why `id` cannot be a user id: empty, over [`MAX_USER_ID_BYTES`], or with a control
/// character. Ids come from the network (`FromUserName`, paths, bodies) and are stored
/// as keys, logged and shown in pages.
pub(crate) fn user_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        Some("is empty".to_owned())
    } else if id.len() > MAX_USER_ID_BYTES {
        Some(format!(
            "is {} bytes long; the limit is {MAX_USER_ID_BYTES}",
            id.len()
        ))
    } else if id.chars().any(char::is_control) {
        Some("contains a control character".to_owned())
    } else {
        None
    }
}

/// `400` for an id that cannot be a user id ([`user_id_problem`]).
fn check_user_id(id: &str) -> Result<(), ApiError> {
    match user_id_problem(id) {
        Some(problem) => Err(ApiError::bad(format!("the user id {problem}"))),
        None => Ok(()),
    }
}

/// Middleware of the JSON API: an error answered by anything but [`ApiError`] — axum's
/// rejections of a body over `max_body_bytes` (413) or of a bad query or path (400), the
/// timeout (408), a method not allowed (405) — is rewritten as the documented
/// `{"error": …}`, its text (or the status's reason) as the message.
pub(crate) async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_TYPE);
    parts.headers.remove(header::CONTENT_LENGTH);
    let json = ApiError::new(status, message).into_response();
    let (json_parts, json_body) = json.into_parts();
    parts.headers.extend(json_parts.headers);
    Response::from_parts(parts, json_body)
}

pub(crate) fn account(state: &AppState, name: &str) -> Result<Arc<Account>, ApiError> {
    state
        .account(name)
        .cloned()
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no account `{name}`")))
}

/// On a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}
