//! The JSON API under `/v1/{account}` (see `docs/api.md`). Every endpoint needs the admin
//! token as `Authorization: Bearer …`: the mutating ones because they change state, the
//! reading ones because profiles and histories are personal data. The preview pages
//! (`crate::preview`) sit behind the same token, which they also take as the password of
//! HTTP Basic auth so that a browser can open them.

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

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The credentials of an `Authorization: Bearer …` header (the scheme is matched
/// case-insensitively, RFC 9110 §11.1).
pub(crate) fn bearer(headers: &header::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("Bearer")
        .then(|| credentials.trim())
}

/// Whether `headers` present `token` as a Bearer token (compared in constant time).
pub(crate) fn presents_bearer(headers: &header::HeaderMap, token: &str) -> bool {
    bearer(headers).is_some_and(|given| same(given.as_bytes(), token.as_bytes()))
}

/// The realm of the preview pages' Basic challenge: a browser asks for a password.
const PREVIEW_CHALLENGE: &str = r#"Basic realm="tailor preview", charset="UTF-8""#;

/// Which credentials a route takes, and how it asks for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// `Authorization: Bearer TOKEN` (the JSON API).
    Bearer,
    /// That, or HTTP Basic with the token as the password and any user name, so that a
    /// browser can open the page: the preview pages.
    BearerOrBasic,
}

/// Whether the `Authorization` header presents `token`. The token is compared in
/// constant time ([`same`]) however it came.
fn presents(req: &Request, token: &str, credentials: Credentials) -> bool {
    if let Some(given) = bearer(req.headers()) {
        return same(given.as_bytes(), token.as_bytes());
    }
    if credentials == Credentials::Bearer {
        return false;
    }
    let Some(value) = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // RFC 7617: `Basic base64(user-id ":" password)`, the scheme case-insensitive; the
    // user id has no colon, the password may.
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return false;
    };
    if !scheme.eq_ignore_ascii_case("Basic") {
        return false;
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    match decoded.iter().position(|&b| b == b':') {
        Some(colon) => same(
            decoded.get(colon + 1..).unwrap_or_default(),
            token.as_bytes(),
        ),
        None => false,
    }
}

/// The admin token, or an answer: `403` when none is configured, `401` (with its
/// challenge) when the request does not present it.
async fn check(state: &AppState, req: Request, next: Next, credentials: Credentials) -> Response {
    let Some(token) = &state.config.admin_token else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "the JSON API and the preview are disabled: set `admin_token` in the configuration",
        )
        .into_response();
    };
    if presents(&req, token, credentials) {
        return next.run(req).await;
    }
    let (message, challenge) = match credentials {
        Credentials::Bearer => (
            "missing or wrong admin token (Authorization: Bearer …)",
            "Bearer",
        ),
        Credentials::BearerOrBasic => (
            "missing or wrong admin token (the password, any user name; or Authorization: Bearer …)",
            PREVIEW_CHALLENGE,
        ),
    };
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static(challenge),
    );
    resp
}

/// Middleware of the JSON API: the admin token as `Authorization: Bearer …`.
pub(crate) async fn auth(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    check(&state, req, next, Credentials::Bearer).await
}

/// Middleware of the preview pages: the admin token as a Bearer token or as the password
/// of HTTP Basic auth, which a browser asks for when answered `401` with
/// [`PREVIEW_CHALLENGE`].
pub(crate) async fn preview_auth(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    check(&state, req, next, Credentials::BearerOrBasic).await
}

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

/// An event of a request: its kind (`default_kind` when not given) and its time (the
/// server clock's, truncated to the second, when not given).
fn request_event(
    state: &AppState,
    kind: Option<&str>,
    at: Option<&str>,
    default_kind: EventKind,
) -> Result<Event, ApiError> {
    let kind = match kind {
        None => default_kind,
        Some(k) => EventKind::parse(k).ok_or_else(|| {
            let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
            ApiError::bad(format!(
                "unknown event kind `{k}`; expected one of {}",
                names.join(", ")
            ))
        })?,
    };
    if kind == EventKind::Open {
        // An open needs its item and the first-open bookkeeping of §12, which the server
        // does not do yet (issue 21, point 2): refuse it rather than learn wrongly.
        return Err(ApiError::bad(
            "`open` events are not accepted by the server yet; `tailor digest --event open` evaluates one"
                .to_owned(),
        ));
    }
    let at = match at {
        None => state.clock.event_time(),
        Some(t) => t.parse().map_err(|e| {
            ApiError::bad(format!(
                "`at`: `{t}` is not an RFC 3339 time such as 2013-02-21T19:30:00+08:00: {e}"
            ))
        })?,
    };
    Ok(Event::new(kind, at))
}

/// The body of `POST /v1/{account}/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventBody {
    user: Option<String>,
    #[serde(alias = "kind")]
    event: Option<String>,
    at: Option<String>,
    text: Option<String>,
    key: Option<String>,
    url: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    precision: Option<f64>,
    #[serde(default)]
    dry_run: bool,
    idempotency_key: Option<String>,
}

impl EventBody {
    fn event(&self, state: &AppState, default_kind: EventKind) -> Result<Event, ApiError> {
        Ok(Event {
            text: self.text.clone(),
            key: self.key.clone(),
            url: self.url.clone(),
            lat: self.lat,
            lon: self.lon,
            precision: self.precision,
            ..request_event(
                state,
                self.event.as_deref(),
                self.at.as_deref(),
                default_kind,
            )?
        })
    }
}

/// The query of the dry runs: `GET …/users/{id}/digest` and the preview page.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EventQuery {
    #[serde(alias = "kind")]
    event: Option<String>,
    at: Option<String>,
    text: Option<String>,
    key: Option<String>,
    url: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    precision: Option<f64>,
    /// Add the full explanation (`Explanation::to_json`) to a digest.
    #[serde(default)]
    pub(crate) explain: bool,
}

impl EventQuery {
    /// The event: `enter` at the server clock unless the query says otherwise.
    pub(crate) fn event(&self, state: &AppState) -> Result<Event, ApiError> {
        Ok(Event {
            text: self.text.clone(),
            key: self.key.clone(),
            url: self.url.clone(),
            lat: self.lat,
            lon: self.lon,
            precision: self.precision,
            ..request_event(
                state,
                self.event.as_deref(),
                self.at.as_deref(),
                EventKind::Enter,
            )?
        })
    }
}

fn json_render() -> process::Render {
    Box::new(|outcome: &Outcome<'_>| serde_json::to_string(&outcome).map_err(|e| e.to_string()))
}

fn outcome_response(handled: process::Handled, record: bool) -> ApiResult {
    let mut value: J = serde_json::from_str(&handled.body)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("recorded".into(), J::Bool(handled.recorded));
        obj.insert("dry_run".into(), J::Bool(!record));
        if handled.replayed {
            obj.insert("replayed".into(), J::Bool(true));
        }
        if let Some(ex) = &handled.explanation {
            obj.insert("explanation".into(), ex.to_json());
        }
    }
    Ok(Json(value).into_response())
}

/// `POST /v1/{account}/events`: learn, evaluate and (unless `dry_run`) record.
pub(crate) async fn post_event(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let body: EventBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad(format!("the event is not valid JSON: {e}")))?;
    let user = body
        .user
        .clone()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| ApiError::bad("`user` is required"))?;
    check_user_id(&user)?;
    let event = body.event(&state, EventKind::Enter)?;
    let record = !body.dry_run;
    let job = Job {
        account: acct,
        user,
        event,
        dedup: body
            .idempotency_key
            .filter(|_| record)
            .map(|k| format!("api|{k}")),
        record,
        explain: false,
        gate: None,
        abandoned_body: String::new(),
    };
    run_json(&state, job).await
}

/// Run an event job within the evaluation budget and answer its outcome as JSON.
async fn run_json(state: &Arc<AppState>, job: Job) -> ApiResult {
    let record = job.record;
    let handled = process::run_with_budget(Arc::clone(state), job, json_render(), None)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no answer"))?;
    outcome_response(handled, record)
}

/// `GET /v1/{account}/users/{id}/digest`: a dry run (default event `enter`, at now) with
/// each item's reasons and the fired rules; with `explain=true` also the full
/// explanation of the same evaluation, as `tailor explain --format json` prints it.
pub(crate) async fn get_digest(
    State(state): State<Arc<AppState>>,
    Path((name, user)): Path<(String, String)>,
    Query(query): Query<EventQuery>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let event = query.event(&state)?;
    let job = Job {
        account: acct,
        user,
        event,
        dedup: None,
        record: false,
        explain: query.explain,
        gate: None,
        abandoned_body: String::new(),
    };
    run_json(&state, job).await
}

/// `GET /v1/{account}/users/{id}/history`.
pub(crate) async fn get_history(
    State(state): State<Arc<AppState>>,
    Path((name, user)): Path<(String, String)>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let store = Arc::clone(&state.store);
    let u = user.clone();
    let deliveries = blocking(move || Ok(store.history(&acct.name, &u)?)).await?;
    Ok(Json(json!({"user": user, "deliveries": deliveries})).into_response())
}

/// `GET /v1/{account}/profiles/{id}`.
pub(crate) async fn get_profile(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    if let Some(p) = acct.profiles.get(&id) {
        return Ok(Json(J::Object((**p).clone())).into_response());
    }
    let store = Arc::clone(&state.store);
    let i = id.clone();
    match blocking(move || Ok(store.profile(&acct.name, &i)?)).await? {
        Some(p) => Ok(Json(J::Object(p)).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no profile `{id}`"),
        )),
    }
}

fn parse_object(body: &[u8]) -> Result<JsonMap, ApiError> {
    match serde_json::from_slice(body) {
        Ok(J::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad("the body must be a JSON object")),
        Err(e) => Err(ApiError::bad(format!("the body is not valid JSON: {e}"))),
    }
}

/// RFC 7396 JSON merge patch.
fn merge_patch(target: &mut JsonMap, patch: JsonMap) {
    for (k, v) in patch {
        match v {
            J::Null => {
                target.remove(&k);
            }
            J::Object(p) => match target.get_mut(&k) {
                Some(J::Object(t)) => merge_patch(t, p),
                _ => {
                    let mut t = JsonMap::new();
                    merge_patch(&mut t, p);
                    target.insert(k, J::Object(t));
                }
            },
            v => {
                target.insert(k, v);
            }
        }
    }
}

/// Writes one profile under its user's lock, after validating it against the schema.
async fn write_profile(
    state: &Arc<AppState>,
    acct: Arc<Account>,
    id: String,
    change: impl FnOnce(Option<JsonMap>) -> Result<Option<JsonMap>, ApiError> + Send + 'static,
) -> Result<Option<JsonMap>, ApiError> {
    let guard = state.lock_user(&acct.name, &id).await;
    let state = Arc::clone(state);
    blocking(move || {
        let _guard = guard;
        let remote = crate::state::lock_remote(&state.store, &acct.name, &id)?;
        let fence = remote.as_ref().map(crate::state::RemoteLock::fence);
        let current = match acct.profiles.get(&id) {
            Some(p) => Some((**p).clone()),
            None => state.store.profile(&acct.name, &id)?,
        };
        let existed = current.is_some();
        let next = change(current)?;
        match &next {
            Some(p) => {
                acct.live
                    .load()
                    .package()
                    .profile_from_json(p.clone())
                    .map_err(|e| {
                        ApiError::unprocessable("the profile does not fit the schema", e)
                    })?;
                let mut writes: Vec<Write> = fence.into_iter().collect();
                writes.push(Write::PutProfile {
                    account: acct.name.clone(),
                    id: id.clone(),
                    profile: p.clone(),
                });
                state.store.apply(writes)?;
            }
            None if existed => {
                let mut writes: Vec<Write> = fence.into_iter().collect();
                writes.push(Write::DeleteProfile {
                    account: acct.name.clone(),
                    id: id.clone(),
                });
                state.store.apply(writes)?;
            }
            None => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no profile `{id}`"),
                ));
            }
        }
        acct.cache_profile(&id, next.clone());
        Ok(next)
    })
    .await
}

/// `PUT /v1/{account}/profiles/{id}`: creates or replaces a profile.
pub(crate) async fn put_profile(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let acct = account(&state, &name)?;
    check_user_id(&id)?;
    let mut profile = parse_object(&body)?;
    match profile.get("id") {
        None => {
            profile.insert("id".into(), J::String(id.clone()));
        }
        Some(J::String(given)) if *given == id => {}
        Some(_) => return Err(ApiError::bad(format!("the body's `id` is not `{id}`"))),
    }
    let saved = write_profile(&state, acct, id, move |_| Ok(Some(profile))).await?;
    Ok(Json(saved.map_or(J::Null, J::Object)).into_response())
}

/// `PATCH /v1/{account}/profiles/{id}`: a JSON merge patch (RFC 7396); creates the
/// profile when absent.
pub(crate) async fn patch_profile(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let acct = account(&state, &name)?;
    check_user_id(&id)?;
    let patch = parse_object(&body)?;
    if patch
        .get("id")
        .is_some_and(|v| v.as_str() != Some(id.as_str()))
    {
        return Err(ApiError::bad("a patch cannot change `id`"));
    }
    let pid = id.clone();
    let saved = write_profile(&state, acct, id, move |current| {
        let mut p = current.unwrap_or_default();
        merge_patch(&mut p, patch);
        p.insert("id".into(), J::String(pid));
        Ok(Some(p))
    })
    .await?;
    Ok(Json(saved.map_or(J::Null, J::Object)).into_response())
}

/// `DELETE /v1/{account}/profiles/{id}`: the profile and its history.
pub(crate) async fn delete_profile(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    write_profile(&state, acct, id, |_| Ok(None)).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Splits a stream of chunks into lines, looking at each byte once however long the
/// lines are (searching the whole buffer again at each chunk was quadratic in a line's
/// length: 0.89 s for a 24 MB line).
#[derive(Debug, Default)]
struct Lines {
    buf: Vec<u8>,
    /// Where the next line starts in `buf`.
    start: usize,
    /// `buf[start..scanned]` holds no newline.
    scanned: usize,
    /// Bytes searched for a newline so far.
    examined: usize,
}

impl Lines {
    fn push(&mut self, chunk: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete line, with its newline.
    fn next_line(&mut self) -> Option<&[u8]> {
        let rest = self.buf.get(self.scanned..)?;
        match rest.iter().position(|&b| b == b'\n') {
            Some(offset) => {
                self.examined += offset + 1;
                let (start, end) = (self.start, self.scanned + offset + 1);
                self.start = end;
                self.scanned = end;
                self.buf.get(start..end)
            }
            None => {
                self.examined += rest.len();
                self.scanned = self.buf.len();
                None
            }
        }
    }

    /// What is left after the last newline.
    fn rest(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }
}

/// Splits a streamed body into lines; gives `line` (line number, text) for each
/// non-blank line. Stops at `limit` bytes.
async fn for_each_line(body: Body, limit: usize, line: &mut ProfileImport) -> Result<(), ApiError> {
    let mut stream = body.into_data_stream();
    let mut lines = Lines::default();
    let mut seen = 0usize;
    let mut line_no = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad(format!("cannot read the body: {e}")))?;
        seen += chunk.len();
        if seen > limit {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the body exceeds max_import_bytes ({limit})"),
            ));
        }
        lines.push(&chunk);
        while let Some(text) = lines.next_line() {
            line_no += 1;
            line.line(line_no, text).await?;
        }
    }
    let rest = lines.rest();
    if !rest.iter().all(u8::is_ascii_whitespace) {
        line_no += 1;
        line.line(line_no, rest).await?;
    }
    line.finish().await
}

/// Most profiles committed in one import batch.
const IMPORT_BATCH: usize = 500;
/// Most rejected lines listed in an import's answer.
const MAX_LISTED: usize = 100;

struct ProfileImport {
    state: Arc<AppState>,
    acct: Arc<Account>,
    batch: Vec<JsonMap>,
    imported: usize,
    rejected: usize,
    errors: Vec<J>,
}

impl ProfileImport {
    fn reject(&mut self, line_no: usize, error: String) {
        self.rejected += 1;
        if self.errors.len() < MAX_LISTED {
            self.errors.push(json!({"line": line_no, "error": error}));
        }
    }

    async fn flush(&mut self) -> Result<(), ApiError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let ids: Vec<String> = batch
            .iter()
            .map(|p| p.get("id").and_then(J::as_str).unwrap_or("").to_owned())
            .collect();
        let guards = self
            .state
            .lock_users(&self.acct.name, ids.iter().map(String::as_str))
            .await;
        let state = Arc::clone(&self.state);
        let acct = Arc::clone(&self.acct);
        let n = batch.len();
        blocking(move || {
            let _guards = guards;
            // A shared store: every reader's lock across processes too, fencing the batch.
            let mut remote = Vec::new();
            // In id order: two nodes importing overlapping batches never wait on each other
            // in a circle.
            let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
            for id in unique {
                remote.extend(crate::state::lock_remote(&state.store, &acct.name, id)?);
            }
            let mut writes: Vec<Write> =
                remote.iter().map(crate::state::RemoteLock::fence).collect();
            writes.extend(batch.iter().zip(&ids).map(|(p, id)| Write::PutProfile {
                account: acct.name.clone(),
                id: id.clone(),
                profile: p.clone(),
            }));
            state.store.apply(writes)?;
            for (p, id) in batch.into_iter().zip(&ids) {
                acct.cache_profile(id, Some(p));
            }
            Ok(())
        })
        .await?;
        self.imported += n;
        Ok(())
    }
}

impl ProfileImport {
    async fn line(&mut self, line_no: usize, text: &[u8]) -> Result<(), ApiError> {
        if text.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let obj = match serde_json::from_slice::<J>(text) {
            Ok(J::Object(obj)) => obj,
            Ok(_) => {
                self.reject(line_no, "not a JSON object".into());
                return Ok(());
            }
            Err(e) => {
                self.reject(line_no, format!("not valid JSON: {e}"));
                return Ok(());
            }
        };
        if let Some(problem) = obj.get("id").and_then(J::as_str).and_then(user_id_problem) {
            self.reject(line_no, format!("the user id {problem}"));
            return Ok(());
        }
        match self
            .acct
            .live
            .load()
            .package()
            .profile_from_json(obj.clone())
        {
            Ok(_) => self.batch.push(obj),
            Err(e) => self.reject(line_no, e),
        }
        if self.batch.len() >= IMPORT_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), ApiError> {
        self.flush().await
    }
}

/// `POST /v1/{account}/profiles`: a bulk import of JSON lines, streamed and committed in
/// batches (each profile created or replaced). Lines that are not valid profiles are
/// skipped and listed.
pub(crate) async fn import_profiles(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let limit = state.config.max_import_bytes;
    let mut import = ProfileImport {
        state,
        acct,
        batch: Vec::new(),
        imported: 0,
        rejected: 0,
        errors: Vec::new(),
    };
    let result = for_each_line(body, limit, &mut import).await;
    let summary = json!({
        "imported": import.imported,
        "rejected": import.rejected,
        "errors": import.errors,
    });
    match result {
        Ok(()) => Ok(Json(summary).into_response()),
        Err(mut e) => {
            e.diagnostics = Some(summary.to_string());
            Err(e)
        }
    }
}

/// Swaps in a new catalog for the serving package, indexed again (under the account's
/// admin lock, on a blocking thread: the index is built here, before the request is
/// answered, so the next event sees the new catalog).
fn swap_catalog(acct: &Account, blocks: Vec<Arc<Block>>) {
    let live = acct.live.load_full();
    acct.live
        .store(Arc::new(live.with_catalog(Catalog::from_shared(blocks))));
}

/// `POST /v1/{account}/catalog`: upserts blocks (JSON lines). All or nothing: one block
/// that does not fit the content schema rejects the request with every diagnostic.
pub(crate) async fn upsert_catalog(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let bytes = axum::body::to_bytes(body, state.config.max_import_bytes)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("cannot read the body (max_import_bytes): {e}"),
            )
        })?;
    let text =
        String::from_utf8(bytes.to_vec()).map_err(|_| ApiError::bad("the body is not UTF-8"))?;
    let _admin = acct.admin.lock().await;
    let state2 = Arc::clone(&state);
    let acct2 = Arc::clone(&acct);
    let (n, total) = blocking(move || {
        let live = acct2.live.load_full();
        let mut sources = SourceMap::new();
        let upserts = live
            .package()
            .parse_catalog(&mut sources, "body", &text)
            .map_err(|d| {
                ApiError::unprocessable(
                    "blocks do not fit the content schema",
                    d.render(&sources, false),
                )
            })?;
        let writes = upserts
            .blocks()
            .iter()
            .map(|b| Write::PutBlock {
                account: acct2.name.clone(),
                id: b.id().to_owned(),
                block: b.raw.clone(),
            })
            .collect();
        state2.store.apply(writes)?;
        // The blocks not upserted are shared with the serving catalog, not copied.
        let mut blocks: Vec<Arc<Block>> = live
            .catalog()
            .blocks()
            .iter()
            .filter(|b| upserts.get(b.id()).is_none())
            .cloned()
            .collect();
        blocks.extend(upserts.blocks().iter().cloned());
        let total = blocks.len();
        swap_catalog(&acct2, blocks);
        Ok((upserts.len(), total))
    })
    .await?;
    Ok(Json(json!({"upserted": n, "blocks": total})).into_response())
}

/// `DELETE /v1/{account}/catalog/{id}`.
pub(crate) async fn delete_block(
    State(state): State<Arc<AppState>>,
    Path((name, id)): Path<(String, String)>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let _admin = acct.admin.lock().await;
    let live = acct.live.load_full();
    if live.catalog().get(&id).is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no block `{id}`"),
        ));
    }
    let state2 = Arc::clone(&state);
    let acct2 = Arc::clone(&acct);
    blocking(move || {
        state2.store.apply(vec![Write::DeleteBlock {
            account: acct2.name.clone(),
            id: id.clone(),
        }])?;
        let blocks = live
            .catalog()
            .blocks()
            .iter()
            .filter(|b| b.id() != id)
            .cloned()
            .collect();
        swap_catalog(&acct2, blocks);
        Ok(())
    })
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn status_json(state: &AppState, acct: &Account, profiles: u64) -> J {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line of `chunks`, split by [`Lines`], and the bytes it searched.
    fn split(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Vec<u8>, usize) {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for chunk in chunks {
            lines.push(chunk);
            while let Some(line) = lines.next_line() {
                out.push(line.to_vec());
            }
        }
        (out, lines.rest().to_vec(), lines.examined)
    }

    #[test]
    fn lines_split_across_chunks() {
        let (lines, rest, _) = split(&[b"a\nbc", b"d\n\n", b"e", b"f\ng"]);
        assert_eq!(lines, [&b"a\n"[..], b"bcd\n", b"\n", b"ef\n"]);
        assert_eq!(rest, b"g");
    }

    /// A 24 MB line in 16 KiB chunks: each byte is searched once (searching the whole
    /// buffer at each chunk looked at about 19 GB).
    #[test]
    fn a_long_line_is_searched_once() {
        let chunk = vec![b'x'; 16 << 10];
        let mut chunks: Vec<&[u8]> = vec![&chunk[..]; (24 << 20) / chunk.len()];
        chunks.push(b"\nnext\n");
        let (lines, rest, examined) = split(&chunks);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines.first().map(Vec::len), Some((24 << 20) + 1));
        assert!(rest.is_empty());
        assert_eq!(examined, (24 << 20) + 6);
    }
}
