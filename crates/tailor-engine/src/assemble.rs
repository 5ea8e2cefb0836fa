//! Digest assembly (language.md §10), written once: [`assemble_with`] runs begin → edition cap →
//! fired rules → eligibility (drops) → picks → fallback → grouping, generic over
//!
//! - a [`Finder`]: how fired rules and a pick's candidates are found. [`Scan`], here,
//!   is the reference: every rule, every block of the section, sorted by its own
//!   [`sort_candidates`] — it imports nothing from the indexed path (`fast.rs`), so that
//!   it stays an independent oracle; `fast.rs`'s `Indexed` finds the same by its
//!   indexes and is checked against the scan by proptest (`crates/tailor-engine/tests/invariants.rs`);
//! - an [`Observer`]: told what each step saw. [`Quiet`] (evaluation) does nothing;
//!   `explain.rs`'s recorder turns a scan into an explanation, so that an explanation
//!   cannot disagree with the reference evaluator.
//!
//! Both are type parameters: each (finder, observer) pair is compiled on its own, and
//! the indexed path with `Quiet` pays nothing for the hooks.

use std::cell::RefCell;
use std::cmp::Ordering;
use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};

use crate::data::{Block, Catalog, Delivery, Event, History};
use crate::eval::{Ctx, compare};
use crate::explain::{CapCount, Limit};
use crate::ir::{CEdition, CExpr, COrder, CPick, CRule};
use crate::learn::Learning;
use crate::outcome::{DigestItem, Outcome, OutcomeKind, PickSource, ScriptError};
use crate::package::Package;
use crate::schema;
use crate::value::{Value, format_duration, format_time};
use tailor_lang::ast::EventKind;

/// Deliveries in the half-open window (T − D, T].
pub(crate) fn in_window(d: &Delivery, at: Timestamp, window: SignedDuration) -> bool {
    match at.checked_sub(window) {
        Ok(start) => d.at > start && d.at <= at,
        Err(_) => d.at <= at,
    }
}

/// The edition's cap with its count, when it applies to this event (unsolicited events
/// only).
pub(crate) fn edition_cap(ed: &CEdition, event: &Event, past: &[Delivery]) -> Option<CapCount> {
    if !event.kind.is_unsolicited() {
        return None;
    }
    let cap = ed.cap?;
    let count = past
        .iter()
        .filter(|d| d.event.is_unsolicited() && in_window(d, event.at, cap.per))
        .count();
    Some(CapCount {
        count,
        limit: cap.count,
        per: cap.per,
    })
}

/// The reason of a `quiet` outcome.
pub(crate) fn quiet_reason(cap: &CapCount) -> String {
    format!(
        "edition cap {} per {} reached",
        cap.limit,
        format_duration(cap.per)
    )
}

/// Step 2: the rule fires (see [`rule_verdict`]).
pub(crate) fn fires(r: &CRule, ctx: &Ctx<'_>, past: &[Delivery], t: Timestamp) -> bool {
    matches!(rule_verdict(r, ctx, past, t), RuleVerdict::Fired)
}

/// The rule's `cap` (if any) leaves room: it fired in fewer past deliveries within the
/// window than the cap allows.
pub(crate) fn under_cap(r: &CRule, past: &[Delivery], t: Timestamp) -> bool {
    rule_cap(r, past, t).is_none_or(|c| !c.reached())
}

/// The rule's `cap` with the deliveries within its window that it fired in.
pub(crate) fn rule_cap(r: &CRule, past: &[Delivery], t: Timestamp) -> Option<CapCount> {
    let cap = r.cap?;
    let count = past
        .iter()
        .filter(|d| in_window(d, t, cap.per) && d.fired.contains(&r.name))
        .count();
    Some(CapCount {
        count,
        limit: cap.count,
        per: cap.per,
    })
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
        // A drop whose script call fails counts as holding: the block is not chosen (language.md §8).
        && !drops
            .iter()
            .any(|d| ctx.with_block(b).holds(d).unwrap_or(true))
}

/// A block's key in a pick's order. A failed script call in an order key makes the key
/// missing (language.md §8).
pub(crate) fn order_key(b: &Block, order: &COrder, ctx: &Ctx<'_>) -> Option<Value> {
    match order {
        COrder::Newest | COrder::Oldest => b.get(schema::block::PUBLISHED).cloned(),
        COrder::Asc(k) | COrder::Desc(k) => ctx.with_block(b).eval(k).ok().flatten(),
    }
}

/// The order sorts its keys descending.
pub(crate) fn descending(order: &COrder) -> bool {
    matches!(order, COrder::Newest | COrder::Desc(_))
}

/// The reference's ordering of a pick's candidates, written here apart from the index's
/// pre-sorted lists so that the oracle stays independent: keys compared by language.md §7
/// (descending when asked), missing keys last in either direction, ties kept in input
/// order (the sort is stable, the input in id order).
pub(crate) fn sort_candidates<T>(items: &mut [(T, Option<Value>)], descending: bool) {
    items.sort_by(|(_, a), (_, b)| match (a, b) {
        (Some(x), Some(y)) => {
            let o = compare(x, y).unwrap_or(Ordering::Equal);
            if descending { o.reverse() } else { o }
        }
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    });
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
        let used = self.section_used(pick.section);
        pick.count
            .min(quota.saturating_sub(used))
            .min(ed.max.saturating_sub(self.chosen.len()))
    }

    /// Items of section `section` chosen so far.
    pub(crate) fn section_used(&self, section: usize) -> usize {
        self.per_section.get(section).copied().unwrap_or(0)
    }

    /// What bounds a pick's room (for explanations).
    pub(crate) fn limit(&self, pick: &CPick, ed: &CEdition) -> Limit {
        let quota = ed.sections.get(pick.section).map_or(0, |(_, q)| *q);
        let section_room = quota.saturating_sub(self.section_used(pick.section));
        let max_room = ed.max.saturating_sub(self.chosen.len());
        let room = self.room(pick, ed);
        if room == max_room && max_room < pick.count.min(section_room) {
            Limit::EditionMax(ed.max)
        } else if room == section_room && section_room < pick.count {
            Limit::SectionQuota(quota)
        } else if room == pick.count {
            Limit::PickCount(pick.count)
        } else if room == section_room {
            Limit::SectionQuota(quota)
        } else {
            Limit::EditionMax(ed.max)
        }
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

    /// Evaluate one event for one user: learning (language.md §9), then assembly (language.md §10), with the
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

    /// Assembly (language.md §10) for a profile that has already learned from the event.
    pub fn assemble<'a>(
        &'a self,
        event: &Event,
        learning: &Learning,
        catalog: &'a Catalog,
        history: &History,
    ) -> Outcome<'a> {
        let scan = Scan {
            package: self,
            catalog,
        };
        assemble_with(&scan, event, learning, history, &mut Quiet)
    }
}

/// Why a rule fired or not (language.md §10 step 2), for observers.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RuleVerdict {
    OtherKinds,
    WhenFailed,
    WhenFalse,
    CapReached(CapCount),
    Fired,
}

/// Why a block of a pick's section was not among its candidates, for observers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rejection {
    AlreadyChosen,
    /// Not eligible (step 3): outside its time window, delivered recently, or dropped.
    Ineligible,
    WhereFalse,
    WhereFailed,
}

/// What assembly tells its observer, step by step. Every hook does nothing by default.
pub(crate) trait Observer {
    /// The observer wants every pick run and every block of its section looked at, even
    /// when the pick has no room (the reference then evaluates them with the quiet
    /// context, so that no script failure is added to the outcome).
    const SEES_ALL: bool;

    /// The edition's cap applies to this event, with this count.
    fn edition_cap(&mut self, _cap: CapCount) {}
    /// The edition's cap is reached: the outcome is `quiet`, no rule is evaluated.
    fn quiet(&mut self) {}
    /// A rule (by evaluation order) was evaluated; `quiet` evaluates without recording
    /// script failures.
    fn rule(&mut self, _index: usize, _rule: &CRule, _verdict: RuleVerdict, _quiet: &Ctx<'_>) {}
    /// A pick starts, with `state` as it is before it takes anything.
    fn pick(&mut self, _job: &PickJob<'_, '_>, _state: &State<'_>) {}
    /// A block of the pick's section is not a candidate.
    fn rejected(&mut self, _b: &Block, _why: Rejection, _quiet: &Ctx<'_>) {}
    /// A candidate in the pick's order, with its key; taken or left for lack of room.
    fn ranked(&mut self, _b: &Block, _key: Option<&Value>, _taken: bool) {}
    /// The pick is over.
    fn pick_done(&mut self) {}
    /// Step 5: whether the fallback ran, and how many items the rules chose.
    fn fallback(&mut self, _ran: bool, _chosen_by_rules: usize) {}
}

/// The observer of evaluation: nothing.
pub(crate) struct Quiet;

impl Observer for Quiet {
    const SEES_ALL: bool = false;
}

/// Eligibility (language.md §10 step 3) for one event: the fired rules' drops and the ids delivered
/// within the repeat window.
pub(crate) struct Eligibility<'e> {
    pub(crate) t: Timestamp,
    pub(crate) recent: HashSet<&'e str>,
    pub(crate) drops: Vec<&'e CExpr>,
    /// Some drop calls a script: an indexed finder then takes the reference's path.
    pub(crate) script_drops: bool,
}

impl Eligibility<'_> {
    /// The block is eligible, evaluated in `ctx`.
    pub(crate) fn of(&self, b: &Block, ctx: &Ctx<'_>) -> bool {
        eligible(b, self.t, &self.recent, &self.drops, ctx)
    }
}

/// One pick to run: what it is, where it comes from, and what it sees.
pub(crate) struct PickJob<'j, 'a> {
    pub(crate) pick: &'a CPick,
    /// The rule's index in evaluation order, or `None` for the fallback.
    pub(crate) rule: Option<usize>,
    /// The pick's index among its rule's picks (or the fallback's).
    pub(crate) index: usize,
    pub(crate) source: PickSource,
    /// The rule's name, or `fallback`: the items' reason.
    pub(crate) reason: &'a str,
    /// How many it may take (`State::room`).
    pub(crate) room: usize,
    pub(crate) ctx: &'j Ctx<'j>,
    /// `ctx` without recording script failures.
    pub(crate) quiet: &'j Ctx<'j>,
    pub(crate) eligibility: &'j Eligibility<'j>,
}

/// How fired rules and a pick's candidates are found.
pub(crate) trait Finder<'a> {
    fn package(&self) -> &'a Package;
    /// The rules (indexes, evaluation order) that answer the event, whose `when` holds
    /// and whose cap leaves room (step 2), each told to `obs`.
    fn fired<O: Observer>(
        &self,
        ctx: &Ctx<'_>,
        quiet: &Ctx<'_>,
        past: &[Delivery],
        obs: &mut O,
    ) -> Vec<u32>;
    /// A rule's name, lent to the outcome.
    fn name(&self, rule: u32) -> &'a str;
    /// The fired rules' drops, and whether one of them calls a script.
    fn drops(&self, fired: &[u32]) -> (Vec<&'a CExpr>, bool);
    /// Some rule answers the event's kind (the fallback applies only then).
    fn answered(&self, kind: EventKind) -> bool;
    /// Step 4 for one pick with room (or any pick, when `O::SEES_ALL`).
    fn run_pick<O: Observer>(&self, job: &PickJob<'_, 'a>, state: &mut State<'a>, obs: &mut O);
}

/// language.md §10, once, for any finder and observer.
pub(crate) fn assemble_with<'a, F: Finder<'a>, O: Observer>(
    finder: &F,
    event: &Event,
    learning: &Learning,
    history: &History,
    obs: &mut O,
) -> Outcome<'a> {
    let pkg = finder.package();
    let c = pkg.compiled();
    let ed = &c.edition;
    let profile = &learning.profile;
    let t = event.at;
    let past = history.for_user(profile.id());
    let errors = RefCell::new(learning.errors.clone());
    let mut outcome = pkg.begin(event, learning);

    // 1. The edition's cap on unsolicited digests.
    if let Some(cap) = edition_cap(ed, event, past) {
        obs.edition_cap(cap);
        if cap.reached() {
            obs.quiet();
            outcome.kind = OutcomeKind::Quiet;
            outcome.reason = Some(quiet_reason(&cap));
            // Learning's failures, each once (as on the other outcomes).
            outcome.errors = dedup(errors.into_inner());
            return outcome;
        }
    }

    let ctx = pkg.context(event, profile, &errors);
    // What observers evaluate (the facts of an explanation) is kept out of the outcome.
    let scratch = RefCell::new(Vec::new());
    let quiet = Ctx {
        errors: &scratch,
        ..ctx
    };

    // 2. Fired rules, in evaluation order (the compiled rules are already sorted by
    // priority descending, then name ascending).
    let fired = finder.fired(&ctx, &quiet, past, obs);
    outcome.fired = Vec::with_capacity(fired.len());
    outcome.fired.extend(fired.iter().map(|&r| finder.name(r)));

    // 3. Eligibility.
    let (drops, script_drops) = finder.drops(&fired);
    let eligibility = Eligibility {
        t,
        recent: recently_delivered(ed, past, t),
        drops,
        script_drops,
    };

    // 4. Picks, in evaluation order and source order within a rule.
    let mut state = State::new(ed);
    for (ri, &rule_index) in fired.iter().enumerate() {
        // Once the digest has `max` items no pick has room: the rest add nothing.
        if !O::SEES_ALL && state.len() >= ed.max {
            break;
        }
        let Some(rule) = c.rules.get(rule_index as usize) else {
            continue;
        };
        let reason = finder.name(rule_index);
        for (pi, pick) in rule.picks().enumerate() {
            let job = PickJob {
                pick,
                rule: Some(rule_index as usize),
                index: pi,
                source: PickSource::Rule { rule: ri, pick: pi },
                reason,
                room: state.room(pick, ed),
                ctx: &ctx,
                quiet: &quiet,
                eligibility: &eligibility,
            };
            pick_with(finder, &job, &mut state, obs);
        }
    }

    // 5. The fallback, when too few were chosen and some rule answers this kind.
    let chosen_by_rules = state.len();
    let fallback = chosen_by_rules < ed.min && finder.answered(event.kind);
    obs.fallback(fallback, chosen_by_rules);
    if fallback {
        for (pi, pick) in ed.fallback.iter().enumerate() {
            let job = PickJob {
                pick,
                rule: None,
                index: pi,
                source: PickSource::Fallback { pick: pi },
                reason: crate::outcome::FALLBACK,
                room: state.room(pick, ed),
                ctx: &ctx,
                quiet: &quiet,
                eligibility: &eligibility,
            };
            pick_with(finder, &job, &mut state, obs);
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

/// One pick: told to the observer, run by the finder when it has room (or always for
/// an observer that sees all).
#[inline]
fn pick_with<'a, F: Finder<'a>, O: Observer>(
    finder: &F,
    job: &PickJob<'_, 'a>,
    state: &mut State<'a>,
    obs: &mut O,
) {
    obs.pick(job, state);
    if job.room > 0 || O::SEES_ALL {
        finder.run_pick(job, state, obs);
    }
    obs.pick_done();
}

/// The reference finder: every rule in evaluation order, every block of a pick's
/// section.
pub(crate) struct Scan<'a> {
    pub(crate) package: &'a Package,
    pub(crate) catalog: &'a Catalog,
}

impl<'a> Finder<'a> for Scan<'a> {
    fn package(&self) -> &'a Package {
        self.package
    }

    fn fired<O: Observer>(
        &self,
        ctx: &Ctx<'_>,
        quiet: &Ctx<'_>,
        past: &[Delivery],
        obs: &mut O,
    ) -> Vec<u32> {
        let t = ctx.event.at;
        let mut fired = Vec::new();
        for (i, r) in self.package.compiled().rules.iter().enumerate() {
            let verdict = rule_verdict(r, ctx, past, t);
            obs.rule(i, r, verdict, quiet);
            if matches!(verdict, RuleVerdict::Fired) {
                fired.push(u32::try_from(i).unwrap_or(u32::MAX));
            }
        }
        fired
    }

    fn name(&self, rule: u32) -> &'a str {
        self.package
            .compiled()
            .rules
            .get(rule as usize)
            .map_or("", |r| r.name.as_str())
    }

    fn drops(&self, fired: &[u32]) -> (Vec<&'a CExpr>, bool) {
        let rules = &self.package.compiled().rules;
        let drops = fired_drops(fired.iter().filter_map(|&i| rules.get(i as usize)));
        (drops, false)
    }

    fn answered(&self, kind: EventKind) -> bool {
        self.package
            .compiled()
            .rules
            .iter()
            .any(|r| r.answers(kind))
    }

    fn run_pick<O: Observer>(&self, job: &PickJob<'_, 'a>, state: &mut State<'a>, obs: &mut O) {
        scan_pick(self.package, self.catalog, job, state, obs);
    }
}

/// Step 2 for one rule: it fires when it answers the kind, its `when` holds (a `when`
/// whose script call fails does not hold, language.md §8), and its own cap is not exhausted.
pub(crate) fn rule_verdict(
    r: &CRule,
    ctx: &Ctx<'_>,
    past: &[Delivery],
    t: Timestamp,
) -> RuleVerdict {
    if !r.answers(ctx.event.kind) {
        return RuleVerdict::OtherKinds;
    }
    let when = match &r.when {
        None => Ok(true),
        Some(w) => ctx.holds(w),
    };
    match when {
        Err(_) => RuleVerdict::WhenFailed,
        Ok(false) => RuleVerdict::WhenFalse,
        Ok(true) => match rule_cap(r, past, t) {
            Some(cap) if cap.reached() => RuleVerdict::CapReached(cap),
            _ => RuleVerdict::Fired,
        },
    }
}

/// Step 4 for one pick, by scanning: from the eligible blocks of its section that satisfy
/// its `where` and are not chosen yet, in its order (ties by id ascending), as many as
/// fit. A pick without room evaluates nothing unless the observer sees all (then in the
/// quiet context).
pub(crate) fn scan_pick<'a, O: Observer>(
    package: &'a Package,
    catalog: &'a Catalog,
    job: &PickJob<'_, 'a>,
    state: &mut State<'a>,
    obs: &mut O,
) {
    let ed = &package.compiled().edition;
    let pick = job.pick;
    let Some((section, _)) = ed.sections.get(pick.section) else {
        return;
    };
    if job.room == 0 && !O::SEES_ALL {
        return;
    }
    let ctx = if job.room == 0 { job.quiet } else { job.ctx };
    // Candidates come in id order, so that the stable sort keeps ties by id.
    let mut candidates: Vec<(&'a Block, Option<Value>)> = Vec::new();
    for b in catalog.section(section) {
        let rejected = if state.has(b) {
            Some(Rejection::AlreadyChosen)
        } else if !job.eligibility.of(b, ctx) {
            Some(Rejection::Ineligible)
        } else {
            match &pick.filter {
                None => None,
                // A `where` whose script call fails: that block is not chosen (language.md §8).
                Some(w) => match ctx.with_block(b).holds(w) {
                    Ok(true) => None,
                    Ok(false) => Some(Rejection::WhereFalse),
                    Err(_) => Some(Rejection::WhereFailed),
                },
            }
        };
        match rejected {
            Some(why) => obs.rejected(b, why, job.quiet),
            None => candidates.push((b, order_key(b, &pick.order, ctx))),
        }
    }
    sort_candidates(&mut candidates, descending(&pick.order));
    for (n, (b, key)) in candidates.into_iter().enumerate() {
        let taken = n < job.room;
        obs.ranked(b, key.as_ref(), taken);
        if taken {
            state.choose(pick, b, job.reason, job.source, ed);
        } else if !O::SEES_ALL {
            break;
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

#[cfg(test)]
mod tests {
    /// The code lines (not comments, not its tests) of a source file that name the
    /// indexed path's module.
    fn naming_the_index(src: &str) -> Vec<String> {
        let code = src.split("#[cfg(test)]").next().unwrap_or(src);
        code.lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .filter(|l| {
                l.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|w| w == "fast")
            })
            .map(str::to_owned)
            .collect()
    }

    /// The oracle stays independent (issue 19): the reference's finder and ordering, and
    /// the explanation built on them, import nothing from the indexed path, so a bug
    /// there cannot pass the differential proptest by being shared.
    #[test]
    fn the_reference_imports_nothing_from_the_indexed_path() {
        for (file, src) in [
            ("assemble.rs", include_str!("assemble.rs")),
            ("explain.rs", include_str!("explain.rs")),
            ("explain/why.rs", include_str!("explain/why.rs")),
        ] {
            assert_eq!(naming_the_index(src), Vec::<String>::new(), "{file}");
        }
        // The check sees an import when there is one.
        let before = "use crate::eval::Ctx;\nuse crate::fast::picks::sort_by_keys;\n";
        assert_eq!(naming_the_index(before).len(), 1);
    }
}
