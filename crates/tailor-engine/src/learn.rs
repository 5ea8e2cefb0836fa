//! Learning (language.md §9): learn statements applied to a copy of the profile before the rules run.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::Value as J;

use crate::data::{Event, Profile};
use crate::eval::Ctx;
use crate::ir::CStmt;
use crate::outcome::{Learned, ScriptError};
use crate::package::Package;
use crate::value::Value;

/// A profile after learning, and what was learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Learning {
    pub profile: Profile,
    pub learned: Vec<Learned>,
    pub errors: Vec<ScriptError>,
}

impl Package {
    /// Apply every `learn` item that answers this event, in package order (files by path,
    /// items in source order), each seeing the changes of the ones before it.
    ///
    /// A statement whose value is missing changes nothing and is not listed. A learn item
    /// whose `when` fails on a script error is skipped, and the error listed.
    pub fn learn(&self, event: &Event, profile: &Profile) -> Learning {
        let mut profile = profile.clone();
        let mut learned = Vec::new();
        let errors = RefCell::new(Vec::new());
        let c = self.compiled();
        let tz = &c.edition.timezone;
        for l in c.learns.iter().filter(|l| l.on.contains(&event.kind)) {
            let ctx = Ctx {
                segments: &c.segments,
                scripts: &c.scripts,
                host: self.script_host(),
                tz,
                profile: &profile,
                // `block` is the opened block in `learn on open` (language.md §12); the checker allows
                // it in no other learn item.
                block: event.opened_block(),
                event,
                now: event.at,
                errors: &errors,
            };
            let go = match &l.when {
                None => true,
                Some(w) => ctx.holds(w).unwrap_or(false),
            };
            if !go {
                continue;
            }
            // Evaluate the statements' values against the profile as it is now.
            let mut changes = Vec::new();
            for s in &l.stmts {
                let eval = |e| ctx.eval(e).ok().flatten();
                changes.push(match s {
                    CStmt::Set { slot, value } => (s, *slot, eval(value), None),
                    CStmt::Unset { slot } => (s, *slot, None, None),
                    CStmt::Add { slot, value } | CStmt::Remove { slot, value } => {
                        (s, *slot, eval(value), None)
                    }
                    CStmt::Incr { slot, key, by } => (s, *slot, eval(by), eval(key)),
                });
            }
            for (stmt, slot, value, key) in changes {
                if let Some(l) = self.apply(&mut profile, stmt, slot, value, key) {
                    learned.push(l);
                }
            }
        }
        Learning {
            profile,
            learned,
            errors: errors.into_inner(),
        }
    }

    fn apply(
        &self,
        profile: &mut Profile,
        stmt: &CStmt,
        slot: usize,
        value: Option<Value>,
        key: Option<Value>,
    ) -> Option<Learned> {
        let c = self.compiled();
        let tz = &c.edition.timezone;
        let field = c.profile.field(slot)?;
        let path = field.path.clone();
        let dotted = field.dotted.clone();
        let ty = field.ty;
        let current = profile.values.get(slot).cloned().flatten();
        let (op, new, learned_value, learned_key, by) =
            match stmt {
                CStmt::Set { .. } => {
                    let v = widen(value?, ty);
                    let j = v.to_json(tz);
                    ("set", Some(v), Some(j), None, None)
                }
                CStmt::Unset { .. } => ("unset", None, None, None, None),
                CStmt::Add { .. } | CStmt::Remove { .. } => {
                    let v = value?;
                    let add = matches!(stmt, CStmt::Add { .. });
                    // One element, or every element of a set or list (language.md §12).
                    let elems: Vec<Value> = match &v {
                        Value::StrSet(s) => s.iter().map(|x| Value::Str(x.clone())).collect(),
                        Value::IntSet(s) => s.iter().map(|x| Value::Int(*x)).collect(),
                        Value::List(l) => l.to_vec(),
                        one => vec![one.clone()],
                    };
                    let new =
                        match (current, ty) {
                            (Some(Value::StrSet(s)), _) => {
                                Value::StrSet(Arc::new(change(&s, elems, add, |e| match e {
                                    Value::Str(x) => Some(x),
                                    _ => None,
                                })?))
                            }
                            (Some(Value::IntSet(s)), _) => {
                                Value::IntSet(Arc::new(change(&s, elems, add, |e| match e {
                                    Value::Int(x) => Some(x),
                                    _ => None,
                                })?))
                            }
                            (None, tailor_lang::ast::Type::SetString) => Value::StrSet(Arc::new(
                                change(&BTreeSet::new(), elems, add, |e| match e {
                                    Value::Str(x) => Some(x),
                                    _ => None,
                                })?,
                            )),
                            (None, tailor_lang::ast::Type::SetInt) => Value::IntSet(Arc::new(
                                change(&BTreeSet::new(), elems, add, |e| match e {
                                    Value::Int(x) => Some(x),
                                    _ => None,
                                })?,
                            )),
                            _ => return None,
                        };
                    let j = v.to_json(tz);
                    (
                        if add { "add" } else { "remove" },
                        Some(new),
                        Some(j),
                        None,
                        None,
                    )
                }
                CStmt::Incr { .. } => {
                    let by = value?;
                    let Value::Str(k) = key? else { return None };
                    let mut map = match current {
                        Some(Value::Map(m)) => (*m).clone(),
                        _ => BTreeMap::new(),
                    };
                    let old = map.get(&k).cloned();
                    let newv = match (old, &by) {
                        (None, Value::Int(b)) if ty == tailor_lang::ast::Type::MapFloat => {
                            Value::Float(*b as f64)
                        }
                        (None, b) => b.clone(),
                        (Some(Value::Int(a)), Value::Int(b)) => Value::Int(a.saturating_add(*b)),
                        (Some(a), b) => Value::Float(a.as_f64()? + b.as_f64()?),
                    };
                    map.insert(k.clone(), newv);
                    let j = by.to_json(tz);
                    (
                        "incr",
                        Some(Value::Map(Arc::new(map))),
                        None,
                        Some(k.to_string()),
                        Some(j),
                    )
                }
            };
        // Keep the typed values and the stored JSON in step.
        match &new {
            Some(v) => set_json(
                std::sync::Arc::make_mut(&mut profile.raw),
                &path,
                v.to_json(tz),
            ),
            None => unset_json(std::sync::Arc::make_mut(&mut profile.raw), &path),
        }
        if let Some(s) = Arc::make_mut(&mut profile.values).get_mut(slot) {
            *s = new;
        }
        Some(Learned {
            op,
            field: dotted,
            value: learned_value,
            key: learned_key,
            by,
        })
    }
}

/// A copy of `set` with `elems` added (or removed); `None` when an element has another
/// type (the checker rules that out).
fn change<T: Ord + Clone>(
    set: &BTreeSet<T>,
    elems: Vec<Value>,
    add: bool,
    unwrap: impl Fn(Value) -> Option<T>,
) -> Option<BTreeSet<T>> {
    let mut set = set.clone();
    for e in elems {
        let x = unwrap(e)?;
        if add {
            set.insert(x);
        } else {
            set.remove(&x);
        }
    }
    Some(set)
}

/// An int stored into a float field becomes a float.
fn widen(v: Value, ty: tailor_lang::ast::Type) -> Value {
    match (v, ty) {
        (Value::Int(i), tailor_lang::ast::Type::Float) => Value::Float(i as f64),
        (v, _) => v,
    }
}

/// Set a dotted path in a JSON object, creating intermediate objects.
pub fn set_json(obj: &mut serde_json::Map<String, J>, path: &[String], value: J) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in parents {
        let entry = cur
            .entry(p.clone())
            .or_insert_with(|| J::Object(serde_json::Map::new()));
        if !entry.is_object() {
            *entry = J::Object(serde_json::Map::new());
        }
        let J::Object(next) = entry else { return };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

fn unset_json(obj: &mut serde_json::Map<String, J>, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for p in parents {
        match cur.get_mut(p) {
            Some(J::Object(next)) => cur = next,
            _ => return,
        }
    }
    cur.remove(last);
}
