//! Scripts in rhai (§8): compiled once when the package loads, called sandboxed.
//!
//! The sandbox: rhai is built without module support (`no_module`), so `import` is a
//! syntax error; rhai's standard library has no file, network or process access; `eval`
//! is disabled; `print` and `debug` go to the log. Every call runs under [`Limits`].

use std::path::Path;

use jiff::tz::TimeZone;
use rhai::{AST, Dynamic, Engine, EvalAltResult, Scope};
use tailor_lang::{Diagnostic, Diagnostics, SourceMap, Span};

use crate::ir::CScript;
use crate::package::Rejected;
use crate::script::{ScriptArg, ScriptHost};
use crate::value::{Ty, Value, format_duration, format_time, parse_duration};

/// Limits on every script call. Each has its own [`ScriptFailure`] variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// rhai operations per call: bounds the time a call can take (a runaway loop stops
    /// after this many steps; 100 000 is on the order of a few milliseconds).
    pub operations: u64,
    /// Nested function calls.
    pub call_depth: usize,
    /// Nesting of expressions in the script's source (checked when it is compiled).
    pub expr_depth: usize,
    /// Characters in any string a script builds.
    pub string_size: usize,
    /// Elements in any array a script builds.
    pub array_size: usize,
    /// Entries in any map a script builds.
    pub map_size: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            operations: 100_000,
            call_depth: 32,
            expr_depth: 64,
            string_size: 64 * 1024,
            array_size: 10_000,
            map_size: 10_000,
        }
    }
}

/// Why a script call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScriptFailure {
    #[error("ran past its budget of {0} operations")]
    TooManyOperations(u64),
    #[error("nested calls deeper than {0}")]
    CallTooDeep(usize),
    #[error("built a string longer than {0} characters")]
    StringTooLong(usize),
    #[error("built an array longer than {0} elements")]
    ArrayTooLarge(usize),
    #[error("built a map with more than {0} entries")]
    MapTooLarge(usize),
    #[error("returned {found} where the declaration says `{expected}`")]
    WrongType { expected: String, found: String },
    #[error("failed: {0}")]
    Runtime(String),
}

/// The rhai script host: one shared engine, one compiled AST per script.
#[derive(Debug)]
pub struct RhaiHost {
    engine: Engine,
    limits: Limits,
    /// Per script: its AST and, per declared function, its name.
    scripts: Vec<(AST, Vec<String>)>,
}

fn engine(limits: &Limits) -> Engine {
    let mut e = Engine::new();
    e.set_max_operations(limits.operations);
    e.set_max_call_levels(limits.call_depth);
    e.set_max_expr_depths(limits.expr_depth, limits.expr_depth);
    e.set_max_string_size(limits.string_size);
    e.set_max_array_size(limits.array_size);
    e.set_max_map_size(limits.map_size);
    e.disable_symbol("eval");
    e.on_print(|s| tracing::info!(target: "tailor::script", "{s}"));
    e.on_debug(|s, src, pos| tracing::debug!(target: "tailor::script", source = src.unwrap_or(""), line = pos.line().unwrap_or(0), "{s}"));
    e
}

impl RhaiHost {
    /// Compile every script of a package (paths relative to `dir`) and check that each
    /// declared function exists with the declared number of parameters.
    pub fn load(
        dir: &Path,
        scripts: &[CScript],
        sources: &SourceMap,
        limits: Limits,
    ) -> Result<RhaiHost, Rejected> {
        let texts: Vec<(String, String)> = scripts
            .iter()
            .map(|s| {
                let text = std::fs::read_to_string(dir.join(&s.path)).unwrap_or_default();
                (s.path.clone(), text)
            })
            .collect();
        RhaiHost::compile(&texts, scripts, sources, limits)
    }

    /// Compile scripts given as (path, text) in the order of `scripts`.
    pub fn compile(
        texts: &[(String, String)],
        scripts: &[CScript],
        sources: &SourceMap,
        limits: Limits,
    ) -> Result<RhaiHost, Rejected> {
        let engine = engine(&limits);
        let mut sources = sources.clone();
        let mut diags = Diagnostics::new();
        let mut compiled = Vec::new();
        for (s, (path, text)) in scripts.iter().zip(texts) {
            let file = sources.add(path.clone(), text.as_str());
            match engine.compile(text) {
                Ok(ast) => {
                    for f in &s.fns {
                        let found: Vec<usize> = ast
                            .iter_functions()
                            .filter(|m| m.name == f.name)
                            .map(|m| m.params.len())
                            .collect();
                        if found.is_empty() {
                            diags.push(
                                Diagnostic::error(
                                    "tailor::script_fn_missing",
                                    format!("`{}` defines no function `{}`", s.path, f.name),
                                )
                                .at(f.span, "declared here")
                                .help(format!(
                                    "define `fn {}(…) {{ … }}` in `{}`, or remove the declaration",
                                    f.name, s.path
                                )),
                            );
                        } else if !found.contains(&f.params.len()) {
                            diags.push(
                                Diagnostic::error(
                                    "tailor::script_fn_arity",
                                    format!("`{}` defines `{}` with {} parameter(s), but it is declared with {}", s.path, f.name, found.first().copied().unwrap_or(0), f.params.len()),
                                )
                                .at(f.span, "declared here")
                                .help("make the declaration and the rhai function take the same parameters"),
                            );
                        }
                    }
                    compiled.push((ast, s.fns.iter().map(|f| f.name.clone()).collect()));
                }
                Err(e) => {
                    let (line, col) = (e.1.line().unwrap_or(1), e.1.position().unwrap_or(1));
                    let src = sources.get(file);
                    let start = src.and_then(|s| s.line_start(line)).unwrap_or(0);
                    let line_text = text
                        .get(start..)
                        .and_then(|t| t.lines().next())
                        .unwrap_or("");
                    let offset: usize = line_text
                        .chars()
                        .take(col.saturating_sub(1))
                        .map(char::len_utf8)
                        .sum();
                    let begin = start + offset;
                    let end = (begin + 1).min(text.len()).max(begin);
                    diags.push(
                        Diagnostic::error(
                            "tailor::script_syntax",
                            format!("syntax error in script `{}`: {}", s.path, e.0),
                        )
                        .at(Span::new(file, begin, end), e.0.to_string())
                        .help(if text.contains("import") {
                            "scripts cannot import modules: they run sandboxed"
                        } else {
                            "see the rhai book for the language"
                        }),
                    );
                }
            }
        }
        if diags.has_errors() {
            return Err(Rejected {
                sources,
                diagnostics: diags,
            });
        }
        Ok(RhaiHost {
            engine,
            limits,
            scripts: compiled,
        })
    }

    fn failure(&self, e: &EvalAltResult) -> ScriptFailure {
        match e {
            EvalAltResult::ErrorTooManyOperations(_) => {
                ScriptFailure::TooManyOperations(self.limits.operations)
            }
            EvalAltResult::ErrorStackOverflow(_) => {
                ScriptFailure::CallTooDeep(self.limits.call_depth)
            }
            EvalAltResult::ErrorDataTooLarge(what, _) => {
                let w = what.to_lowercase();
                if w.contains("string") {
                    ScriptFailure::StringTooLong(self.limits.string_size)
                } else if w.contains("array") {
                    ScriptFailure::ArrayTooLarge(self.limits.array_size)
                } else {
                    ScriptFailure::MapTooLarge(self.limits.map_size)
                }
            }
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => self.failure(inner),
            other => ScriptFailure::Runtime(other.to_string()),
        }
    }
}

impl ScriptHost for RhaiHost {
    fn call(
        &self,
        script: usize,
        func: usize,
        ret: Ty,
        args: &[ScriptArg<'_>],
        tz: &TimeZone,
    ) -> Result<Value, String> {
        let (ast, names) = self.scripts.get(script).ok_or("unknown script")?;
        let name = names.get(func).ok_or("unknown function")?;
        let args: Vec<Dynamic> = args.iter().map(|a| to_dynamic(a, tz)).collect();
        let mut scope = Scope::new();
        let options = rhai::CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(true);
        let result: Dynamic = self
            .engine
            .call_fn_with_options(options, &mut scope, ast, name, args)
            .map_err(|e| self.failure(&e).to_string())?;
        from_dynamic(result, ret).map_err(|e| e.to_string())
    }
}

fn json_to_dynamic(j: &serde_json::Value) -> Dynamic {
    use serde_json::Value as J;
    match j {
        J::Null => Dynamic::UNIT,
        J::Bool(b) => Dynamic::from_bool(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => Dynamic::from(s.clone()),
        J::Array(a) => Dynamic::from_array(a.iter().map(json_to_dynamic).collect()),
        J::Object(o) => Dynamic::from_map(object_to_map(o)),
    }
}

/// Missing (null) fields are absent from the map.
fn object_to_map(o: &serde_json::Map<String, serde_json::Value>) -> rhai::Map {
    o.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
        .collect()
}

fn value_to_dynamic(v: &Value, tz: &TimeZone) -> Dynamic {
    match v {
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Int(i) => Dynamic::from_int(*i),
        Value::Float(f) => Dynamic::from_float(*f),
        Value::Str(s) => Dynamic::from(s.to_string()),
        Value::Time(t) => Dynamic::from(format_time(*t, tz)),
        Value::Duration(d) => Dynamic::from(format_duration(*d)),
        Value::StrSet(s) => {
            Dynamic::from_array(s.iter().map(|x| Dynamic::from(x.to_string())).collect())
        }
        Value::IntSet(s) => Dynamic::from_array(s.iter().map(|x| Dynamic::from_int(*x)).collect()),
        Value::List(l) => Dynamic::from_array(l.iter().map(|x| value_to_dynamic(x, tz)).collect()),
        Value::Map(m) => Dynamic::from_map(
            m.iter()
                .map(|(k, v)| (k.as_ref().into(), value_to_dynamic(v, tz)))
                .collect(),
        ),
    }
}

fn to_dynamic(a: &ScriptArg<'_>, tz: &TimeZone) -> Dynamic {
    match a {
        ScriptArg::Value(v) => value_to_dynamic(v, tz),
        ScriptArg::Missing => Dynamic::UNIT,
        ScriptArg::Profile(p) => Dynamic::from_map(object_to_map(&p.raw)),
        ScriptArg::Block(b) => Dynamic::from_map(object_to_map(&b.raw)),
        ScriptArg::Event(e) => {
            let mut m = rhai::Map::new();
            m.insert("kind".into(), Dynamic::from(e.kind.name().to_owned()));
            m.insert("at".into(), Dynamic::from(format_time(e.at, tz)));
            for (k, v) in [("text", &e.text), ("key", &e.key), ("url", &e.url)] {
                if let Some(v) = v {
                    m.insert(k.into(), Dynamic::from(v.clone()));
                }
            }
            for (k, v) in [("lat", e.lat), ("lon", e.lon), ("precision", e.precision)] {
                if let Some(v) = v {
                    m.insert(k.into(), Dynamic::from_float(v));
                }
            }
            Dynamic::from_map(m)
        }
    }
}

/// Convert a script's result by the declared type.
fn from_dynamic(d: Dynamic, ret: Ty) -> Result<Value, ScriptFailure> {
    let found = d.type_name().to_owned();
    let wrong = || ScriptFailure::WrongType {
        expected: ret.name().to_owned(),
        found: found.clone(),
    };
    Ok(match ret {
        Ty::Bool => Value::Bool(d.as_bool().map_err(|_| wrong())?),
        Ty::Int => Value::Int(d.as_int().map_err(|_| wrong())?),
        Ty::Float => match d.as_float() {
            Ok(f) if f.is_finite() => Value::Float(f),
            Ok(_) => return Err(wrong()),
            Err(_) => Value::Float(d.as_int().map_err(|_| wrong())? as f64),
        },
        Ty::String => Value::str(&d.into_immutable_string().map_err(|_| wrong())?),
        Ty::Time => {
            let s = d.into_immutable_string().map_err(|_| wrong())?;
            Value::Time(s.parse().map_err(|_| wrong())?)
        }
        Ty::Duration => {
            let s = d.into_immutable_string().map_err(|_| wrong())?;
            Value::Duration(parse_duration(&s).ok_or_else(wrong)?)
        }
        Ty::SetString | Ty::SetInt => {
            let arr = d.into_array().map_err(|_| wrong())?;
            let j = serde_json::Value::Array(
                arr.into_iter()
                    .map(|x| {
                        if ret == Ty::SetInt {
                            x.as_int().map(serde_json::Value::from).map_err(|_| wrong())
                        } else {
                            x.into_immutable_string()
                                .map(|s| serde_json::Value::from(s.as_str()))
                                .map_err(|_| wrong())
                        }
                    })
                    .collect::<Result<_, _>>()?,
            );
            let ty = if ret == Ty::SetInt {
                tailor_lang::ast::Type::SetInt
            } else {
                tailor_lang::ast::Type::SetString
            };
            crate::value::from_json(&j, ty).map_err(|_| wrong())?
        }
        Ty::MapInt | Ty::MapFloat | Ty::MapString => {
            let map = d.try_cast::<rhai::Map>().ok_or_else(wrong)?;
            let elem = match ret {
                Ty::MapInt => Ty::Int,
                Ty::MapFloat => Ty::Float,
                _ => Ty::String,
            };
            let mut out = std::collections::BTreeMap::new();
            for (k, v) in map {
                out.insert(std::sync::Arc::from(k.as_str()), from_dynamic(v, elem)?);
            }
            Value::Map(std::sync::Arc::new(out))
        }
        _ => return Err(wrong()),
    })
}
