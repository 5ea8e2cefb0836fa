//! The reference expression evaluator: a direct reading of language.md §7, missing values included.
//!
//! `eval` returns `Ok(None)` for *missing* and `Err(Failed)` when a script call failed
//! (the failure is recorded in the context; the caller decides what a failure means).

use std::cell::RefCell;
use std::cmp::Ordering;

use jiff::Timestamp;
use tailor_lang::ast::{BinaryOp, Root};

use crate::data::{Block, Event, Profile};
use crate::ir::CExpr;
use crate::outcome::ScriptError;
use crate::schema::EventField;
use crate::script::{ScriptArg, ScriptHost};
use crate::value::Value;

/// A script call failed; details are in [`Ctx::errors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed;

pub type EvalResult = Result<Option<Value>, Failed>;

/// Added to the error of a call not made because the function spent a budget already.
const NOT_AGAIN: &str = "; not called again in this evaluation";

/// Everything an expression can see.
pub struct Ctx<'a> {
    pub segments: &'a [crate::ir::CSegment],
    pub scripts: &'a [crate::ir::CScript],
    pub host: &'a dyn ScriptHost,
    pub tz: &'a jiff::tz::TimeZone,
    pub profile: &'a Profile,
    pub block: Option<&'a Block>,
    pub event: &'a Event,
    pub now: Timestamp,
    pub errors: &'a RefCell<Vec<ScriptError>>,
}

impl<'a> Ctx<'a> {
    pub fn with_block(&self, block: &'a Block) -> Ctx<'a> {
        Ctx {
            block: Some(block),
            ..*self
        }
    }

    /// A condition: missing counts as false; a failed script call is reported as `Err`.
    pub fn holds(&self, e: &CExpr) -> Result<bool, Failed> {
        Ok(matches!(self.eval(e)?, Some(Value::Bool(true))))
    }

    /// A constant or a profile or block field, borrowed: `Some(None)` when missing,
    /// `None` for any other expression.
    fn operand<'v>(&'v self, e: &'v CExpr) -> Option<Option<&'v Value>> {
        match e {
            CExpr::Const(v) => Some(Some(v)),
            CExpr::Profile(slot) => Some(self.profile.get(*slot)),
            CExpr::Block(slot) => Some(self.block.and_then(|b| b.get(*slot))),
            _ => None,
        }
    }

    pub fn eval(&self, e: &CExpr) -> EvalResult {
        Ok(match e {
            CExpr::Const(v) => Some(v.clone()),
            CExpr::Now => Some(Value::Time(self.now)),
            CExpr::Profile(slot) => self.profile.get(*slot).cloned(),
            CExpr::Block(slot) => self.block.and_then(|b| b.get(*slot)).cloned(),
            CExpr::Event(f) => event_field(self.event, *f),
            // Records are only script arguments; see `script_call`.
            CExpr::Record(_) => None,
            CExpr::Segment(i) => {
                let seg = self.segments.get(*i).map(|s| &s.expr);
                let holds = match seg {
                    Some(expr) => {
                        // Segments never see a block (the checker ensures it).
                        let ctx = Ctx {
                            block: None,
                            ..*self
                        };
                        ctx.holds(expr)?
                    }
                    None => false,
                };
                Some(Value::Bool(holds))
            }
            CExpr::Index(t, k) => match (self.eval(t)?, self.eval(k)?) {
                (Some(Value::Map(m)), Some(Value::Str(key))) => m.get(&key).cloned(),
                _ => None,
            },
            CExpr::Call(b, args) => {
                let mut vals = Vec::with_capacity(args.len());
                for a in args {
                    match self.eval(a)? {
                        Some(v) => vals.push(v),
                        None => return Ok(None),
                    }
                }
                b.eval(
                    &vals,
                    crate::builtins::Env {
                        now: self.now,
                        tz: self.tz,
                    },
                )
            }
            CExpr::Script(call) => {
                let mut args = Vec::with_capacity(call.args.len());
                for a in &call.args {
                    args.push(match a {
                        CExpr::Record(Root::Profile) => ScriptArg::Profile(self.profile),
                        CExpr::Record(Root::Block) => match self.block {
                            Some(b) => ScriptArg::Block(b),
                            None => ScriptArg::Missing,
                        },
                        CExpr::Record(Root::Event) => ScriptArg::Event(self.event),
                        other => match self.eval(other)? {
                            Some(v) => ScriptArg::Value(v),
                            None => ScriptArg::Missing,
                        },
                    });
                }
                let script = self.scripts.get(call.script);
                let (script, function) = (
                    script.map_or("", |s| s.name.as_str()),
                    script
                        .and_then(|s| s.fns.get(call.func))
                        .map_or("", |f| f.name.as_str()),
                );
                // A function that ran past its operations or memory budget is not called
                // again in this evaluation: an endless loop costs an event one budget, not
                // one per block (language.md §8, docs/scripts.md).
                let spent = self
                    .errors
                    .borrow()
                    .iter()
                    .find(|e| {
                        e.script == script && e.function == function && e.failure.spent_a_budget()
                    })
                    .map(|e| {
                        let why = e.error.trim_end_matches(NOT_AGAIN);
                        (format!("{why}{NOT_AGAIN}"), e.failure.clone())
                    });
                let result = match spent {
                    Some(skipped) => Err(skipped),
                    None => self
                        .host
                        .call(call.script, call.func, call.ret, &args, self.tz)
                        .map_err(|e| (e.to_string(), e)),
                };
                match result {
                    Ok(v) => Some(v),
                    Err((why, failure)) => {
                        self.errors.borrow_mut().push(ScriptError {
                            script: script.to_owned(),
                            function: function.to_owned(),
                            user: self.profile.id().to_owned(),
                            block: self.block.map(|b| b.id().to_owned()),
                            error: why,
                            failure,
                        });
                        return Err(Failed);
                    }
                }
            }
            CExpr::Not(a) => Some(Value::Bool(!self.holds(a)?)),
            CExpr::Neg(a) => match self.eval(a)? {
                Some(Value::Int(i)) => i.checked_neg().map(Value::Int),
                Some(Value::Float(f)) => Some(Value::Float(-f)),
                Some(Value::Duration(d)) => d.checked_neg().map(Value::Duration),
                _ => None,
            },
            CExpr::And(a, b) => Some(Value::Bool(self.holds(a)? && self.holds(b)?)),
            CExpr::Or(a, b) => Some(Value::Bool(self.holds(a)? || self.holds(b)?)),
            CExpr::Binary(op, a, b) => match (self.operand(a), self.operand(b)) {
                // Constants and fields are compared in place, without cloning them.
                (Some(x), Some(y)) => binary_ref(*op, x, y),
                _ => {
                    let (x, y) = (self.eval(a)?, self.eval(b)?);
                    binary(*op, x, y)
                }
            },
            CExpr::Matches(s, re) => Some(Value::Bool(match self.eval(s)? {
                Some(Value::Str(s)) => re.is_match(&s),
                _ => false,
            })),
            CExpr::Exists(a) => Some(Value::Bool(self.eval(a)?.is_some())),
        })
    }
}

pub fn event_field(e: &Event, f: EventField) -> Option<Value> {
    match f {
        EventField::Kind => Some(Value::str(e.kind.name())),
        EventField::At => Some(Value::Time(e.at)),
        EventField::Text => e.text.as_deref().map(Value::str),
        EventField::Key => e.key.as_deref().map(Value::str),
        EventField::Url => e.url.as_deref().map(Value::str),
        EventField::Lat => e.lat.map(Value::Float),
        EventField::Lon => e.lon.map(Value::Float),
        EventField::Precision => e.precision.map(Value::Float),
        EventField::Rule => e
            .opened
            .as_ref()
            .and_then(|o| o.item.rule.as_deref())
            .map(Value::str),
        EventField::Section => e
            .opened
            .as_ref()
            .and_then(|o| o.item.section.as_deref())
            .map(Value::str),
        EventField::Delivered => e
            .opened
            .as_ref()
            .and_then(|o| o.item.delivered)
            .map(Value::Time),
    }
}

/// Equality of language.md §7: same types, ints and floats as numbers, sets and lists as sets.
pub fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            compare(a, b) == Some(Ordering::Equal)
        }
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Time(x), Value::Time(y)) => x == y,
        (Value::Duration(x), Value::Duration(y)) => x == y,
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal(v, w)))
        }
        _ => match (elements(a), elements(b)) {
            (Some(x), Some(y)) => {
                x.iter().all(|v| y.iter().any(|w| equal(v, w)))
                    && y.iter().all(|w| x.iter().any(|v| equal(v, w)))
            }
            _ => false,
        },
    }
}

/// The elements of a set or list.
/// Some element of `a` (a set or list) is in `b`; without collecting `a`'s elements.
fn intersects(a: &Value, b: &Value) -> bool {
    match a {
        Value::StrSet(s) => s.iter().any(|x| contains(b, &Value::Str(x.clone()))),
        Value::IntSet(s) => s.iter().any(|x| contains(b, &Value::Int(*x))),
        Value::List(l) => l.iter().any(|x| contains(b, x)),
        _ => false,
    }
}

fn elements(v: &Value) -> Option<Vec<Value>> {
    match v {
        Value::StrSet(s) => Some(s.iter().map(|x| Value::Str(x.clone())).collect()),
        Value::IntSet(s) => Some(s.iter().map(|x| Value::Int(*x)).collect()),
        Value::List(l) => Some(l.to_vec()),
        _ => None,
    }
}

/// Ordering of language.md §7 for values of orderable types; `None` when they do not compare.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(x), Value::Float(y)) => cmp_int_float(*x, *y),
        (Value::Float(x), Value::Int(y)) => cmp_int_float(*y, *x).map(Ordering::reverse),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        // Rust orders `str` by bytes, which for UTF-8 is code point order.
        (Value::Str(x), Value::Str(y)) => Some(x.as_ref().cmp(y.as_ref())),
        (Value::Time(x), Value::Time(y)) => Some(x.cmp(y)),
        (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// An int and a float compared as numbers, exactly: `i as f64` may round (beyond 2^53),
/// so when the rounded value ties with `f`, compare the two integers exactly.
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    match (i as f64).partial_cmp(&f)? {
        // `f` equals a rounded i64 here: an integer with |f| <= 2^63, exact in i128.
        Ordering::Equal => Some(i128::from(i).cmp(&(f as i128))),
        o => Some(o),
    }
}

fn contains(set: &Value, x: &Value) -> bool {
    match (set, x) {
        (Value::StrSet(s), Value::Str(v)) => s.contains(v),
        (Value::IntSet(s), Value::Int(v)) => s.contains(v),
        (Value::IntSet(s), Value::Float(f)) => {
            f.fract() == 0.0
                && s.iter()
                    .any(|i| cmp_int_float(*i, *f) == Some(Ordering::Equal))
        }
        (Value::List(l), v) => l.iter().any(|w| equal(v, w)),
        (Value::Str(hay), Value::Str(needle)) => hay.contains(needle.as_ref()),
        _ => false,
    }
}

fn binary(op: BinaryOp, x: Option<Value>, y: Option<Value>) -> Option<Value> {
    binary_ref(op, x.as_ref(), y.as_ref())
}

pub(crate) fn binary_ref(op: BinaryOp, x: Option<&Value>, y: Option<&Value>) -> Option<Value> {
    use BinaryOp::*;
    let (Some(a), Some(b)) = (x, y) else {
        // Missing: comparisons are false, arithmetic is missing.
        return match op {
            Add | Sub | Mul | Div | Rem => None,
            _ => Some(Value::Bool(false)),
        };
    };
    let bool_ = |b: bool| Some(Value::Bool(b));
    match op {
        Eq => bool_(equal(a, b)),
        Ne => bool_(!equal(a, b)),
        Lt => bool_(compare(a, b) == Some(Ordering::Less)),
        Le => bool_(matches!(
            compare(a, b),
            Some(Ordering::Less | Ordering::Equal)
        )),
        Gt => bool_(compare(a, b) == Some(Ordering::Greater)),
        Ge => bool_(matches!(
            compare(a, b),
            Some(Ordering::Greater | Ordering::Equal)
        )),
        In => bool_(contains(b, a)),
        NotIn => bool_(!contains(b, a)),
        Intersects => bool_(intersects(a, b)),
        Add | Sub | Mul | Div | Rem => arith(op, a.clone(), b.clone()),
        And | Or => None,
    }
}

fn finite(f: f64) -> Option<Value> {
    f.is_finite().then_some(Value::Float(f))
}

fn arith(op: BinaryOp, a: Value, b: Value) -> Option<Value> {
    use BinaryOp::*;
    use Value::*;
    match (op, a, b) {
        (Add, Int(x), Int(y)) => x.checked_add(y).map(Int),
        (Sub, Int(x), Int(y)) => x.checked_sub(y).map(Int),
        (Mul, Int(x), Int(y)) => x.checked_mul(y).map(Int),
        (Div, Int(x), Int(y)) => x.checked_div(y).map(Int),
        (Rem, Int(x), Int(y)) => x.checked_rem(y).map(Int),
        (op, x @ (Int(_) | Float(_)), y @ (Int(_) | Float(_))) => {
            let (x, y) = (x.as_f64()?, y.as_f64()?);
            match op {
                Add => finite(x + y),
                Sub => finite(x - y),
                Mul => finite(x * y),
                Div if y == 0.0 => None,
                Div => finite(x / y),
                Rem if y == 0.0 => None,
                Rem => finite(x % y),
                _ => None,
            }
        }
        (Add, Time(t), Duration(d)) | (Add, Duration(d), Time(t)) => {
            t.checked_add(d).ok().map(Time)
        }
        (Sub, Time(t), Duration(d)) => t.checked_sub(d).ok().map(Time),
        (Sub, Time(x), Time(y)) => Some(Duration(x.duration_since(y))),
        (Add, Duration(x), Duration(y)) => x.checked_add(y).map(Duration),
        (Sub, Duration(x), Duration(y)) => x.checked_sub(y).map(Duration),
        (Mul, Duration(d), Int(n)) | (Mul, Int(n), Duration(d)) => i32::try_from(n)
            .ok()
            .and_then(|n| d.checked_mul(n))
            .map(Duration),
        (Div, Duration(d), Int(n)) => i32::try_from(n)
            .ok()
            .and_then(|n| d.checked_div(n))
            .map(Duration),
        (Add, Str(x), Str(y)) => Some(Value::str(&format!("{x}{y}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_in_comparisons_is_false_and_arithmetic_missing() {
        assert_eq!(
            binary(BinaryOp::Eq, None, Some(Value::Int(1))),
            Some(Value::Bool(false))
        );
        assert_eq!(
            binary(BinaryOp::Ne, None, Some(Value::Int(1))),
            Some(Value::Bool(false))
        );
        assert_eq!(
            binary(BinaryOp::NotIn, None, Some(Value::List(vec![].into()))),
            Some(Value::Bool(false))
        );
        assert_eq!(binary(BinaryOp::Add, None, Some(Value::Int(1))), None);
        assert_eq!(arith(BinaryOp::Div, Value::Int(1), Value::Int(0)), None);
        assert_eq!(arith(BinaryOp::Div, Value::Float(1.0), Value::Int(0)), None);
        assert_eq!(
            arith(BinaryOp::Add, Value::Int(i64::MAX), Value::Int(1)),
            None
        );
    }

    #[test]
    fn numbers_compare_across_int_and_float() {
        assert!(equal(&Value::Int(2), &Value::Float(2.0)));
        assert_eq!(
            compare(&Value::Int(2), &Value::Float(2.5)),
            Some(Ordering::Less)
        );
    }
}
