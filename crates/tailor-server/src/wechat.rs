//! `GET|POST /wechat/{account}`: URL verification and every message and event, mapped to a
//! Tailor event for the user whose openid sent it. A digest is answered as a news reply;
//! `quiet`, `empty`, and anything the rules do not handle, as `success`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::Timestamp;
use tailor_engine::{Event, EventKind, Outcome, OutcomeKind};
use tailor_wechat::{
    Article, Event as WxEvent, Inbound, Kind, Message, Query, Reply, SUCCESS, random_nonce,
};

use crate::process::{self, Job};
use crate::state::AppState;

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

fn xml(body: String) -> Response {
    let content_type = if body == SUCCESS {
        "text/plain; charset=utf-8"
    } else {
        "application/xml; charset=utf-8"
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn refuse(state: &AppState, account: &str, err: &tailor_wechat::Error) -> Response {
    let status = err.http_status();
    state.metrics.rejected(account, status);
    tracing::info!(account, status, error = %err, "wechat request refused");
    text(
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        err.to_string(),
    )
}

/// `GET /wechat/{account}`: WeChat's URL verification.
pub(crate) async fn verify(
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(acct) = state.account(&account) else {
        return text(StatusCode::NOT_FOUND, format!("no account `{account}`"));
    };
    let now = state.clock.unix_secs();
    match Query::parse(query.as_deref().unwrap_or(""))
        .and_then(|q| acct.callback.verify_url(&q, now))
    {
        Ok(echostr) => text(StatusCode::OK, echostr),
        Err(e) => refuse(&state, &account, &e),
    }
}

/// The Tailor event of an inbound message or event, or `None` when no rule can answer
/// it (images, links, unknown events…).
#[must_use]
pub fn to_event(inbound: &Inbound, at: Timestamp) -> Option<Event> {
    let event = |kind| Event::new(kind, at);
    Some(match &inbound.kind {
        Kind::Event(e) => match e {
            WxEvent::Enter | WxEvent::UserEnterTempSession { .. } => event(EventKind::Enter),
            WxEvent::Subscribe { scene, .. } => Event {
                key: scene.clone(),
                ..event(EventKind::Subscribe)
            },
            WxEvent::Unsubscribe => event(EventKind::Unsubscribe),
            WxEvent::Scan { scene, .. } => Event {
                key: Some(scene.clone()),
                ..event(EventKind::Scan)
            },
            WxEvent::Location {
                latitude,
                longitude,
                precision,
            } => Event {
                lat: Some(*latitude),
                lon: Some(*longitude),
                precision: Some(*precision),
                ..event(EventKind::Location)
            },
            WxEvent::Click { key } => Event {
                key: Some(key.clone()),
                ..event(EventKind::Click)
            },
            WxEvent::View { url } => Event {
                url: Some(url.clone()),
                ..event(EventKind::View)
            },
            WxEvent::Unknown { .. } => return None,
        },
        Kind::Message(m) => match m {
            Message::Text { content } => Event {
                text: Some(content.clone()),
                ..event(EventKind::Text)
            },
            Message::Voice {
                recognition: Some(words),
                ..
            } => Event {
                text: Some(words.clone()),
                ..event(EventKind::Text)
            },
            Message::Location {
                latitude,
                longitude,
                ..
            } => Event {
                lat: Some(*latitude),
                lon: Some(*longitude),
                ..event(EventKind::Location)
            },
            _ => return None,
        },
    })
}

/// The metrics `kind` of a message no rule answers: its type when `tailor-wechat` knows
/// it, else `other` (never the sender's `MsgType` or `Event` as sent).
fn skipped_kind(inbound: &Inbound) -> &'static str {
    match &inbound.kind {
        Kind::Message(Message::Image { .. }) => "image",
        Kind::Message(Message::Voice { .. }) => "voice",
        Kind::Message(Message::Video { .. }) => "video",
        Kind::Message(Message::ShortVideo { .. }) => "shortvideo",
        Kind::Message(Message::Link { .. }) => "link",
        _ => "other",
    }
}

/// The passive reply for an outcome: a digest as news (the first item is the large
/// card), anything else `success`.
#[must_use]
pub fn reply_for(outcome: &Outcome<'_>, article_limit: usize) -> Reply {
    tracked_reply_for(outcome, article_limit, None)
}

/// Where and how an account's tracked links point: `{base}/{token}` (issue 21).
#[derive(Debug, Clone, Copy)]
pub struct Tracking<'a> {
    /// The account's name (signed into every token).
    pub account: &'a str,
    /// `track_base`, without a trailing `/`.
    pub base: &'a str,
    /// `track_secret`.
    pub secret: &'a [u8],
}

/// [`reply_for`], with every item URL replaced by a tracked link when `tracking` is
/// given: `{track_base}/{token}` naming the account, the reader, the block, the item's
/// rule (or `fallback`), its section and the delivery time ([`crate::track::sign`]). An
/// item without a URL keeps none, and an item whose fields are too long to sign keeps its
/// own URL.
#[must_use]
pub fn tracked_reply_for(
    outcome: &Outcome<'_>,
    article_limit: usize,
    tracking: Option<Tracking<'_>>,
) -> Reply {
    if outcome.kind != OutcomeKind::Digest || outcome.items.is_empty() {
        return Reply::Success;
    }
    Reply::news(outcome.items.iter().take(article_limit).map(|item| {
        let url = item.url.unwrap_or_default();
        let url = match tracking {
            Some(t) if !url.is_empty() => {
                let signed = crate::track::sign(
                    t.secret,
                    &crate::track::TrackedItem {
                        account: t.account.to_owned(),
                        user: outcome.user.clone(),
                        block: item.id.to_owned(),
                        rule: item
                            .reasons
                            .first()
                            .copied()
                            .unwrap_or("fallback")
                            .to_owned(),
                        section: item.section.to_owned(),
                        delivered: outcome.at,
                    },
                );
                signed.map_or_else(|| url.to_owned(), |token| format!("{}/{token}", t.base))
            }
            _ => url.to_owned(),
        };
        let mut a = Article::new(item.title, url);
        if let Some(s) = item.summary {
            a = a.with_description(s);
        }
        if let Some(i) = item.image {
            a = a.with_pic_url(i);
        }
        a
    }))
}

/// `POST /wechat/{account}`: one message or event.
pub(crate) async fn receive(
    State(state): State<Arc<AppState>>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let Some(acct) = state.account(&account).cloned() else {
        return text(StatusCode::NOT_FOUND, format!("no account `{account}`"));
    };
    let now = state.clock.unix_secs();
    let inbound = match Query::parse(query.as_deref().unwrap_or(""))
        .and_then(|q| acct.callback.open(&q, &body, now))
    {
        Ok(inbound) => inbound,
        Err(e) => return refuse(&state, &account, &e),
    };
    if let Some(problem) = crate::api::user_id_problem(&inbound.from_user_name) {
        state.metrics.rejected(&account, 400);
        tracing::info!(
            account,
            status = 400,
            problem,
            "wechat request refused: FromUserName"
        );
        return text(StatusCode::BAD_REQUEST, format!("FromUserName {problem}"));
    }
    let Some(event) = to_event(&inbound, state.clock.event_time()) else {
        state.metrics.event(
            &account,
            skipped_kind(&inbound),
            "skipped",
            std::time::Duration::ZERO,
        );
        return xml(SUCCESS.to_owned());
    };
    let user = inbound.from_user_name.clone();
    let dedup = format!("wechat|{}", inbound.dedup_key());
    let callback = acct.callback.clone();
    let track = acct.config.track.clone();
    let account_name = acct.name.clone();
    let render: process::Render = Box::new(move |outcome: &Outcome<'_>| {
        let tracking = track.as_ref().map(|t| Tracking {
            account: &account_name,
            base: &t.base,
            secret: t.secret.as_bytes(),
        });
        let reply = tracked_reply_for(outcome, callback.config().article_limit, tracking);
        random_nonce()
            .and_then(|nonce| callback.seal(&inbound, &reply, now, &nonce))
            .map_err(|e| e.to_string())
    });
    let job = Job {
        account: Arc::clone(&acct),
        user,
        event,
        dedup: Some(dedup),
        record: true,
        explain: false,
        gate: None,
        abandoned_body: SUCCESS.to_owned(),
    };
    let budget = state.config.budget;
    match process::run_with_budget(Arc::clone(&state), job, render, Some(budget)).await {
        Ok(Some(handled)) => xml(handled.body),
        Ok(None) => xml(SUCCESS.to_owned()),
        Err(process::EventError::Profile { user, message }) => {
            tracing::error!(
                account,
                user,
                message,
                "stored profile does not fit the schema: answered `success`"
            );
            xml(SUCCESS.to_owned())
        }
        Err(process::EventError::Store(
            e @ (crate::store::StoreError::Unavailable(_) | crate::store::StoreError::LockLost),
        )) => {
            // WeChat wants an answer within its deadline; nothing was stored, and the
            // reader's next event is served as usual once the store is back.
            tracing::error!(account, error = %e, "the store is unavailable: answered `success`");
            xml(SUCCESS.to_owned())
        }
        Err(e) => {
            tracing::error!(account, error = %e, "event failed");
            text(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
    }
}
