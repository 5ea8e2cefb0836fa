//! The rhai peer: each rule's `when` as one rhai expression over the profile as a rhai
//! map `p` — sets as arrays, nested fields as nested maps, `map<…>` fields as maps — the
//! way a team would hand-build this with rhai alone. Every expression is compiled once;
//! per event the map is built once and every expression evaluated with it in scope.
//!
//! Two flavours: [`Flavour::Plain`] as described above, and [`Flavour::Tuned`], what a
//! team would do next for speed — sets of strings as maps with the elements as keys (`contains` is
//! then a key lookup, not a scan calling `==` per element) and `x in ["a", "b"]` as
//! `x == "a" || x == "b"` (no array built per evaluation).
//!
//! Missing values follow language.md §7: a comparison with a missing operand is false, `not` of it is
//! true. Rhai already answers `false` for `()` compared with a value of another type, so
//! `==`, `<`, `<=`, `>`, `>=` need a guard only when both sides may be missing; `!=`,
//! membership and `intersects` are guarded (`"reads" in p && …`, `… != ()`).

use rhai::{AST, Array, Dynamic, Engine, ImmutableString, Map, Scope};
use tailor_engine::ir::CExpr;
use tailor_engine::{Package, Profile, Value};
use tailor_lang::ast::{BinaryOp, Type};

use super::unsupported;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Sets as arrays, list membership with `in`.
    Plain,
    /// Sets as maps keyed by element, list membership as `==` chains.
    Tuned,
}

pub struct RhaiPeer {
    engine: Engine,
    flavour: Flavour,
    /// (rule index, compiled `when`), for the rules that answer the event kind.
    rules: Vec<(usize, AST)>,
    /// The path of each profile slot, `["family", "child", "age"]`.
    paths: Vec<Vec<String>>,
    /// The expression text of each rule, for messages.
    pub sources: Vec<String>,
}

/// A translated value: its code, and the test that it is present when it may be missing.
struct Val {
    code: String,
    present: Option<String>,
    /// A set or list: ordered comparisons and equality do not translate.
    collection: bool,
}

struct Translator<'a> {
    pkg: &'a Package,
    flavour: Flavour,
}

impl Translator<'_> {
    fn value(&self, e: &CExpr) -> Val {
        match e {
            CExpr::Const(v) => Val {
                code: literal(v),
                present: None,
                collection: matches!(v, Value::List(_) | Value::StrSet(_) | Value::IntSet(_)),
            },
            CExpr::Profile(slot) => {
                let field = self
                    .pkg
                    .compiled()
                    .profile
                    .field(*slot)
                    .unwrap_or_else(|| unsupported(e));
                let collection = matches!(field.ty, Type::SetString | Type::SetInt);
                match field.path.as_slice() {
                    [name] => Val {
                        code: format!("p.{name}"),
                        present: Some(format!("(\"{name}\" in p)")),
                        collection,
                    },
                    path => {
                        let code = format!("p.{}", path.join("?."));
                        Val {
                            present: Some(format!("({code} != ())")),
                            code,
                            collection,
                        }
                    }
                }
            }
            CExpr::Index(map, key) => {
                let (map, key) = (self.value(map), self.value(key));
                if key.present.is_some() {
                    unsupported(e);
                }
                let code = if map.present.is_some() {
                    format!("{}?[{}]", map.code, key.code)
                } else {
                    format!("{}[{}]", map.code, key.code)
                };
                Val {
                    present: Some(format!("({code} != ())")),
                    code,
                    collection: false,
                }
            }
            _ => unsupported(e),
        }
    }

    /// A condition: a rhai expression that is `true` exactly when the condition holds.
    fn cond(&self, e: &CExpr) -> String {
        match e {
            CExpr::And(a, b) => format!("({} && {})", self.cond(a), self.cond(b)),
            CExpr::Or(a, b) => format!("({} || {})", self.cond(a), self.cond(b)),
            CExpr::Not(a) => format!("!{}", self.cond(a)),
            CExpr::Segment(i) => match self.pkg.compiled().segments.get(*i) {
                Some(s) => self.cond(&s.expr),
                None => unsupported(e),
            },
            CExpr::Const(Value::Bool(b)) => b.to_string(),
            CExpr::Exists(a) => self.value(a).present.unwrap_or_else(|| "true".into()),
            CExpr::Binary(op, a, b) => self.binary(*op, a, b, e),
            CExpr::Profile(_) | CExpr::Index(..) => format!("({} == true)", self.value(e).code),
            _ => unsupported(e),
        }
    }

    fn binary(&self, op: BinaryOp, a: &CExpr, b: &CExpr, e: &CExpr) -> String {
        use BinaryOp::*;
        let (x, y) = (self.value(a), self.value(b));
        let (test, guarded): (String, Vec<&Val>) = match op {
            Eq | Ne | Lt | Le | Gt | Ge => {
                if x.collection || y.collection {
                    unsupported(e);
                }
                let sym = match op {
                    Eq => "==",
                    Ne => "!=",
                    Lt => "<",
                    Le => "<=",
                    Gt => ">",
                    _ => ">=",
                };
                let test = format!("{} {sym} {}", x.code, y.code);
                // `()` against a value of another type is `false` for all but `!=`.
                let both = x.present.is_some() && y.present.is_some();
                (
                    test,
                    if op == Ne || both {
                        vec![&x, &y]
                    } else {
                        vec![]
                    },
                )
            }
            In | NotIn => {
                let test = match b {
                    // `x in [...]`: an absent `x` is in no list.
                    CExpr::Const(Value::List(l)) if self.flavour == Flavour::Tuned => {
                        let any: Vec<String> = l
                            .iter()
                            .map(|v| format!("{} == {}", x.code, literal(v)))
                            .collect();
                        if any.is_empty() {
                            "false".to_owned()
                        } else {
                            format!("({})", any.join(" || "))
                        }
                    }
                    CExpr::Const(Value::List(_)) => format!("{} in {}", x.code, y.code),
                    _ => format!("{}.contains({})", y.code, x.code),
                };
                let test = if op == NotIn {
                    format!("!({test})")
                } else {
                    test
                };
                let list = matches!(b, CExpr::Const(Value::List(_)));
                (
                    test,
                    if op == In && list {
                        vec![]
                    } else {
                        vec![&x, &y]
                    },
                )
            }
            Intersects => {
                let (set, list) = match (a, b) {
                    (_, CExpr::Const(Value::List(l))) if x.collection => (&x, l),
                    (CExpr::Const(Value::List(l)), _) if y.collection => (&y, l),
                    _ => unsupported(e),
                };
                let any: Vec<String> = list
                    .iter()
                    .map(|v| format!("{}.contains({})", set.code, literal(v)))
                    .collect();
                let test = if any.is_empty() {
                    "false".to_owned()
                } else {
                    format!("({})", any.join(" || "))
                };
                (test, vec![set])
            }
            _ => unsupported(e),
        };
        let mut parts: Vec<&str> = guarded
            .iter()
            .filter_map(|v| v.present.as_deref())
            .collect();
        parts.push(&test);
        format!("({})", parts.join(" && "))
    }
}

/// A rhai literal for a constant.
fn literal(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => format!("{f:?}"),
        Value::Str(s) => {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", items.join(", "))
        }
        other => panic!("peer translation: unsupported constant {other:?}"),
    }
}

/// A profile value as rhai sees it.
fn dynamic(v: &Value, flavour: Flavour) -> Dynamic {
    match v {
        // Map keys are strings: sets of ints stay arrays.
        Value::StrSet(s) if flavour == Flavour::Tuned => Dynamic::from_map(
            s.iter()
                .map(|x| ((&**x).into(), Dynamic::UNIT))
                .collect::<Map>(),
        ),
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Int(i) => Dynamic::from_int(*i),
        Value::Float(f) => Dynamic::from_float(*f),
        Value::Str(s) => Dynamic::from(ImmutableString::from(&**s)),
        Value::StrSet(s) => Dynamic::from_array(
            s.iter()
                .map(|x| Dynamic::from(ImmutableString::from(&**x)))
                .collect::<Array>(),
        ),
        Value::IntSet(s) => {
            Dynamic::from_array(s.iter().map(|x| Dynamic::from_int(*x)).collect::<Array>())
        }
        Value::Map(m) => Dynamic::from_map(
            m.iter()
                .map(|(k, v)| ((&**k).into(), dynamic(v, flavour)))
                .collect::<Map>(),
        ),
        other => panic!("peer translation: unsupported profile value {other:?}"),
    }
}

fn insert(map: &mut Map, path: &[String], v: Dynamic) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.as_str().into(), v);
        }
        [head, rest @ ..] => {
            let inner = map
                .entry(head.as_str().into())
                .or_insert_with(|| Dynamic::from_map(Map::new()));
            let mut inner = inner
                .write_lock::<Map>()
                .expect("a record field nested below a value");
            insert(&mut inner, rest, v);
        }
    }
}

/// The profile as a rhai map: missing fields are absent.
fn profile_map(paths: &[Vec<String>], profile: &Profile, flavour: Flavour) -> Map {
    let mut map = Map::new();
    for (slot, path) in paths.iter().enumerate() {
        if let Some(v) = profile.get(slot) {
            insert(&mut map, path, dynamic(v, flavour));
        }
    }
    map
}

impl RhaiPeer {
    /// Translate and compile the `when` of every rule in `rules` (indexes into
    /// `pkg.compiled().rules`).
    pub fn new(pkg: &Package, rules: &[usize], flavour: Flavour) -> RhaiPeer {
        let engine = Engine::new();
        let tr = Translator { pkg, flavour };
        let mut compiled = Vec::with_capacity(rules.len());
        let mut sources = Vec::with_capacity(rules.len());
        for &i in rules {
            let rule = &pkg.compiled().rules[i];
            let src = rule.when.as_ref().map_or("true".into(), |w| tr.cond(w));
            let ast = engine
                .compile_expression(&src)
                .unwrap_or_else(|e| panic!("rhai rejects rule `{}`: {e}\n{src}", rule.name));
            compiled.push((i, ast));
            sources.push(src);
        }
        let paths = pkg
            .compiled()
            .profile
            .fields
            .iter()
            .map(|f| f.path.clone())
            .collect();
        RhaiPeer {
            engine,
            flavour,
            rules: compiled,
            paths,
            sources,
        }
    }

    /// The indexes of the rules whose condition holds, in rule order.
    pub fn matching_rules(&self, profile: &Profile) -> Vec<usize> {
        let mut scope = Scope::new();
        scope.push("p", profile_map(&self.paths, profile, self.flavour));
        self.rules
            .iter()
            .zip(&self.sources)
            .filter(|((_, ast), src)| {
                self.engine
                    .eval_ast_with_scope::<bool>(&mut scope, ast)
                    .unwrap_or_else(|e| panic!("rhai fails on `{src}`: {e}"))
            })
            .map(|((i, _), _)| *i)
            .collect()
    }
}
