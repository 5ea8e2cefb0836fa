//! Pick indexes: per section, blocks pre-sorted by each static order key (`newest`,
//! `oldest`, `block.FIELD asc|desc`) and posting lists over the block fields that picks'
//! `where` clauses test (`"taiwan" in block.tags`, `block.region in profile.past_places`,
//! `block.city == profile.city`). A pick walks only matching blocks, in order, and stops
//! when it is full; the full `where` and eligibility are still checked for every block it
//! takes, so the result is exactly the reference evaluator's.

use std::cmp::Ordering;

use tailor_lang::ast::{BinaryOp, Type};

use super::keys::BlockKeys;
use super::rules::{Key, SlotMaps};
use crate::check::Compiled;
use crate::data::{Block, Catalog, Profile};
use crate::eval::compare;
use crate::ir::{CExpr, COrder, CPick};
use crate::value::Value;

/// How a pick's candidates can be found without scanning its section.
#[derive(Debug, Clone)]
pub(crate) enum PickAccess {
    /// The block's `slot` holds (or, for sets, contains) one of these keys.
    Keys(usize, Vec<Key>),
    /// The block's `slot` equals the profile's scalar `profile_slot`.
    ProfileValue(usize, usize),
    /// The block's `slot` holds (or shares) an element of the profile's set.
    ProfileSet(usize, usize),
}

/// A static order: one of the pre-sorted block lists of a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum StaticOrder {
    Newest,
    Oldest,
    Asc(usize),
    Desc(usize),
}

pub(crate) fn static_order(o: &COrder) -> Option<StaticOrder> {
    match o {
        COrder::Newest => Some(StaticOrder::Newest),
        COrder::Oldest => Some(StaticOrder::Oldest),
        COrder::Asc(CExpr::Block(s)) => Some(StaticOrder::Asc(*s)),
        COrder::Desc(CExpr::Block(s)) => Some(StaticOrder::Desc(*s)),
        _ => None,
    }
}

fn content_type(c: &Compiled, slot: usize) -> Option<Type> {
    c.content.field(slot).map(|f| f.ty)
}

fn scalar_key_type(t: Type) -> bool {
    matches!(t, Type::String | Type::Int)
}

fn elem_matches(block: Type, key: &Key) -> bool {
    matches!(
        (block, key),
        (Type::String | Type::SetString, Key::Str(_)) | (Type::Int | Type::SetInt, Key::Int(_))
    )
}

/// The element type a block slot's postings are keyed by.
fn elem_of(t: Type) -> Option<Type> {
    match t {
        Type::String | Type::SetString => Some(Type::String),
        Type::Int | Type::SetInt => Some(Type::Int),
        _ => None,
    }
}

/// Find an access predicate among the `where`'s top-level conjuncts.
pub(crate) fn pick_access(filter: &CExpr, c: &Compiled) -> Option<PickAccess> {
    pick_access_rest(filter, c).map(|(a, _)| a)
}

/// An access predicate of a `where` and what else must hold: the other top-level
/// conjuncts, in their order (`None` when there are none). Every access predicate is
/// exact — a block on its posting lists satisfies it — so it is not evaluated again.
pub(crate) fn pick_access_rest(
    filter: &CExpr,
    c: &Compiled,
) -> Option<(PickAccess, Option<CExpr>)> {
    let mut conj = Vec::new();
    flatten_and(filter, &mut conj);
    let (at, access) = conj
        .iter()
        .enumerate()
        .find_map(|(i, e)| conjunct_access(e, c).map(|a| (i, a)))?;
    let rest = conj
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, e)| (*e).clone())
        .reduce(|a, b| CExpr::And(Box::new(a), Box::new(b)));
    Some((access, rest))
}

fn flatten_and<'a>(e: &'a CExpr, out: &mut Vec<&'a CExpr>) {
    match e {
        CExpr::And(a, b) => {
            flatten_and(a, out);
            flatten_and(b, out);
        }
        other => out.push(other),
    }
}

pub(crate) fn conjunct_access(e: &CExpr, c: &Compiled) -> Option<PickAccess> {
    use BinaryOp::*;
    let CExpr::Binary(op, a, b) = e else {
        return None;
    };
    let pty = |s: usize| c.profile.field(s).map(|f| f.ty);
    match (op, &**a, &**b) {
        // "taiwan" in block.tags
        (In, CExpr::Const(v), CExpr::Block(s)) => {
            let t = content_type(c, *s)?;
            let k = Key::of(v)?;
            (matches!(t, Type::SetString | Type::SetInt) && elem_matches(t, &k))
                .then(|| PickAccess::Keys(*s, vec![k]))
        }
        // block.tags intersects ["a", "b"]
        (Intersects, CExpr::Block(s), CExpr::Const(l))
        | (Intersects, CExpr::Const(l), CExpr::Block(s)) => {
            let t = content_type(c, *s)?;
            let keys = Key::of_list(l)?;
            (matches!(t, Type::SetString | Type::SetInt) && keys.iter().all(|k| elem_matches(t, k)))
                .then_some(PickAccess::Keys(*s, keys))
        }
        // block.region == "奎屯"
        (Eq, CExpr::Block(s), CExpr::Const(v)) | (Eq, CExpr::Const(v), CExpr::Block(s)) => {
            let t = content_type(c, *s)?;
            let k = Key::of(v)?;
            (scalar_key_type(t) && elem_matches(t, &k)).then(|| PickAccess::Keys(*s, vec![k]))
        }
        // block.region in ["杭州", "宁波"]
        (In, CExpr::Block(s), CExpr::Const(l)) => {
            let t = content_type(c, *s)?;
            let keys = Key::of_list(l)?;
            (scalar_key_type(t) && keys.iter().all(|k| elem_matches(t, k)))
                .then_some(PickAccess::Keys(*s, keys))
        }
        // block.city == profile.city
        (Eq, CExpr::Block(s), CExpr::Profile(p)) | (Eq, CExpr::Profile(p), CExpr::Block(s)) => {
            let (t, u) = (content_type(c, *s)?, pty(*p)?);
            (scalar_key_type(t) && t == u).then_some(PickAccess::ProfileValue(*s, *p))
        }
        // block.region in profile.past_places
        (In, CExpr::Block(s), CExpr::Profile(p)) => {
            let (t, u) = (content_type(c, *s)?, pty(*p)?);
            let ok = matches!(
                (t, u),
                (Type::String, Type::SetString) | (Type::Int, Type::SetInt)
            );
            ok.then_some(PickAccess::ProfileSet(*s, *p))
        }
        // block.tags intersects profile.interests
        (Intersects, CExpr::Block(s), CExpr::Profile(p))
        | (Intersects, CExpr::Profile(p), CExpr::Block(s)) => {
            let (t, u) = (content_type(c, *s)?, pty(*p)?);
            (matches!(t, Type::SetString | Type::SetInt) && t == u)
                .then_some(PickAccess::ProfileSet(*s, *p))
        }
        _ => None,
    }
}

/// One section's indexes.
#[derive(Debug, Default, Clone)]
pub(crate) struct SectionIndex {
    /// Catalog positions of the section's blocks, in id order.
    pub(crate) blocks: Vec<u32>,
    /// The section's blocks (catalog positions) sorted by each static order its picks use.
    orders: Vec<(StaticOrder, Vec<u32>)>,
    /// Per block slot a `where` tests, per key: the blocks that hold it.
    postings: SlotMaps<Posting>,
}

/// The blocks of one section whose field holds (or contains) one key.
#[derive(Debug, Default, Clone)]
struct Posting {
    /// Its key as interned ([`BlockKeys`]): (interned slot, id).
    key: Option<(usize, u32)>,
    /// Catalog positions, in id order.
    positions: Vec<u32>,
    /// Per static order (as in [`SectionIndex::orders`]): the blocks' ranks in that
    /// order, ascending — walking them walks the matching blocks in the pick's order.
    ranks: Vec<Vec<u32>>,
}

/// The reference's order, the index's own copy (the reference sorts with
/// `assemble::sort_candidates`, so that the proptest compares two writings): keys compared
/// by language.md §7 (descending when asked), missing last, ties by id (the input is in id order and
/// the sort is stable).
pub(crate) fn sort_by_keys(items: &mut [(u32, Option<Value>)], descending: bool) {
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

fn order_key(b: &Block, o: StaticOrder) -> Option<Value> {
    match o {
        StaticOrder::Newest | StaticOrder::Oldest => {
            b.get(crate::schema::block::PUBLISHED).cloned()
        }
        StaticOrder::Asc(s) | StaticOrder::Desc(s) => b.get(s).cloned(),
    }
}

pub(crate) fn keys_of(v: Option<&Value>) -> Vec<Key> {
    match v {
        Some(Value::StrSet(s)) => s.iter().map(|x| Key::Str(x.clone())).collect(),
        Some(Value::IntSet(s)) => s.iter().map(|x| Key::Int(*x)).collect(),
        Some(v) => Key::of(v).into_iter().collect(),
        None => Vec::new(),
    }
}

impl SectionIndex {
    pub(crate) fn build(
        catalog: &Catalog,
        keys: &BlockKeys,
        name: &str,
        orders: &[StaticOrder],
        slots: &[usize],
    ) -> SectionIndex {
        let blocks: Vec<u32> = catalog
            .section_positions(name)
            .iter()
            .map(|&p| u32::try_from(p).unwrap_or(u32::MAX))
            .collect();
        let all = catalog.blocks();
        let get = |p: u32| all.get(p as usize);
        let mut idx = SectionIndex {
            blocks: blocks.clone(),
            ..SectionIndex::default()
        };
        for &o in orders {
            let mut keyed: Vec<(u32, Option<Value>)> = blocks
                .iter()
                .map(|&p| (p, get(p).and_then(|b| order_key(b, o))))
                .collect();
            sort_by_keys(
                &mut keyed,
                matches!(o, StaticOrder::Newest | StaticOrder::Desc(_)),
            );
            idx.orders
                .push((o, keyed.into_iter().map(|(p, _)| p).collect()));
        }
        for &slot in slots {
            let ks = keys.key_slot(slot);
            for &p in &blocks {
                for k in keys_of(get(p).and_then(|b| b.get(slot))) {
                    let id = ks.and_then(|ks| keys.id(ks, &k).map(|id| (ks, id)));
                    let posting = idx.postings.entry(slot, k);
                    posting.key = id;
                    if posting.positions.last() != Some(&p) {
                        posting.positions.push(p);
                    }
                }
            }
        }
        // Ranks: walk each order once and append to the postings of the block's keys.
        for (oi, (_, sorted)) in idx.orders.iter().enumerate() {
            for posting in idx.postings.values_mut() {
                posting.ranks.push(Vec::new());
            }
            for (rank, &p) in sorted.iter().enumerate() {
                let rank = u32::try_from(rank).unwrap_or(u32::MAX);
                for &slot in slots {
                    for k in keys_of(get(p).and_then(|b| b.get(slot))) {
                        // Every key has its posting from the pass above.
                        if let Some(list) = idx.postings.entry(slot, k).ranks.get_mut(oi)
                            && list.last() != Some(&rank)
                        {
                            list.push(rank);
                        }
                    }
                }
            }
        }
        idx
    }

    /// Where `o` is among the section's pre-sorted orders.
    pub(crate) fn order_index(&self, o: StaticOrder) -> Option<usize> {
        self.orders.iter().position(|(x, _)| *x == o)
    }

    /// The section's blocks in the pre-sorted order at `order`.
    pub(crate) fn order_at(&self, order: usize) -> &[u32] {
        self.orders.get(order).map_or(&[], |(_, v)| v.as_slice())
    }

    /// The posting lists an access predicate selects for this profile, one by one,
    /// but those whose key is `dropped` (every block on them is).
    fn postings<'s>(
        &'s self,
        access: &PickAccess,
        profile: &Profile,
        dropped: &dyn Fn(usize, u32) -> bool,
        each: &mut dyn FnMut(&'s Posting),
    ) {
        let each = &mut |posting: &'s Posting| {
            if !posting.key.is_some_and(|(ks, id)| dropped(ks, id)) {
                each(posting);
            }
        };
        match access {
            PickAccess::Keys(slot, keys) => {
                if let Some(m) = self.postings.slot(*slot) {
                    keys.iter().filter_map(|k| m.get(k)).for_each(each);
                }
            }
            PickAccess::ProfileValue(slot, p) => {
                if let (Some(m), Some(v)) = (self.postings.slot(*slot), profile.get(*p))
                    && let Some(posting) = m.get_value(v)
                {
                    each(posting);
                }
            }
            PickAccess::ProfileSet(slot, p) => {
                if let (Some(m), Some(v)) = (self.postings.slot(*slot), profile.get(*p)) {
                    m.each_of(v, each);
                }
            }
        }
    }

    /// Candidate positions for an access predicate, in id order, without duplicates.
    pub(crate) fn lookup(
        &self,
        access: &PickAccess,
        profile: &Profile,
        dropped: &dyn Fn(usize, u32) -> bool,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        self.postings(access, profile, dropped, &mut |posting| {
            out.extend_from_slice(&posting.positions);
        });
        out.sort_unstable();
        out.dedup();
    }

    /// Visit the blocks an access predicate selects, in the pre-sorted order `order`
    /// (an index from [`SectionIndex::order_index`]), each once, until `visit` says stop.
    /// Several posting lists are merged by rank, lazily, so a pick that fills early
    /// never looks at the rest.
    pub(crate) fn walk(
        &self,
        access: &PickAccess,
        order: usize,
        profile: &Profile,
        dropped: &dyn Fn(usize, u32) -> bool,
        visit: &mut dyn FnMut(u32) -> bool,
    ) {
        let Some((_, sorted)) = self.orders.get(order) else {
            return;
        };
        // The non-empty lists: the first apart, so that the common case of one list
        // allocates nothing.
        let mut first: Option<&[u32]> = None;
        let mut lists: Vec<&[u32]> = Vec::new();
        self.postings(access, profile, dropped, &mut |posting| {
            let Some(l) = posting.ranks.get(order).filter(|l| !l.is_empty()) else {
                return;
            };
            match first {
                None => first = Some(l),
                Some(f) => {
                    if lists.is_empty() {
                        lists.push(f);
                    }
                    lists.push(l);
                }
            }
        });
        let at = |rank: u32| sorted.get(rank as usize).copied();
        if lists.is_empty() {
            for &rank in first.unwrap_or(&[]) {
                if let Some(p) = at(rank)
                    && visit(p)
                {
                    return;
                }
            }
            return;
        }
        // k-way merge over the heads; k is the number of the profile's keys (small).
        loop {
            let Some(min) = lists.iter().filter_map(|l| l.first().copied()).min() else {
                return;
            };
            for l in &mut lists {
                if let [first, rest @ ..] = *l
                    && *first == min
                {
                    *l = rest;
                }
            }
            if let Some(p) = at(min)
                && visit(p)
            {
                return;
            }
        }
    }
}

/// The static orders and posting slots the package's picks of one section use.
pub(crate) fn needs(c: &Compiled, section: usize) -> (Vec<StaticOrder>, Vec<usize>) {
    let mut orders = Vec::new();
    let mut slots = Vec::new();
    let picks = c
        .rules
        .iter()
        .flat_map(|r| r.picks())
        .chain(c.edition.fallback.iter());
    for p in picks.filter(|p: &&CPick| p.section == section) {
        if let Some(o) = static_order(&p.order)
            && !orders.contains(&o)
        {
            orders.push(o);
        }
        let access = p.filter.as_ref().and_then(|f| pick_access(f, c));
        let slot = match access {
            Some(
                PickAccess::Keys(s, _)
                | PickAccess::ProfileValue(s, _)
                | PickAccess::ProfileSet(s, _),
            ) => Some(s),
            None => None,
        };
        if let Some(s) = slot
            && !slots.contains(&s)
            && elem_of(content_type(c, s).unwrap_or(Type::Bool)).is_some()
        {
            slots.push(s);
        }
    }
    (orders, slots)
}
