//! The path of one event: under the user's lock, look the delivery up (retries), learn,
//! assemble through the serving version's index, render the answer and commit profile,
//! delivery record and answer in one durable write — then, and only then, answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use tailor_engine::explain::Explanation;
use tailor_engine::{Delivery, Event, History, Outcome, Profile};

use crate::state::{Account, AppState, Live, RemoteLock};
use crate::store::{JsonMap, StoreError, StoredReply, Write};

/// The job is running; nobody has given up on it.
pub(crate) const RUNNING: u8 = 0;
/// The job is committing: its answer will be the one sent.
pub(crate) const COMMITTING: u8 = 1;
/// The caller gave up (budget): the job records its learning but not the delivery.
pub(crate) const ABANDONED: u8 = 2;

/// Turns an outcome into the answer's body (a sealed WeChat reply, or JSON).
pub(crate) type Render = Box<dyn FnOnce(&Outcome<'_>) -> Result<String, String> + Send>;

/// One event to handle for one user.
pub(crate) struct Job {
    pub account: Arc<Account>,
    pub user: String,
    pub event: Event,
    /// The delivery's key among the user's deliveries (the same user's retries of it get
    /// the stored answer); `None` for none.
    pub dedup: Option<String>,
    /// `false` for a dry run: nothing is stored.
    pub record: bool,
    /// Also explain the evaluation ([`tailor_engine::Package::explain`] on the same
    /// inputs).
    pub explain: bool,
    /// Shared with a caller that may give up waiting.
    pub gate: Option<Arc<AtomicU8>>,
    /// The body sent when the caller gave up (stored for retries).
    pub abandoned_body: String,
}

/// What happened.
#[derive(Debug)]
pub(crate) struct Handled {
    /// The answer is the stored one of an earlier delivery (a retry): nothing was
    /// evaluated.
    pub replayed: bool,
    /// The answer's body.
    pub body: String,
    /// `digest`, `quiet`, `empty`, `replayed` or `over_budget`.
    pub label: String,
    /// Whether the delivery was recorded in history.
    pub recorded: bool,
    /// The explanation, when the job asked for it and the answer was not replayed.
    pub explanation: Option<Explanation>,
    /// An `open` event (language.md §12): what became of it; `None` for other kinds.
    pub open: Option<OpenHandled>,
}

/// What an `open` event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OpenHandled {
    /// No open of the same item of the same delivery was in the reader's history:
    /// `learn on open` ran (and the open counts in `tailor_opens_total`).
    pub first: bool,
    /// Where the item leads: the URL kept in the delivery record that carried it, else
    /// the block's URL in the catalog (`None` when neither has one).
    pub url: Option<String>,
}

/// Why an event could not be handled.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EventError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored profile does not fit the package's profile schema.
    #[error("profile `{user}` does not fit the profile schema: {message}")]
    Profile { user: String, message: String },
    #[error("cannot render the answer: {0}")]
    Render(String),
    #[error("internal: {0}")]
    Internal(String),
}

/// Handles a job: waits for the user's lock, then runs it on a blocking thread. Always
/// runs to completion, even when the caller stops waiting.
pub(crate) async fn run(
    state: Arc<AppState>,
    job: Job,
    render: Render,
) -> Result<Handled, EventError> {
    let guard = state.lock_user(&job.account.name, &job.user).await;
    let state2 = Arc::clone(&state);
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        // A shared store: the reader's lock across processes too, and its fence on the
        // commit. A dry run stores nothing and needs neither.
        let remote = if job.record {
            crate::state::lock_remote(&state2.store, &job.account.name, &job.user)?
        } else {
            None
        };
        run_locked(&state2, job, render, remote.as_ref().map(RemoteLock::fence))
    })
    .await
    .map_err(|e| EventError::Internal(e.to_string()))?
}

/// Runs a job within `budget` (when given): past it, the caller gets `None` and the job
/// goes on to record what it learned but not the delivery; its stored answer is the
/// job's `abandoned_body`.
pub(crate) async fn run_with_budget(
    state: Arc<AppState>,
    mut job: Job,
    render: Render,
    budget: Option<Duration>,
) -> Result<Option<Handled>, EventError> {
    let started = Instant::now();
    let kind = job.event.kind.name();
    let account = Arc::clone(&job.account);
    let gate = Arc::new(AtomicU8::new(RUNNING));
    job.gate = Some(Arc::clone(&gate));
    state.inflight.fetch_add(1, Ordering::SeqCst);
    let task_state = Arc::clone(&state);
    let mut task = tokio::spawn(async move {
        let result = run(Arc::clone(&task_state), job, render).await;
        task_state.inflight.fetch_sub(1, Ordering::SeqCst);
        result
    });
    let joined = match budget {
        None => (&mut task).await,
        Some(budget) => match tokio::time::timeout(budget, &mut task).await {
            Ok(joined) => joined,
            Err(_) => {
                if gate
                    .compare_exchange(RUNNING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
                {
                    tracing::warn!(account = %account.name, kind, budget_ms = budget.as_millis() as u64,
                        "evaluation over budget: answered `success`");
                    state
                        .metrics
                        .event(&account.name, kind, "over_budget", started.elapsed());
                    return Ok(None);
                }
                // The job is committing: its answer is the one to send.
                (&mut task).await
            }
        },
    };
    let handled = joined.map_err(|e| EventError::Internal(e.to_string()))?;
    let label = match &handled {
        Ok(h) => h.label.as_str(),
        Err(_) => "error",
    };
    state
        .metrics
        .event(&account.name, kind, label, started.elapsed());
    handled.map(Some)
}

/// What one evaluation of a user reads: the serving version, the stored profile and the
/// user's history within the package's window.
pub(crate) struct Inputs {
    /// The version serving when the inputs were read.
    pub live: Arc<Live>,
    /// True when the user has no stored profile.
    pub is_new: bool,
    /// The profile as stored (`{"id": user}` for a user without one), checked against
    /// the package's profile schema.
    pub profile: Profile,
    /// The history as stored.
    pub stored_history: Arc<Vec<Delivery>>,
    /// The deliveries after `cutoff`: the history the evaluation sees.
    pub recent: Vec<Delivery>,
    /// The event's time less the package's history window.
    pub cutoff: Timestamp,
    /// The reader's open records after `cutoff` (language.md §12), read only for
    /// [`inspect`] with `with_opens` (events read them only when they are opens).
    pub opens: Vec<tailor_engine::OpenRecord>,
}

/// Reads a user's inputs for an event at `at` (caches first, then the store). Changes
/// nothing: the caches are written only after a commit.
fn read_inputs(
    state: &AppState,
    account: &Account,
    user: &str,
    at: Timestamp,
) -> Result<Inputs, EventError> {
    let name = account.name.as_str();
    let live = account.live.load_full();
    let (raw, is_new) = match account.profiles.get(user).map(|p| Arc::clone(&p)) {
        Some(p) => (p, false),
        None => match state.store.profile(name, user)? {
            Some(p) => (Arc::new(p), false),
            None => {
                let mut p = JsonMap::new();
                p.insert("id".into(), serde_json::Value::String(user.to_owned()));
                (Arc::new(p), true)
            }
        },
    };
    let profile = live
        .package()
        .profile_from_json((*raw).clone())
        .map_err(|e| EventError::Profile {
            user: user.to_owned(),
            message: e.to_string(),
        })?;
    let stored_history = match account.history.get(user).map(|h| Arc::clone(&h)) {
        Some(h) => h,
        None => Arc::new(state.store.history(name, user)?),
    };
    let cutoff = at.checked_sub(live.keep).unwrap_or(at);
    let recent = stored_history
        .iter()
        .filter(|d| d.at > cutoff)
        .cloned()
        .collect();
    Ok(Inputs {
        live,
        is_new,
        profile,
        stored_history,
        recent,
        cutoff,
        opens: Vec::new(),
    })
}

/// Reads a user's inputs for an event at `at` under the user's lock (so that they are
/// those of one moment between that user's events) and hands them to `look` on a
/// blocking thread. Learns nothing, records nothing: for views such as the preview.
/// `with_opens` also reads the reader's open records ([`Inputs::opens`]).
pub(crate) async fn inspect<T: Send + 'static>(
    state: Arc<AppState>,
    account: Arc<Account>,
    user: String,
    at: Timestamp,
    with_opens: bool,
    look: impl FnOnce(&Inputs) -> T + Send + 'static,
) -> Result<T, EventError> {
    let guard = state.lock_user(&account.name, &user).await;
    tokio::task::spawn_blocking(move || {
        let _guard = guard;
        let mut inputs = read_inputs(&state, &account, &user, at)?;
        if with_opens {
            let cutoff = inputs.cutoff;
            inputs.opens = state
                .store
                .records(&account.name, &user)?
                .opens
                .into_iter()
                .filter(|o| o.at > cutoff)
                .collect();
        }
        Ok(look(&inputs))
    })
    .await
    .map_err(|e| EventError::Internal(e.to_string()))?
}

/// Where an opened item leads: the URL the delivery that carried it kept (so that a block
/// that left the catalog still leads to its article), else the block's `url` in the
/// serving catalog.
fn open_url(
    deliveries: &[Delivery],
    live: &Live,
    item: &tailor_engine::OpenedItem,
) -> Option<String> {
    let kept = deliveries
        .iter()
        .rev()
        .filter(|d| {
            item.delivered
                .is_none_or(|t| d.at.as_second() == t.as_second())
        })
        .find_map(|d| d.item(&item.block))
        .map(|i| i.url.clone())
        .filter(|u| !u.is_empty());
    kept.or_else(|| {
        live.catalog()
            .get(&item.block)
            .and_then(|b| b.raw.get("url"))
            .and_then(serde_json::Value::as_str)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
    })
}

fn run_locked(
    state: &AppState,
    job: Job,
    render: Render,
    fence: Option<Write>,
) -> Result<Handled, EventError> {
    let Job {
        account,
        user,
        event,
        dedup,
        record,
        explain,
        gate,
        abandoned_body,
    } = job;
    let name = account.name.as_str();
    if let Some(key) = &dedup
        && let Some(stored) = state.store.reply(name, &user, key)?
        // Kept past its time only until expiry gets to it: no longer a retry's answer.
        && stored.until >= state.clock.now().as_second()
    {
        // The store keys replies by recipient; a record that says otherwise is never
        // replayed (a personal digest goes to nobody but its reader).
        if stored.user != user {
            return Err(EventError::Internal(format!(
                "the reply stored for `{user}` under `{key}` names another recipient"
            )));
        }
        state.metrics.replayed(name);
        return Ok(Handled {
            replayed: true,
            body: stored.body,
            label: "replayed".into(),
            recorded: false,
            explanation: None,
            open: None,
        });
    }
    let Inputs {
        live,
        is_new,
        profile,
        stored_history,
        recent,
        cutoff,
        ..
    } = read_inputs(state, &account, &user, event.at)?;
    let package = live.package();

    // An open (language.md §12): the reader's open records (not cached: only opens read
    // them), and `learn on open` on the first open of the item of that delivery only.
    let open = match &event.opened {
        Some(opened) => {
            let opens = state.store.records(name, &user)?.opens;
            let first = !opens.iter().any(|o| o.same_item(&opened.item));
            let url = open_url(&stored_history, &live, &opened.item);
            let stale = opens.iter().any(|o| o.at <= cutoff);
            Some((OpenHandled { first, url }, stale))
        }
        None => None,
    };
    let history = History::new(recent.clone());
    let learning = match &open {
        Some((o, _)) if !o.first => tailor_engine::Learning {
            profile: profile.clone(),
            learned: Vec::new(),
            errors: Vec::new(),
        },
        _ => package.learn(&event, &profile),
    };
    // The index gives the reference evaluator's outcome (`Package::assemble`), exactly.
    let outcome = live.index.assemble(&event, &learning, &history);
    // The outcome's errors include the learning's (both evaluators start from them).
    state.metrics.script_errors(name, outcome.errors.len());
    // The explanation re-learns from the same stored profile and sees the same catalog
    // and history, so it is what `tailor explain` gives for these inputs.
    let explanation = explain.then(|| package.explain(&event, &profile, live.catalog(), &history));
    let mut body = render(&outcome).map_err(EventError::Render)?;
    let mut label = outcome.kind.name().to_owned();
    // An open of a reader without a stored profile (deleted since the delivery, or never
    // delivered to) records nothing: it does not bring a deleted reader back.
    let record = record && !(is_new && open.is_some());
    if !record {
        return Ok(Handled {
            replayed: false,
            body,
            label,
            recorded: false,
            explanation,
            open: open.map(|(o, _)| o),
        });
    }

    let mut writes: Vec<Write> = fence.into_iter().collect();
    let learned_profile = (is_new || !learning.learned.is_empty()).then_some(learning.profile.raw);
    if let Some(p) = &learned_profile {
        writes.push(Write::PutProfile {
            account: name.to_owned(),
            id: user.clone(),
            profile: (**p).clone(),
        });
    }
    let committing = gate.as_ref().is_none_or(|g| {
        g.compare_exchange(RUNNING, COMMITTING, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
    let mut delivered = None;
    let mut pruned = false;
    if committing {
        if let (Some((_, stale)), Some(opened)) = (&open, &event.opened) {
            // Old records go with the opens too, so that a reader who only opens links
            // keeps a bounded history.
            if *stale || recent.len() < stored_history.len() {
                writes.push(Write::PruneHistory {
                    account: name.to_owned(),
                    user: user.clone(),
                    before: cutoff.as_second(),
                });
                pruned = true;
            }
            writes.push(Write::AppendOpen {
                account: name.to_owned(),
                open: tailor_engine::OpenRecord::new(&user, event.at, &opened.item),
                keep_secs: live.keep.as_secs(),
            });
        }
        if let Some(delivery) = outcome.delivery() {
            if recent.len() < stored_history.len() {
                writes.push(Write::PruneHistory {
                    account: name.to_owned(),
                    user: user.clone(),
                    before: cutoff.as_second(),
                });
            }
            writes.push(Write::AppendDelivery {
                account: name.to_owned(),
                delivery: delivery.clone(),
                keep_secs: live.keep.as_secs(),
            });
            delivered = Some(delivery);
        }
    } else {
        body = abandoned_body;
        label = "over_budget".into();
    }
    if let Some(key) = &dedup {
        let now = state.clock.now().as_second();
        let ttl = i64::try_from(state.config.dedup_ttl.as_secs()).unwrap_or(i64::MAX);
        writes.push(Write::PutReply {
            account: name.to_owned(),
            user: user.clone(),
            key: key.clone(),
            reply: StoredReply {
                user: user.clone(),
                body: body.clone(),
                outcome: label.clone(),
                at: now,
                until: now.saturating_add(ttl),
            },
        });
    }
    state.store.apply(writes)?;

    // Committed: the caches may now show it.
    if let Some(p) = learned_profile {
        account.cache_profile(&user, Some(std::sync::Arc::unwrap_or_clone(p)));
    }
    let opened = committing && open.is_some();
    let did_deliver = delivered.is_some();
    let recorded = did_deliver || opened;
    match delivered {
        Some(d) => {
            let mut h = recent;
            h.push(d);
            account.cache_history(&user, h);
        }
        None if pruned => account.cache_history(&user, recent),
        None => {
            if !account.history.contains_key(&user) {
                account.cache_history(&user, (*stored_history).clone());
            }
        }
    }
    if did_deliver {
        state.metrics.fired(name, outcome.fired.iter().copied());
    }
    if let (true, Some((o, _)), Some(item)) = (opened, &open, &event.opened)
        && o.first
    {
        let rules = package.compiled().rules.iter().map(|r| r.name.as_str());
        state.metrics.opened(
            name,
            crate::metrics::rule_label(item.item.rule.as_deref(), rules),
        );
    }
    Ok(Handled {
        replayed: false,
        body,
        label,
        recorded,
        explanation,
        open: open.map(|(o, _)| o),
    })
}
