//! The indexed evaluator: the same outcomes as the reference evaluator (`assemble.rs`),
//! found without looking at every rule and every block. Checked against the reference
//! by a differential proptest over the whole outcome JSON (`crates/tailor-engine/tests/invariants.rs`,
//! `indexed_evaluator_equals_reference`).
//!
//! An [`Index`] is built once per package and catalog version: rule indexes per event
//! kind (`rules`), per-section pick indexes (`picks`), and the block values that drops
//! and `where` clauses test, interned, with those conditions compiled to tests on the
//! ids (`keys`) — so that a reader who fires many rules costs little per rule. Work that
//! cannot be done exactly by index — anything that calls a script, since the reference
//! evaluator's error list depends on which blocks it looked at — takes the reference
//! path.

use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;

use jiff::Timestamp;
use tailor_lang::ast::EventKind;

use crate::assemble::{Eligibility, Finder, Observer, PickJob, Quiet, State, assemble_with};
use crate::data::{Block, Catalog, Delivery, Event, History, Profile};
use crate::eval::Ctx;
use crate::ir::{CExpr, COrder, CPick};
use crate::learn::Learning;
use crate::outcome::Outcome;
use crate::package::Package;
use crate::value::Value;

pub(crate) mod keys;
pub(crate) mod picks;
pub(crate) mod rules;

use keys::{BlockKeys, Compiler, DropForm, Dropped, Env, Filter, ProfileRefs, Resolved};
use picks::{PickAccess, SectionIndex, sort_by_keys, static_order};
use rules::RuleSet;

/// A package and a catalog, indexed for evaluation. Immutable, `Send + Sync`.
///
/// A clone copies the derived indexes (about 600 bytes per rule and 290 per block) and
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
    /// The rules (a bitset by index) with a drop that calls a script: when one fires,
    /// picks take the reference path.
    script_drops: Vec<u64>,
    /// The rules with a drop (a bitset).
    dropping: Vec<u64>,
    /// The rules with a cap (a bitset): their deliveries must be counted before they fire.
    capped: Vec<u64>,
    /// Per rule: its drops, as the range of `drop_ids` that holds their indexes into
    /// `drop_table`, where equal drops are one.
    rule_drops: Vec<(u32, u32)>,
    drop_ids: Vec<u32>,
    /// The package's distinct drops. A drop without script calls is pure, so when
    /// several fired rules drop by the same condition (`block.topic in profile.muted`)
    /// it is evaluated once per block.
    drop_table: Vec<CExpr>,
    /// `drop_table`, compiled against `keys`.
    drop_forms: Vec<DropForm>,
    /// The interned values of the block slots that drops and `where` clauses test.
    keys: BlockKeys,
    /// The profile values those tests read, interned once per event.
    refs: ProfileRefs,
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

/// Eligibility (language.md §10 step 3) for the indexed path: the time window from the index's
/// `times` by catalog position, not delivered recently, and no fired drop holding — by
/// the compiled drops ([`Dropped`]), or as the reference checks them when there are none.
struct Eligible<'e> {
    times: &'e [(i128, i128)],
    t_ns: i128,
    eligibility: &'e Eligibility<'e>,
    dropped: Option<&'e Dropped<'e>>,
    env: Env<'e>,
    ctx: &'e Ctx<'e>,
}

impl Eligible<'_> {
    /// The block at catalog position `p`.
    fn at(&self, p: u32, b: &Block) -> bool {
        let recent = &self.eligibility.recent;
        self.times
            .get(p as usize)
            .is_some_and(|&(published, expires)| published <= self.t_ns && self.t_ns < expires)
            && match self.dropped {
                Some(d) => {
                    (recent.is_empty() || !recent.contains(b.id()))
                        && !d.block(p, b, self.ctx, &self.env)
                }
                None => {
                    crate::assemble::fresh_and_kept(b, recent, &self.eligibility.drops, self.ctx)
                }
            }
    }

    /// Every block whose interned slot `ks` holds `id` is dropped.
    fn dropped_key(&self, ks: usize, id: u32) -> bool {
        self.dropped.is_some_and(|d| d.key(ks, id))
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
        rest: Option<Filter>,
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
        let all_picks = || {
            c.rules
                .iter()
                .flat_map(|r| r.picks())
                .chain(c.edition.fallback.iter())
        };
        // Intern the block slots that drops and `where` clauses test.
        let mut slots = Vec::new();
        keys::tested_slots(
            c.rules
                .iter()
                .flat_map(|r| r.drops())
                .chain(all_picks().filter_map(|p| p.filter.as_ref())),
            c,
            &mut slots,
        );
        let block_keys = BlockKeys::build(&catalog, &slots);
        let mut compiler = Compiler {
            c,
            keys: &block_keys,
            refs: ProfileRefs::default(),
        };
        let sections: Vec<SectionIndex> = (0..c.edition.sections.len())
            .map(|i| {
                let (orders, slots) = picks::needs(c, i);
                let name = c.edition.sections.get(i).map_or("", |(n, _)| n.as_str());
                SectionIndex::build(&catalog, &block_keys, name, &orders, &slots)
            })
            .collect();
        let mut access_of = |p: &CPick| {
            if pick_calls_script(p) {
                Plan::Script
            } else {
                let (access, rest) = match &p.filter {
                    None => (None, None),
                    Some(f) => match picks::pick_access_rest(f, c) {
                        Some((a, rest)) => (Some(a), rest.map(|r| compiler.filter(&r))),
                        None => (None, Some(compiler.filter(f))),
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
            .map(|r| r.picks().map(&mut access_of).collect())
            .collect();
        let fallback_access = c.edition.fallback.iter().map(&mut access_of).collect();
        // Equal drops found by their printed form, which shows every operand (constants
        // exactly, regexes by pattern).
        let mut drop_table = Vec::new();
        let mut seen: HashMap<String, u32> = HashMap::new();
        let mut drop_ids = Vec::new();
        let rule_drops = c
            .rules
            .iter()
            .map(|r| {
                let start = u32::try_from(drop_ids.len()).unwrap_or(u32::MAX);
                for d in r.drops() {
                    drop_ids.push(*seen.entry(format!("{d:?}")).or_insert_with(|| {
                        drop_table.push(d.clone());
                        u32::try_from(drop_table.len() - 1).unwrap_or(u32::MAX)
                    }));
                }
                (start, u32::try_from(drop_ids.len()).unwrap_or(u32::MAX))
            })
            .collect();
        let drop_forms = drop_table
            .iter()
            .map(|d| DropForm::of(compiler.filter(d)))
            .collect();
        let refs = compiler.refs;
        let n = c.rules.len();
        Index {
            dropping: rules::bitset(n, c.rules.iter().map(|r| r.drops().next().is_some())),
            drop_forms,
            keys: block_keys,
            refs,
            capped: rules::bitset(n, c.rules.iter().map(|r| r.cap.is_some())),
            rule_drops,
            drop_ids,
            drop_table,
            rules: rules::RuleIndex::build(c),
            sections,
            access,
            fallback_access,
            script_drops: rules::bitset(n, c.rules.iter().map(|r| r.drops().any(calls_script))),
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
        self.matching(&ctx, &mut RuleSet::default())
            .into_iter()
            .map(|r| r as usize)
            .collect()
    }

    /// The rules (indexes, evaluation order) that answer the event and whose `when`
    /// holds, found through the rule index.
    fn matching(&self, ctx: &Ctx<'_>, set: &mut RuleSet) -> Vec<u32> {
        let holds = |e: &CExpr| ctx.holds(e).unwrap_or(false);
        self.rules
            .matching(ctx.event.kind, ctx.profile, &holds, set);
        let mut matched = Vec::with_capacity(64);
        set.each(None, |r| matched.push(r));
        matched
    }

    /// Evaluate one event: the same outcome as [`Package::evaluate`] on this catalog.
    pub fn evaluate(&self, event: &Event, profile: &Profile, history: &History) -> Outcome<'_> {
        let learning = self.package.learn(event, profile);
        self.assemble(event, &learning, history)
    }

    /// Assemble the digest for an event whose learning has been applied: the same
    /// outcome as [`Package::assemble`] on this catalog (the one driver of language.md §10, with the
    /// index finding rules and candidates).
    pub fn assemble(&self, event: &Event, learning: &Learning, history: &History) -> Outcome<'_> {
        let finder = Indexed {
            index: self,
            resolved: Resolved::new(&self.refs, &self.keys, &learning.profile),
            fired: RefCell::new(RuleSet::default()),
            dropped: OnceCell::new(),
        };
        assemble_with(&finder, event, learning, history, &mut Quiet)
    }

    /// Step 4 for one pick with room, by the pick's plan.
    fn run_pick<'a, O: Observer>(
        &'a self,
        finder: &Indexed<'a>,
        job: &PickJob<'_, 'a>,
        state: &mut State<'a>,
        obs: &mut O,
    ) {
        let pick = job.pick;
        let ed = &self.package.compiled().edition;
        let room = job.room;
        if room == 0 {
            return;
        }
        let plan = match job.rule {
            Some(r) => self.access.get(r).and_then(|a| a.get(job.index)),
            None => self.fallback_access.get(job.index),
        };
        // Scripts anywhere the reference looks at every block: take the reference path,
        // so that the same calls are made and the same failures reported.
        let (access, rest, order) = match plan {
            Some(Plan::Walk {
                access,
                rest,
                order,
            }) if !job.eligibility.script_drops => (access.as_ref(), rest.as_ref(), *order),
            _ => {
                crate::assemble::scan_pick(&self.package, &self.catalog, job, state, obs);
                return;
            }
        };
        let Some(section) = self.sections.get(pick.section) else {
            return;
        };
        let ctx = job.ctx;
        let eligible = Eligible {
            times: &self.times,
            t_ns: job.eligibility.t.as_nanosecond(),
            eligibility: job.eligibility,
            dropped: finder.dropped.get(),
            env: finder.env(),
            ctx,
        };
        let dropped = |ks: usize, id: u32| eligible.dropped_key(ks, id);
        let blocks = self.catalog.blocks();
        let block = |p: u32| blocks.get(p as usize).map(|b| &**b);
        let mut taken = 0;
        let (reason, source) = (job.reason, job.source);
        // Offer one block; true when the pick is full.
        let mut offer = |p: u32, state: &mut State<'a>| {
            if let Some(b) = block(p)
                && takes(p, b, rest, ctx, &eligible, state)
            {
                state.choose(pick, b, reason, source, ed);
                taken += 1;
            }
            taken == room
        };
        match (access, order) {
            // Matching blocks in the pick's order, merged from the posting lists.
            (Some(a), Some(o)) => {
                section.walk(a, o, ctx.profile, &dropped, &mut |p| offer(p, state));
            }
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
                        section.lookup(a, ctx.profile, &dropped, &mut ids);
                        &ids
                    }
                    None => &section.blocks,
                };
                for p in self.dynamic_order(ids, pick, rest, ctx, &eligible) {
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
        rest: Option<&Filter>,
        ctx: &Ctx<'_>,
        eligible: &Eligible<'_>,
    ) -> Vec<u32> {
        let blocks = self.catalog.blocks();
        let mut keyed: Vec<(u32, Option<Value>)> = ids
            .iter()
            .filter_map(|&p| blocks.get(p as usize).map(|b| (p, &**b)))
            .filter(|&(p, b)| eligible.at(p, b) && passes(p, b, rest, ctx, eligible))
            .map(|(p, b)| (p, crate::assemble::order_key(b, &pick.order, ctx)))
            .collect();
        sort_by_keys(&mut keyed, crate::assemble::descending(&pick.order));
        keyed.into_iter().map(|(p, _)| p).collect()
    }
}

/// The index as the driver's finder: fired rules from the rule index, candidates from
/// the pick indexes. It tells the observer nothing but what the reference path it falls
/// back to tells; explanations scan (`Package::explain`).
struct Indexed<'a> {
    index: &'a Index,
    /// The profile's values that compiled tests read, interned.
    resolved: Resolved,
    /// The fired rules (set by `fired`).
    fired: RefCell<RuleSet>,
    /// The fired drops, compiled (set by `drops`, before any pick runs; unset when a
    /// fired drop calls a script).
    dropped: OnceCell<Dropped<'a>>,
}

impl Indexed<'_> {
    fn env(&self) -> Env<'_> {
        Env {
            keys: &self.index.keys,
            resolved: &self.resolved,
        }
    }
}

impl<'a> Finder<'a> for Indexed<'a> {
    fn package(&self) -> &'a Package {
        &self.index.package
    }

    fn fired<O: Observer>(
        &self,
        ctx: &Ctx<'_>,
        _quiet: &Ctx<'_>,
        past: &[Delivery],
        _obs: &mut O,
    ) -> Vec<u32> {
        let ix = self.index;
        let rules = &ix.package.compiled().rules;
        let t = ctx.event.at;
        // The index's matches (in evaluation order) that are under their cap. A rule's
        // `CRule` is read only when it has a cap or its picks run: most matched rules of
        // a large package are neither, and each would be a cache miss.
        let mut set = self.fired.borrow_mut();
        let mut fired = ix.matching(ctx, &mut set);
        let mut over = Vec::new();
        set.each(Some(&ix.capped), &mut |r| {
            if !rules
                .get(r as usize)
                .is_some_and(|rule| crate::assemble::under_cap(rule, past, t))
            {
                over.push(r);
            }
        });
        if !over.is_empty() {
            fired.retain(|r| !over.contains(r));
            for r in over {
                set.remove(r);
            }
        }
        fired
    }

    fn name(&self, rule: u32) -> &'a str {
        self.index.names.get(rule as usize).map_or("", |n| &**n)
    }

    fn drops(&self, fired: &[u32]) -> (Vec<&'a CExpr>, bool) {
        let ix = self.index;
        // The fired rules with drops (most rules have none), from the set `fired` left
        // (the rules of `fired`): whether one calls a script, and each distinct drop once.
        let mut seen = Vec::new();
        let mut script_drops = false;
        self.fired.borrow().each(Some(&ix.dropping), |r| {
            script_drops |= rules::has(&ix.script_drops, r);
            if seen.is_empty() {
                seen.resize(ix.drop_table.len().div_ceil(64), 0u64);
            }
            let (start, end) = ix.rule_drops.get(r as usize).copied().unwrap_or((0, 0));
            for &d in ix.drop_ids.get(start as usize..end as usize).unwrap_or(&[]) {
                if let Some(w) = seen.get_mut(d as usize / 64) {
                    *w |= 1 << (d % 64);
                }
            }
        });
        // The reference's list when a drop calls a script (its failures are reported per
        // call).
        if script_drops {
            let rules = &ix.package.compiled().rules;
            let drops =
                crate::assemble::fired_drops(fired.iter().filter_map(|&i| rules.get(i as usize)));
            return (drops, true);
        }
        // The driver's list stays whole (a pick that takes the reference path reads it);
        // the indexed picks read the compiled drops.
        let drops = rules::ones(&seen)
            .filter_map(|d| ix.drop_table.get(d as usize))
            .collect();
        let dropped = if seen.is_empty() {
            Dropped::default()
        } else {
            let forms = rules::ones(&seen).filter_map(|d| ix.drop_forms.get(d as usize));
            Dropped::new(forms, &self.env())
        };
        let _ = self.dropped.set(dropped);
        (drops, false)
    }

    fn answered(&self, kind: EventKind) -> bool {
        self.index.answered.get(kind as usize) == Some(&true)
    }

    fn run_pick<O: Observer>(&self, job: &PickJob<'_, 'a>, state: &mut State<'a>, obs: &mut O) {
        self.index.run_pick(self, job, state, obs);
    }
}

/// A block found by a pick's plan is taken when it is not chosen yet, is eligible and
/// satisfies the rest of the `where`.
fn takes(
    p: u32,
    b: &Block,
    rest: Option<&Filter>,
    ctx: &Ctx<'_>,
    eligible: &Eligible<'_>,
    state: &State,
) -> bool {
    !state.has(b) && eligible.at(p, b) && passes(p, b, rest, ctx, eligible)
}

fn passes(
    p: u32,
    b: &Block,
    rest: Option<&Filter>,
    ctx: &Ctx<'_>,
    eligible: &Eligible<'_>,
) -> bool {
    rest.is_none_or(|w| w.holds(p, b, ctx, &eligible.env))
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

    /// Drops and `where` remainders made of exact tests are compiled to tests on
    /// interned ids (the broad workload's cost depends on it); the rest stays an
    /// expression for the interpreter.
    #[test]
    fn drops_and_remainders_compile_to_tests() {
        let src = "profile {\n city: string\n interests: set<string>\n}\n\
                   content {\n region: string\n score: float\n}\n\
                   edition e { sections { s 3 } }\n\
                   rule a {\n drop where \"t0\" in block.tags\n }\n\
                   rule b {\n drop where block.region == profile.city or block.tags intersects [\"t1\"]\n }\n\
                   rule c {\n drop where \"t0\" in block.tags and block.score > 0.5\n }\n\
                   rule d {\n pick 1 from s where \"t0\" in block.tags and not (block.region in profile.interests)\n }\n";
        let pkg = Package::from_sources(vec![("t.rules".into(), src.into())]).expect("package");
        let block = |id: &str, region: &str| {
            format!(
                "{{\"id\": \"{id}\", \"section\": \"s\", \"title\": \"x\", \"published\": \"2024-01-01T00:00:00Z\", \"tags\": [\"t0\", \"t1\"], \"region\": \"{region}\"}}\n"
            )
        };
        let mut sm = tailor_lang::SourceMap::new();
        let catalog = pkg
            .parse_catalog(
                &mut sm,
                "c",
                &format!("{}{}", block("b1", "r0"), block("b2", "r1")),
            )
            .expect("catalog");
        let index = Index::new(&pkg, catalog);
        let forms: Vec<String> = index
            .drop_forms
            .iter()
            .map(|f| {
                let d = format!("{f:?}");
                d.split('(').next().unwrap_or("").to_owned()
                    + if d.contains("Expr(") {
                        " with Expr"
                    } else {
                        ""
                    }
            })
            .collect();
        assert_eq!(
            forms,
            ["Tests", "Tests", "Filter with Expr"],
            "{:?}",
            index.drop_forms
        );
        match &index.access[3][0] {
            Plan::Walk {
                rest: Some(rest), ..
            } => assert!(matches!(rest, Filter::Not(t) if matches!(**t, Filter::Test(_)))),
            other => panic!("{other:?}"),
        }
    }

    /// In a large package, a reader who matches few rules (a sparse set, read through
    /// its summary words) and one who matches many get them in evaluation order, each
    /// rule once (some are reached through two conjunctions).
    #[test]
    fn few_and_many_matches_come_in_evaluation_order() {
        let mut src = String::from(
            "profile {\n interests: set<string>\n}\ncontent {\n region: string\n}\n\
             edition e { sections { s 3 } }\n",
        );
        for i in 0..2000 {
            src.push_str(&format!(
                "rule r{i:04} {{\n priority {}\n when \"t{}\" in profile.interests or \"x{i}\" in profile.interests or \"y{i}\" in profile.interests or \"all\" in profile.interests\n pick 1 from s\n}}\n",
                i % 7,
                i % 50,
            ));
        }
        let pkg = Package::from_sources(vec![("t.rules".into(), src)]).expect("package");
        // Rule 5 is reached twice by the first reader.
        let lines = "{\"id\": \"few\", \"interests\": [\"x5\", \"y5\", \"x1999\", \"x0\"]}\n\
                     {\"id\": \"some\", \"interests\": [\"t3\", \"x3\"]}\n\
                     {\"id\": \"all\", \"interests\": [\"all\", \"x7\"]}\n";
        let mut sm = tailor_lang::SourceMap::new();
        let profiles = pkg.parse_profiles(&mut sm, "p", lines).expect("profiles");
        let index = Index::new(&pkg, Catalog::default());
        let at = "2024-05-01T08:00:00+08:00".parse().expect("time");
        let event = Event::new(crate::EventKind::Enter, at);
        let counts: Vec<usize> = profiles
            .iter()
            .map(|p| {
                let want = pkg.matching_rules(&event, p);
                assert_eq!(index.matching_rules(&event, p), want, "profile {}", p.id());
                want.len()
            })
            .collect();
        assert_eq!(counts, [3, 40, 2000]);
    }

    /// A rule whose only indexable conjunct is a bool flag is found through the flag's
    /// list, not checked for every event.
    #[test]
    fn a_bool_flag_is_an_access_predicate() {
        let src = "profile {\n vip: bool\n age: int\n}\ncontent {\n region: string\n}\n\
                   edition e { sections { s 3 } }\n\
                   segment loyal = profile.vip or profile.age > 60\n\
                   rule a {\n when loyal\n pick 1 from s\n }\n\
                   rule b {\n when profile.vip and not (profile.age > 30)\n pick 1 from s\n }\n";
        let pkg = Package::from_sources(vec![("t.rules".into(), src.into())]).expect("package");
        let stats = Index::new(&pkg, Catalog::default()).stats();
        assert_eq!((stats.rules_indexed, stats.rules_always_checked), (2, 0));
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
