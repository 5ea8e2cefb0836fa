//! Events and what they give: `POST /events`, a user's digest (a dry run) and history.

use super::*;
use tailor_engine::OpenedItem;

/// An event of a request: its kind (`default_kind` when not given) and its time (the
/// server clock's, truncated to the second, when not given).
pub(super) fn request_event(
    state: &AppState,
    kind: Option<&str>,
    at: Option<&str>,
    default_kind: EventKind,
    open: Option<(&OpenFields, &Account)>,
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
    let at = match at {
        None => state.clock.event_time(),
        Some(t) => t.parse().map_err(|e| {
            ApiError::bad(format!(
                "`at`: `{t}` is not an RFC 3339 time such as 2013-02-21T19:30:00+08:00: {e}"
            ))
        })?,
    };
    match (kind, open) {
        (EventKind::Open, None) => Err(ApiError::bad(
            "`open` events are posted to `POST /v1/{account}/events` with `block` (and `rule`, `section`, `delivered`)",
        )),
        // The opened block as the serving catalog holds it now (language.md §12).
        (EventKind::Open, Some((o, account))) => {
            Ok(crate::opens::open_event(account, at, o.item()?))
        }
        (_, Some((o, _))) if o.given() => Err(ApiError::bad(format!(
            "`block`, `rule`, `section` and `delivered` describe an opened item: they need `\"event\": \"open\"`, not `{}`",
            kind.name()
        ))),
        _ => Ok(Event::new(kind, at)),
    }
}

/// The opened item of an `open` event (language.md §12), as the JSON API takes it.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OpenFields {
    block: Option<String>,
    rule: Option<String>,
    section: Option<String>,
    delivered: Option<String>,
}

impl OpenFields {
    fn given(&self) -> bool {
        self.block.is_some()
            || self.rule.is_some()
            || self.section.is_some()
            || self.delivered.is_some()
    }

    /// The opened item these fields name.
    fn item(&self) -> Result<OpenedItem, ApiError> {
        let block = self
            .block
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| ApiError::bad("an `open` event needs `block`, the opened block's id"))?;
        let delivered = self
            .delivered
            .as_deref()
            .map(|t| {
                t.parse::<jiff::Timestamp>().map_err(|e| {
                    ApiError::bad(format!(
                        "`delivered`: `{t}` is not an RFC 3339 time such as 2013-02-21T19:30:00+08:00: {e}"
                    ))
                })
            })
            .transpose()?;
        Ok(OpenedItem {
            block,
            rule: self.rule.clone(),
            section: self.section.clone(),
            delivered,
        })
    }
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
    block: Option<String>,
    rule: Option<String>,
    section: Option<String>,
    delivered: Option<String>,
}

impl EventBody {
    fn event(
        &self,
        state: &AppState,
        account: &Account,
        default_kind: EventKind,
    ) -> Result<Event, ApiError> {
        let open = OpenFields {
            block: self.block.clone(),
            rule: self.rule.clone(),
            section: self.section.clone(),
            delivered: self.delivered.clone(),
        };
        let event = request_event(
            state,
            self.event.as_deref(),
            self.at.as_deref(),
            default_kind,
            Some((&open, account)),
        )?;
        if event.opened.is_some() {
            return Ok(event);
        }
        Ok(Event {
            text: self.text.clone(),
            key: self.key.clone(),
            url: self.url.clone(),
            lat: self.lat,
            lon: self.lon,
            precision: self.precision,
            ..event
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
                None,
            )?
        })
    }
}

pub(super) fn json_render() -> process::Render {
    Box::new(|outcome: &Outcome<'_>| serde_json::to_string(&outcome).map_err(|e| e.to_string()))
}

pub(super) fn outcome_response(handled: process::Handled, record: bool) -> ApiResult {
    let mut value: J = serde_json::from_str(&handled.body)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if let Some(obj) = value.as_object_mut() {
        obj.insert("recorded".into(), J::Bool(handled.recorded));
        obj.insert("dry_run".into(), J::Bool(!record));
        if handled.replayed {
            obj.insert("replayed".into(), J::Bool(true));
        }
        if let Some(open) = &handled.open {
            // Whether `learn on open` ran: no open of this item of this delivery before.
            obj.insert("first_open".into(), J::Bool(open.first));
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
    let event = body.event(&state, &acct, EventKind::Enter)?;
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
pub(super) async fn run_json(state: &Arc<AppState>, job: Job) -> ApiResult {
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

/// `GET /v1/{account}/users/{id}/history`: `{"user", "deliveries", "opens"}`, each
/// oldest first (open records per language.md §12).
pub(crate) async fn get_history(
    State(state): State<Arc<AppState>>,
    Path((name, user)): Path<(String, String)>,
) -> ApiResult {
    let acct = account(&state, &name)?;
    let store = Arc::clone(&state.store);
    let u = user.clone();
    let records = blocking(move || Ok(store.records(&acct.name, &u)?)).await?;
    Ok(
        Json(json!({"user": user, "deliveries": records.deliveries, "opens": records.opens}))
            .into_response(),
    )
}
