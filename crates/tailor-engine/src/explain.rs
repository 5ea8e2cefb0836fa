//! Why an outcome is what it is: assembly (§10) re-run step by step, recording for every
//! rule whether it fired and why (the condition that was false, with the values it saw),
//! and for every pick which blocks of its section it considered and why each was or was
//! not taken.
//!
//! This mirrors `assemble.rs` step by step and computes its own digest; the integration
//! test `tests/explain_agrees.rs` checks that the two always choose the same items in the
//! same order, so they cannot drift apart.

mod why;

use std::cell::RefCell;
use std::cmp::Ordering;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value as J, json};
use tailor_lang::Span;
use tailor_lang::ast::{self, EventKind};

use why::{Sources, Why};

use crate::data::{Block, Catalog, Delivery, Event, History, Profile};
use crate::eval::{Ctx, compare};
use crate::ir::{CAction, COrder, CPick};
use crate::outcome::{Learned, PickSource, ScriptError};
use crate::package::Package;
use crate::schema;
use crate::value::{Value, format_duration, format_time};

/// The explanation of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub user: String,
    pub edition: String,
    pub event: EventKind,
    /// The event's time in the edition's zone.
    pub at_local: String,
    pub learned: Vec<Learned>,
    /// The edition's cap, when it applies to this event (unsolicited events only).
    pub edition_cap: Option<CapCount>,
    /// True when the edition's cap made the outcome `quiet` (no rule was evaluated).
    pub quiet: bool,
    /// Every rule of the package, in evaluation order.
    pub rules: Vec<RuleExplanation>,
    /// Every pick that ran: the fired rules' picks in evaluation order, then the fallback's.
    pub picks: Vec<PickExplanation>,
    pub fallback: FallbackExplanation,
    /// The digest as this explanation assembled it, in display order.
    pub items: Vec<ExplainedItem>,
    pub errors: Vec<ScriptError>,
}

/// Deliveries counted against a cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CapCount {
    pub count: usize,
    pub limit: usize,
    pub per: SignedDuration,
}

impl CapCount {
    pub fn reached(&self) -> bool {
        self.count >= self.limit
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleExplanation {
    pub name: String,
    pub priority: i64,
    pub span: Span,
    pub status: RuleStatus,
}

impl RuleExplanation {
    pub fn fired(&self) -> bool {
        matches!(self.status, RuleStatus::Fired { .. })
    }
}

/// Whether a rule fired, and why (not).
#[derive(Debug, Clone, PartialEq)]
pub enum RuleStatus {
    /// It fired; `because` lists the conditions of its `when` that held, with the values
    /// they saw (empty when the rule has no `when`).
    Fired { because: Vec<Fact> },
    /// The outcome was `quiet` (edition cap): no rule was evaluated.
    NotEvaluated,
    /// The rule does not answer this kind of event.
    OtherKinds { on: Vec<EventKind> },
    /// The `when` did not hold; `facts` are the conditions that were false.
    WhenFalse { facts: Vec<Fact> },
    /// A script call in the `when` failed (§8): the rule does not fire.
    WhenFailed,
    /// The rule's own cap is exhausted.
    CapReached(CapCount),
}

/// One condition as written, what it gave, and the values it looked at.
#[derive(Debug, Clone, PartialEq)]
pub struct Fact {
    /// The condition, printed in canonical form.
    pub text: String,
    pub span: Span,
    /// `true`, `false`, `missing` or `failed` (a script call failed).
    pub result: String,
    /// The operands it saw: (operand as written, its value or `missing`).
    pub seen: Vec<(String, String)>,
    /// The segments the condition was found in, outermost first.
    pub via: Vec<String>,
    /// True when the condition sits under a `not` (so it mattered the other way round).
    pub negated: bool,
}

impl Fact {
    /// `profile.age >= 60 was false (profile.age = 45) [in segment senior]`
    pub fn describe(&self) -> String {
        let mut s = format!("`{}` was {}", self.text, self.result);
        if !self.seen.is_empty() {
            let seen: Vec<String> = self
                .seen
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect();
            s.push_str(&format!(" ({})", seen.join(", ")));
        }
        if !self.via.is_empty() {
            s.push_str(&format!(" in segment {}", self.via.join(" → ")));
        }
        if self.negated {
            s.push_str(", under `not`");
        }
        s
    }

    fn to_json(&self) -> J {
        json!({
            "condition": self.text,
            "result": self.result,
            "seen": self.seen.iter().map(|(k, v)| json!({"operand": k, "value": v})).collect::<Vec<_>>(),
            "via": self.via,
            "under_not": self.negated,
        })
    }
}

/// One pick that ran.
#[derive(Debug, Clone, PartialEq)]
pub struct PickExplanation {
    /// The rule's name, or `fallback`.
    pub rule: String,
    pub source: PickSource,
    pub span: Span,
    /// The pick as written, on one line.
    pub text: String,
    pub section: String,
    pub count: usize,
    pub quota: usize,
    /// Items of this section chosen before this pick ran.
    pub section_used: usize,
    /// Items chosen before this pick ran.
    pub total_before: usize,
    pub max: usize,
    /// How many this pick could take: the least of its count, the section's room and the
    /// edition's room.
    pub room: usize,
    /// Every block of the section: the ones it could take in its order first, then the
    /// others in id order.
    pub candidates: Vec<Candidate>,
}

impl PickExplanation {
    pub fn chosen(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates
            .iter()
            .filter(|c| c.status == CandidateStatus::Chosen)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub id: String,
    pub title: String,
    /// The order key, shown, for blocks that passed every test.
    pub key: Option<String>,
    pub status: CandidateStatus,
}

/// Why a block was or was not taken by a pick.
#[derive(Debug, Clone, PartialEq)]
pub enum CandidateStatus {
    Chosen,
    /// Already in the digest, chosen by this rule (or `fallback`).
    AlreadyChosen {
        by: String,
    },
    /// Not yet published at the event's time.
    NotPublished {
        published: String,
    },
    /// Expired at or before the event's time.
    Expired {
        expires: String,
    },
    /// Delivered to this user within the edition's `repeat after` window.
    RecentlyDelivered {
        at: String,
        repeat: String,
    },
    /// A `drop` of a fired rule holds for it (or its script call failed).
    Dropped {
        rule: String,
        /// Index of the drop among the rule's drops.
        drop: usize,
        span: Span,
        failed: bool,
        /// Drops of later rules that hold for it too: (rule, index among its drops).
        also: Vec<(String, usize)>,
    },
    /// The pick's `where` did not hold; the conditions that were false.
    WhereFalse {
        facts: Vec<Fact>,
    },
    /// A script call in the pick's `where` failed (§8).
    WhereFailed,
    /// Eligible and matching, but the pick had no more room.
    NoRoom {
        limit: Limit,
    },
}

/// What bounded a pick's room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The pick's own `pick N` was reached.
    PickCount(usize),
    /// The section's quota was full.
    SectionQuota(usize),
    /// The edition's `max` was reached.
    EditionMax(usize),
}

impl Limit {
    pub fn describe(self) -> String {
        match self {
            Limit::PickCount(n) => format!("the pick's count ({n}) was reached"),
            Limit::SectionQuota(n) => format!("the section's quota ({n}) was full"),
            Limit::EditionMax(n) => format!("the edition's max ({n}) was reached"),
        }
    }
}

impl CandidateStatus {
    pub fn describe(&self) -> String {
        match self {
            CandidateStatus::Chosen => "chosen".to_owned(),
            CandidateStatus::AlreadyChosen { by } => format!("already chosen (by {by})"),
            CandidateStatus::NotPublished { published } => {
                format!("ineligible: not yet published (publishes {published})")
            }
            CandidateStatus::Expired { expires } => {
                format!("ineligible: expired ({expires})")
            }
            CandidateStatus::RecentlyDelivered { at, repeat } => {
                format!("ineligible: delivered {at}, within `repeat after {repeat}`")
            }
            CandidateStatus::Dropped {
                rule, failed, also, ..
            } => {
                let mut s = if *failed {
                    format!("dropped by rule {rule} (its script call failed)")
                } else {
                    format!("dropped by rule {rule}")
                };
                if !also.is_empty() {
                    let mut names: Vec<&str> = also.iter().map(|(r, _)| r.as_str()).collect();
                    names.dedup();
                    s.push_str(&format!(" (and by {})", names.join(", ")));
                }
                s
            }
            CandidateStatus::WhereFalse { facts } => {
                let f: Vec<String> = facts.iter().map(Fact::describe).collect();
                format!("where: {}", f.join("; "))
            }
            CandidateStatus::WhereFailed => "where: a script call failed".to_owned(),
            CandidateStatus::NoRoom { limit } => format!("no room: {}", limit.describe()),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            CandidateStatus::Chosen => "chosen",
            CandidateStatus::AlreadyChosen { .. } => "already_chosen",
            CandidateStatus::NotPublished { .. } => "not_published",
            CandidateStatus::Expired { .. } => "expired",
            CandidateStatus::RecentlyDelivered { .. } => "repeat",
            CandidateStatus::Dropped { .. } => "dropped",
            CandidateStatus::WhereFalse { .. } => "where_false",
            CandidateStatus::WhereFailed => "where_failed",
            CandidateStatus::NoRoom { .. } => "no_room",
        }
    }
}

/// Whether the fallback ran (§10 step 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackExplanation {
    pub ran: bool,
    /// Items chosen by the rules.
    pub chosen_by_rules: usize,
    pub min: usize,
    /// Whether some rule of the package answers the event's kind.
    pub kind_answered: bool,
}

/// One item of the digest as the explanation assembled it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainedItem {
    pub id: String,
    pub section: String,
    /// The rule whose pick chose it, or `fallback`.
    pub reason: String,
    pub source: PickSource,
    /// Index into [`Explanation::picks`].
    pub pick: usize,
}

impl Explanation {
    /// The explanation of one item of the digest: the rule, its `when` and its pick.
    pub fn why(&self, id: &str) -> Option<(&ExplainedItem, &PickExplanation)> {
        let item = self.items.iter().find(|i| i.id == id)?;
        Some((item, self.picks.get(item.pick)?))
    }

    pub fn rule(&self, name: &str) -> Option<&RuleExplanation> {
        self.rules.iter().find(|r| r.name == name)
    }

    /// A JSON form, for tools and the server's dry run.
    pub fn to_json(&self) -> J {
        let cap = |c: &CapCount| json!({"count": c.count, "limit": c.limit, "per": format_duration(c.per)});
        let rules: Vec<J> = self
            .rules
            .iter()
            .map(|r| {
                let mut o = json!({"rule": r.name, "priority": r.priority, "fired": r.fired()});
                let (status, extra) = match &r.status {
                    RuleStatus::Fired { because } => (
                        "fired",
                        json!({"because": because.iter().map(Fact::to_json).collect::<Vec<_>>()}),
                    ),
                    RuleStatus::NotEvaluated => ("not_evaluated", json!({})),
                    RuleStatus::OtherKinds { on } => (
                        "other_kinds",
                        json!({"on": on.iter().map(|k| k.name()).collect::<Vec<_>>()}),
                    ),
                    RuleStatus::WhenFalse { facts } => (
                        "when_false",
                        json!({"false": facts.iter().map(Fact::to_json).collect::<Vec<_>>()}),
                    ),
                    RuleStatus::WhenFailed => ("when_failed", json!({})),
                    RuleStatus::CapReached(c) => ("cap_reached", json!({"cap": cap(c)})),
                };
                if let (Some(o), J::Object(extra)) = (o.as_object_mut(), extra) {
                    o.insert("status".into(), J::from(status));
                    o.extend(extra);
                }
                o
            })
            .collect();
        let picks: Vec<J> = self
            .picks
            .iter()
            .map(|p| {
                json!({
                    "rule": p.rule,
                    "pick": p.text,
                    "section": p.section,
                    "room": p.room,
                    "candidates": p.candidates.iter().map(|c| json!({
                        "id": c.id,
                        "status": c.status.code(),
                        "why": c.status.describe(),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "user": self.user,
            "edition": self.edition,
            "event": self.event.name(),
            "at": self.at_local,
            "quiet": self.quiet,
            "edition_cap": self.edition_cap.as_ref().map(cap),
            "rules": rules,
            "picks": picks,
            "fallback": {
                "ran": self.fallback.ran,
                "chosen_by_rules": self.fallback.chosen_by_rules,
                "min": self.fallback.min,
                "kind_answered": self.fallback.kind_answered,
            },
            "items": self.items.iter().map(|i| json!({"id": i.id, "section": i.section, "reason": i.reason})).collect::<Vec<_>>(),
        })
    }
}

/// Deliveries in the half-open window (T − D, T], as in `assemble.rs`.
fn in_window(d: &Delivery, at: Timestamp, window: SignedDuration) -> bool {
    match at.checked_sub(window) {
        Ok(start) => d.at > start && d.at <= at,
        Err(_) => d.at <= at,
    }
}

/// A value for people: JSON, times in the edition's zone; `missing` for missing.
pub fn show_value(v: Option<&Value>, tz: &jiff::tz::TimeZone) -> String {
    match v {
        None => "missing".to_owned(),
        Some(v) => v.to_json(tz).to_string(),
    }
}

/// A pick's text as written, on one line.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A compiled pick with its AST and the rule it belongs to.
struct PickRun<'p> {
    rule: String,
    source: PickSource,
    pick: &'p CPick,
    ast: Option<&'p ast::Pick>,
}

/// Assembly state, as in `assemble.rs`.
struct State {
    /// (section index, id, reason, source, pick index) in the order chosen.
    chosen: Vec<(usize, String, String, PickSource, usize)>,
    per_section: Vec<usize>,
}

impl Package {
    /// Explain one evaluation: learning, then assembly (§10) step by step, recording why
    /// each rule fired or not and why each pick took or left each block of its section.
    ///
    /// Pure like [`Package::evaluate`], whose items it always reproduces.
    pub fn explain(
        &self,
        event: &Event,
        profile: &Profile,
        catalog: &Catalog,
        history: &History,
    ) -> Explanation {
        let learning = self.learn(event, profile);
        let c = self.compiled();
        let ed = &c.edition;
        let tz = &ed.timezone;
        let profile = &learning.profile;
        let t = event.at;
        let past = history.for_user(profile.id());
        let errors = RefCell::new(learning.errors.clone());
        let src = Sources::new(self);
        let why = Why {
            src: &src,
            pkg: self,
            tz,
        };
        let mut ex = Explanation {
            user: profile.id().to_owned(),
            edition: ed.name.clone(),
            event: event.kind,
            at_local: format_time(t, tz),
            learned: learning.learned.clone(),
            edition_cap: None,
            quiet: false,
            rules: Vec::new(),
            picks: Vec::new(),
            fallback: FallbackExplanation {
                ran: false,
                chosen_by_rules: 0,
                min: ed.min,
                kind_answered: c.rules.iter().any(|r| r.answers(event.kind)),
            },
            items: Vec::new(),
            errors: Vec::new(),
        };

        // 1. The edition's cap.
        if event.kind.is_unsolicited()
            && let Some(cap) = ed.cap
        {
            let count = past
                .iter()
                .filter(|d| d.event.is_unsolicited() && in_window(d, t, cap.per))
                .count();
            let cc = CapCount {
                count,
                limit: cap.count,
                per: cap.per,
            };
            ex.edition_cap = Some(cc);
            if cc.reached() {
                ex.quiet = true;
                ex.rules = c
                    .rules
                    .iter()
                    .map(|r| RuleExplanation {
                        name: r.name.clone(),
                        priority: r.priority,
                        span: r.span,
                        status: RuleStatus::NotEvaluated,
                    })
                    .collect();
                ex.errors = dedup(errors.into_inner());
                return ex;
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
        // Facts are computed with a scratch error list: explaining must not add errors.
        let scratch = RefCell::new(Vec::new());
        let quiet_ctx = Ctx {
            errors: &scratch,
            ..ctx
        };

        // 2. Fired rules, in evaluation order.
        let mut fired = Vec::new();
        for r in &c.rules {
            let rule_ast = src.rules.get(r.name.as_str()).copied();
            let status = if !r.answers(event.kind) {
                RuleStatus::OtherKinds { on: r.on.clone() }
            } else {
                let when = match &r.when {
                    None => Ok(true),
                    Some(w) => ctx.holds(w),
                };
                let when_ast = rule_ast.and_then(|a| a.when.as_ref());
                match when {
                    Err(_) => RuleStatus::WhenFailed,
                    Ok(false) => RuleStatus::WhenFalse {
                        facts: match (when_ast, &r.when) {
                            (Some(a), Some(w)) => why.facts(&quiet_ctx, a, w, false, &[]),
                            _ => Vec::new(),
                        },
                    },
                    Ok(true) => {
                        let capped = r.cap.and_then(|cap| {
                            let count = past
                                .iter()
                                .filter(|d| in_window(d, t, cap.per) && d.fired.contains(&r.name))
                                .count();
                            let cc = CapCount {
                                count,
                                limit: cap.count,
                                per: cap.per,
                            };
                            cc.reached().then_some(cc)
                        });
                        match capped {
                            Some(cc) => RuleStatus::CapReached(cc),
                            None => RuleStatus::Fired {
                                because: match (when_ast, &r.when) {
                                    (Some(a), Some(w)) => why.facts(&quiet_ctx, a, w, true, &[]),
                                    _ => Vec::new(),
                                },
                            },
                        }
                    }
                }
            };
            if matches!(status, RuleStatus::Fired { .. }) {
                fired.push((r, rule_ast));
            }
            ex.rules.push(RuleExplanation {
                name: r.name.clone(),
                priority: r.priority,
                span: r.span,
                status,
            });
        }

        // 3. Eligibility: why a block is not eligible, or `None`.
        let quiet_ref = &quiet_ctx;
        let ineligible = |b: &Block, ctx: &Ctx<'_>| -> Option<CandidateStatus> {
            let quiet_ctx = quiet_ref;
            if b.published().is_none_or(|p| p > t) {
                return Some(CandidateStatus::NotPublished {
                    published: b
                        .published()
                        .map_or_else(|| "never".to_owned(), |p| format_time(p, tz)),
                });
            }
            if let Some(e) = b.expires().filter(|e| t >= *e) {
                return Some(CandidateStatus::Expired {
                    expires: format_time(e, tz),
                });
            }
            if let Some(repeat) = ed.repeat
                && let Some(d) = past
                    .iter()
                    .filter(|d| in_window(d, t, repeat) && d.blocks.iter().any(|x| x == b.id()))
                    .max_by_key(|d| d.at)
            {
                return Some(CandidateStatus::RecentlyDelivered {
                    at: format_time(d.at, tz),
                    repeat: format_duration(repeat),
                });
            }
            // The first drop that holds keeps the block out (as in `assemble.rs`); the
            // drops of later rules that hold too are listed, evaluated quietly.
            let bctx = ctx.with_block(b);
            let qctx = quiet_ctx.with_block(b);
            let mut first: Option<CandidateStatus> = None;
            let mut others = Vec::new();
            for (r, _) in &fired {
                let mut di = 0;
                for a in &r.actions {
                    if let CAction::Drop { filter, span } = a {
                        if first.is_none() {
                            match bctx.holds(filter) {
                                Ok(false) => {}
                                res => {
                                    first = Some(CandidateStatus::Dropped {
                                        rule: r.name.clone(),
                                        drop: di,
                                        span: *span,
                                        failed: res.is_err(),
                                        also: Vec::new(),
                                    });
                                }
                            }
                        } else if qctx.holds(filter).unwrap_or(true) {
                            others.push((r.name.clone(), di));
                        }
                        di += 1;
                    }
                }
            }
            if let Some(CandidateStatus::Dropped { also, .. }) = &mut first {
                *also = others;
            }
            first
        };

        // 4. Picks.
        let mut runs: Vec<PickRun<'_>> = Vec::new();
        for (ri, (r, rule_ast)) in fired.iter().enumerate() {
            let asts: Vec<&ast::Pick> = rule_ast
                .map(|a| {
                    a.actions
                        .iter()
                        .filter_map(|x| match x {
                            ast::Action::Pick(p) => Some(p),
                            ast::Action::Drop(_) => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            for (pi, pick) in r.picks().enumerate() {
                runs.push(PickRun {
                    rule: r.name.clone(),
                    source: PickSource::Rule { rule: ri, pick: pi },
                    pick,
                    ast: asts.get(pi).copied(),
                });
            }
        }
        let mut state = State {
            chosen: Vec::new(),
            per_section: vec![0; ed.sections.len()],
        };
        for run in &runs {
            let pe = self.explain_pick(
                run,
                &ctx,
                &quiet_ctx,
                &why,
                catalog,
                &ineligible,
                &mut state,
                ex.picks.len(),
            );
            ex.picks.push(pe);
        }

        // 5. The fallback.
        ex.fallback.chosen_by_rules = state.chosen.len();
        if state.chosen.len() < ed.min && ex.fallback.kind_answered {
            ex.fallback.ran = true;
            for (pi, pick) in ed.fallback.iter().enumerate() {
                let run = PickRun {
                    rule: crate::outcome::FALLBACK.to_owned(),
                    source: PickSource::Fallback { pick: pi },
                    pick,
                    ast: src.fallback.get(pi).copied(),
                };
                let pe = self.explain_pick(
                    &run,
                    &ctx,
                    &quiet_ctx,
                    &why,
                    catalog,
                    &ineligible,
                    &mut state,
                    ex.picks.len(),
                );
                ex.picks.push(pe);
            }
        }

        // 6. By section in declared order, then in the order chosen.
        let mut items: Vec<(usize, usize, ExplainedItem)> = state
            .chosen
            .into_iter()
            .enumerate()
            .map(|(order, (section, id, reason, source, pick))| {
                let name = ed
                    .sections
                    .get(section)
                    .map(|(n, _)| n.clone())
                    .unwrap_or_default();
                (
                    section,
                    order,
                    ExplainedItem {
                        id,
                        section: name,
                        reason,
                        source,
                        pick,
                    },
                )
            })
            .collect();
        items.sort_by_key(|(section, order, _)| (*section, *order));
        ex.items = items.into_iter().map(|(_, _, i)| i).collect();
        ex.errors = dedup(errors.into_inner());
        ex
    }

    #[allow(clippy::too_many_arguments)]
    fn explain_pick(
        &self,
        run: &PickRun<'_>,
        ctx: &Ctx<'_>,
        quiet_ctx: &Ctx<'_>,
        why: &Why<'_, '_>,
        catalog: &Catalog,
        ineligible: &dyn Fn(&Block, &Ctx<'_>) -> Option<CandidateStatus>,
        state: &mut State,
        index: usize,
    ) -> PickExplanation {
        let ed = &self.compiled().edition;
        let pick = run.pick;
        let (section, quota) = ed
            .sections
            .get(pick.section)
            .map(|(n, q)| (n.clone(), *q))
            .unwrap_or_default();
        let used = state.per_section.get(pick.section).copied().unwrap_or(0);
        let section_room = quota.saturating_sub(used);
        let max_room = ed.max.saturating_sub(state.chosen.len());
        let room = pick.count.min(section_room).min(max_room);
        let limit = if room == max_room && max_room < pick.count.min(section_room) {
            Limit::EditionMax(ed.max)
        } else if room == section_room && section_room < pick.count {
            Limit::SectionQuota(quota)
        } else if room == pick.count {
            Limit::PickCount(pick.count)
        } else if room == section_room {
            Limit::SectionQuota(quota)
        } else {
            Limit::EditionMax(ed.max)
        };
        let mut pe = PickExplanation {
            rule: run.rule.clone(),
            source: run.source,
            span: pick.span,
            text: one_line(self.sources().snippet(pick.span)),
            section: section.clone(),
            count: pick.count,
            quota,
            section_used: used,
            total_before: state.chosen.len(),
            max: ed.max,
            room,
            candidates: Vec::new(),
        };
        let mut passing: Vec<(&Block, Option<Value>)> = Vec::new();
        let mut others: Vec<Candidate> = Vec::new();
        let candidate = |b: &Block, status| Candidate {
            id: b.id().to_owned(),
            title: b.title().to_owned(),
            key: None,
            status,
        };
        for b in catalog.section(&section) {
            if let Some((_, _, by, _, _)) = state.chosen.iter().find(|(_, id, ..)| id == b.id()) {
                others.push(candidate(
                    b,
                    CandidateStatus::AlreadyChosen { by: by.clone() },
                ));
                continue;
            }
            // `assemble.rs` evaluates nothing for a pick without room: what this one
            // evaluates then must not add script errors.
            let c = if room == 0 { quiet_ctx } else { ctx };
            if let Some(status) = ineligible(b, c) {
                others.push(candidate(b, status));
                continue;
            }
            if let Some(w) = &pick.filter {
                match c.with_block(b).holds(w) {
                    Ok(true) => {}
                    Ok(false) => {
                        let facts = match run.ast.and_then(|a| a.filter.as_ref()) {
                            Some(a) => why.facts(&quiet_ctx.with_block(b), a, w, false, &[]),
                            None => Vec::new(),
                        };
                        others.push(candidate(b, CandidateStatus::WhereFalse { facts }));
                        continue;
                    }
                    Err(_) => {
                        others.push(candidate(b, CandidateStatus::WhereFailed));
                        continue;
                    }
                }
            }
            let key = match &pick.order {
                COrder::Newest | COrder::Oldest => b.get(schema::block::PUBLISHED).cloned(),
                COrder::Asc(k) | COrder::Desc(k) => c.with_block(b).eval(k).ok().flatten(),
            };
            passing.push((b, key));
        }
        let descending = matches!(pick.order, COrder::Newest | COrder::Desc(_));
        passing.sort_by(|(_, a), (_, b)| match (a, b) {
            (Some(x), Some(y)) => {
                let o = compare(x, y).unwrap_or(Ordering::Equal);
                if descending { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
        for (n, (b, key)) in passing.into_iter().enumerate() {
            let status = if n < room {
                state.chosen.push((
                    pick.section,
                    b.id().to_owned(),
                    run.rule.clone(),
                    run.source,
                    index,
                ));
                if let Some(k) = state.per_section.get_mut(pick.section) {
                    *k += 1;
                }
                CandidateStatus::Chosen
            } else {
                CandidateStatus::NoRoom { limit }
            };
            pe.candidates.push(Candidate {
                id: b.id().to_owned(),
                title: b.title().to_owned(),
                key: Some(show_value(key.as_ref(), &ed.timezone)),
                status,
            });
        }
        pe.candidates.extend(others);
        pe
    }
}

/// The same failure is reported once per evaluation, as in `assemble.rs`.
fn dedup(errors: Vec<ScriptError>) -> Vec<ScriptError> {
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
    use super::*;
    use tailor_lang::SourceMap;

    #[test]
    fn explains_rules_and_candidates_through_the_library_api() {
        let src = r#"
            profile { age: int city: string }
            content { city: string }
            edition e { max 2 sections { weather 1 news 2 } }
            segment senior = profile.age >= 60
            rule seniors { priority 5 when senior and profile.city exists pick 1 from news }
            rule weather { pick 1 from weather where block.city == profile.city }
            rule no_ads { drop where block.city == "ads" }
        "#;
        let pkg = Package::from_sources(vec![("main.rules".into(), src.into())]);
        let Ok(pkg) = pkg else {
            unreachable!("the package compiles");
        };
        let mut sources = SourceMap::new();
        let profiles = pkg
            .parse_profiles(
                &mut sources,
                "p",
                r#"{"id": "u", "age": 45, "city": "杭州"}"#,
            )
            .unwrap_or_default();
        let catalog = pkg
            .parse_catalog(
                &mut sources,
                "c",
                concat!(
                    r#"{"id": "w-1", "section": "weather", "title": "宁波", "city": "宁波", "published": "2013-02-21T06:00:00Z"}"#,
                    "\n",
                    r#"{"id": "w-2", "section": "weather", "title": "杭州", "city": "杭州", "published": "2013-02-21T06:00:00Z"}"#,
                    "\n",
                    r#"{"id": "w-3", "section": "weather", "title": "ad", "city": "ads", "published": "2013-02-21T06:00:00Z"}"#,
                    "\n",
                    r#"{"id": "w-4", "section": "weather", "title": "later", "city": "杭州", "published": "2013-02-22T06:00:00Z"}"#,
                ),
            )
            .unwrap_or_default();
        let Some(profile) = profiles.first() else {
            unreachable!("one profile");
        };
        let at = "2013-02-21T12:00:00Z"
            .parse()
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let ex = pkg.explain(
            &Event::new(EventKind::Enter, at),
            profile,
            &catalog,
            &History::default(),
        );

        // The rule that did not fire says which condition was false and what it saw.
        let Some(RuleStatus::WhenFalse { facts }) = ex.rule("seniors").map(|r| &r.status) else {
            unreachable!("seniors did not fire");
        };
        assert_eq!(
            facts.iter().map(Fact::describe).collect::<Vec<_>>(),
            ["`profile.age >= 60` was false (profile.age = 45) in segment senior"]
        );
        // Each candidate of the weather pick, and why.
        let pick = ex.picks.iter().find(|p| p.rule == "weather");
        let statuses: Vec<(String, String)> = pick
            .map(|p| {
                p.candidates
                    .iter()
                    .map(|c| (c.id.clone(), c.status.describe()))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            statuses,
            [
                ("w-2".to_owned(), "chosen".to_owned()),
                (
                    "w-1".to_owned(),
                    "where: `block.city == profile.city` was false (block.city = \"宁波\", profile.city = \"杭州\")".to_owned()
                ),
                ("w-3".to_owned(), "dropped by rule no_ads".to_owned()),
                (
                    "w-4".to_owned(),
                    "ineligible: not yet published (publishes 2013-02-22T06:00:00+00:00)".to_owned()
                ),
            ]
        );
        assert_eq!(
            ex.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
            ["w-2"]
        );
        let json = ex.to_json();
        assert_eq!(json["rules"][0]["status"], "when_false");
        assert_eq!(json["items"][0]["reason"], "weather");
    }
}
