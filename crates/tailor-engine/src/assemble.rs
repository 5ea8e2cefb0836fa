//! The reference evaluator: digest assembly exactly as LANGUAGE.md §10 states it, written
//! to be read against the spec step by step. It stays as the oracle for faster paths.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};

use crate::data::{Block, Catalog, Delivery, Event, History, Profile};

use crate::eval::{Ctx, compare};
use crate::ir::{COrder, CPick, CRule};
use crate::learn::Learning;
use crate::outcome::{DigestItem, Outcome, OutcomeKind, PickSource, ScriptError};
use crate::package::Package;
use crate::schema;
use crate::value::{Value, format_duration, format_time};

/// Deliveries in the half-open window (T − D, T].
fn in_window(d: &Delivery, at: Timestamp, window: SignedDuration) -> bool {
    match at.checked_sub(window) {
        Ok(start) => d.at > start && d.at <= at,
        Err(_) => d.at <= at,
    }
}

impl Package {
    /// Evaluate one event for one user: learning (§9), then assembly (§10).
    ///
    /// Pure: no I/O, no clock (the time is the event's), nothing stored.
    pub fn evaluate(
        &self,
        event: &Event,
        profile: &Profile,
        catalog: &Catalog,
        history: &History,
    ) -> Outcome {
        let learning = self.learn(event, profile);
        self.assemble(event, &learning, catalog, history)
    }

    /// Assembly (§10) for a profile that has already learned from the event.
    pub fn assemble(
        &self,
        event: &Event,
        learning: &Learning,
        catalog: &Catalog,
        history: &History,
    ) -> Outcome {
        let c = self.compiled();
        let ed = &c.edition;
        let tz = &ed.timezone;
        let profile = &learning.profile;
        let t = event.at;
        let past = history.for_user(profile.id());
        let errors = RefCell::new(learning.errors.clone());
        let mut outcome = Outcome {
            kind: OutcomeKind::Empty,
            user: profile.id().to_owned(),
            edition: ed.name.clone(),
            event: event.kind,
            at: t,
            at_local: format_time(t, tz),
            reason: None,
            items: Vec::new(),
            fired: Vec::new(),
            errors: Vec::new(),
            learned: learning.learned.clone(),
        };

        // 1. The edition's cap on unsolicited digests.
        if event.kind.is_unsolicited() {
            if let Some(cap) = ed.cap {
                let count = past
                    .iter()
                    .filter(|d| d.event.is_unsolicited() && in_window(d, t, cap.per))
                    .count();
                if count >= cap.count {
                    outcome.kind = OutcomeKind::Quiet;
                    outcome.reason = Some(format!(
                        "edition cap {} per {} reached",
                        cap.count,
                        format_duration(cap.per)
                    ));
                    outcome.errors = errors.into_inner();
                    return outcome;
                }
            }
        }

        let ctx = Ctx {
            segments: &c.segments,
            scripts: &c.scripts,
            host: self.script_host(),
            tz,
            profile,
            block: None,
            event,
            now: t,
            errors: &errors,
        };

        // 2. Fired rules, in evaluation order (the compiled rules are already sorted by
        // priority descending, then name ascending).
        let fired: Vec<(usize, &CRule)> = c
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.answers(event.kind))
            .filter(|(_, r)| match &r.when {
                None => true,
                Some(w) => ctx.holds(w).unwrap_or(false),
            })
            .filter(|(_, r)| match r.cap {
                None => true,
                Some(cap) => {
                    past.iter()
                        .filter(|d| {
                            in_window(d, t, cap.per) && d.fired.iter().any(|f| *f == r.name)
                        })
                        .count()
                        < cap.count
                }
            })
            .collect();
        outcome.fired = fired.iter().map(|(_, r)| r.name.clone()).collect();

        // 3. Eligibility.
        let recently_delivered: HashSet<&str> = match ed.repeat {
            Some(repeat) => past
                .iter()
                .filter(|d| in_window(d, t, repeat))
                .flat_map(|d| d.blocks.iter().map(String::as_str))
                .collect(),
            None => HashSet::new(),
        };
        let eligible = |b: &Block| -> bool {
            let published = b.published().is_some_and(|p| p <= t);
            let unexpired = b.expires().is_none_or(|e| t < e);
            let fresh = !recently_delivered.contains(b.id());
            published
                && unexpired
                && fresh
                && !fired.iter().any(|(_, r)| {
                    r.drops().any(|d| {
                        // A drop whose script call fails counts as holding: the block is
                        // not chosen (§8).
                        ctx.with_block(b).holds(d).unwrap_or(true)
                    })
                })
        };

        // 4. Picks, in evaluation order and source order within a rule.
        let mut state = State {
            chosen: Vec::new(),
            per_section: vec![0; ed.sections.len()],
        };
        for (ri, (_, rule)) in fired.iter().enumerate() {
            for (pi, pick) in rule.picks().enumerate() {
                self.run_pick(
                    pick,
                    &ctx,
                    catalog,
                    &eligible,
                    &mut state,
                    &rule.name,
                    PickSource::Rule { rule: ri, pick: pi },
                );
            }
        }

        // 5. The fallback, when too few were chosen and some rule answers this kind.
        if state.chosen.len() < ed.min && c.rules.iter().any(|r| r.answers(event.kind)) {
            for (pi, pick) in ed.fallback.iter().enumerate() {
                self.run_pick(
                    pick,
                    &ctx,
                    catalog,
                    &eligible,
                    &mut state,
                    "fallback",
                    PickSource::Fallback { pick: pi },
                );
            }
        }

        // 6. By section in declared order, then in the order chosen.
        let mut items: Vec<(usize, usize, DigestItem)> = state
            .chosen
            .into_iter()
            .enumerate()
            .map(|(order, (section, item))| (section, order, item))
            .collect();
        items.sort_by_key(|(section, order, _)| (*section, *order));
        outcome.items = items.into_iter().map(|(_, _, i)| i).collect();
        outcome.kind = if outcome.items.is_empty() {
            OutcomeKind::Empty
        } else {
            OutcomeKind::Digest
        };
        outcome.errors = dedup(errors.into_inner());
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    fn run_pick(
        &self,
        pick: &CPick,
        ctx: &Ctx<'_>,
        catalog: &Catalog,
        eligible: &dyn Fn(&Block) -> bool,
        state: &mut State,
        reason: &str,
        source: PickSource,
    ) {
        let ed = &self.compiled().edition;
        let Some((section, quota)) = ed.sections.get(pick.section) else {
            return;
        };
        let used = state.per_section.get(pick.section).copied().unwrap_or(0);
        let room = pick
            .count
            .min(quota.saturating_sub(used))
            .min(ed.max.saturating_sub(state.chosen.len()));
        if room == 0 {
            return;
        }
        let mut candidates: Vec<(&Block, Option<Value>)> = catalog
            .section(section)
            .filter(|b| !state.chosen.iter().any(|(_, i)| i.id == b.id()))
            .filter(|b| eligible(b))
            .filter(|b| match &pick.filter {
                None => true,
                // A `where` whose script call fails: that block is not chosen (§8).
                Some(w) => ctx.with_block(b).holds(w).unwrap_or(false),
            })
            .map(|b| {
                let key = match &pick.order {
                    COrder::Newest | COrder::Oldest => b.get(schema::block::PUBLISHED).cloned(),
                    // A failed script call in an order key makes the key missing (§8).
                    COrder::Asc(k) | COrder::Desc(k) => ctx.with_block(b).eval(k).ok().flatten(),
                };
                (b, key)
            })
            .collect();
        let descending = matches!(pick.order, COrder::Newest | COrder::Desc(_));
        // Candidates come in id order; the sort is stable, so ties stay by id ascending.
        candidates.sort_by(|(_, a), (_, b)| match (a, b) {
            (Some(x), Some(y)) => {
                let o = compare(x, y).unwrap_or(Ordering::Equal);
                if descending { o.reverse() } else { o }
            }
            // Missing keys sort last in either direction.
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
        for (b, _) in candidates.into_iter().take(room) {
            state.chosen.push((
                pick.section,
                DigestItem {
                    id: b.id().to_owned(),
                    section: section.clone(),
                    title: b.title().to_owned(),
                    summary: b.opt_str(schema::block::SUMMARY).map(str::to_owned),
                    url: b.opt_str(schema::block::URL).map(str::to_owned),
                    image: b.opt_str(schema::block::IMAGE).map(str::to_owned),
                    reasons: vec![reason.to_owned()],
                    source,
                },
            ));
            if let Some(n) = state.per_section.get_mut(pick.section) {
                *n += 1;
            }
        }
    }
}

struct State {
    /// (section index, item) in the order chosen.
    chosen: Vec<(usize, DigestItem)>,
    per_section: Vec<usize>,
}

/// The same failure is reported once per evaluation, not once per block looked at.
fn dedup(errors: Vec<ScriptError>) -> Vec<ScriptError> {
    let mut out: Vec<ScriptError> = Vec::new();
    for e in errors {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}
