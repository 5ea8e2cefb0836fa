//! The reference evaluator: digest assembly exactly as LANGUAGE.md §10 states it, written
//! to be read against the spec step by step. It stays as the oracle for faster paths
//! (`fast.rs` reuses its step functions and is checked against it by proptest).

use std::cell::RefCell;
use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};

use crate::data::{Block, Catalog, Delivery, Event, History};
use crate::eval::Ctx;
use crate::fast::picks::sort_by_keys;
use crate::ir::{CEdition, CExpr, COrder, CPick, CRule};
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

/// Step 1: the edition's cap on unsolicited digests. `Some(reason)` when the outcome is
/// `quiet`.
pub(crate) fn capped(ed: &CEdition, event: &Event, past: &[Delivery]) -> Option<String> {
    if !event.kind.is_unsolicited() {
        return None;
    }
    let cap = ed.cap?;
    let count = past
        .iter()
        .filter(|d| d.event.is_unsolicited() && in_window(d, event.at, cap.per))
        .count();
    (count >= cap.count).then(|| {
        format!(
            "edition cap {} per {} reached",
            cap.count,
            format_duration(cap.per)
        )
    })
}

/// Step 2: a rule fires when it answers the kind, its `when` holds, and its own cap is
/// not exhausted. (A `when` whose script call fails does not hold, §8.)
pub(crate) fn fires(r: &CRule, ctx: &Ctx<'_>, past: &[Delivery], t: Timestamp) -> bool {
    r.answers(ctx.event.kind)
        && match &r.when {
            None => true,
            Some(w) => ctx.holds(w).unwrap_or(false),
        }
        && under_cap(r, past, t)
}

/// The rule's `cap` (if any) leaves room: it fired in fewer past deliveries within the
/// window than the cap allows.
pub(crate) fn under_cap(r: &CRule, past: &[Delivery], t: Timestamp) -> bool {
    match r.cap {
        None => true,
        Some(cap) => {
            past.iter()
                .filter(|d| in_window(d, t, cap.per) && d.fired.contains(&r.name))
                .count()
                < cap.count
        }
    }
}

/// The ids delivered to the user within the repeat window.
pub(crate) fn recently_delivered<'a>(
    ed: &CEdition,
    past: &'a [Delivery],
    t: Timestamp,
) -> HashSet<&'a str> {
    match ed.repeat {
        Some(repeat) => past
            .iter()
            .filter(|d| in_window(d, t, repeat))
            .flat_map(|d| d.blocks.iter().map(String::as_str))
            .collect(),
        None => HashSet::new(),
    }
}

/// The drops of the fired rules, in evaluation order.
pub(crate) fn fired_drops<'a>(fired: impl Iterator<Item = &'a CRule>) -> Vec<&'a CExpr> {
    fired.flat_map(CRule::drops).collect()
}

/// Step 3: eligibility, under the fired rules' drops.
pub(crate) fn eligible(
    b: &Block,
    t: Timestamp,
    recent: &HashSet<&str>,
    drops: &[&CExpr],
    ctx: &Ctx<'_>,
) -> bool {
    let published = b.published().is_some_and(|p| p <= t);
    let unexpired = b.expires().is_none_or(|e| t < e);
    published && unexpired && fresh_and_kept(b, recent, drops, ctx)
}

/// The rest of step 3 after the time window: not delivered within the repeat window,
/// and no fired rule's drop holds.
pub(crate) fn fresh_and_kept(
    b: &Block,
    recent: &HashSet<&str>,
    drops: &[&CExpr],
    ctx: &Ctx<'_>,
) -> bool {
    let fresh = recent.is_empty() || !recent.contains(b.id());
    fresh
        // A drop whose script call fails counts as holding: the block is not chosen (§8).
        && !drops
            .iter()
            .any(|d| ctx.with_block(b).holds(d).unwrap_or(true))
}

/// The blocks chosen so far, borrowed from the catalog for `'a`.
pub(crate) struct State<'a> {
    /// (section index, block, item) in the order chosen. A catalog holds one block per
    /// id, so a block is chosen when its address is here (no string is compared).
    chosen: Vec<(usize, &'a Block, DigestItem<'a>)>,
    per_section: Vec<usize>,
}

impl<'a> State<'a> {
    pub(crate) fn new(ed: &CEdition) -> State<'a> {
        let sections = ed.sections.len();
        State {
            chosen: Vec::with_capacity(ed.max.min(64)),
            per_section: vec![0; sections],
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.chosen.len()
    }

    /// `b` is chosen already.
    pub(crate) fn has(&self, b: &Block) -> bool {
        self.chosen.iter().any(|(_, c, _)| std::ptr::eq(*c, b))
    }

    /// How many more a pick may take: under its N, its section's quota and `max`.
    pub(crate) fn room(&self, pick: &CPick, ed: &CEdition) -> usize {
        let quota = ed.sections.get(pick.section).map_or(0, |(_, q)| *q);
        let used = self.per_section.get(pick.section).copied().unwrap_or(0);
        pick.count
            .min(quota.saturating_sub(used))
            .min(ed.max.saturating_sub(self.chosen.len()))
    }

    pub(crate) fn choose(
        &mut self,
        pick: &CPick,
        b: &'a Block,
        reason: &'a str,
        source: PickSource,
        ed: &'a CEdition,
    ) {
        // The block's own section is the pick's (a pick takes blocks of its section).
        let section = b.opt_str(schema::block::SECTION).unwrap_or_else(|| {
            ed.sections
                .get(pick.section)
                .map_or("", |(n, _)| n.as_str())
        });
        let text = |slot| b.opt_str(slot);
        self.chosen.push((
            pick.section,
            b,
            DigestItem {
                id: text(schema::block::ID).unwrap_or(""),
                section,
                title: text(schema::block::TITLE).unwrap_or(""),
                summary: text(schema::block::SUMMARY),
                url: text(schema::block::URL),
                image: text(schema::block::IMAGE),
                reasons: vec![reason],
                source,
            },
        ));
        if let Some(n) = self.per_section.get_mut(pick.section) {
            *n += 1;
        }
    }

    /// Step 6: by section in declared order, then in the order chosen.
    pub(crate) fn into_items(self) -> Vec<DigestItem<'a>> {
        let mut chosen = self.chosen;
        // A stable sort: within a section, the order chosen stays.
        chosen.sort_by_key(|(section, _, _)| *section);
        chosen.into_iter().map(|(_, _, item)| item).collect()
    }
}

impl Package {
    /// An outcome before assembly: `empty`, with what was learned.
    pub(crate) fn begin(&self, event: &Event, learning: &Learning) -> Outcome<'static> {
        let ed = &self.compiled().edition;
        Outcome {
            kind: OutcomeKind::Empty,
            user: learning.profile.id().to_owned(),
            edition: ed.name.clone(),
            event: event.kind,
            at: event.at,
            at_local: format_time(event.at, &ed.timezone),
            reason: None,
            items: Vec::new(),
            fired: Vec::new(),
            errors: Vec::new(),
            learned: learning.learned.clone(),
        }
    }

    /// What expressions see for this event and profile (no block yet).
    pub(crate) fn context<'a>(
        &'a self,
        event: &'a Event,
        profile: &'a crate::Profile,
        errors: &'a RefCell<Vec<ScriptError>>,
    ) -> Ctx<'a> {
        let c = self.compiled();
        Ctx {
            segments: &c.segments,
            scripts: &c.scripts,
            host: self.script_host(),
            tz: &c.edition.timezone,
            profile,
            block: None,
            event,
            now: event.at,
            errors,
        }
    }

    /// Evaluate one event for one user: learning (§9), then assembly (§10), with the
    /// reference evaluator. For many events over one catalog, [`crate::Index`] gives the
    /// same outcomes faster.
    ///
    /// Pure: no I/O, no clock (the time is the event's), nothing stored.
    pub fn evaluate<'a>(
        &'a self,
        event: &Event,
        profile: &crate::Profile,
        catalog: &'a Catalog,
        history: &History,
    ) -> Outcome<'a> {
        let learning = self.learn(event, profile);
        self.assemble(event, &learning, catalog, history)
    }

    /// Rule matching alone: the indexes (evaluation order) of the rules that answer the
    /// event's kind and whose `when` holds for `profile` as given — no learning, no caps,
    /// no assembly. The reference for [`crate::Index::matching_rules`] and for the peers
    /// in `benches/peers.rs`.
    pub fn matching_rules(&self, event: &Event, profile: &crate::Profile) -> Vec<usize> {
        let errors = RefCell::new(Vec::new());
        let ctx = self.context(event, profile, &errors);
        self.compiled()
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| fires(r, &ctx, &[], event.at))
            .map(|(i, _)| i)
            .collect()
    }

    /// Assembly (§10) for a profile that has already learned from the event.
    pub fn assemble<'a>(
        &'a self,
        event: &Event,
        learning: &Learning,
        catalog: &'a Catalog,
        history: &History,
    ) -> Outcome<'a> {
        let c = self.compiled();
        let ed = &c.edition;
        let profile = &learning.profile;
        let t = event.at;
        let past = history.for_user(profile.id());
        let errors = RefCell::new(learning.errors.clone());
        let mut outcome = self.begin(event, learning);

        // 1. The edition's cap on unsolicited digests.
        if let Some(reason) = capped(ed, event, past) {
            outcome.kind = OutcomeKind::Quiet;
            outcome.reason = Some(reason);
            // Learning's failures, each once (as on the other outcomes).
            outcome.errors = dedup(errors.into_inner());
            return outcome;
        }

        let ctx = self.context(event, profile, &errors);

        // 2. Fired rules, in evaluation order (the compiled rules are already sorted by
        // priority descending, then name ascending).
        let fired: Vec<(usize, &CRule)> = c
            .rules
            .iter()
            .enumerate()
            .filter(|(_, r)| fires(r, &ctx, past, t))
            .collect();
        outcome.fired = fired.iter().map(|(_, r)| r.name.as_str()).collect();

        // 3. Eligibility.
        let recent = recently_delivered(ed, past, t);
        let drops = fired_drops(fired.iter().map(|(_, r)| *r));
        let is_eligible = |b: &Block| eligible(b, t, &recent, &drops, &ctx);

        // 4. Picks, in evaluation order and source order within a rule.
        let mut state = State::new(ed);
        for (ri, (_, rule)) in fired.iter().enumerate() {
            for (pi, pick) in rule.picks().enumerate() {
                self.run_pick(
                    pick,
                    &ctx,
                    catalog,
                    &is_eligible,
                    &mut state,
                    &rule.name,
                    PickSource::Rule { rule: ri, pick: pi },
                );
            }
        }

        // 5. The fallback, when too few were chosen and some rule answers this kind.
        if state.len() < ed.min && c.rules.iter().any(|r| r.answers(event.kind)) {
            for (pi, pick) in ed.fallback.iter().enumerate() {
                self.run_pick(
                    pick,
                    &ctx,
                    catalog,
                    &is_eligible,
                    &mut state,
                    crate::outcome::FALLBACK,
                    PickSource::Fallback { pick: pi },
                );
            }
        }

        // 6. By section in declared order, then in the order chosen.
        outcome.items = state.into_items();
        outcome.kind = if outcome.items.is_empty() {
            OutcomeKind::Empty
        } else {
            OutcomeKind::Digest
        };
        outcome.errors = dedup(errors.into_inner());
        outcome
    }

    /// Step 4 for one pick: from the eligible blocks of its section that satisfy its
    /// `where` and are not chosen yet, in its order (ties by id ascending), as many as fit.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn run_pick<'a>(
        &'a self,
        pick: &CPick,
        ctx: &Ctx<'_>,
        catalog: &'a Catalog,
        eligible: &dyn Fn(&Block) -> bool,
        state: &mut State<'a>,
        reason: &'a str,
        source: PickSource,
    ) {
        let ed = &self.compiled().edition;
        let Some((section, _)) = ed.sections.get(pick.section) else {
            return;
        };
        let room = state.room(pick, ed);
        if room == 0 {
            return;
        }
        // Candidates come in id order, so that the stable sort keeps ties by id.
        let mut candidates: Vec<(u32, Option<Value>)> = catalog
            .section(section)
            .zip(catalog.section_positions(section))
            .filter(|(b, _)| !state.has(b))
            .filter(|(b, _)| eligible(b))
            .filter(|(b, _)| match &pick.filter {
                None => true,
                // A `where` whose script call fails: that block is not chosen (§8).
                Some(w) => ctx.with_block(b).holds(w).unwrap_or(false),
            })
            .map(|(b, &pos)| {
                let key = match &pick.order {
                    COrder::Newest | COrder::Oldest => b.get(schema::block::PUBLISHED).cloned(),
                    // A failed script call in an order key makes the key missing (§8).
                    COrder::Asc(k) | COrder::Desc(k) => ctx.with_block(b).eval(k).ok().flatten(),
                };
                (u32::try_from(pos).unwrap_or(u32::MAX), key)
            })
            .collect();
        // Missing keys sort last in either direction.
        sort_by_keys(
            &mut candidates,
            matches!(pick.order, COrder::Newest | COrder::Desc(_)),
        );
        let blocks = catalog.blocks();
        for (pos, _) in candidates.into_iter().take(room) {
            if let Some(b) = blocks.get(pos as usize) {
                state.choose(pick, b, reason, source, ed);
            }
        }
    }
}

/// The same failure is reported once per evaluation, not once per block looked at.
pub(crate) fn dedup(errors: Vec<ScriptError>) -> Vec<ScriptError> {
    let mut out: Vec<ScriptError> = Vec::new();
    for e in errors {
        if !out.contains(&e) {
            out.push(e);
        }
    }
    out
}
