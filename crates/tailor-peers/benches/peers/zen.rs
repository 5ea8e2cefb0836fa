//! The zen-engine peer: one JDM decision holding one decision table, hit policy
//! `collect`, with an input column per profile field and one row per conjunction of each
//! rule's `when` in disjunctive normal form (a rule with `or` gives several rows with the
//! same output), the output column being the rule's index. The decision is built and
//! compiled once (expressions to bytecode, the table's column index) and evaluated per
//! event with the profile as JSON input; the collected outputs are deduplicated.
//!
//! Each cell holds one test, in zen's unary form where one exists (`"city0042"`,
//! `"a", "b"`, `>= 30`, `"topic001" in $`) so that zen's own column index can serve the
//! equality columns. Missing values follow language.md §7: zen answers `false` (or fails the cell,
//! which counts as not matching) when a positive test meets `null`, so only `!=` and
//! `not in` are guarded (`$ != null and …`); a negated test is `$ == null or not (…)`.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use serde_json::{Value as J, json};
use tailor_engine::ir::CExpr;
use tailor_engine::{Package, Profile, Value};
use tailor_lang::ast::{BinaryOp, Type};
use zen_engine::model::{DecisionContent, GraphContent};
use zen_engine::{Decision, DecisionEngine, Variable};

use super::unsupported;

/// A rule whose normal form has more conjunctions than this is not translated.
const MAX_ROWS_PER_RULE: usize = 256;

pub struct ZenPeer {
    decision: Decision,
    paths: Vec<Vec<String>>,
    tz: jiff::tz::TimeZone,
    pub rows: usize,
    pub columns: usize,
}

/// A literal of the normal form: an atomic condition, maybe negated.
#[derive(Clone, Copy)]
struct Lit<'a> {
    atom: &'a CExpr,
    neg: bool,
}

/// What a cell tests: a profile field (the column's `field`), seen in the cell as `code`
/// (`$`, or `$["key"]` for a map entry); `chain` lists what may be `null`, outermost first.
struct Subject {
    field: String,
    code: String,
    chain: Vec<String>,
    ty: Type,
}

/// One translated test: the subject, the test as a single comparison (no `and`/`or`, so
/// that it can stand under `not (…)`), zen's shorter unary form if any, and whether a
/// missing subject would make the test true (so the positive form needs a guard).
struct Test {
    subject: Subject,
    test: String,
    short: Option<String>,
    null_passes: bool,
}

struct Translator<'a> {
    pkg: &'a Package,
}

impl<'a> Translator<'a> {
    fn dnf(&self, e: &'a CExpr, neg: bool) -> Vec<Vec<Lit<'a>>> {
        match e {
            CExpr::Not(a) => self.dnf(a, !neg),
            CExpr::Segment(i) => match self.pkg.compiled().segments.get(*i) {
                Some(s) => self.dnf(&s.expr, neg),
                None => unsupported(e),
            },
            CExpr::And(a, b) | CExpr::Or(a, b) if matches!(e, CExpr::And(..)) != neg => {
                let (a, b) = (self.dnf(a, neg), self.dnf(b, neg));
                if a.len() * b.len() > MAX_ROWS_PER_RULE {
                    panic!("peer translation: condition too large for a decision table: {e:?}");
                }
                let mut out = Vec::with_capacity(a.len() * b.len());
                for x in &a {
                    for y in &b {
                        out.push(x.iter().chain(y).copied().collect());
                    }
                }
                out
            }
            CExpr::And(a, b) | CExpr::Or(a, b) => {
                let mut out = self.dnf(a, neg);
                out.extend(self.dnf(b, neg));
                out
            }
            CExpr::Const(Value::Bool(b)) if *b != neg => vec![vec![]],
            CExpr::Const(Value::Bool(_)) => vec![],
            _ => vec![vec![Lit { atom: e, neg }]],
        }
    }

    fn subject(&self, e: &CExpr) -> Option<Subject> {
        let schema = &self.pkg.compiled().profile;
        match e {
            CExpr::Profile(slot) => {
                let f = schema.field(*slot)?;
                Some(Subject {
                    field: f.dotted.clone(),
                    code: "$".into(),
                    chain: vec!["$".into()],
                    ty: f.ty,
                })
            }
            CExpr::Index(map, key) => {
                let (CExpr::Profile(slot), CExpr::Const(key)) = (&**map, &**key) else {
                    return None;
                };
                let f = schema.field(*slot)?;
                let ty = match f.ty {
                    Type::MapInt => Type::Int,
                    Type::MapFloat => Type::Float,
                    Type::MapString => Type::String,
                    _ => return None,
                };
                let code = format!("$[{}]", literal(key));
                Some(Subject {
                    field: f.dotted.clone(),
                    chain: vec!["$".into(), code.clone()],
                    code,
                    ty,
                })
            }
            _ => None,
        }
    }

    fn test(&self, e: &CExpr) -> Test {
        match e {
            CExpr::Profile(_) | CExpr::Index(..) => {
                let subject = self.subject(e).unwrap_or_else(|| unsupported(e));
                let short = (subject.code == "$").then(|| "true".to_owned());
                Test {
                    test: format!("{} == true", subject.code),
                    subject,
                    short,
                    null_passes: false,
                }
            }
            CExpr::Binary(op, a, b) => self.binary(*op, a, b, e),
            _ => unsupported(e),
        }
    }

    fn binary(&self, op: BinaryOp, a: &CExpr, b: &CExpr, e: &CExpr) -> Test {
        use BinaryOp::*;
        let (subject, constant, flipped) = match (self.subject(a), self.subject(b)) {
            (Some(s), None) => (s, b, false),
            (None, Some(s)) => (s, a, true),
            _ => unsupported(e),
        };
        let CExpr::Const(k) = constant else {
            unsupported(e)
        };
        let code = subject.code.clone();
        let collection = matches!(subject.ty, Type::SetString | Type::SetInt);
        let items = |k: &Value| -> Vec<String> {
            match k {
                Value::List(l) if !l.is_empty() => l.iter().map(literal).collect(),
                _ => unsupported(e),
            }
        };
        let (test, short, null_passes) = match op {
            Eq | Ne => {
                if collection || matches!(k, Value::List(_)) {
                    unsupported(e)
                }
                let lit = literal(k);
                let sym = if op == Eq { "==" } else { "!=" };
                let short = (op == Eq && code == "$").then(|| lit.clone());
                (format!("{code} {sym} {lit}"), short, op == Ne)
            }
            Lt | Le | Gt | Ge => {
                // zen orders numbers (and dates), not strings.
                if !matches!(k, Value::Int(_) | Value::Float(_)) || collection {
                    unsupported(e)
                }
                let op = if flipped {
                    match op {
                        Lt => Gt,
                        Le => Ge,
                        Gt => Lt,
                        _ => Le,
                    }
                } else {
                    op
                };
                let sym = match op {
                    Lt => "<",
                    Le => "<=",
                    Gt => ">",
                    _ => ">=",
                };
                let lit = literal(k);
                let short = (code == "$").then(|| format!("{sym} {lit}"));
                (format!("{code} {sym} {lit}"), short, false)
            }
            In | NotIn => {
                let test = if flipped {
                    // `"x" in profile.interests`, `"x" in profile.city`
                    match subject.ty {
                        Type::SetString | Type::SetInt => format!("{} in {code}", literal(k)),
                        Type::String => format!("contains({code}, {})", literal(k)),
                        _ => unsupported(e),
                    }
                } else {
                    // `profile.city in ["a", "b"]`
                    if collection {
                        unsupported(e)
                    }
                    format!("{code} in [{}]", items(k).join(", "))
                };
                if op == In {
                    let short = (!flipped && code == "$").then(|| items(k).join(", "));
                    (test, short, false)
                } else {
                    (format!("not ({test})"), None, true)
                }
            }
            Intersects => {
                if !collection {
                    unsupported(e)
                }
                let items = items(k);
                let short = items
                    .iter()
                    .map(|i| format!("{i} in {code}"))
                    .collect::<Vec<_>>()
                    .join(" or ");
                let test = format!("some({code}, # in [{}])", items.join(", "));
                (test, Some(short), false)
            }
            _ => unsupported(e),
        };
        Test {
            subject,
            test,
            short,
            null_passes,
        }
    }

    /// The cell for one literal: (column field, cell text).
    fn cell(&self, lit: Lit<'_>) -> (String, String) {
        if let CExpr::Exists(a) = lit.atom {
            let s = self.subject(a).unwrap_or_else(|| unsupported(lit.atom));
            let text = if lit.neg {
                s.chain
                    .iter()
                    .map(|c| format!("{c} == null"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            } else {
                s.chain
                    .iter()
                    .map(|c| format!("{c} != null"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            };
            return (s.field, text);
        }
        let t = self.test(lit.atom);
        let text = if lit.neg {
            let mut parts: Vec<String> = t
                .subject
                .chain
                .iter()
                .map(|c| format!("{c} == null"))
                .collect();
            parts.push(format!("not ({})", t.test));
            parts.join(" or ")
        } else if t.null_passes {
            let mut parts: Vec<String> = t
                .subject
                .chain
                .iter()
                .map(|c| format!("{c} != null"))
                .collect();
            parts.push(t.test);
            parts.join(" and ")
        } else {
            t.short.unwrap_or(t.test)
        };
        (t.subject.field, text)
    }
}

/// A zen literal for a constant.
fn literal(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_finite() => f.to_string(),
        Value::Str(s) if !s.contains(['"', '\\']) && !s.chars().any(char::is_control) => {
            format!("\"{s}\"")
        }
        Value::List(items) => {
            let items: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", items.join(", "))
        }
        other => panic!("peer translation: unsupported constant {other:?}"),
    }
}

/// Run a future that never waits on anything outside itself (a decision without
/// function nodes or loaders) to completion on this thread.
fn block_on<F: Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

impl ZenPeer {
    /// Translate the `when` of every rule in `rules` (indexes into `pkg.compiled().rules`)
    /// into rows of one decision table, and build and compile the decision.
    pub fn new(pkg: &Package, rules: &[usize]) -> ZenPeer {
        let tr = Translator { pkg };
        // Columns by (field, occurrence within a row): a row testing one field twice uses
        // two columns for it, so that every cell holds one test.
        let mut columns: Vec<(String, usize)> = Vec::new();
        let mut column_of: HashMap<(String, usize), usize> = HashMap::new();
        let mut rows: Vec<J> = Vec::new();
        let mut cells: Vec<String> = Vec::new();
        for &i in rules {
            let rule = &pkg.compiled().rules[i];
            let conjunctions = match &rule.when {
                None => vec![vec![]],
                Some(w) => tr.dnf(w, false),
            };
            for conj in conjunctions {
                let mut row = serde_json::Map::new();
                row.insert(
                    "_id".into(),
                    J::String(format!("{}/{}", rule.name, rows.len())),
                );
                row.insert("o".into(), J::String(i.to_string()));
                let mut seen: HashMap<String, usize> = HashMap::new();
                for lit in conj {
                    let (field, text) = tr.cell(lit);
                    let n = seen.entry(field.clone()).or_insert(0);
                    let key = (field, *n);
                    *n += 1;
                    let col = *column_of.entry(key.clone()).or_insert_with(|| {
                        columns.push(key);
                        columns.len() - 1
                    });
                    cells.push(text.clone());
                    row.insert(format!("c{col}"), J::String(text));
                }
                rows.push(J::Object(row));
            }
        }
        let inputs: Vec<J> = columns
            .iter()
            .enumerate()
            .map(|(c, (field, n))| json!({"id": format!("c{c}"), "name": format!("{field} #{n}"), "field": field}))
            .collect();
        let (n_rows, n_columns) = (rows.len(), columns.len());
        let graph = json!({
            "nodes": [
                {"id": "in", "name": "profile", "type": "inputNode", "content": {}},
                {"id": "dt", "name": "rules", "type": "decisionTableNode", "content": {
                    "hitPolicy": "collect",
                    "inputs": inputs,
                    "outputs": [{"id": "o", "name": "rule", "field": "rule"}],
                    "rules": rows,
                }},
                {"id": "out", "name": "out", "type": "outputNode", "content": {}}
            ],
            "edges": [
                {"id": "e1", "sourceId": "in", "targetId": "dt"},
                {"id": "e2", "sourceId": "dt", "targetId": "out"}
            ]
        });
        let mut content: GraphContent = serde_json::from_value(graph).expect("a JDM graph");
        // Expressions to bytecode and the table's column index, once.
        content.compile();
        let cache = content.compiled_cache.as_ref().expect("compiled");
        for text in &cells {
            assert!(
                cache.unary.contains_key(text.as_str()),
                "peer translation: zen does not compile the cell `{text}`"
            );
        }
        let decision = DecisionEngine::default()
            .create_decision(Arc::new(DecisionContent::Graph(Arc::new(content))))
            .expect("a graph decision");
        ZenPeer {
            decision,
            paths: pkg
                .compiled()
                .profile
                .fields
                .iter()
                .map(|f| f.path.clone())
                .collect(),
            tz: pkg.compiled().edition.timezone.clone(),
            rows: n_rows,
            columns: n_columns,
        }
    }

    /// The profile as the JSON input of the decision: missing fields are absent, dotted
    /// fields nested.
    pub fn profile_json(&self, profile: &Profile) -> J {
        let mut root = serde_json::Map::new();
        for (slot, path) in self.paths.iter().enumerate() {
            let Some(v) = profile.get(slot) else { continue };
            let Some((last, parents)) = path.split_last() else {
                continue;
            };
            let mut obj = &mut root;
            for p in parents {
                obj = obj
                    .entry(p.clone())
                    .or_insert_with(|| J::Object(serde_json::Map::new()))
                    .as_object_mut()
                    .expect("a record field nested below a value");
            }
            obj.insert(last.clone(), v.to_json(&self.tz));
        }
        J::Object(root)
    }

    /// The indexes of the rules with a matching row, sorted and deduplicated.
    pub fn matching_rules(&self, input: &J) -> Vec<usize> {
        let response = block_on(self.decision.evaluate(Variable::from(input)))
            .unwrap_or_else(|e| panic!("zen evaluation failed: {e}"));
        let mut out: Vec<usize> = match response.result.as_array() {
            Some(rows) => rows
                .borrow()
                .iter()
                .map(|row| {
                    let n = row
                        .dot("rule")
                        .and_then(|v| v.as_number())
                        .expect("a rule index");
                    usize::try_from(n.mantissa()).expect("a rule index") / 10usize.pow(n.scale())
                })
                .collect(),
            None => Vec::new(),
        };
        out.sort_unstable();
        out.dedup();
        out
    }
}
