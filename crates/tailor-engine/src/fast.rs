//! The indexed evaluator: the same outcomes as the reference evaluator (`assemble.rs`),
//! found without looking at every rule and every block. Checked against the reference
//! by a differential proptest over the whole outcome JSON (`tests/invariants.rs`,
//! `indexed_evaluator_equals_reference`).
//!
//! An [`Index`] is built once per package and catalog version: rule indexes per event
//! kind ([`rules`]) and per-section pick indexes ([`picks`]). Work that cannot be done
//! exactly by index — anything that calls a script, since the reference evaluator's
//! error list depends on which blocks it looked at — takes the reference path.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use jiff::Timestamp;

use crate::data::{Block, Catalog, Event, History, Profile};
use crate::eval::Ctx;
use crate::ir::{CExpr, COrder, CPick};
use crate::learn::Learning;
use crate::outcome::{Outcome, OutcomeKind, PickSource};
use crate::package::Package;
use crate::schema;
use crate::value::Value;

pub(crate) mod picks;
pub(crate) mod rules;

use picks::{PickAccess, SectionIndex, sort_by_keys, static_order};

/// A package and a catalog, indexed for evaluation. Immutable, `Send + Sync`.
///
/// A clone copies the derived indexes (about 600 bytes per rule and 230 per block) and
/// shares the package and the blocks. Threads that each evaluate many events do better
/// with a copy each than with one shared index (`tailor batch` gives every worker after
/// the first its own; BENCHMARKS.md, "Threads", has the measurements).
#[derive(Debug, Clone)]
pub struct Index {
    package: Package,
    catalog: Catalog,
    rules: rules::RuleIndex,
    sections: Vec<SectionIndex>,
    /// Per rule (evaluation order), per pick: how it is run.
    access: Vec<Vec<Plan>>,
    fallback_access: Vec<Plan>,
    /// Some fired rule's drop calls a script: picks then take the reference path.
    script_drops: Vec<bool>,
    /// Per rule: it has a cap (its deliveries must be counted before it fires).
    capped: Vec<bool>,
    /// Per rule: its drops, as indexes into `drop_table`, where equal drops are one.
    drop_ids: Vec<Vec<u32>>,
    /// The package's distinct drops. A drop without script calls is pure, so when
    /// several fired rules drop by the same condition (`block.topic in profile.muted`)
    /// it is evaluated once per block.
    drop_table: Vec<CExpr>,
    /// Per event kind: some rule answers it (the fallback applies only then).
    answered: Vec<bool>,
    /// The rules' names, lent to every outcome (`fired`, items' reasons). A copy apart
    /// from the rules, so that listing the fired rules does not read each `CRule`.
    names: Vec<Box<str>>,
    /// Per catalog position: the block's `published` and `expires` in nanoseconds
    /// (`i128::MAX` when absent), so that the time part of eligibility reads one small
    /// record instead of following the block to its values.
    times: Vec<(i128, i128)>,
}

/// Eligibility (§10 step 3) for the indexed path: the time window from the index's
/// `times` by catalog position, then the rest as the reference checks it.
struct Eligible<'e> {
    times: &'e [(i128, i128)],
    t: Timestamp,
    t_ns: i128,
    recent: &'e HashSet<&'e str>,
    drops: &'e [&'e CExpr],
    ctx: &'e Ctx<'e>,
}

impl Eligible<'_> {
    /// The block at catalog position `p`.
    fn at(&self, p: u32, b: &Block) -> bool {
        self.times
            .get(p as usize)
            .is_some_and(|&(published, expires)| published <= self.t_ns && self.t_ns < expires)
            && crate::assemble::fresh_and_kept(b, self.recent, self.drops, self.ctx)
    }

    /// Any block, as the reference checks it.
    fn of(&self, b: &Block) -> bool {
        crate::assemble::eligible(b, self.t, self.recent, self.drops, self.ctx)
    }
}

/// How a pick is run, decided when the index is built.
#[derive(Debug, Clone)]
enum Plan {
    /// Its `where` or `order by` calls a script: the reference path.
    Script,
    /// By the section's indexes: through the access predicate if there is one, in the
    /// section's pre-sorted order at `order` if the pick's order is static.
    Walk {
        access: Option<PickAccess>,
        /// What of the `where` a block found through `access` must still satisfy.
        rest: Option<CExpr>,
        order: Option<usize>,
    },
}

/// Index statistics, for `tailor batch` and the benches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexStats {
    pub rules_indexed: usize,
    pub rules_always_checked: usize,
    pub blocks: usize,
}

fn calls_script(e: &CExpr) -> bool {
    let mut found = false;
    e.walk(&mut |x| found |= matches!(x, CExpr::Script(_)));
    found
}

fn pick_calls_script(p: &CPick) -> bool {
    p.filter.as_ref().is_some_and(calls_script)
        || matches!(&p.order, COrder::Asc(k) | COrder::Desc(k) if calls_script(k))
}

impl Index {
    /// Index `catalog` for `package`.
    pub fn new(package: &Package, catalog: Catalog) -> Index {
        let c = package.compiled();
        let sections: Vec<SectionIndex> = (0..c.edition.sections.len())
            .map(|i| {
                let (orders, slots) = picks::needs(c, i);
                let name = c.edition.sections.get(i).map_or("", |(n, _)| n.as_str());
                SectionIndex::build(&catalog, name, &orders, &slots)
            })
            .collect();
        let access_of = |p: &CPick| {
            if pick_calls_script(p) {
                Plan::Script
            } else {
                let (access, rest) = match &p.filter {
                    None => (None, None),
                    Some(f) => match picks::pick_access_rest(f, c) {
                        Some((a, rest)) => (Some(a), rest),
                        None => (None, Some(f.clone())),
                    },
                };
                Plan::Walk {
                    access,
                    rest,
                    order: static_order(&p.order)
                        .and_then(|o| sections.get(p.section).and_then(|s| s.order_index(o))),
                }
            }
        };
        let access = c
            .rules
            .iter()
            .map(|r| r.picks().map(access_of).collect())
            .collect();
        let fallback_access = c.edition.fallback.iter().map(access_of).collect();
        // Equal drops found by their printed form, which shows every operand (constants
        // exactly, regexes by pattern).
        let mut drop_table = Vec::new();
        let mut seen: HashMap<String, u32> = HashMap::new();
        let drop_ids = c
            .rules
            .iter()
            .map(|r| {
                r.drops()
                    .map(|d| {
                        *seen.entry(format!("{d:?}")).or_insert_with(|| {
                            drop_table.push(d.clone());
                            u32::try_from(drop_table.len() - 1).unwrap_or(u32::MAX)
                        })
                    })
                    .collect()
            })
            .collect();
        Index {
            capped: c.rules.iter().map(|r| r.cap.is_some()).collect(),
            drop_ids,
            drop_table,
            rules: rules::RuleIndex::build(c),
            sections,
            access,
            fallback_access,
            script_drops: c
                .rules
                .iter()
                .map(|r| r.drops().any(calls_script))
                .collect(),
            answered: tailor_lang::ast::EventKind::ALL
                .iter()
                .map(|k| c.rules.iter().any(|r| r.answers(*k)))
                .collect(),
            names: c.rules.iter().map(|r| r.name.as_str().into()).collect(),
            times: catalog
                .blocks()
                .iter()
                .map(|b| {
                    let ns = |t: Option<Timestamp>| t.map_or(i128::MAX, |t| t.as_nanosecond());
                    (ns(b.published()), ns(b.expires()))
                })
                .collect(),
            package: package.clone(),
            catalog,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn package(&self) -> &Package {
        &self.package
    }

    pub fn stats(&self) -> IndexStats {
        IndexStats {
            rules_indexed: self.rules.indexed(),
            rules_always_checked: self.rules.always_checked(),
            blocks: self.catalog.len(),
        }
    }

    /// Rule matching alone, by index: the same list as [`Package::matching_rules`].
    pub fn matching_rules(&self, event: &Event, profile: &Profile) -> Vec<usize> {
        let errors = RefCell::new(Vec::new());
        let ctx = self.package.context(event, profile, &errors);
        self.matching(&ctx)
            .into_iter()
            .map(|r| r as usize)
            .collect()
    }

    /// The rules (indexes, evaluation order) that answer the event and whose `when`
    /// holds, found through the rule index.
    fn matching(&self, ctx: &Ctx<'_>) -> Vec<u32> {
        let mut matched = Vec::with_capacity(64);
        let holds = |e: &CExpr| ctx.holds(e).unwrap_or(false);
        self.rules
            .matching(ctx.event.kind, ctx.profile, &holds, &mut matched);
        matched
    }

    /// Evaluate one event: the same outcome as [`Package::evaluate`] on this catalog.
    pub fn evaluate(&self, event: &Event, profile: &Profile, history: &History) -> Outcome<'_> {
        let learning = self.package.learn(event, profile);
        self.assemble(event, &learning, history)
    }

    /// Assemble the digest for an event whose learning has been applied: the same
    /// outcome as [`Package::assemble`] on this catalog.
    pub fn assemble(&self, event: &Event, learning: &Learning, history: &History) -> Outcome<'_> {
        let pkg = &self.package;
        let c = pkg.compiled();
        let ed = &c.edition;
        let profile = &learning.profile;
        let t = event.at;
        let past = history.for_user(profile.id());
        let errors = RefCell::new(learning.errors.clone());
        let mut outcome = pkg.begin(event, learning);
        if let Some(reason) = crate::assemble::capped(ed, event, past) {
            outcome.kind = OutcomeKind::Quiet;
            outcome.reason = Some(reason);
            // Learning's failures, each once (as on the other outcomes).
            outcome.errors = crate::assemble::dedup(errors.into_inner());
            return outcome;
        }
        let ctx = pkg.context(event, profile, &errors);

        // Fired rules: the index's matches (in evaluation order) that are under their cap.
        // A rule's `CRule` is read only when it has a cap or its picks run: most matched
        // rules of a large package are neither, and each would be a cache miss.
        let mut fired = self.matching(&ctx);
        fired.retain(|&r| {
            !self.capped.get(r as usize).copied().unwrap_or(true)
                || c.rules
                    .get(r as usize)
                    .is_some_and(|rule| crate::assemble::under_cap(rule, past, t))
        });
        outcome.fired = Vec::with_capacity(fired.len());
        outcome.fired.extend(
            fired
                .iter()
                .filter_map(|&i| self.names.get(i as usize).map(|n| &**n)),
        );

        let recently_delivered: HashSet<&str> = crate::assemble::recently_delivered(ed, past, t);
        let script_drops = fired
            .iter()
            .any(|&i| self.script_drops.get(i as usize).copied().unwrap_or(true));
        // The reference's list when a drop calls a script (its failures are reported per
        // call); otherwise each distinct drop once.
        let drops: Vec<&CExpr> = if script_drops {
            crate::assemble::fired_drops(fired.iter().filter_map(|&i| c.rules.get(i as usize)))
        } else {
            let mut ids: Vec<u32> = fired
                .iter()
                .filter_map(|&i| self.drop_ids.get(i as usize))
                .flatten()
                .copied()
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.iter()
                .filter_map(|&d| self.drop_table.get(d as usize))
                .collect()
        };
        let eligible = Eligible {
            times: &self.times,
            t,
            t_ns: t.as_nanosecond(),
            recent: &recently_delivered,
            drops: &drops,
            ctx: &ctx,
        };

        let mut state = crate::assemble::State::new(ed);
        for (ri, &rule_index) in fired.iter().enumerate() {
            // Once the digest has `max` items no pick has room: the rest add nothing.
            if state.len() >= ed.max {
                break;
            }
            let rule_index = rule_index as usize;
            let (Some(name), Some(rule)) = (self.names.get(rule_index), c.rules.get(rule_index))
            else {
                continue;
            };
            for (pi, pick) in rule.picks().enumerate() {
                let access = self.access.get(rule_index).and_then(|a| a.get(pi));
                let source = PickSource::Rule { rule: ri, pick: pi };
                self.run_pick(
                    pick,
                    access,
                    script_drops,
                    &ctx,
                    &eligible,
                    &mut state,
                    name,
                    source,
                );
            }
        }
        if state.len() < ed.min && self.answered.get(event.kind as usize) == Some(&true) {
            for (pi, pick) in ed.fallback.iter().enumerate() {
                let access = self.fallback_access.get(pi);
                let source = PickSource::Fallback { pick: pi };
                self.run_pick(
                    pick,
                    access,
                    script_drops,
                    &ctx,
                    &eligible,
                    &mut state,
                    crate::outcome::FALLBACK,
                    source,
                );
            }
        }
        outcome.items = state.into_items();
        outcome.kind = if outcome.items.is_empty() {
            OutcomeKind::Empty
        } else {
            OutcomeKind::Digest
        };
        outcome.errors = crate::assemble::dedup(errors.into_inner());
        outcome
    }

    #[allow(clippy::too_many_arguments)]
    fn run_pick<'a>(
        &'a self,
        pick: &CPick,
        plan: Option<&Plan>,
        script_drops: bool,
        ctx: &Ctx<'_>,
        eligible: &Eligible<'_>,
        state: &mut crate::assemble::State<'a>,
        reason: &'a str,
        source: PickSource,
    ) {
        let ed = &self.package.compiled().edition;
        let room = state.room(pick, ed);
        if room == 0 {
            return;
        }
        // Scripts anywhere the reference looks at every block: take the reference path,
        // so that the same calls are made and the same failures reported.
        let (access, rest, order) = match plan {
            Some(Plan::Walk {
                access,
                rest,
                order,
            }) if !script_drops => (access.as_ref(), rest.as_ref(), *order),
            _ => {
                self.package.run_pick(
                    pick,
                    ctx,
                    &self.catalog,
                    &|b| eligible.of(b),
                    state,
                    reason,
                    source,
                );
                return;
            }
        };
        let Some(section) = self.sections.get(pick.section) else {
            return;
        };
        let blocks = self.catalog.blocks();
        let block = |p: u32| blocks.get(p as usize).map(|b| &**b);
        let mut taken = 0;
        // Offer one block; true when the pick is full.
        let mut offer = |p: u32, state: &mut crate::assemble::State<'a>| {
            if let Some(b) = block(p)
                && takes(p, b, rest, ctx, eligible, state)
            {
                state.choose(pick, b, reason, source, ed);
                taken += 1;
            }
            taken == room
        };
        match (access, order) {
            // Matching blocks in the pick's order, merged from the posting lists.
            (Some(a), Some(o)) => section.walk(a, o, ctx.profile, &mut |p| offer(p, state)),
            // The whole section, pre-sorted.
            (None, Some(o)) => {
                for &p in section.order_at(o) {
                    if offer(p, state) {
                        break;
                    }
                }
            }
            // An order computed per block: sort the candidates as the reference does.
            (access, None) => {
                let mut ids = Vec::new();
                let ids = match access {
                    Some(a) => {
                        section.lookup(a, ctx.profile, &mut ids);
                        &ids
                    }
                    None => &section.blocks,
                };
                for p in self.dynamic_order(ids, pick, rest, ctx, eligible) {
                    if offer(p, state) {
                        break;
                    }
                }
            }
        }
    }

    /// Candidates ordered by a key computed per block, exactly as the reference sorts.
    fn dynamic_order(
        &self,
        ids: &[u32],
        pick: &CPick,
        rest: Option<&CExpr>,
        ctx: &Ctx<'_>,
        eligible: &Eligible<'_>,
    ) -> Vec<u32> {
        let blocks = self.catalog.blocks();
        let mut keyed: Vec<(u32, Option<Value>)> = ids
            .iter()
            .filter_map(|&p| blocks.get(p as usize).map(|b| (p, &**b)))
            .filter(|&(p, b)| eligible.at(p, b) && passes(b, rest, ctx))
            .map(|(p, b)| (p, key(b, &pick.order, ctx)))
            .collect();
        sort_by_keys(&mut keyed, descending(&pick.order));
        keyed.into_iter().map(|(p, _)| p).collect()
    }
}

/// A block found by a pick's plan is taken when it is not chosen yet, is eligible and
/// satisfies the rest of the `where`.
fn takes(
    p: u32,
    b: &Block,
    rest: Option<&CExpr>,
    ctx: &Ctx<'_>,
    eligible: &Eligible<'_>,
    state: &crate::assemble::State,
) -> bool {
    !state.has(b) && eligible.at(p, b) && passes(b, rest, ctx)
}

fn passes(b: &Block, rest: Option<&CExpr>, ctx: &Ctx<'_>) -> bool {
    match rest {
        None => true,
        Some(w) => ctx.with_block(b).holds(w).unwrap_or(false),
    }
}

fn descending(o: &COrder) -> bool {
    matches!(o, COrder::Newest | COrder::Desc(_))
}

fn key(b: &Block, o: &COrder, ctx: &Ctx<'_>) -> Option<Value> {
    match o {
        COrder::Newest | COrder::Oldest => b.get(schema::block::PUBLISHED).cloned(),
        COrder::Asc(k) | COrder::Desc(k) => ctx.with_block(b).eval(k).ok().flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index_for(filter: &str) -> Index {
        let src = format!(
            "profile {{\n city: string\n interests: set<string>\n}}\ncontent {{\n region: string\n score: float\n}}\n\
             edition e {{ sections {{ s 3 }} }}\nrule r {{ pick 3 from s where {filter} }}\n"
        );
        let pkg = Package::from_sources(vec![("t.rules".into(), src)]).expect("package");
        Index::new(&pkg, Catalog::default())
    }

    fn access(filter: &str) -> String {
        match &index_for(filter).access[0][0] {
            Plan::Walk { access, .. } => format!("{access:?}"),
            Plan::Script => "script".into(),
        }
    }

    /// Remainders that compare an int field with a constant (compiled to
    /// `Atom::Compare`): every operator, the constant on either side, at and around the
    /// boundary, and a missing field, agree with the reference evaluator.
    #[test]
    fn int_comparisons_in_remainders_agree_with_the_reference() {
        let ops = ["<", "<=", ">", ">=", "==", "!="];
        let mut src = String::from(
            "profile {\n interests: set<string>\n age: int\n}\ncontent {\n region: string\n}\n\
             edition e { sections { s 3 } }\n",
        );
        for (i, op) in ops.iter().enumerate() {
            src.push_str(&format!(
                "rule a{i} {{\n when \"t\" in profile.interests and profile.age {op} 30\n pick 1 from s\n}}\n\
                 rule b{i} {{\n when \"t\" in profile.interests and 30 {op} profile.age\n pick 1 from s\n}}\n"
            ));
        }
        let pkg = Package::from_sources(vec![("t.rules".into(), src)]).expect("package");
        let mut lines = String::from("{\"id\": \"none\", \"interests\": [\"t\"]}\n");
        for age in [29, 30, 31] {
            lines.push_str(&format!(
                "{{\"id\": \"u{age}\", \"interests\": [\"t\"], \"age\": {age}}}\n"
            ));
        }
        let mut sm = tailor_lang::SourceMap::new();
        let profiles = pkg.parse_profiles(&mut sm, "p", &lines).expect("profiles");
        let index = Index::new(&pkg, Catalog::default());
        let at = "2024-05-01T08:00:00+08:00".parse().expect("time");
        let event = Event::new(crate::EventKind::Enter, at);
        let mut matched = 0;
        for p in &profiles {
            let want = pkg.matching_rules(&event, p);
            assert_eq!(index.matching_rules(&event, p), want, "profile {}", p.id());
            matched += want.len();
        }
        // 29, 30 and 31 each satisfy some but not all of the twelve; missing none.
        assert_eq!(matched, 18);
    }

    #[test]
    fn where_clauses_get_access_predicates() {
        assert!(access("\"t0\" in block.tags").starts_with("Some(Keys("));
        assert!(access("block.tags intersects [\"a\", \"b\"]").starts_with("Some(Keys("));
        assert!(access("block.region == \"r\"").starts_with("Some(Keys("));
        assert!(access("block.region in [\"a\"]").starts_with("Some(Keys("));
        assert!(access("block.region == profile.city").starts_with("Some(ProfileValue("));
        assert!(access("block.region in profile.interests").starts_with("Some(ProfileSet("));
        assert!(
            access("block.tags intersects profile.interests and block.score >= 0.25")
                .starts_with("Some(ProfileSet(")
        );
        assert_eq!(access("block.score > 0.5"), "None");
        assert_eq!(
            access("block.region == \"a\" or \"t\" in block.tags"),
            "None"
        );
    }
}
