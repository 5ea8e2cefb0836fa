//! Why an outcome is what it is: assembly (language.md §10) re-run step by step, recording for every
//! rule whether it fired and why (the condition that was false, with the values it saw),
//! and for every pick which blocks of its section it considered and why each was or was
//! not taken.
//!
//! It is the reference run of assembly (`assemble.rs`'s one driver, scanning) with a
//! recording observer, so its items are the evaluator's by construction;
//! `crates/tailor-engine/tests/explain_agrees.rs` checks it still.

mod why;

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value as J, json};
use tailor_lang::Span;
use tailor_lang::ast::{self, EventKind};

use why::{Sources, Why};

use crate::data::{Block, Catalog, Delivery, Event, History, Profile};
use crate::eval::Ctx;
use crate::ir::{CAction, CPick, CRule};
use crate::outcome::{Learned, PickSource, ScriptError};
use crate::package::Package;
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
    /// A script call in the `when` failed (language.md §8): the rule does not fire.
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
    /// A script call in the pick's `where` failed (language.md §8).
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

/// Whether the fallback ran (language.md §10 step 5).
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

/// The observer that turns the reference run of language.md §10 into an explanation: it records
/// what the driver (`assemble.rs`) saw and decided, and works out the details (the false
/// conditions, which check made a block ineligible) in the quiet context, so that
/// explaining adds no script failure to the outcome.
struct Recorder<'r> {
    pkg: &'r Package,
    why: Why<'r, 'r>,
    past: &'r [Delivery],
    t: Timestamp,
    edition_cap: Option<CapCount>,
    quiet: bool,
    rules: Vec<RuleExplanation>,
    /// The fired rules, in evaluation order (their drops explain ineligible blocks).
    fired: Vec<&'r CRule>,
    picks: Vec<PickExplanation>,
    /// The running pick's AST (for the facts of a false `where`), its limit, and the
    /// blocks of its section that were not candidates, in id order.
    ast: Option<&'r ast::Pick>,
    limit: Limit,
    others: Vec<Candidate>,
    /// Chosen block ids, with the rule (or `fallback`) that chose each.
    chosen_by: Vec<(String, String)>,
    fallback: FallbackExplanation,
}

impl Recorder<'_> {
    /// Why an ineligible block is not eligible.
    fn ineligible(&self, b: &Block, quiet: &Ctx<'_>) -> CandidateStatus {
        let ed = &self.pkg.compiled().edition;
        let (t, tz) = (self.t, &ed.timezone);
        if b.published().is_none_or(|p| p > t) {
            return CandidateStatus::NotPublished {
                published: b
                    .published()
                    .map_or_else(|| "never".to_owned(), |p| format_time(p, tz)),
            };
        }
        if let Some(e) = b.expires().filter(|e| t >= *e) {
            return CandidateStatus::Expired {
                expires: format_time(e, tz),
            };
        }
        if let Some(repeat) = ed.repeat
            && let Some(d) = self
                .past
                .iter()
                .filter(|d| in_window(d, t, repeat) && d.blocks.iter().any(|x| x == b.id()))
                .max_by_key(|d| d.at)
        {
            return CandidateStatus::RecentlyDelivered {
                at: format_time(d.at, tz),
                repeat: format_duration(repeat),
            };
        }
        // The first drop that holds keeps the block out (as the driver evaluates them);
        // the drops of later rules that hold too are listed.
        let qctx = quiet.with_block(b);
        let mut first: Option<CandidateStatus> = None;
        let mut others = Vec::new();
        for r in &self.fired {
            let mut di = 0;
            for a in &r.actions {
                if let CAction::Drop { filter, span } = a {
                    let res = qctx.holds(filter);
                    if first.is_none() {
                        if !matches!(res, Ok(false)) {
                            first = Some(CandidateStatus::Dropped {
                                rule: r.name.clone(),
                                drop: di,
                                span: *span,
                                failed: res.is_err(),
                                also: Vec::new(),
                            });
                        }
                    } else if res.unwrap_or(true) {
                        others.push((r.name.clone(), di));
                    }
                    di += 1;
                }
            }
        }
        match first {
            Some(CandidateStatus::Dropped {
                rule,
                drop,
                span,
                failed,
                ..
            }) => CandidateStatus::Dropped {
                rule,
                drop,
                span,
                failed,
                also: others,
            },
            // The driver found it ineligible, so with deterministic conditions some check
            // above fails again; a script that answered differently the second time is
            // reported as a failed call.
            _ => CandidateStatus::WhereFailed,
        }
    }
}

impl Observer for Recorder<'_> {
    const SEES_ALL: bool = true;

    fn edition_cap(&mut self, cap: CapCount) {
        self.edition_cap = Some(cap);
    }

    fn quiet(&mut self) {
        self.quiet = true;
        self.rules = self
            .pkg
            .compiled()
            .rules
            .iter()
            .map(|r| RuleExplanation {
                name: r.name.clone(),
                priority: r.priority,
                span: r.span,
                status: RuleStatus::NotEvaluated,
            })
            .collect();
    }

    fn rule(&mut self, index: usize, _rule: &CRule, verdict: RuleVerdict, quiet: &Ctx<'_>) {
        // The compiled rule borrowed for `'r` (the recorder keeps the fired ones).
        let Some(r) = self.pkg.compiled().rules.get(index) else {
            return;
        };
        let when_ast = self
            .why
            .src
            .rules
            .get(r.name.as_str())
            .and_then(|a| a.when.as_ref());
        let facts = |want: bool| match (when_ast, &r.when) {
            (Some(a), Some(w)) => self.why.facts(quiet, a, w, want, &[]),
            _ => Vec::new(),
        };
        let status = match verdict {
            RuleVerdict::OtherKinds => RuleStatus::OtherKinds { on: r.on.clone() },
            RuleVerdict::WhenFailed => RuleStatus::WhenFailed,
            RuleVerdict::WhenFalse => RuleStatus::WhenFalse {
                facts: facts(false),
            },
            RuleVerdict::CapReached(cap) => RuleStatus::CapReached(cap),
            RuleVerdict::Fired => RuleStatus::Fired {
                because: facts(true),
            },
        };
        if matches!(status, RuleStatus::Fired { .. }) {
            self.fired.push(r);
        }
        self.rules.push(RuleExplanation {
            name: r.name.clone(),
            priority: r.priority,
            span: r.span,
            status,
        });
    }

    fn pick(&mut self, job: &PickJob<'_, '_>, state: &State<'_>) {
        let ed = &self.pkg.compiled().edition;
        let pick = job.pick;
        let (section, quota) = ed
            .sections
            .get(pick.section)
            .map(|(n, q)| (n.clone(), *q))
            .unwrap_or_default();
        self.ast = match job.source {
            PickSource::Rule { pick: pi, .. } => self.why.src.rules.get(job.reason).and_then(|a| {
                a.actions
                    .iter()
                    .filter_map(|x| match x {
                        ast::Action::Pick(p) => Some(p),
                        ast::Action::Drop(_) => None,
                    })
                    .nth(pi)
            }),
            PickSource::Fallback { pick: pi } => self.why.src.fallback.get(pi).copied(),
        };
        self.limit = state.limit(pick, ed);
        self.others.clear();
        self.picks.push(PickExplanation {
            rule: job.reason.to_owned(),
            source: job.source,
            span: pick.span,
            text: one_line(self.pkg.sources().snippet(pick.span)),
            section,
            count: pick.count,
            quota,
            section_used: state.section_used(pick.section),
            total_before: state.len(),
            max: ed.max,
            room: job.room,
            candidates: Vec::new(),
        });
    }

    fn rejected(&mut self, b: &Block, why: Rejection, quiet: &Ctx<'_>) {
        let status = match why {
            Rejection::AlreadyChosen => CandidateStatus::AlreadyChosen {
                by: self
                    .chosen_by
                    .iter()
                    .find(|(id, _)| id == b.id())
                    .map(|(_, by)| by.clone())
                    .unwrap_or_default(),
            },
            Rejection::Ineligible => self.ineligible(b, quiet),
            Rejection::WhereFalse => {
                let filter = self.ast.and_then(|a| a.filter.as_ref());
                let compiled = self
                    .picks
                    .last()
                    .and_then(|p| self.compiled_pick(p.source))
                    .and_then(|p| p.filter.as_ref());
                let facts = match (filter, compiled) {
                    (Some(a), Some(w)) => self.why.facts(&quiet.with_block(b), a, w, false, &[]),
                    _ => Vec::new(),
                };
                CandidateStatus::WhereFalse { facts }
            }
            Rejection::WhereFailed => CandidateStatus::WhereFailed,
        };
        self.others.push(Candidate {
            id: b.id().to_owned(),
            title: b.title().to_owned(),
            key: None,
            status,
        });
    }

    fn ranked(&mut self, b: &Block, key: Option<&Value>, taken: bool) {
        let tz = &self.pkg.compiled().edition.timezone;
        let Some(pe) = self.picks.last_mut() else {
            return;
        };
        let status = if taken {
            self.chosen_by.push((b.id().to_owned(), pe.rule.clone()));
            CandidateStatus::Chosen
        } else {
            CandidateStatus::NoRoom { limit: self.limit }
        };
        pe.candidates.push(Candidate {
            id: b.id().to_owned(),
            title: b.title().to_owned(),
            key: Some(show_value(key, tz)),
            status,
        });
    }

    fn pick_done(&mut self) {
        if let Some(pe) = self.picks.last_mut() {
            pe.candidates.append(&mut self.others);
        }
    }

    fn fallback(&mut self, ran: bool, chosen_by_rules: usize) {
        self.fallback.ran = ran;
        self.fallback.chosen_by_rules = chosen_by_rules;
    }
}

impl<'r> Recorder<'r> {
    /// The compiled pick a source names.
    fn compiled_pick(&self, source: PickSource) -> Option<&'r CPick> {
        match source {
            PickSource::Rule { rule, pick } => self.fired.get(rule)?.picks().nth(pick),
            PickSource::Fallback { pick } => self.pkg.compiled().edition.fallback.get(pick),
        }
    }
}

impl Package {
    /// Explain one evaluation: learning, then the reference assembly (language.md §10) with a
    /// recording observer, giving why each rule fired or not and why each pick took or
    /// left each block of its section.
    ///
    /// Pure like [`Package::evaluate`]; its items are the reference's by construction.
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
        let past = history.for_user(learning.profile.id());
        let src = Sources::new(self);
        let mut rec = Recorder {
            pkg: self,
            why: Why {
                src: &src,
                pkg: self,
                tz,
            },
            past,
            t: event.at,
            edition_cap: None,
            quiet: false,
            rules: Vec::new(),
            fired: Vec::new(),
            picks: Vec::new(),
            ast: None,
            limit: Limit::PickCount(0),
            others: Vec::new(),
            chosen_by: Vec::new(),
            fallback: FallbackExplanation {
                ran: false,
                chosen_by_rules: 0,
                min: ed.min,
                kind_answered: c.rules.iter().any(|r| r.answers(event.kind)),
            },
        };
        let scan = Scan {
            package: self,
            catalog,
        };
        let outcome = assemble_with(&scan, event, &learning, history, &mut rec);
        let items = outcome
            .items
            .iter()
            .map(|i| ExplainedItem {
                id: i.id.to_owned(),
                section: i.section.to_owned(),
                reason: i
                    .reasons
                    .first()
                    .map_or_else(String::new, |r| (*r).to_owned()),
                source: i.source,
                pick: rec
                    .picks
                    .iter()
                    .position(|p| p.source == i.source)
                    .unwrap_or(0),
            })
            .collect();
        Explanation {
            user: learning.profile.id().to_owned(),
            edition: ed.name.clone(),
            event: event.kind,
            at_local: format_time(event.at, tz),
            learned: learning.learned.clone(),
            edition_cap: rec.edition_cap,
            quiet: rec.quiet,
            rules: rec.rules,
            picks: rec.picks,
            fallback: rec.fallback,
            items,
            errors: outcome.errors,
        }
    }
}

use crate::assemble::{
    Observer, PickJob, Rejection, RuleVerdict, Scan, State, assemble_with, in_window,
};

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
