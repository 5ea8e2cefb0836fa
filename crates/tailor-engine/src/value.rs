//! Runtime values of the rules language and their types.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use tailor_lang::ast::Type;

/// A value. *Missing* is not a value: evaluation returns `Option<Value>`, `None` = missing.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Time(Timestamp),
    Duration(SignedDuration),
    StrSet(Arc<BTreeSet<Arc<str>>>),
    IntSet(Arc<BTreeSet<i64>>),
    /// `map<T>`: string keys, values of one type.
    Map(Arc<BTreeMap<Arc<str>, Value>>),
    /// A list literal, `[1, 2, 3]`.
    List(Arc<[Value]>),
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_time(&self) -> Option<Timestamp> {
        match self {
            Value::Time(t) => Some(*t),
            _ => None,
        }
    }

    /// The number as a float, for int/float comparisons and arithmetic.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The JSON form used in outcomes and stored profiles; times are shown in `tz`.
    pub fn to_json(&self, tz: &jiff::tz::TimeZone) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.to_string()),
            Value::Time(t) => J::String(format_time(*t, tz)),
            Value::Duration(d) => J::String(format_duration(*d)),
            Value::StrSet(s) => J::Array(s.iter().map(|x| J::String(x.to_string())).collect()),
            Value::IntSet(s) => J::Array(s.iter().map(|x| J::from(*x)).collect()),
            Value::Map(m) => J::Object(
                m.iter()
                    .map(|(k, v)| (k.to_string(), v.to_json(tz)))
                    .collect(),
            ),
            Value::List(items) => J::Array(items.iter().map(|v| v.to_json(tz)).collect()),
        }
    }
}

/// RFC 3339 with the offset `tz` has at that instant: `2013-02-21T19:30:00+08:00`.
pub fn format_time(t: Timestamp, tz: &jiff::tz::TimeZone) -> String {
    t.display_with_offset(tz.to_offset(t)).to_string()
}

/// A duration in the language's own notation, in the largest unit that divides it.
pub fn format_duration(d: SignedDuration) -> String {
    let secs = d.as_secs();
    for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

/// Parse `"3d"`, `"90s"`, `"12h"` (the data form of a duration, language.md §3).
pub fn parse_duration(s: &str) -> Option<SignedDuration> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let n: i64 = s.get(..s.len().saturating_sub(1))?.parse().ok()?;
    let unit = tailor_lang::ast::DurationUnit::from_suffix(unit)?;
    Some(SignedDuration::from_secs(n.checked_mul(unit.seconds())?))
}

/// Types as the checker sees them: the schema types, list literals, whole records, and
/// `Any` (a script parameter without a declared type, or a sub-expression whose error was
/// already reported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ty {
    Bool,
    Int,
    Float,
    String,
    Time,
    Duration,
    SetString,
    SetInt,
    MapInt,
    MapFloat,
    MapString,
    ListString,
    ListInt,
    ListFloat,
    /// The empty list literal `[]`.
    ListEmpty,
    Record(tailor_lang::ast::Root),
    Any,
}

impl Ty {
    pub fn name(self) -> &'static str {
        match self {
            Ty::Bool => "bool",
            Ty::Int => "int",
            Ty::Float => "float",
            Ty::String => "string",
            Ty::Time => "time",
            Ty::Duration => "duration",
            Ty::SetString => "set<string>",
            Ty::SetInt => "set<int>",
            Ty::MapInt => "map<int>",
            Ty::MapFloat => "map<float>",
            Ty::MapString => "map<string>",
            Ty::ListString => "list of strings",
            Ty::ListInt => "list of ints",
            Ty::ListFloat => "list of floats",
            Ty::ListEmpty => "empty list",
            Ty::Record(tailor_lang::ast::Root::Profile) => "the profile record",
            Ty::Record(tailor_lang::ast::Root::Block) => "the block record",
            Ty::Record(tailor_lang::ast::Root::Event) => "the event record",
            Ty::Any => "any",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float)
    }

    /// The element type of a set or list, if this is one.
    pub fn element(self) -> Option<Ty> {
        match self {
            Ty::SetString | Ty::ListString => Some(Ty::String),
            Ty::SetInt | Ty::ListInt => Some(Ty::Int),
            Ty::ListFloat => Some(Ty::Float),
            Ty::ListEmpty | Ty::Any => Some(Ty::Any),
            _ => None,
        }
    }

    pub fn map_value(self) -> Option<Ty> {
        match self {
            Ty::MapInt => Some(Ty::Int),
            Ty::MapFloat => Some(Ty::Float),
            Ty::MapString => Some(Ty::String),
            Ty::Any => Some(Ty::Any),
            _ => None,
        }
    }

    /// Values of `self` may be stored where `target` is declared (int widens to float).
    pub fn fits(self, target: Ty) -> bool {
        self == target
            || self == Ty::Any
            || target == Ty::Any
            || (self == Ty::Int && target == Ty::Float)
    }
}

impl From<Type> for Ty {
    fn from(t: Type) -> Ty {
        match t {
            Type::Bool => Ty::Bool,
            Type::Int => Ty::Int,
            Type::Float => Ty::Float,
            Type::String => Ty::String,
            Type::Time => Ty::Time,
            Type::Duration => Ty::Duration,
            Type::SetString => Ty::SetString,
            Type::SetInt => Ty::SetInt,
            Type::MapInt => Ty::MapInt,
            Type::MapFloat => Ty::MapFloat,
            Type::MapString => Ty::MapString,
        }
    }
}

impl std::fmt::Display for Ty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Convert a JSON value to a value of a schema type, or say what was found instead.
pub fn from_json(j: &serde_json::Value, ty: Type) -> Result<Value, String> {
    use serde_json::Value as J;
    let found = || json_kind(j).to_owned();
    Ok(match (ty, j) {
        (Type::Bool, J::Bool(b)) => Value::Bool(*b),
        (Type::Int, J::Number(n)) => Value::Int(n.as_i64().ok_or_else(found)?),
        (Type::Float, J::Number(n)) => Value::Float(n.as_f64().ok_or_else(found)?),
        (Type::String, J::String(s)) => Value::str(s),
        (Type::Time, J::String(s)) => Value::Time(
            s.parse::<Timestamp>()
                .map_err(|_| format!("string `{s}`, which is not an RFC 3339 time"))?,
        ),
        (Type::Duration, J::String(s)) => Value::Duration(
            parse_duration(s)
                .ok_or_else(|| format!("string `{s}`, which is not a duration such as \"3d\""))?,
        ),
        (Type::SetString, J::Array(items)) => {
            let mut set = BTreeSet::new();
            for i in items {
                match i {
                    J::String(s) => {
                        set.insert(Arc::from(s.as_str()));
                    }
                    other => return Err(format!("an array containing {}", json_kind(other))),
                }
            }
            Value::StrSet(Arc::new(set))
        }
        (Type::SetInt, J::Array(items)) => {
            let mut set = BTreeSet::new();
            for i in items {
                match i.as_i64() {
                    Some(n) => {
                        set.insert(n);
                    }
                    None => return Err(format!("an array containing {}", json_kind(i))),
                }
            }
            Value::IntSet(Arc::new(set))
        }
        (Type::MapInt | Type::MapFloat | Type::MapString, J::Object(obj)) => {
            let elem = match ty {
                Type::MapInt => Type::Int,
                Type::MapFloat => Type::Float,
                _ => Type::String,
            };
            let mut map = BTreeMap::new();
            for (k, v) in obj {
                let v = from_json(v, elem)
                    .map_err(|f| format!("an object whose key `{k}` holds {f}"))?;
                map.insert(Arc::from(k.as_str()), v);
            }
            Value::Map(Arc::new(map))
        }
        _ => return Err(found()),
    })
}

/// A JSON value's kind, as error messages name it.
pub fn json_kind(j: &serde_json::Value) -> &'static str {
    use serde_json::Value as J;
    match j {
        J::Null => "null",
        J::Bool(_) => "bool",
        J::Number(n) if n.is_i64() || n.is_u64() => "int",
        J::Number(_) => "float",
        J::String(_) => "string",
        J::Array(_) => "array",
        J::Object(_) => "object",
    }
}
