//! Block values interned once per index, and `where` clauses and drops compiled to tests
//! on the interned ids.
//!
//! Every block slot that a drop or a pick's `where` tests by one of the exact forms of
//! [`conjunct_access`] (`"t" in block.tags`, `block.city == profile.city`,
//! `block.region in profile.past_places`, `block.tags intersects profile.interests`,
//! `block.region in ["a", "b"]`, …) has its values interned: each distinct string or int
//! gets a small id, and each block its sorted ids. A test is then "one of the block's ids
//! is in this set", the set coming from the package's constants (interned when the index
//! is built) or from the profile (interned once per event, [`Resolved`]). `and`, `or` and
//! `not` over tests are compiled as they are; anything else stays an expression, evaluated
//! by the interpreter ([`Filter::Expr`]). These are the same two-valued conditions the
//! reference evaluates with `holds`: nothing compiled here calls a script (picks and drops
//! that do take the reference path), so no evaluation can fail, and a test holds exactly
//! when the expression does.
//!
//! A fired drop that is one test, or an `or` of tests, is a set of dropped ids per slot
//! ([`Dropped`]): a block is dropped when one of its ids is in it — a few bit tests per
//! block however many rules fired a drop — and a posting list whose key is dropped is not
//! walked at all.

use crate::check::Compiled;
use crate::data::{Block, Catalog, Profile};
use crate::eval::Ctx;
use crate::ir::CExpr;
use crate::value::Value;

use super::picks::{PickAccess, conjunct_access, keys_of};
use super::rules::{Key, KeyMap};

/// One block slot's values, interned.
#[derive(Debug, Clone, Default)]
struct SlotKeys {
    slot: usize,
    ids: KeyMap<u32>,
    /// The block at catalog position `p` has the ids `values[starts[p]..starts[p + 1]]`,
    /// sorted, each once.
    starts: Vec<u32>,
    values: Vec<u32>,
    distinct: u32,
}

/// The interned values of the block slots that tests read.
#[derive(Debug, Clone, Default)]
pub(crate) struct BlockKeys {
    slots: Vec<SlotKeys>,
}

impl BlockKeys {
    pub(crate) fn build(catalog: &Catalog, slots: &[usize]) -> BlockKeys {
        let blocks = catalog.blocks();
        let slots = slots
            .iter()
            .map(|&slot| {
                let mut k = SlotKeys {
                    slot,
                    starts: Vec::with_capacity(blocks.len() + 1),
                    ..SlotKeys::default()
                };
                k.starts.push(0);
                for b in blocks {
                    let start = k.values.len();
                    for key in keys_of(b.get(slot)) {
                        let id = match k.ids.get(&key) {
                            Some(&id) => id,
                            None => {
                                let id = k.distinct;
                                *k.ids.entry(key) = id;
                                k.distinct += 1;
                                id
                            }
                        };
                        k.values.push(id);
                    }
                    if let Some(mine) = k.values.get_mut(start..) {
                        mine.sort_unstable();
                    }
                    let mut mine = k.values.split_off(start);
                    mine.dedup();
                    k.values.extend(mine);
                    k.starts
                        .push(u32::try_from(k.values.len()).unwrap_or(u32::MAX));
                }
                k
            })
            .collect();
        BlockKeys { slots }
    }

    /// Where the block slot `slot` is among the interned ones.
    pub(crate) fn key_slot(&self, slot: usize) -> Option<usize> {
        self.slots.iter().position(|k| k.slot == slot)
    }

    /// The id of a key in the interned slot `ks`: `None` when no block holds it.
    pub(crate) fn id(&self, ks: usize, key: &Key) -> Option<u32> {
        self.slots.get(ks).and_then(|k| k.ids.get(key)).copied()
    }

    /// The ids of the block at catalog position `p` in the interned slot `ks`.
    pub(crate) fn of(&self, ks: usize, p: u32) -> &[u32] {
        let Some(k) = self.slots.get(ks) else {
            return &[];
        };
        let (Some(&a), Some(&b)) = (k.starts.get(p as usize), k.starts.get(p as usize + 1)) else {
            return &[];
        };
        k.values.get(a as usize..b as usize).unwrap_or(&[])
    }

    fn distinct(&self, ks: usize) -> usize {
        self.slots.get(ks).map_or(0, |k| k.distinct as usize)
    }

    /// The ids of a profile value in slot `ks`: of a scalar, its own; of a set, its
    /// elements'. Values no block holds have none.
    fn ids_of(&self, ks: usize, v: &Value, out: &mut Vec<u32>) {
        let Some(k) = self.slots.get(ks) else {
            return;
        };
        match v {
            Value::StrSet(_) | Value::IntSet(_) => k.ids.each_of(v, &mut |&id| out.push(id)),
            other => out.extend(k.ids.get_value(other).copied()),
        }
    }
}

/// The block slots the exact tests among `exprs` read (through `and`, `or`, `not`).
pub(crate) fn tested_slots<'e>(
    exprs: impl Iterator<Item = &'e CExpr>,
    c: &Compiled,
    out: &mut Vec<usize>,
) {
    fn visit(e: &CExpr, c: &Compiled, out: &mut Vec<usize>) {
        match e {
            CExpr::And(a, b) | CExpr::Or(a, b) => {
                visit(a, c, out);
                visit(b, c, out);
            }
            CExpr::Not(a) => visit(a, c, out),
            other => {
                if let Some(
                    PickAccess::Keys(s, _)
                    | PickAccess::ProfileValue(s, _)
                    | PickAccess::ProfileSet(s, _),
                ) = conjunct_access(other, c)
                    && !out.contains(&s)
                {
                    out.push(s);
                }
            }
        }
    }
    for e in exprs {
        visit(e, c, out);
    }
}

/// Where a test's set of ids comes from.
#[derive(Debug, Clone)]
enum Ids {
    /// The package's constants, interned (keys no block holds left out).
    Const(Box<[u32]>),
    /// A profile value, interned per event: an index into [`Resolved`].
    Profile(usize),
}

/// One of the block's ids in the interned slot `ks` is in the set.
#[derive(Debug, Clone)]
pub(crate) struct Test {
    ks: usize,
    ids: Ids,
}

/// A condition on a block, compiled.
#[derive(Debug, Clone)]
pub(crate) enum Filter {
    Test(Test),
    And(Box<[Filter]>),
    Or(Box<[Filter]>),
    Not(Box<Filter>),
    /// Not compiled: evaluated by the interpreter.
    Expr(CExpr),
}

/// What a test reads of the profile: (interned slot, profile slot) pairs, each resolved
/// once per event.
#[derive(Debug, Clone, Default)]
pub(crate) struct ProfileRefs(Vec<(usize, usize)>);

/// Compiles conditions against a [`BlockKeys`], collecting the profile values they read.
pub(crate) struct Compiler<'k> {
    pub(crate) c: &'k Compiled,
    pub(crate) keys: &'k BlockKeys,
    pub(crate) refs: ProfileRefs,
}

fn flatten<'e>(e: &'e CExpr, and: bool, out: &mut Vec<&'e CExpr>) {
    match (e, and) {
        (CExpr::And(a, b), true) | (CExpr::Or(a, b), false) => {
            flatten(a, and, out);
            flatten(b, and, out);
        }
        (other, _) => out.push(other),
    }
}

impl Compiler<'_> {
    pub(crate) fn filter(&mut self, e: &CExpr) -> Filter {
        match e {
            CExpr::And(..) | CExpr::Or(..) => {
                let and = matches!(e, CExpr::And(..));
                let mut parts = Vec::new();
                flatten(e, and, &mut parts);
                let parts = parts.into_iter().map(|p| self.filter(p)).collect();
                if and {
                    Filter::And(parts)
                } else {
                    Filter::Or(parts)
                }
            }
            CExpr::Not(a) => Filter::Not(Box::new(self.filter(a))),
            other => match conjunct_access(other, self.c).and_then(|a| self.test(&a)) {
                Some(t) => Filter::Test(t),
                None => Filter::Expr(other.clone()),
            },
        }
    }

    /// An access predicate as a test (every one is exact: see `conjunct_access`).
    pub(crate) fn test(&mut self, a: &PickAccess) -> Option<Test> {
        match a {
            PickAccess::Keys(slot, keys) => {
                let ks = self.keys.key_slot(*slot)?;
                let mut ids: Vec<u32> = keys.iter().filter_map(|k| self.keys.id(ks, k)).collect();
                ids.sort_unstable();
                ids.dedup();
                Some(Test {
                    ks,
                    ids: Ids::Const(ids.into()),
                })
            }
            PickAccess::ProfileValue(slot, p) | PickAccess::ProfileSet(slot, p) => {
                let ks = self.keys.key_slot(*slot)?;
                let pair = (ks, *p);
                let at = match self.refs.0.iter().position(|x| *x == pair) {
                    Some(at) => at,
                    None => {
                        self.refs.0.push(pair);
                        self.refs.0.len() - 1
                    }
                };
                Some(Test {
                    ks,
                    ids: Ids::Profile(at),
                })
            }
        }
    }
}

/// The profile's values that tests read, interned for one event: per [`ProfileRefs`]
/// entry, sorted ids.
#[derive(Debug, Default)]
pub(crate) struct Resolved {
    ids: Vec<u32>,
    ranges: Vec<(u32, u32)>,
}

impl Resolved {
    pub(crate) fn new(refs: &ProfileRefs, keys: &BlockKeys, profile: &Profile) -> Resolved {
        let mut r = Resolved::default();
        for &(ks, p) in &refs.0 {
            let start = r.ids.len();
            if let Some(v) = profile.get(p) {
                keys.ids_of(ks, v, &mut r.ids);
            }
            if let Some(mine) = r.ids.get_mut(start..) {
                mine.sort_unstable();
            }
            let mut mine = r.ids.split_off(start);
            mine.dedup();
            r.ids.extend(mine);
            r.ranges.push((
                u32::try_from(start).unwrap_or(u32::MAX),
                u32::try_from(r.ids.len()).unwrap_or(u32::MAX),
            ));
        }
        r
    }

    fn get(&self, at: usize) -> &[u32] {
        self.ranges
            .get(at)
            .and_then(|&(a, b)| self.ids.get(a as usize..b as usize))
            .unwrap_or(&[])
    }
}

/// What a compiled condition reads besides the block: the interned values and the
/// event's resolved profile values.
#[derive(Clone, Copy)]
pub(crate) struct Env<'e> {
    pub(crate) keys: &'e BlockKeys,
    pub(crate) resolved: &'e Resolved,
}

fn has(set: &[u32], id: u32) -> bool {
    if set.len() <= 16 {
        set.contains(&id)
    } else {
        set.binary_search(&id).is_ok()
    }
}

impl Test {
    fn set<'e>(&'e self, env: &Env<'e>) -> &'e [u32] {
        match &self.ids {
            Ids::Const(ids) => ids,
            Ids::Profile(at) => env.resolved.get(*at),
        }
    }

    fn holds(&self, p: u32, env: &Env<'_>) -> bool {
        let set = self.set(env);
        !set.is_empty() && env.keys.of(self.ks, p).iter().any(|&id| has(set, id))
    }
}

impl Filter {
    /// The condition holds for the block at catalog position `p`, as `holds` says of
    /// the expression it was compiled from.
    pub(crate) fn holds(&self, p: u32, b: &Block, ctx: &Ctx<'_>, env: &Env<'_>) -> bool {
        match self {
            Filter::Test(t) => t.holds(p, env),
            Filter::And(parts) => parts.iter().all(|f| f.holds(p, b, ctx, env)),
            Filter::Or(parts) => parts.iter().any(|f| f.holds(p, b, ctx, env)),
            Filter::Not(f) => !f.holds(p, b, ctx, env),
            Filter::Expr(e) => ctx.with_block(b).holds(e).unwrap_or(false),
        }
    }
}

/// A drop, compiled.
#[derive(Debug, Clone)]
pub(crate) enum DropForm {
    /// It holds when one of these tests does: its ids are dropped per slot.
    Tests(Box<[Test]>),
    Filter(Filter),
}

impl DropForm {
    pub(crate) fn of(f: Filter) -> DropForm {
        match f {
            Filter::Test(t) => DropForm::Tests(Box::new([t])),
            Filter::Or(parts) if parts.iter().all(|p| matches!(p, Filter::Test(_))) => {
                DropForm::Tests(
                    parts
                        .iter()
                        .filter_map(|p| match p {
                            Filter::Test(t) => Some(t.clone()),
                            _ => None,
                        })
                        .collect(),
                )
            }
            other => DropForm::Filter(other),
        }
    }
}

/// The fired drops of one event: dropped ids per interned slot (a bitset, empty for a
/// slot no drop tests), and the drops that are not sets of ids.
#[derive(Debug, Default)]
pub(crate) struct Dropped<'a> {
    bits: Vec<Vec<u64>>,
    /// The interned slots with a dropped id.
    active: Vec<usize>,
    filters: Vec<&'a Filter>,
}

impl<'a> Dropped<'a> {
    pub(crate) fn new<'d>(forms: impl Iterator<Item = &'a DropForm>, env: &Env<'d>) -> Dropped<'a> {
        let mut d = Dropped {
            bits: vec![Vec::new(); env.keys.slots.len()],
            ..Dropped::default()
        };
        for form in forms {
            match form {
                DropForm::Filter(f) => d.filters.push(f),
                DropForm::Tests(tests) => {
                    for t in tests.iter() {
                        let Some(bits) = d.bits.get_mut(t.ks) else {
                            continue;
                        };
                        let set = t.set(env);
                        if set.is_empty() {
                            continue;
                        }
                        if bits.is_empty() {
                            bits.resize(env.keys.distinct(t.ks).div_ceil(64), 0);
                            d.active.push(t.ks);
                        }
                        for &id in set {
                            if let Some(w) = bits.get_mut(id as usize / 64) {
                                *w |= 1 << (id % 64);
                            }
                        }
                    }
                }
            }
        }
        d
    }

    /// Every block whose slot `ks` holds `id` is dropped.
    pub(crate) fn key(&self, ks: usize, id: u32) -> bool {
        self.bits
            .get(ks)
            .and_then(|b| b.get(id as usize / 64))
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Some fired drop holds for the block at catalog position `p`.
    pub(crate) fn block(&self, p: u32, b: &Block, ctx: &Ctx<'_>, env: &Env<'_>) -> bool {
        self.active
            .iter()
            .any(|&ks| env.keys.of(ks, p).iter().any(|&id| self.key(ks, id)))
            || self.filters.iter().any(|f| f.holds(p, b, ctx, env))
    }
}
