//! Rule matching by index: each rule's `when` (segments inlined) is put in disjunctive
//! normal form, and every conjunction is indexed by one *access predicate* — a conjunct
//! that must hold for the conjunction to hold (`"taiwan" in profile.interests`,
//! `profile.city == "杭州"`, `profile.age >= 60`). An event looks up the profile's values
//! in the posting lists to get the candidate conjunctions; only their *remainder* is
//! evaluated — the other conjuncts, and the access predicate itself when the index only
//! over-approximates it (ranges, map entries). A conjunction whose access predicate is
//! exact and alone (`"taiwan" in profile.interests`) matches by lookup, with nothing
//! evaluated. `when` is two-valued (`and`/`or` over `holds`, missing is false), so a rule
//! fires exactly when one of its conjunctions holds, and `fired` stays exact: matched
//! rules are marked in a bitset by rule number (evaluation order) and read out in order.
//! Remainders compare interned ids where they test strings ([`Strings`], [`Resolver`]).
//!
//! Rules that cannot be indexed (no access predicate in some conjunction, too many
//! conjunctions, or script calls, whose failures must be reported exactly as the
//! reference evaluator reports them) have their whole `when` checked for every event of
//! their kinds.

use rustc_hash::FxHashMap as HashMap;

use tailor_lang::ast::{BinaryOp, Type};

use crate::check::Compiled;
use crate::data::Profile;
use crate::ir::CExpr;
use crate::value::Value;

/// A value that can key a posting list: strings and ints (floats are never indexed, so
/// that `==` between ints and floats keeps its numeric meaning).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Str(std::sync::Arc<str>),
    Int(i64),
}

impl Key {
    pub(crate) fn of(v: &Value) -> Option<Key> {
        match v {
            Value::Str(s) => Some(Key::Str(s.clone())),
            Value::Int(i) => Some(Key::Int(*i)),
            _ => None,
        }
    }

    /// The keys of a list literal, if every element is a key.
    pub(crate) fn of_list(v: &Value) -> Option<Vec<Key>> {
        match v {
            Value::List(items) => items.iter().map(Key::of).collect(),
            _ => None,
        }
    }
}

/// Values keyed by string or int [`Key`]s, looked up with borrowed profile and block
/// values: an event clones no `Arc` and builds no key to find a posting list.
#[derive(Debug, Clone)]
pub(crate) struct KeyMap<V> {
    /// Keys held inline (short strings are kept in the table itself), so that a lookup
    /// compares the key it hashed to without following a pointer to its text.
    strs: HashMap<compact_str::CompactString, V>,
    ints: HashMap<i64, V>,
}

impl<V> Default for KeyMap<V> {
    fn default() -> Self {
        KeyMap {
            strs: HashMap::default(),
            ints: HashMap::default(),
        }
    }
}

impl<V: Default> KeyMap<V> {
    pub(crate) fn entry(&mut self, k: Key) -> &mut V {
        match k {
            Key::Str(s) => self
                .strs
                .entry(compact_str::CompactString::new(&*s))
                .or_default(),
            Key::Int(i) => self.ints.entry(i).or_default(),
        }
    }
}

impl<V> KeyMap<V> {
    pub(crate) fn get(&self, k: &Key) -> Option<&V> {
        match k {
            Key::Str(s) => self.strs.get(&**s),
            Key::Int(i) => self.ints.get(i),
        }
    }

    pub(crate) fn get_str(&self, s: &str) -> Option<&V> {
        self.strs.get(s)
    }

    pub(crate) fn get_int(&self, i: i64) -> Option<&V> {
        self.ints.get(&i)
    }

    /// The entry of a scalar value that can be a key (a string or an int).
    pub(crate) fn get_value(&self, v: &Value) -> Option<&V> {
        match v {
            Value::Str(s) => self.get_str(s),
            Value::Int(i) => self.get_int(*i),
            _ => None,
        }
    }

    /// The entries of the elements of a set value, in the set's order (nothing for any
    /// other value).
    pub(crate) fn each_of<'a>(&'a self, v: &Value, f: &mut dyn FnMut(&'a V)) {
        match v {
            Value::StrSet(set) => set.iter().filter_map(|x| self.get_str(x)).for_each(f),
            Value::IntSet(set) => set.iter().filter_map(|x| self.get_int(*x)).for_each(f),
            _ => {}
        }
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.strs.values_mut().chain(self.ints.values_mut())
    }
}

/// Per profile or block slot, a [`KeyMap`]. Slots are few, so a list.
#[derive(Debug, Clone)]
pub(crate) struct SlotMaps<V>(Vec<(usize, KeyMap<V>)>);

impl<V> Default for SlotMaps<V> {
    fn default() -> Self {
        SlotMaps(Vec::new())
    }
}

impl<V: Default> SlotMaps<V> {
    pub(crate) fn entry(&mut self, slot: usize, k: Key) -> &mut V {
        let at = match self.0.iter().position(|(s, _)| *s == slot) {
            Some(at) => at,
            None => {
                self.0.push((slot, KeyMap::default()));
                self.0.len() - 1
            }
        };
        // `at` is in range: found or just pushed.
        #[allow(clippy::indexing_slicing)]
        self.0[at].1.entry(k)
    }
}

impl<V> SlotMaps<V> {
    pub(crate) fn slot(&self, slot: usize) -> Option<&KeyMap<V>> {
        self.0.iter().find(|(s, _)| *s == slot).map(|(_, m)| m)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (usize, &KeyMap<V>)> {
        self.0.iter().map(|(s, m)| (*s, m))
    }

    pub(crate) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.0.iter_mut().flat_map(|(_, m)| m.values_mut())
    }
}

/// A set of rules by index (evaluation order): a bitset, and a summary bitset of its
/// words that may be non-zero, so that reading a sparse set out of a large package
/// visits the words that hold members, not all of them.
#[derive(Debug, Default)]
pub(crate) struct RuleSet {
    words: Vec<u64>,
    summary: Vec<u64>,
}

impl RuleSet {
    /// Empty, for `n` rules.
    pub(crate) fn clear(&mut self, n: usize) {
        let words = n.div_ceil(64);
        self.words.clear();
        self.words.resize(words, 0);
        self.summary.clear();
        self.summary.resize(words.div_ceil(64), 0);
    }

    /// Add `r` if it is not in the set and `holds` says so (not asked otherwise).
    #[inline]
    fn insert_if(&mut self, r: u32, holds: impl FnOnce() -> bool) {
        let w = r as usize / 64;
        let Some(word) = self.words.get_mut(w) else {
            return;
        };
        let bit = 1u64 << (r % 64);
        if *word & bit != 0 || !holds() {
            return;
        }
        *word |= bit;
        if let Some(s) = self.summary.get_mut(w / 64) {
            *s |= 1 << (w % 64);
        }
    }

    #[cfg(test)]
    fn insert(&mut self, r: u32) {
        let w = r as usize / 64;
        if let Some(word) = self.words.get_mut(w) {
            *word |= 1 << (r % 64);
        }
        if let Some(s) = self.summary.get_mut(w / 64) {
            *s |= 1 << (w % 64);
        }
    }

    pub(crate) fn remove(&mut self, r: u32) {
        if let Some(word) = self.words.get_mut(r as usize / 64) {
            *word &= !(1 << (r % 64));
        }
    }

    /// The members, ascending; with `mask` (a bitset by rule index), those in it.
    pub(crate) fn each(&self, mask: Option<&[u64]>, mut f: impl FnMut(u32)) {
        for (sw, &summary) in self.summary.iter().enumerate() {
            let mut s = summary;
            while s != 0 {
                let w = sw * 64 + s.trailing_zeros() as usize;
                s &= s - 1;
                let word = self.words.get(w).copied().unwrap_or(0);
                let mut b = match mask {
                    Some(m) => word & m.get(w).copied().unwrap_or(0),
                    None => word,
                };
                while b != 0 {
                    f(u32::try_from(w * 64).unwrap_or(u32::MAX) + b.trailing_zeros());
                    b &= b - 1;
                }
            }
        }
    }
}

/// The members of a bitset, ascending.
pub(crate) fn ones(bits: &[u64]) -> impl Iterator<Item = u32> + '_ {
    bits.iter().enumerate().flat_map(|(w, &word)| {
        let base = u32::try_from(w * 64).unwrap_or(u32::MAX);
        std::iter::successors(Some(word), |&b| Some(b & b.wrapping_sub(1)))
            .take_while(|&b| b != 0)
            .map(move |b| base + b.trailing_zeros())
    })
}

/// Whether `i` is in a bitset.
pub(crate) fn has(bits: &[u64], i: u32) -> bool {
    bits.get(i as usize / 64)
        .is_some_and(|w| w & (1 << (i % 64)) != 0)
}

/// A set of rules (or drops) by index, as a bitset.
pub(crate) fn bitset(n: usize, members: impl Iterator<Item = bool>) -> Vec<u64> {
    let mut bits = vec![0u64; n.div_ceil(64)];
    for (i, m) in members.enumerate() {
        if m && let Some(w) = bits.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    bits
}

/// The most conjunctions a rule may have before it is checked for every event.
const MAX_DISJUNCTS: usize = 32;

#[derive(Debug, Clone)]
enum Access {
    /// One of these keys is an element of the profile's set in `slot`.
    SetHas(usize, Vec<Key>),
    /// The profile's `slot` equals one of these keys.
    Equal(usize, Vec<Key>),
    /// The profile's map in `slot` has this key (`profile.reads["x"] >= 3` needs it).
    MapKey(usize, std::sync::Arc<str>),
    /// The profile's number in `slot` is above (or at) `threshold`: `>` and `>=` alike,
    /// since candidates may be a superset.
    Above { slot: usize, threshold: f64 },
    /// The profile's number in `slot` is below (or at) `threshold`.
    Below { slot: usize, threshold: f64 },
    /// The profile's bool in `slot` is `true` (`profile.vip` as a condition).
    True(usize),
}

impl Access {
    /// Whether the index answers the predicate exactly (a hit means it holds), so that
    /// it need not be evaluated again. Ranges and map entries are over-approximations.
    fn exact(&self) -> bool {
        matches!(
            self,
            Access::SetHas(..) | Access::Equal(..) | Access::True(_)
        )
    }
}

/// One conjunction of a rule's DNF, as posting lists hold it: the rule, and where its
/// remainder is in [`RuleIndex::atoms`]. Entries are small and hold no pointers, so a
/// candidate whose remainder is empty costs no memory access beyond its posting list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    rule: u32,
    start: u32,
    end: u32,
}

/// A remainder conjunct, compiled: comparisons of profile fields, map entries and
/// constants, `exists`, bool fields and `not` of these are evaluated in place (exactly
/// as `Ctx::eval` evaluates them); anything else through the expression evaluator.
#[derive(Debug, Clone)]
enum Atom {
    Compare(BinaryOp, Operand, Operand),
    /// An int comparison with an int constant, the constant on the right
    /// (`profile.age >= 30`; `30 <= profile.age` is turned around), compared as `i64`s
    /// when the operand is an int, as `Compare` otherwise.
    IntCmp(BinaryOp, Operand, i64),
    /// `"k" in profile.SET` with a string constant (kept as a `Value::Str`), when the
    /// set is not a `set<string>` field (those are [`Atom::SetHasId`]).
    SetHas(usize, Value),
    /// `profile.FIELD == "k"` (the constant on either side) with a string field, by
    /// interned id.
    StrEq(usize, u32),
    /// `profile.FIELD in ["a", "b"]` with a string field and a list of strings.
    StrIn(usize, Box<[u32]>),
    /// `"k" in profile.SET` with a `set<string>` field.
    SetHasId(usize, u32),
    /// `profile.SET intersects ["a", "b"]` (either side) with a `set<string>` field and
    /// a list of strings.
    SetMeets(usize, Box<[u32]>),
    /// `profile.FIELD exists`
    Exists(Operand),
    /// A bool field, as a condition: it holds when it is `true`.
    Field(usize),
    /// `not` of a compiled atom (never of `Expr`, whose failures `holds` maps to false).
    Not(Box<Atom>),
    Expr(CExpr),
}

#[derive(Debug, Clone)]
enum Operand {
    Profile(usize),
    /// `profile.MAP["key"]`, the key interned.
    Entry(usize, u32),
    Const(Value),
}

/// The strings that rule atoms compare profile values with (constants, map keys),
/// interned when the index is built; a profile's values are interned once per event
/// ([`Resolver`]), so that an atom compares integers.
#[derive(Debug, Clone, Default)]
pub(crate) struct Strings {
    ids: KeyMap<u32>,
    n: u32,
}

impl Strings {
    fn id(&mut self, s: &std::sync::Arc<str>) -> u32 {
        if let Some(&id) = self.ids.get_str(s) {
            return id;
        }
        let id = self.n;
        *self.ids.entry(Key::Str(s.clone())) = id;
        self.n += 1;
        id
    }

    /// The ids of a list of strings (`None` if an element is not a string).
    fn list(&mut self, v: &Value) -> Option<Box<[u32]>> {
        match v {
            Value::List(items) => items
                .iter()
                .map(|x| match x {
                    Value::Str(s) => Some(self.id(s)),
                    _ => None,
                })
                .collect(),
            _ => None,
        }
    }
}

/// A profile slot's value as the atoms of one event read it, interned on first use.
#[derive(Debug)]
enum Interned<'p> {
    /// Missing (or of another kind than the atoms expect).
    Missing,
    /// A string: its id, `None` when no atom's constant equals it.
    Str(Option<u32>),
    /// A set of strings: the ids of its elements that are some atom's constant, sorted.
    Set(Vec<u32>),
    /// A map: its entries whose key is some atom's, by key id.
    Map(Vec<(u32, &'p Value)>),
}

/// The profile of one event, its slots interned as atoms ask for them.
pub(crate) struct Resolver<'p> {
    strings: &'p Strings,
    profile: &'p Profile,
    slots: Vec<Option<Interned<'p>>>,
}

impl<'p> Resolver<'p> {
    fn new(strings: &'p Strings, profile: &'p Profile) -> Resolver<'p> {
        Resolver {
            strings,
            profile,
            slots: Vec::new(),
        }
    }

    #[inline]
    fn slot(&mut self, slot: usize) -> &Interned<'p> {
        if self.slots.len() <= slot {
            // Once per event: every slot of the profile.
            let n = (slot + 1).max(self.profile.values.len());
            self.slots.resize_with(n, || None);
        }
        let (strings, profile) = (self.strings, self.profile);
        let entry = self.slots.get_mut(slot);
        match entry {
            Some(e) => e.get_or_insert_with(|| match profile.get(slot) {
                Some(Value::Str(s)) => Interned::Str(strings.ids.get_str(s).copied()),
                Some(Value::StrSet(set)) => {
                    let mut ids: Vec<u32> = set
                        .iter()
                        .filter_map(|x| strings.ids.get_str(x).copied())
                        .collect();
                    ids.sort_unstable();
                    Interned::Set(ids)
                }
                Some(Value::Map(m)) => Interned::Map(
                    m.iter()
                        .filter_map(|(k, v)| strings.ids.get_str(k).map(|&id| (id, v)))
                        .collect(),
                ),
                _ => Interned::Missing,
            }),
            None => &Interned::Missing,
        }
    }

    fn str_id(&mut self, slot: usize) -> Option<Option<u32>> {
        match self.slot(slot) {
            Interned::Str(id) => Some(*id),
            _ => None,
        }
    }

    fn set(&mut self, slot: usize) -> Option<&[u32]> {
        match self.slot(slot) {
            Interned::Set(ids) => Some(ids),
            _ => None,
        }
    }

    fn entry(&mut self, slot: usize, key: u32) -> Option<&'p Value> {
        match self.slot(slot) {
            Interned::Map(entries) => entries.iter().find(|(k, _)| *k == key).map(|(_, v)| *v),
            _ => None,
        }
    }
}

impl Operand {
    fn of(e: &CExpr, c: &Compiled, strings: &mut Strings) -> Option<Operand> {
        match e {
            CExpr::Profile(s) => Some(Operand::Profile(*s)),
            CExpr::Const(v) => Some(Operand::Const(v.clone())),
            other => map_entry(other).map(|(s, k)| Operand::Entry(s, strings.id(&k))),
        }
        .filter(|o| match o {
            // A map entry is read through the resolver, which interns maps only.
            Operand::Entry(s, _) => matches!(
                profile_type(c, *s),
                Some(Type::MapInt | Type::MapFloat | Type::MapString)
            ),
            _ => true,
        })
    }

    fn get<'a>(&'a self, r: &mut Resolver<'a>) -> Option<&'a Value> {
        match self {
            Operand::Profile(s) => r.profile.get(*s),
            Operand::Entry(s, k) => r.entry(*s, *k),
            Operand::Const(v) => Some(v),
        }
    }
}

impl Atom {
    fn compile(e: &CExpr, c: &Compiled, strings: &mut Strings) -> Atom {
        let ty = |s: usize| profile_type(c, s);
        match e {
            CExpr::Binary(op, a, b) => {
                use BinaryOp::*;
                match (op, &**a, &**b) {
                    (Eq, CExpr::Profile(s), CExpr::Const(Value::Str(k)))
                    | (Eq, CExpr::Const(Value::Str(k)), CExpr::Profile(s))
                        if ty(*s) == Some(Type::String) =>
                    {
                        return Atom::StrEq(*s, strings.id(k));
                    }
                    (In, CExpr::Profile(s), CExpr::Const(l)) if ty(*s) == Some(Type::String) => {
                        if let Some(ids) = strings.list(l) {
                            return Atom::StrIn(*s, ids);
                        }
                    }
                    (In, CExpr::Const(Value::Str(k)), CExpr::Profile(s))
                        if ty(*s) == Some(Type::SetString) =>
                    {
                        return Atom::SetHasId(*s, strings.id(k));
                    }
                    (Intersects, CExpr::Profile(s), CExpr::Const(l))
                    | (Intersects, CExpr::Const(l), CExpr::Profile(s))
                        if ty(*s) == Some(Type::SetString) =>
                    {
                        if let Some(ids) = strings.list(l) {
                            return Atom::SetMeets(*s, ids);
                        }
                    }
                    _ => {}
                }
                match (op, &**a, &**b) {
                    (In, CExpr::Const(k @ Value::Str(_)), CExpr::Profile(s)) => {
                        return Atom::SetHas(*s, k.clone());
                    }
                    (Eq | Ne | Lt | Le | Gt | Ge, x, CExpr::Const(Value::Int(k)))
                        if !matches!(x, CExpr::Const(_)) =>
                    {
                        if let Some(x) = Operand::of(x, c, strings) {
                            return Atom::IntCmp(*op, x, *k);
                        }
                    }
                    (Eq | Ne | Lt | Le | Gt | Ge, CExpr::Const(Value::Int(k)), y)
                        if !matches!(y, CExpr::Const(_)) =>
                    {
                        let flipped = match op {
                            Lt => Gt,
                            Le => Ge,
                            Gt => Lt,
                            Ge => Le,
                            other => *other,
                        };
                        if let Some(y) = Operand::of(y, c, strings) {
                            return Atom::IntCmp(flipped, y, *k);
                        }
                    }
                    _ => {}
                }
                if let (Some(x), Some(y)) = (Operand::of(a, c, strings), Operand::of(b, c, strings))
                {
                    return Atom::Compare(*op, x, y);
                }
            }
            CExpr::Exists(a) => {
                if let Some(x) = Operand::of(a, c, strings) {
                    return Atom::Exists(x);
                }
            }
            CExpr::Profile(s) => return Atom::Field(*s),
            CExpr::Not(a) => match Atom::compile(a, c, strings) {
                Atom::Expr(_) => {}
                inner => return Atom::Not(Box::new(inner)),
            },
            _ => {}
        }
        Atom::Expr(e.clone())
    }

    fn holds<'a>(&'a self, r: &mut Resolver<'a>, holds: &dyn Fn(&CExpr) -> bool) -> bool {
        let profile = r.profile;
        match self {
            Atom::Compare(op, a, b) => {
                let x = a.get(r);
                let y = b.get(r);
                matches!(crate::eval::binary_ref(*op, x, y), Some(Value::Bool(true)))
            }
            Atom::StrEq(s, k) => r.str_id(*s) == Some(Some(*k)),
            Atom::StrIn(s, ids) => r.str_id(*s).flatten().is_some_and(|id| ids.contains(&id)),
            Atom::SetHasId(s, k) => r.set(*s).is_some_and(|set| set.binary_search(k).is_ok()),
            Atom::SetMeets(s, ids) => r
                .set(*s)
                .is_some_and(|set| ids.iter().any(|k| set.binary_search(k).is_ok())),
            Atom::IntCmp(op, a, k) => match a.get(r) {
                // Missing: every comparison is false.
                None => false,
                Some(Value::Int(x)) => {
                    let o = x.cmp(k);
                    match op {
                        BinaryOp::Eq => o.is_eq(),
                        BinaryOp::Ne => o.is_ne(),
                        BinaryOp::Lt => o.is_lt(),
                        BinaryOp::Le => o.is_le(),
                        BinaryOp::Gt => o.is_gt(),
                        // `Ge`: `IntCmp` is made for these six operators only.
                        _ => o.is_ge(),
                    }
                }
                Some(v) => matches!(
                    crate::eval::binary_ref(*op, Some(v), Some(&Value::Int(*k))),
                    Some(Value::Bool(true))
                ),
            },
            Atom::SetHas(slot, k) => match (profile.get(*slot), k) {
                (None, _) => false,
                (Some(Value::StrSet(set)), Value::Str(k)) => set.contains(k),
                (set, k) => matches!(
                    crate::eval::binary_ref(BinaryOp::In, Some(k), set),
                    Some(Value::Bool(true))
                ),
            },
            Atom::Exists(a) => a.get(r).is_some(),
            Atom::Field(s) => matches!(profile.get(*s), Some(Value::Bool(true))),
            Atom::Not(a) => !a.holds(r, holds),
            Atom::Expr(e) => holds(e),
        }
    }
}

/// The rule index of one event kind: posting lists of conjunction entries.
#[derive(Debug, Default, Clone)]
pub(crate) struct KindIndex {
    /// Conjunctions checked for every event of this kind (a rule's whole `when`).
    always: Vec<Entry>,
    /// `"k" in profile.SET`: by the set's slot and element.
    set_has: SlotMaps<Vec<Entry>>,
    /// `profile.FIELD == "k"`: by the field's slot and value.
    equal: SlotMaps<Vec<Entry>>,
    /// `profile.MAP["k"] …`: by the map's slot and key.
    map_key: SlotMaps<Vec<Entry>>,
    /// Per slot: (threshold, entry), sorted by threshold ascending.
    above: HashMap<usize, Vec<(f64, Entry)>>,
    /// Per slot: (threshold, entry), sorted by threshold descending.
    below: HashMap<usize, Vec<(f64, Entry)>>,
    /// `profile.FLAG` (a bool field as a condition): by the field's slot.
    truthy: Vec<(usize, Vec<Entry>)>,
    pub(crate) indexed: usize,
}

/// Rule indexes for every event kind.
#[derive(Debug, Clone)]
pub(crate) struct RuleIndex {
    kinds: Vec<KindIndex>,
    /// How many rules the package has (the size of the matched set of an event).
    rules: usize,
    /// Every conjunction's remainder, back to back.
    atoms: Vec<Atom>,
    /// The strings the atoms compare with, interned.
    strings: Strings,
}

fn has_script(e: &CExpr, c: &Compiled, depth: usize) -> bool {
    let mut found = false;
    e.walk(&mut |x| match x {
        CExpr::Script(_) => found = true,
        CExpr::Segment(i) if depth < 64 => {
            if let Some(s) = c.segments.get(*i) {
                found |= has_script(&s.expr, c, depth + 1);
            }
        }
        _ => {}
    });
    found
}

/// Disjunctive normal form, segments inlined; `None` when it grows too large.
fn dnf<'a>(e: &'a CExpr, c: &'a Compiled, depth: usize) -> Option<Vec<Vec<&'a CExpr>>> {
    if depth > 64 {
        return None;
    }
    match e {
        CExpr::And(a, b) => {
            let (x, y) = (dnf(a, c, depth + 1)?, dnf(b, c, depth + 1)?);
            if x.len().saturating_mul(y.len()) > MAX_DISJUNCTS {
                return None;
            }
            let mut out = Vec::new();
            for p in &x {
                for q in &y {
                    let mut conj = p.clone();
                    conj.extend(q.iter().copied());
                    out.push(conj);
                }
            }
            Some(out)
        }
        CExpr::Or(a, b) => {
            let mut x = dnf(a, c, depth + 1)?;
            x.extend(dnf(b, c, depth + 1)?);
            (x.len() <= MAX_DISJUNCTS).then_some(x)
        }
        CExpr::Segment(i) => dnf(&c.segments.get(*i)?.expr, c, depth + 1),
        other => Some(vec![vec![other]]),
    }
}

fn profile_type(c: &Compiled, slot: usize) -> Option<Type> {
    c.profile.field(slot).map(|f| f.ty)
}

/// A key of the same type as a scalar field (so that key equality is `==`).
fn key_fits(ty: Type, k: &Key) -> bool {
    matches!(
        (ty, k),
        (Type::String, Key::Str(_)) | (Type::Int, Key::Int(_))
    )
}

fn set_fits(ty: Type, k: &Key) -> bool {
    matches!(
        (ty, k),
        (Type::SetString, Key::Str(_)) | (Type::SetInt, Key::Int(_))
    )
}

/// `profile.MAP["key"]`
fn map_entry(e: &CExpr) -> Option<(usize, std::sync::Arc<str>)> {
    match e {
        CExpr::Index(m, k) => match (&**m, &**k) {
            (CExpr::Profile(s), CExpr::Const(Value::Str(key))) => Some((*s, key.clone())),
            _ => None,
        },
        _ => None,
    }
}

fn access(e: &CExpr, c: &Compiled) -> Option<Access> {
    // A comparison or `exists` of a map entry needs the entry: missing makes it false.
    if let CExpr::Exists(inner) = e {
        return map_entry(inner).map(|(s, k)| Access::MapKey(s, k));
    }
    // A bool field as a condition holds when it is `true`.
    if let CExpr::Profile(s) = e {
        return (profile_type(c, *s)? == Type::Bool).then_some(Access::True(*s));
    }
    let CExpr::Binary(op, a, b) = e else {
        return None;
    };
    if matches!(
        op,
        BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge
    ) && let Some((s, k)) = map_entry(a).or_else(|| map_entry(b))
    {
        return Some(Access::MapKey(s, k));
    }
    use BinaryOp::*;
    match (op, &**a, &**b) {
        (In, CExpr::Const(v), CExpr::Profile(s)) => {
            let k = Key::of(v)?;
            set_fits(profile_type(c, *s)?, &k).then(|| Access::SetHas(*s, vec![k]))
        }
        (Intersects, CExpr::Profile(s), CExpr::Const(l))
        | (Intersects, CExpr::Const(l), CExpr::Profile(s)) => {
            let keys = Key::of_list(l)?;
            let ty = profile_type(c, *s)?;
            keys.iter()
                .all(|k| set_fits(ty, k))
                .then_some(Access::SetHas(*s, keys))
        }
        (Eq, CExpr::Profile(s), CExpr::Const(v)) | (Eq, CExpr::Const(v), CExpr::Profile(s)) => {
            let k = Key::of(v)?;
            key_fits(profile_type(c, *s)?, &k).then(|| Access::Equal(*s, vec![k]))
        }
        (In, CExpr::Profile(s), CExpr::Const(l)) => {
            let keys = Key::of_list(l)?;
            let ty = profile_type(c, *s)?;
            keys.iter()
                .all(|k| key_fits(ty, k))
                .then_some(Access::Equal(*s, keys))
        }
        (Ge | Gt | Le | Lt, CExpr::Profile(s), CExpr::Const(v)) => range(*op, *s, v, false, c),
        (Ge | Gt | Le | Lt, CExpr::Const(v), CExpr::Profile(s)) => range(*op, *s, v, true, c),
        _ => None,
    }
}

fn range(op: BinaryOp, slot: usize, v: &Value, flipped: bool, c: &Compiled) -> Option<Access> {
    if !matches!(profile_type(c, slot)?, Type::Int | Type::Float) {
        return None;
    }
    let threshold = v.as_f64()?;
    // `60 <= profile.age` is `profile.age >= 60`.
    let op = match (op, flipped) {
        (o, false) => o,
        (BinaryOp::Ge, true) => BinaryOp::Le,
        (BinaryOp::Gt, true) => BinaryOp::Lt,
        (BinaryOp::Le, true) => BinaryOp::Ge,
        (_, true) => BinaryOp::Gt,
    };
    Some(match op {
        BinaryOp::Ge | BinaryOp::Gt => Access::Above { slot, threshold },
        _ => Access::Below { slot, threshold },
    })
}

/// How often each exact key is a possible access predicate across the package's
/// conjunctions: a key many rules test (a popular topic in a segment) is likely common
/// among profiles too, so a conjunction is better found through a rarer one.
type KeyUse = HashMap<(usize, Key), u32>;

fn exact_keys(a: &Access) -> Option<(usize, &[Key])> {
    match a {
        Access::SetHas(slot, keys) | Access::Equal(slot, keys) => Some((*slot, keys)),
        _ => None,
    }
}

/// The best access predicate of a conjunction — membership and equality before map
/// entries before ranges; among memberships and equalities the one whose keys the
/// package tests least (see [`KeyUse`]); then the first — and the conjunction's
/// remainder under it.
fn best_access(conj: &[&CExpr], c: &Compiled, uses: &KeyUse) -> Option<(Access, Vec<CExpr>)> {
    // A flag is exact but often common: after memberships and equalities.
    let rank = |a: &Access| match a {
        Access::SetHas(..) | Access::Equal(..) => 0,
        Access::True(_) => 1,
        Access::MapKey(..) => 2,
        Access::Above { .. } | Access::Below { .. } => 3,
    };
    let weight = |a: &Access| {
        exact_keys(a).map_or(0, |(slot, keys)| {
            keys.iter()
                .map(|k| u64::from(uses.get(&(slot, k.clone())).copied().unwrap_or(0)))
                .sum::<u64>()
        })
    };
    let (at, access) = conj
        .iter()
        .enumerate()
        .filter_map(|(i, e)| access(e, c).map(|a| (i, a)))
        .min_by_key(|(i, a)| (rank(a), weight(a), *i))?;
    let remainder = conj
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at || !access.exact())
        .map(|(_, e)| (*e).clone())
        .collect();
    Some((access, remainder))
}

impl RuleIndex {
    pub(crate) fn build(c: &Compiled) -> RuleIndex {
        let mut kinds: Vec<KindIndex> = tailor_lang::ast::EventKind::ALL
            .iter()
            .map(|_| KindIndex::default())
            .collect();
        let mut atoms = Vec::new();
        let mut strings = Strings::default();
        let mut entry = |rule: u32, remainder: &[CExpr]| {
            let start = u32::try_from(atoms.len()).unwrap_or(u32::MAX);
            atoms.extend(remainder.iter().map(|e| Atom::compile(e, c, &mut strings)));
            let end = u32::try_from(atoms.len()).unwrap_or(u32::MAX);
            Entry { rule, start, end }
        };
        // Each rule's DNF (`None`: checked for every event), and how often the package
        // tests each exact key, to choose access predicates with.
        let forms: Vec<Option<Vec<Vec<&CExpr>>>> = c
            .rules
            .iter()
            .map(|rule| match &rule.when {
                Some(w) if !has_script(w, c, 0) => dnf(w, c, 0),
                _ => None,
            })
            .collect();
        let mut uses = KeyUse::default();
        for conj in forms.iter().flatten().flatten() {
            for a in conj.iter().filter_map(|e| access(e, c)) {
                if let Some((slot, keys)) = exact_keys(&a) {
                    for k in keys {
                        *uses.entry((slot, k.clone())).or_default() += 1;
                    }
                }
            }
        }
        for (ri, (rule, form)) in c.rules.iter().zip(&forms).enumerate() {
            let r = u32::try_from(ri).unwrap_or(u32::MAX);
            // Every conjunction needs an access predicate, or the rule is always checked.
            let accesses: Option<Vec<(Access, Vec<CExpr>)>> = form
                .as_ref()
                .and_then(|d| d.iter().map(|conj| best_access(conj, c, &uses)).collect());
            match accesses {
                None => {
                    let when: Vec<CExpr> = rule.when.iter().cloned().collect();
                    let conj = entry(r, &when);
                    for kind in &rule.on {
                        if let Some(k) = kinds.get_mut(*kind as usize) {
                            k.always.push(conj);
                        }
                    }
                }
                Some(list) => {
                    for kind in &rule.on {
                        if let Some(k) = kinds.get_mut(*kind as usize) {
                            k.indexed += 1;
                        }
                    }
                    for (access, remainder) in list {
                        let conj = entry(r, &remainder);
                        for kind in &rule.on {
                            if let Some(k) = kinds.get_mut(*kind as usize) {
                                k.add(&access, conj);
                            }
                        }
                    }
                }
            }
        }
        for k in &mut kinds {
            for v in k.above.values_mut() {
                v.sort_by(|a, b| a.0.total_cmp(&b.0));
            }
            for v in k.below.values_mut() {
                v.sort_by(|a, b| b.0.total_cmp(&a.0));
            }
        }
        RuleIndex {
            kinds,
            rules: c.rules.len(),
            atoms,
            strings,
        }
    }

    /// The rules of this event kind whose `when` holds for the profile, as sorted rule
    /// indexes (evaluation order). Each candidate conjunction — every one that can hold
    /// is on a posting list the profile reaches — has its remainder evaluated with
    /// `holds` where it is found, unless its rule has matched already (two
    /// conjunctions, or an `intersects` list the profile meets twice); no candidate list
    /// is built. Matched rules are marked in a bitset over rule indexes, which are
    /// numbered in evaluation order when the package is compiled: reading it out gives
    /// them sorted without comparing names or sorting, however many fire ([`RuleSet`]:
    /// a sparse set of a large package is read through its summary words). Remainders
    /// call no scripts, so evaluating them has no effect but the answer.
    pub(crate) fn matching(
        &self,
        kind: tailor_lang::ast::EventKind,
        profile: &Profile,
        holds: &dyn Fn(&CExpr) -> bool,
        matched: &mut RuleSet,
    ) {
        matched.clear(self.rules);
        let Some(k) = self.kinds.get(kind as usize) else {
            return;
        };
        let mut r = Resolver::new(&self.strings, profile);
        let mut check = |e: &Entry| {
            matched.insert_if(e.rule, || {
                let remainder = self
                    .atoms
                    .get(e.start as usize..e.end as usize)
                    .unwrap_or(&[]);
                remainder.iter().all(|a| a.holds(&mut r, holds))
            });
        };
        k.always.iter().for_each(&mut check);
        for (slot, map) in k.set_has.iter() {
            if let Some(v) = profile.get(slot) {
                map.each_of(v, &mut |p| p.iter().for_each(&mut check));
            }
        }
        for (slot, map) in k.equal.iter() {
            if let Some(p) = profile.get(slot).and_then(|v| map.get_value(v)) {
                p.iter().for_each(&mut check);
            }
        }
        for (slot, map) in k.map_key.iter() {
            if let Some(Value::Map(m)) = profile.get(slot) {
                for key in m.keys() {
                    if let Some(p) = map.get_str(key) {
                        p.iter().for_each(&mut check);
                    }
                }
            }
        }
        for (slot, list) in &k.above {
            if let Some(v) = profile.get(*slot).and_then(Value::as_f64) {
                // Over-approximate at equality (`>` and `>=` alike): f64 rounding of
                // large ints must never lose a candidate; the full `when` decides.
                for (_, e) in list.iter().take_while(|(t, _)| *t <= v) {
                    check(e);
                }
            }
        }
        for (slot, list) in &k.below {
            if let Some(v) = profile.get(*slot).and_then(Value::as_f64) {
                for (_, e) in list.iter().take_while(|(t, _)| *t >= v) {
                    check(e);
                }
            }
        }
        for (slot, list) in &k.truthy {
            if matches!(profile.get(*slot), Some(Value::Bool(true))) {
                list.iter().for_each(&mut check);
            }
        }
    }

    pub(crate) fn always_checked(&self) -> usize {
        self.kinds.iter().map(|k| k.always.len()).sum()
    }

    pub(crate) fn indexed(&self) -> usize {
        self.kinds.iter().map(|k| k.indexed).sum()
    }
}

impl KindIndex {
    fn add(&mut self, a: &Access, r: Entry) {
        match a {
            Access::SetHas(slot, keys) => {
                for key in keys {
                    let list = self.set_has.entry(*slot, key.clone());
                    if list.last() != Some(&r) {
                        list.push(r);
                    }
                }
            }
            Access::Equal(slot, keys) => {
                for key in keys {
                    let list = self.equal.entry(*slot, key.clone());
                    if list.last() != Some(&r) {
                        list.push(r);
                    }
                }
            }
            Access::MapKey(slot, key) => {
                let list = self.map_key.entry(*slot, Key::Str(key.clone()));
                if list.last() != Some(&r) {
                    list.push(r);
                }
            }
            Access::Above { slot, threshold } => {
                self.above.entry(*slot).or_default().push((*threshold, r));
            }
            Access::Below { slot, threshold } => {
                self.below.entry(*slot).or_default().push((*threshold, r));
            }
            Access::True(slot) => {
                let at = match self.truthy.iter().position(|(s, _)| s == slot) {
                    Some(at) => at,
                    None => {
                        self.truthy.push((*slot, Vec::new()));
                        self.truthy.len() - 1
                    }
                };
                if let Some((_, list)) = self.truthy.get_mut(at)
                    && list.last() != Some(&r)
                {
                    list.push(r);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Package;

    /// A rule set reads out its members ascending, all or those in a mask, however
    /// sparse, across summary words.
    #[test]
    fn a_rule_set_reads_out_its_members_in_order() {
        let n = 10_000;
        let mask = bitset(n, (0..n).map(|i| i % 3 == 0 || i == 9_998));
        let mut set = RuleSet::default();
        for members in [vec![4u32, 9_998], (0..4_000).map(|i| i * 2 + 1).collect()] {
            set.clear(n);
            for &r in members.iter().rev() {
                set.insert(r);
            }
            set.remove(7);
            let members: Vec<u32> = members.into_iter().filter(|&r| r != 7).collect();
            let mut all = Vec::new();
            set.each(None, &mut |r| all.push(r));
            assert_eq!(all, members);
            let mut masked = Vec::new();
            set.each(Some(&mask), &mut |r| masked.push(r));
            let want: Vec<u32> = members
                .iter()
                .copied()
                .filter(|&r| r % 3 == 0 || r == 9_998)
                .collect();
            assert_eq!(masked, want);
        }
    }

    /// A conjunction of two memberships is found through the key fewer rules test: the
    /// popular topic of a segment would make it a candidate for most readers.
    #[test]
    fn a_conjunction_is_posted_under_its_rarest_key() {
        let mut src = String::from(
            "profile {\n interests: set<string>\n}\ncontent {\n region: string\n}\n\
             edition e { sections { s 3 } }\nsegment fans = \"common\" in profile.interests\n",
        );
        for i in 0..3 {
            src.push_str(&format!("rule c{i} {{\n when fans\n pick 1 from s\n}}\n"));
        }
        src.push_str(
            "rule both {\n when fans and \"rare\" in profile.interests\n pick 1 from s\n}\n",
        );
        let pkg = Package::from_sources(vec![("t.rules".into(), src)]).expect("package");
        let c = pkg.compiled();
        let both = c
            .rules
            .iter()
            .position(|r| r.name == "both")
            .and_then(|i| u32::try_from(i).ok())
            .expect("rule both");
        let index = RuleIndex::build(c);
        let enter = index
            .kinds
            .get(tailor_lang::ast::EventKind::Enter as usize)
            .expect("enter");
        let posted = |key: &str| {
            enter
                .set_has
                .iter()
                .filter_map(|(_, m)| m.get_str(key))
                .flatten()
                .any(|e| e.rule == both)
        };
        assert!(posted("rare"));
        assert!(!posted("common"));
    }
}
