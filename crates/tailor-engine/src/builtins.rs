//! The built-in functions of language.md §7.5, as one table: each entry declares a
//! function's name, parameter kinds, return type, the line of documentation the language
//! reference shows for it and its evaluation, in the manner of cedar-policy's extension
//! functions (a name, argument types, a return type and the function in one value) and
//! regorus's builtins registry (one map from name to implementation).
//!
//! Everything else reads the table: the checker (`check/expr.rs`: name lookup, arity,
//! argument types, the return type), the evaluator (`eval.rs` calls [`Builtin::eval`]),
//! the reference (`docs/language.md` language.md §7.5 holds [`markdown_table`]'s output, checked by
//! `crates/tailor-engine/tests/language_doc.rs`) and the editor grammar
//! (`tests/editor_grammar.rs` checks the highlighted names are [`BUILTINS`]' names).
//!
//! Adding a built-in is one entry in [`BUILTINS`] plus its test (a unit test below, or a
//! corpus case); then regenerate the language.md §7.5 table (the language_doc test prints it) and add
//! the name to `editors/vscode/syntaxes/tailor.tmLanguage.json`.

use jiff::{SignedDuration, Timestamp};
use sha2::{Digest, Sha256};

use crate::value::{Ty, Value};

/// What an argument of a built-in accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// A `string`.
    Str,
    /// A `time`.
    Time,
    /// Anything with a length: a set, a list, a string or a map.
    Collection,
}

impl Param {
    /// Whether an argument of type `t` is accepted (`Ty::Any`, an unknown type after an
    /// earlier error, always is).
    pub fn accepts(self, t: Ty) -> bool {
        match self {
            Param::Str => t.fits(Ty::String),
            Param::Time => t.fits(Ty::Time),
            Param::Collection => matches!(
                t,
                Ty::SetString
                    | Ty::SetInt
                    | Ty::ListString
                    | Ty::ListInt
                    | Ty::ListFloat
                    | Ty::ListEmpty
                    | Ty::String
                    | Ty::MapInt
                    | Ty::MapFloat
                    | Ty::MapString
                    | Ty::Any
            ),
        }
    }

    /// How the parameter is written in a signature: `string`, `time`,
    /// `set|list|string|map`.
    pub fn name(self) -> &'static str {
        match self {
            Param::Str => "string",
            Param::Time => "time",
            Param::Collection => "set|list|string|map",
        }
    }

    /// How a type mismatch describes what was expected.
    pub fn expected(self) -> &'static str {
        match self {
            Param::Str => "`string`",
            Param::Time => "`time`",
            Param::Collection => "a set, list, string or map",
        }
    }
}

/// What a built-in's evaluation may read besides its arguments.
#[derive(Debug, Clone, Copy)]
pub struct Env<'a> {
    /// The event's time (`now`).
    pub now: Timestamp,
    /// The edition's zone.
    pub tz: &'a jiff::tz::TimeZone,
}

/// One built-in function: everything the checker, the evaluator and the documents need.
#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub params: &'static [Param],
    pub ret: Ty,
    /// The "gives" column of language.md §7.5 (Markdown).
    pub doc: &'static str,
    /// The evaluation, on present arguments that the checker has typed as `params`
    /// (a missing argument makes the call missing before this is reached). `None` is a
    /// missing result.
    pub eval: fn(&[Value], Env<'_>) -> Option<Value>,
}

/// The built-in functions, in the order the reference lists them.
pub static BUILTINS: &[Def] = &[
    Def {
        name: "len",
        params: &[Param::Collection],
        ret: Ty::Int,
        doc: "elements of a set or list, characters (code points) of a string, entries of a map",
        eval: |args, _| {
            let n = match args {
                [Value::StrSet(s)] => s.len(),
                [Value::IntSet(s)] => s.len(),
                [Value::List(l)] => l.len(),
                [Value::Map(m)] => m.len(),
                [Value::Str(s)] => s.chars().count(),
                _ => return None,
            };
            Some(Value::Int(n as i64))
        },
    },
    Def {
        name: "lower",
        params: &[Param::Str],
        ret: Ty::String,
        doc: "the string in lower case, Unicode-aware",
        eval: |args, _| match args {
            [Value::Str(s)] => Some(Value::str(&s.to_lowercase())),
            _ => None,
        },
    },
    Def {
        name: "upper",
        params: &[Param::Str],
        ret: Ty::String,
        doc: "the string in upper case, Unicode-aware",
        eval: |args, _| match args {
            [Value::Str(s)] => Some(Value::str(&s.to_uppercase())),
            _ => None,
        },
    },
    Def {
        name: "contains",
        params: &[Param::Str, Param::Str],
        ret: Ty::Bool,
        doc: "whether the first string contains the second",
        eval: |args, _| match args {
            [Value::Str(s), Value::Str(x)] => Some(Value::Bool(s.contains(x.as_ref()))),
            _ => None,
        },
    },
    Def {
        name: "starts_with",
        params: &[Param::Str, Param::Str],
        ret: Ty::Bool,
        doc: "whether the first string starts with the second",
        eval: |args, _| match args {
            [Value::Str(s), Value::Str(x)] => Some(Value::Bool(s.starts_with(x.as_ref()))),
            _ => None,
        },
    },
    Def {
        name: "ends_with",
        params: &[Param::Str, Param::Str],
        ret: Ty::Bool,
        doc: "whether the first string ends with the second",
        eval: |args, _| match args {
            [Value::Str(s), Value::Str(x)] => Some(Value::Bool(s.ends_with(x.as_ref()))),
            _ => None,
        },
    },
    Def {
        name: "hour",
        params: &[Param::Time],
        ret: Ty::Int,
        doc: "0–23: the hour of the time in the edition's zone",
        eval: |args, env| match args {
            [Value::Time(t)] => Some(Value::Int(i64::from(t.to_zoned(env.tz.clone()).hour()))),
            _ => None,
        },
    },
    Def {
        name: "weekday",
        params: &[Param::Time],
        ret: Ty::Int,
        doc: "1 (Monday) – 7 (Sunday), in the edition's zone",
        eval: |args, env| match args {
            [Value::Time(t)] => Some(Value::Int(i64::from(
                t.to_zoned(env.tz.clone()).weekday().to_monday_one_offset(),
            ))),
            _ => None,
        },
    },
    Def {
        name: "days_since",
        params: &[Param::Time],
        ret: Ty::Int,
        doc: "whole 24-hour days from the time to `now`, truncated toward zero (negative for the future)",
        eval: |args, env| match args {
            [Value::Time(t)] => Some(Value::Int(whole_units_since(*t, env.now, 86_400))),
            _ => None,
        },
    },
    Def {
        name: "hours_since",
        params: &[Param::Time],
        ret: Ty::Int,
        doc: "whole hours from the time to `now`, truncated toward zero (negative for the future)",
        eval: |args, env| match args {
            [Value::Time(t)] => Some(Value::Int(whole_units_since(*t, env.now, 3_600))),
            _ => None,
        },
    },
    Def {
        name: "bucket",
        params: &[Param::Str, Param::Str],
        ret: Ty::Int,
        doc: "0–99, stable across runs, versions and machines: the first 8 bytes of SHA-256 of `salt + \":\" + s` (UTF-8) for `bucket(s, salt)`, as a big-endian unsigned integer, modulo 100",
        eval: |args, _| match args {
            [Value::Str(s), Value::Str(salt)] => Some(Value::Int(bucket(s, salt))),
            _ => None,
        },
    },
];

fn whole_units_since(t: Timestamp, now: Timestamp, unit_secs: i64) -> i64 {
    let d: SignedDuration = now.duration_since(t);
    d.as_secs() / unit_secs
}

/// `bucket(s, salt)`: the first 8 bytes of SHA-256 of `salt + ":" + s`, big-endian, mod 100.
pub fn bucket(s: &str, salt: &str) -> i64 {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(s.as_bytes());
    let digest = h.finalize();
    let mut first = [0u8; 8];
    for (dst, src) in first.iter_mut().zip(digest.iter()) {
        *dst = *src;
    }
    (u64::from_be_bytes(first) % 100) as i64
}

/// A built-in function of the compiled form: a reference to its entry in [`BUILTINS`].
/// Equal when the names are (the table has each name once: a unit test checks it).
#[derive(Clone, Copy)]
pub struct Builtin(&'static Def);

impl Builtin {
    /// The built-in called `name`.
    pub fn parse(name: &str) -> Option<Builtin> {
        BUILTINS.iter().find(|d| d.name == name).map(Builtin)
    }

    /// Every built-in, in the table's order.
    pub fn all() -> impl Iterator<Item = Builtin> {
        BUILTINS.iter().map(Builtin)
    }

    /// Every built-in's name, in the table's order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILTINS.iter().map(|d| d.name)
    }

    pub fn def(self) -> &'static Def {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name
    }

    pub fn params(self) -> &'static [Param] {
        self.0.params
    }

    pub fn ret(self) -> Ty {
        self.0.ret
    }

    /// `name(param, …) -> ret`, as diagnostics and the reference show it.
    pub fn signature(self) -> String {
        let params: Vec<&str> = self.0.params.iter().map(|p| p.name()).collect();
        format!("{}({}) -> {}", self.0.name, params.join(", "), self.0.ret)
    }

    /// The call on present arguments (`None`: a missing result).
    pub fn eval(self, args: &[Value], env: Env<'_>) -> Option<Value> {
        (self.0.eval)(args, env)
    }
}

impl PartialEq for Builtin {
    fn eq(&self, other: &Builtin) -> bool {
        self.0.name == other.0.name
    }
}

impl Eq for Builtin {}

impl std::hash::Hash for Builtin {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.name.hash(state);
    }
}

impl std::fmt::Debug for Builtin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Builtin({})", self.0.name)
    }
}

/// The table of language.md §7.5, generated from [`BUILTINS`]: one row per built-in,
/// its signature and what it gives (a `|` in a cell escaped, as GitHub's tables need).
pub fn markdown_table() -> String {
    let mut out = String::from("| signature | gives |\n|---|---|\n");
    for b in Builtin::all() {
        let signature = b.signature().replace('|', "\\|");
        out.push_str(&format!("| `{signature}` | {} |\n", b.def().doc));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(name: &str, args: &[Value]) -> Option<Value> {
        let tz = jiff::tz::TimeZone::get("Asia/Shanghai").unwrap();
        let now: Timestamp = "2024-05-08T12:30:00Z".parse().unwrap();
        Builtin::parse(name)
            .unwrap()
            .eval(args, Env { now, tz: &tz })
    }

    fn time(s: &str) -> Value {
        Value::Time(s.parse().unwrap())
    }

    #[test]
    fn names_are_unique_and_signatures_read_as_documented() {
        let mut names: Vec<&str> = Builtin::names().collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n, "a name declared twice");
        assert_eq!(
            Builtin::parse("len").unwrap().signature(),
            "len(set|list|string|map) -> int"
        );
        assert_eq!(
            Builtin::parse("bucket").unwrap().signature(),
            "bucket(string, string) -> int"
        );
        assert!(Builtin::parse("nope").is_none());
    }

    #[test]
    fn bucket_is_sha256_based_and_stable() {
        // Expected values computed independently:
        // printf 'exp1:li-daye' | sha256sum | cut -c1-16, read as a u64, mod 100.
        assert_eq!(bucket("li-daye", "exp1"), 52);
        assert_eq!(bucket("user-1", "exp1"), 55);
        assert_eq!(
            call("bucket", &[Value::str("li-daye"), Value::str("exp1")]),
            Some(Value::Int(52))
        );
    }

    #[test]
    fn each_builtin_evaluates_as_documented() {
        let s = Value::str;
        assert_eq!(call("len", &[s("杭州市")]), Some(Value::Int(3)));
        assert_eq!(call("lower", &[s("ÀB")]), Some(s("àb")));
        assert_eq!(call("upper", &[s("àb")]), Some(s("ÀB")));
        assert_eq!(
            call("contains", &[s("abc"), s("b")]),
            Some(Value::Bool(true))
        );
        assert_eq!(
            call("starts_with", &[s("abc"), s("b")]),
            Some(Value::Bool(false))
        );
        assert_eq!(
            call("ends_with", &[s("abc"), s("bc")]),
            Some(Value::Bool(true))
        );
        // 2024-05-08T12:30Z is 20:30 on a Wednesday in Shanghai.
        assert_eq!(
            call("hour", &[time("2024-05-08T12:30:00Z")]),
            Some(Value::Int(20))
        );
        assert_eq!(
            call("weekday", &[time("2024-05-08T12:30:00Z")]),
            Some(Value::Int(3))
        );
        assert_eq!(
            call("days_since", &[time("2024-05-06T13:00:00Z")]),
            Some(Value::Int(1))
        );
        assert_eq!(
            call("hours_since", &[time("2024-05-08T14:00:00Z")]),
            Some(Value::Int(-1))
        );
        // A value of a kind the checker would have refused is a missing result, not a panic.
        assert_eq!(call("len", &[Value::Int(3)]), None);
    }
}
