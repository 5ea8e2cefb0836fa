//! Scripts in rhai (language.md §8): compiled once when the package loads, called sandboxed.
//!
//! The sandbox: rhai is built without module support (`no_module`), so `import` is a
//! syntax error, and without its clock (`no_time`), so a script cannot read the time
//! except as the event's `at`; rhai's standard library has no file, network or process
//! access; `eval` is disabled; `print` and `debug` go to the log (`tracing`, target
//! `tailor::script`). Every call runs under [`Limits`]; a script function sees only its
//! arguments (rhai functions cannot reach variables outside themselves), so calls do not
//! share state and the host is `Send + Sync`.
//!
//! Records reach rhai as object maps holding the fields the schema declares (dotted
//! fields as nested maps), converted from their typed values: sets as arrays, times as
//! RFC 3339 strings in the edition's time zone, durations in the language's notation
//! (`"3d"`), maps as maps; a missing field is absent from the map. Results convert back by
//! the declared return type, or the call fails with [`ScriptFailure::WrongType`].

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::sync::Arc;

use jiff::tz::TimeZone;
use rhai::{AST, Dynamic, Engine, EvalAltResult, LexError, ParseErrorType, Position, Scope};
use tailor_lang::{Diagnostic, Diagnostics, FileId, SourceMap, Span};

use crate::check::Compiled;
use crate::data::Event;
use crate::ir::CScript;
use crate::package::Rejected;
use crate::schema::Schema;
pub use crate::script::ScriptFailure;
use crate::script::{ScriptArg, ScriptHost};
use crate::value::{Ty, Value, format_duration, format_time, parse_duration};

/// Limits on scripts. Each has its own [`ScriptFailure`] variant and a test that trips it.
///
/// The defaults keep a runaway call to about a millisecond (1.1 ms measured on the
/// project's shared machine, 2.4 ms while it was busy: `docs/scripts.md`,
/// `benches/scripts.rs`) while leaving ordinary scoring functions, which take a few
/// hundred operations, a wide margin. A function that runs past its budget is not
/// called again in the same evaluation (`eval.rs`), so a runaway script costs an event
/// one budget. The host sets the limits, per package: `Package::load_with` and
/// `LoadOptions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// rhai operations per call (every statement, expression step and loop iteration
    /// counts one). This bounds the time a call can take: an endless loop stops here.
    pub operations: u64,
    /// Nested script function calls within one call, the called function included.
    pub call_depth: usize,
    /// Nesting of expressions in a script's source. Checked when the package loads: a
    /// script past it is a load error, never a failed call.
    pub expr_depth: usize,
    /// Bytes (UTF-8) in any string a script builds.
    pub string_size: usize,
    /// Elements in any array a script builds (nested arrays count all their elements).
    pub array_size: usize,
    /// Entries in any object map a script builds (nested maps count all their entries).
    pub map_size: usize,
    /// Bytes of data one call may hold beyond its arguments: strings, arrays, maps and
    /// blobs together, in the variables of the running function and of its callers,
    /// and in the result. The per-value limits above bound one value; this bounds their
    /// sum. How the bytes are counted and when they are checked: [`MemoryBudget`].
    /// `usize::MAX` turns the budget off (no counting at all).
    pub memory: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            operations: 20_000,
            call_depth: 32,
            expr_depth: 64,
            string_size: 64 * 1024,
            array_size: 10_000,
            map_size: 10_000,
            memory: 1024 * 1024,
        }
    }
}

/// How [`Limits::memory`] is kept: rhai bounds each value (`string_size`, `array_size`,
/// `map_size`) but not how many of them a call holds, and not a map that grows by
/// `m[k] = v` (a map of 32 KB strings built that way reached 63 MB within the
/// operations budget, `tests/script_memory.rs`). So the host counts the data itself:
///
/// - **What counts**: the variables of the running script function, and those of the
///   functions that called it as they were when last counted (rhai gives each function
///   its own variables, and a hook sees only the running function's), 16 bytes each
///   (a rhai value) plus their contents: a string or blob its length; an array 16
///   bytes per element plus the elements' contents; a map 16 bytes plus its key's size
///   and length per entry, plus the values' contents; a function pointer its curried
///   values; a value shared by closures its contents. A string stored in several
///   places counts in each (rhai shares it), so the count errs high.
/// - **The budget** is the arguments' count when the call starts plus
///   [`Limits::memory`].
/// - **When**: every [`MemoryBudget::CHECK_EVERY`] reads or writes of variables (up to
///   [`MemoryBudget::CHECK_EVERY_AT_MOST`] when the last check counted more than
///   `4 × CHECK_EVERY` values: a quarter of their number), on the first access after a
///   function is called or returns, and on the result. A check
///   that finds more fails the call with [`ScriptFailure::TooMuchMemory`], which a
///   script cannot catch (`try` does not see it).
/// - **The bound**: at each check a call holds at most its arguments plus `memory`
///   bytes; between two checks of a function it makes at most `CHECK_EVERY` variable
///   accesses (`CHECK_EVERY_AT_MOST` when it holds many values), each of which stores
///   at most one new value, and rhai keeps every value it builds within the per-value
///   limits. So a call holds at most the budget plus what that many accesses can build
///   in each active function (the callers' last accesses are counted when control
///   returns to them). Values not yet stored in a
///   variable (an argument being computed, a result on its way back) count once
///   stored, or in the result; values nested deeper than 128 count as over budget.
/// - **Cost**: a check visits every value the running function holds (at most until
///   the count passes the budget): about 4 per variable access once there are more than
///   64, more only past 1 024. The checks of one call may visit at most
///   [`MemoryBudget::VISITS_PER_OPERATION`] values per operation of its budget; a call
///   that needs more fails as out of operations, so checking never takes longer than
///   the operations budget allows.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    /// The most a call may hold: its arguments' count plus `Limits::memory`.
    limit: usize,
    /// Variable accesses until the next check.
    countdown: u32,
    /// The function nesting level (`EvalContext::call_level`) of the last check.
    level: usize,
    /// What the variables of each nesting level held when last counted (rhai gives each
    /// script function its own variables: a check sees only the running function's).
    frames: Vec<usize>,
    /// Values visited by this call's checks so far.
    visits: u64,
    /// The most values this call's checks may visit.
    max_visits: u64,
}

impl MemoryBudget {
    /// Variable reads and writes between two checks, at least.
    pub const CHECK_EVERY: u32 = 16;
    /// Variable reads and writes between two checks, at most: a check that counted `n`
    /// values waits `n / 4` accesses (within these bounds), so that counting a call
    /// that holds many values (a large profile) costs about 4 values per access.
    pub const CHECK_EVERY_AT_MOST: u32 = 256;
    /// Values a call's checks may visit per operation of its budget.
    pub const VISITS_PER_OPERATION: u64 = 16;

    fn new(arguments: usize, limits: &Limits) -> MemoryBudget {
        MemoryBudget {
            limit: arguments.saturating_add(limits.memory),
            countdown: MemoryBudget::CHECK_EVERY,
            level: 0,
            frames: Vec::new(),
            visits: 0,
            max_visits: limits
                .operations
                .saturating_mul(MemoryBudget::VISITS_PER_OPERATION),
        }
    }

    /// Called on every variable access (`Engine::on_var`): every `CHECK_EVERY`th time,
    /// and on the first access after a function was called or returned, count what the
    /// running function's variables hold and add what its callers' held when last
    /// counted.
    fn on_access(ctx: &mut rhai::EvalContext) -> Result<(), Box<EvalAltResult>> {
        let level = ctx.call_level();
        let (limit, callers) = {
            let Some(mut budget) = ctx.tag_mut().write_lock::<MemoryBudget>() else {
                return Ok(());
            };
            budget.countdown = budget.countdown.saturating_sub(1);
            if budget.countdown > 0 && budget.level == level {
                return Ok(());
            }
            budget.countdown = MemoryBudget::CHECK_EVERY;
            budget.level = level;
            budget.frames.resize(level, 0);
            let callers = budget
                .frames
                .iter()
                .fold(0_usize, |a, b| a.saturating_add(*b));
            (budget.limit, callers)
        };
        let held = measure(
            ctx.scope().iter_raw().map(|(_, _, v)| v),
            limit.saturating_sub(callers),
        );
        let Some(mut budget) = ctx.tag_mut().write_lock::<MemoryBudget>() else {
            return Ok(());
        };
        budget.frames.push(held.bytes);
        budget.visits = budget.visits.saturating_add(held.visits);
        budget.countdown = u32::try_from(held.visits / 4)
            .unwrap_or(u32::MAX)
            .clamp(MemoryBudget::CHECK_EVERY, MemoryBudget::CHECK_EVERY_AT_MOST);
        if callers.saturating_add(held.bytes) > limit || held.too_deep {
            Err(Box::new(EvalAltResult::ErrorTerminated(
                Dynamic::from(OverMemory),
                Position::NONE,
            )))
        } else if budget.visits > budget.max_visits {
            Err(Box::new(EvalAltResult::ErrorTooManyOperations(
                Position::NONE,
            )))
        } else {
            Ok(())
        }
    }
}

/// The token of a call stopped by its memory budget (`EvalAltResult::ErrorTerminated`).
#[derive(Debug, Clone, Copy)]
struct OverMemory;

/// What [`measure`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Measure {
    /// Bytes as [`MemoryBudget`] counts them.
    bytes: usize,
    /// Array elements, nested ones included (the way rhai counts them for `array_size`).
    elements: usize,
    /// Map entries, nested ones included (for `map_size`).
    entries: usize,
    /// Bytes in strings, nested ones included (for `string_size`).
    string_bytes: usize,
    /// Values visited.
    visits: u64,
    /// Values nested deeper than [`MAX_DEPTH`] were found (and not counted).
    too_deep: bool,
}

/// Values nest at most this deep (arrays, maps, curried values and values shared by
/// closures, which may form cycles) before a count gives up and reports the data as over
/// any budget: counting recurses once per level.
const MAX_DEPTH: usize = 128;

/// Count the data held by `roots` (each a variable or a result), as [`MemoryBudget`]
/// describes, stopping once the bytes pass `stop_above`.
fn measure<'a>(roots: impl Iterator<Item = &'a Dynamic>, stop_above: usize) -> Measure {
    let mut m = Measure::default();
    for root in roots {
        m.bytes = m.bytes.saturating_add(SLOT);
        measure_into(root, stop_above, 0, &mut m);
        if m.bytes > stop_above || m.too_deep {
            break;
        }
    }
    m
}

/// The bytes of one rhai value (`Dynamic`), counted once for every variable, array
/// element and map entry.
const SLOT: usize = std::mem::size_of::<Dynamic>();

fn measure_into(d: &Dynamic, stop_above: usize, depth: usize, m: &mut Measure) {
    m.visits = m.visits.saturating_add(1);
    if m.bytes > stop_above || m.too_deep {
        return;
    }
    if depth > MAX_DEPTH {
        m.too_deep = true;
        return;
    }
    if d.is_shared() {
        // A value locked for writing is being changed by the statement running now;
        // the next check counts it.
        if let Some(inner) = d.read_lock::<Dynamic>() {
            measure_into(&inner, stop_above, depth + 1, m);
        }
    } else if let Ok(s) = d.as_immutable_string_ref() {
        m.bytes = m.bytes.saturating_add(s.len());
        m.string_bytes = m.string_bytes.saturating_add(s.len());
    } else if let Ok(a) = d.as_array_ref() {
        m.bytes = m.bytes.saturating_add(SLOT.saturating_mul(a.len()));
        m.elements = m.elements.saturating_add(a.len());
        for x in a.iter() {
            if m.bytes > stop_above || m.too_deep {
                break;
            }
            measure_into(x, stop_above, depth + 1, m);
        }
    } else if let Ok(map) = d.as_map_ref() {
        let entry = SLOT + key_size(&map);
        m.entries = m.entries.saturating_add(map.len());
        for (k, v) in map.iter() {
            if m.bytes > stop_above || m.too_deep {
                break;
            }
            m.bytes = m.bytes.saturating_add(entry.saturating_add(k.len()));
            measure_into(v, stop_above, depth + 1, m);
        }
    } else if let Ok(b) = d.as_blob_ref() {
        m.bytes = m.bytes.saturating_add(b.len());
    } else if let Some(f) = d.read_lock::<rhai::FnPtr>() {
        let curry = f.curry();
        m.bytes = m
            .bytes
            .saturating_add(f.fn_name().len())
            .saturating_add(SLOT.saturating_mul(curry.len()));
        for x in curry {
            if m.bytes > stop_above || m.too_deep {
                break;
            }
            measure_into(x, stop_above, depth + 1, m);
        }
    }
}

/// The size of a map's key type (the key's own bytes; its text, when longer than fits
/// inline, is counted by length).
fn key_size<K, V>(_: &std::collections::BTreeMap<K, V>) -> usize {
    std::mem::size_of::<K>()
}

/// The rhai script host: one shared engine, one compiled AST per script.
#[derive(Debug)]
pub struct RhaiHost {
    engine: Engine,
    limits: Limits,
    /// In the order of the package's scripts.
    scripts: Vec<Script>,
    profile: Schema,
    content: Schema,
}

#[derive(Debug)]
struct Script {
    ast: AST,
    /// The declared functions' names, in declaration order.
    fns: Vec<String>,
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
    #[expect(
        deprecated,
        reason = "rhai marks `on_var` volatile, not deprecated; \
                  it is the one hook that sees a call's variables"
    )]
    e.on_var(|_, _, mut ctx| MemoryBudget::on_access(&mut ctx).map(|()| None));
    e.on_print(|s| tracing::info!(target: "tailor::script", "{s}"));
    e.on_debug(|s, src, pos| {
        tracing::debug!(
            target: "tailor::script",
            script = src.unwrap_or(""),
            line = pos.line().unwrap_or(0),
            "{s}"
        );
    });
    e
}

impl RhaiHost {
    /// Read and compile every script of a package (paths relative to `dir`), and check
    /// that each declared function exists with the declared number of parameters.
    /// Every problem is reported, not only the first.
    pub fn load(
        dir: &Path,
        compiled: &Compiled,
        sources: &SourceMap,
        limits: Limits,
    ) -> Result<RhaiHost, Rejected> {
        let mut diags = Diagnostics::new();
        let texts: Vec<Option<String>> = compiled
            .scripts
            .iter()
            .map(|s| read_script(dir, s).map_err(|d| diags.push(*d)).ok())
            .collect();
        RhaiHost::build(&texts, compiled, sources, limits, diags)
    }

    /// Compile scripts given as texts, in the order of the package's scripts (for hosts
    /// that keep scripts elsewhere than in files, and for tests and benches).
    pub fn compile(
        texts: &[String],
        compiled: &Compiled,
        sources: &SourceMap,
        limits: Limits,
    ) -> Result<RhaiHost, Rejected> {
        let texts: Vec<Option<String>> = texts.iter().cloned().map(Some).collect();
        RhaiHost::build(&texts, compiled, sources, limits, Diagnostics::new())
    }

    fn build(
        texts: &[Option<String>],
        compiled: &Compiled,
        sources: &SourceMap,
        limits: Limits,
        mut diags: Diagnostics,
    ) -> Result<RhaiHost, Rejected> {
        let engine = engine(&limits);
        let mut sources = sources.clone();
        let mut scripts = Vec::new();
        for (i, s) in compiled.scripts.iter().enumerate() {
            let fns = s.fns.iter().map(|f| f.name.clone()).collect();
            let Some(text) = texts.get(i).cloned().flatten() else {
                // Reported already (or a caller passed too few texts): keep indexes aligned.
                scripts.push(Script {
                    ast: AST::empty(),
                    fns,
                });
                continue;
            };
            let file = sources.add(s.path.clone(), text.as_str());
            match engine.compile(&text) {
                Ok(mut ast) => {
                    ast.set_source(s.path.as_str());
                    check_declarations(s, &ast, &mut diags);
                    scripts.push(Script { ast, fns });
                }
                Err(e) => {
                    diags.push(parse_error(s, &e, file, &text, &limits));
                    scripts.push(Script {
                        ast: AST::empty(),
                        fns,
                    });
                }
            }
        }
        if texts.len() < compiled.scripts.len() {
            diags.push(Diagnostic::error(
                "tailor::script_missing",
                format!(
                    "{} script texts for {} scripts",
                    texts.len(),
                    compiled.scripts.len()
                ),
            ));
        }
        if diags.has_errors() {
            diags.sort();
            return Err(Rejected {
                sources,
                diagnostics: diags,
            });
        }
        Ok(RhaiHost {
            engine,
            limits,
            scripts,
            profile: compiled.profile.clone(),
            content: compiled.content.clone(),
        })
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// The failure of a call into the script at `path`.
    fn failure(&self, e: &EvalAltResult, path: &str) -> ScriptFailure {
        match e {
            EvalAltResult::ErrorTooManyOperations(_) => {
                ScriptFailure::TooManyOperations(self.limits.operations)
            }
            EvalAltResult::ErrorTerminated(token, _) if token.is::<OverMemory>() => {
                ScriptFailure::TooMuchMemory(self.limits.memory)
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
            EvalAltResult::ErrorInFunctionCall(_, _, inner, _) => self.failure(inner, path),
            EvalAltResult::ErrorRuntime(value, pos) => {
                let value = match value.clone().into_immutable_string() {
                    Ok(s) => s.to_string(),
                    Err(_) => value.to_string(),
                };
                ScriptFailure::Runtime(format!("threw `{value}`{}", at(path, *pos)))
            }
            other => {
                // rhai's message ends with " (line 3, position 9)": say it our way.
                let pos = other.position();
                let full = other.to_string();
                let what = full
                    .strip_suffix(&format!(" ({pos})"))
                    .unwrap_or(&full)
                    .to_owned();
                // rhai's messages start with a capital: this one goes after "failed: ".
                let mut chars = what.chars();
                let what: String = match chars.next() {
                    Some(c) => c.to_lowercase().chain(chars).collect(),
                    None => what,
                };
                ScriptFailure::Runtime(format!("{what}{}", at(path, pos)))
            }
        }
    }

    fn to_dynamic(&self, a: &ScriptArg<'_>, tz: &TimeZone) -> Dynamic {
        match a {
            ScriptArg::Value(v) => value_to_dynamic(v, tz),
            ScriptArg::Missing => Dynamic::UNIT,
            ScriptArg::Profile(p) => record_to_dynamic(&self.profile, &p.values, tz),
            ScriptArg::Block(b) => record_to_dynamic(&self.content, &b.values, tz),
            ScriptArg::Event(e) => event_to_dynamic(e, tz),
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
    ) -> Result<Value, ScriptFailure> {
        let unknown = || ScriptFailure::Runtime("no such script function".to_owned());
        let s = self.scripts.get(script).ok_or_else(unknown)?;
        let name = s.fns.get(func).ok_or_else(unknown)?;
        let args: Vec<Dynamic> = args.iter().map(|a| self.to_dynamic(a, tz)).collect();
        let mut options = rhai::CallFnOptions::new()
            .eval_ast(false)
            .rewind_scope(true);
        let mut limit = usize::MAX;
        if self.limits.memory != usize::MAX {
            let budget = MemoryBudget::new(measure(args.iter(), usize::MAX).bytes, &self.limits);
            limit = budget.limit;
            options = options.with_tag(budget);
        }
        let mut scope = Scope::new();
        let result: Dynamic = self
            .engine
            .call_fn_with_options(options, &mut scope, &s.ast, name, args)
            .map_err(|e| self.failure(&e, s.ast.source().unwrap_or("")))?;
        self.check_sizes(&result, limit)?;
        from_dynamic(result, ret)
    }
}

impl RhaiHost {
    /// rhai checks sizes as a script builds values, except for new keys set by index
    /// (`m[k] = v`); check the result as a whole too, and against the call's memory
    /// budget (`limit`: the arguments plus `Limits::memory`).
    fn check_sizes(&self, d: &Dynamic, limit: usize) -> Result<(), ScriptFailure> {
        let m = measure(std::iter::once(d), limit);
        if m.bytes > limit || m.too_deep {
            Err(ScriptFailure::TooMuchMemory(self.limits.memory))
        } else if m.string_bytes > self.limits.string_size {
            Err(ScriptFailure::StringTooLong(self.limits.string_size))
        } else if m.elements > self.limits.array_size {
            Err(ScriptFailure::ArrayTooLarge(self.limits.array_size))
        } else if m.entries > self.limits.map_size {
            Err(ScriptFailure::MapTooLarge(self.limits.map_size))
        } else {
            Ok(())
        }
    }
}

/// ` at scripts/seat.rhai:3:9`, or nothing when rhai gives no position.
fn at(path: &str, pos: Position) -> String {
    match (pos.line(), pos.position()) {
        (Some(line), Some(col)) => format!(" at {path}:{line}:{col}"),
        (Some(line), None) => format!(" at {path}:{line}"),
        _ => String::new(),
    }
}

/// Read a script file, which must lie inside the package directory.
fn read_script(dir: &Path, s: &CScript) -> Result<String, Box<Diagnostic>> {
    let rel = Path::new(&s.path);
    let escapes = rel.is_absolute()
        || rel
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::Prefix(_)));
    let path = dir.join(rel);
    // A symbolic link inside the package may still point outside it.
    let inside = match (dir.canonicalize(), path.canonicalize()) {
        (Ok(d), Ok(p)) => p.starts_with(d),
        _ => true,
    };
    if escapes || !inside {
        return Err(Box::new(
            Diagnostic::error(
                "tailor::script_path",
                format!("script path `{}` leaves the package directory", s.path),
            )
            .at(s.span, "outside the package")
            .help("keep scripts inside the package, e.g. `scripts/NAME.rhai`"),
        ));
    }
    std::fs::read_to_string(&path).map_err(|e| {
        Box::new(if e.kind() == std::io::ErrorKind::NotFound {
            Diagnostic::error(
                "tailor::script_missing",
                format!("script file `{}` not found", s.path),
            )
            .at(s.span, "not in the package")
            .help(format!(
                "script paths are relative to the package directory: create `{}` there, or correct the path",
                s.path
            ))
        } else {
            Diagnostic::error(
                "tailor::script_unreadable",
                format!("cannot read script file `{}`: {e}", s.path),
            )
            .at(s.span, "cannot be read")
            .help("a script must be a readable UTF-8 text file")
        })
    })
}

/// Every declared function must exist with the declared number of parameters.
fn check_declarations(s: &CScript, ast: &AST, diags: &mut Diagnostics) {
    for f in &s.fns {
        let found: Vec<usize> = ast
            .iter_functions()
            .filter(|m| m.name == f.name)
            .map(|m| m.params.len())
            .collect();
        if found.is_empty() {
            let defined: Vec<&str> = ast.iter_functions().map(|m| m.name).collect();
            let d = Diagnostic::error(
                "tailor::script_fn_missing",
                format!("`{}` defines no function `{}`", s.path, f.name),
            )
            .at(f.span, "declared here");
            diags.push(
                match tailor_lang::suggest(&f.name, defined.iter().copied()) {
                    Some(near) => d.help(format!(
                        "`{}` defines `{near}`; rename one of them, or define `fn {}(…) {{ … }}`",
                        s.path, f.name
                    )),
                    None => d.help(format!(
                        "define `fn {}(…) {{ … }}` in `{}`, or remove the declaration",
                        f.name, s.path
                    )),
                },
            );
        } else if !found.contains(&f.params.len()) {
            let counts: Vec<String> = found.iter().map(usize::to_string).collect();
            diags.push(
                Diagnostic::error(
                    "tailor::script_fn_arity",
                    format!(
                        "`{}` defines `{}` with {} parameter{}, but it is declared with {}",
                        s.path,
                        f.name,
                        counts.join(" or "),
                        if found == [1] { "" } else { "s" },
                        f.params.len()
                    ),
                )
                .at(f.span, "declared here")
                .help("make the declaration and the rhai function take the same parameters"),
            );
        }
    }
}

/// A rhai parse error, at the script's own line and column.
fn parse_error(
    s: &CScript,
    e: &rhai::ParseError,
    file: FileId,
    text: &str,
    limits: &Limits,
) -> Diagnostic {
    let span = span_at(file, text, e.1);
    let (code, message, label, help) = match &*e.0 {
        ParseErrorType::Reserved(word) if word == "import" || word == "export" => (
            "tailor::script_sandbox",
            format!("script `{}` uses `{word}`, but scripts cannot use modules", s.path),
            "modules are not available".to_owned(),
            "scripts run sandboxed: no modules, files or network; put the code you need in this file".to_owned(),
        ),
        ParseErrorType::Reserved(word) | ParseErrorType::BadInput(LexError::ImproperSymbol(word, _))
            if word == "eval" =>
        {
            (
            "tailor::script_sandbox",
            format!("script `{}` uses `eval`, which is disabled", s.path),
            "`eval` is disabled".to_owned(),
            "scripts run sandboxed: write the code out instead of evaluating a string".to_owned(),
            )
        }
        ParseErrorType::ExprTooDeep => (
            "tailor::script_limit",
            format!(
                "script `{}` {}",
                s.path,
                ScriptFailure::ExprTooDeep(limits.expr_depth)
            ),
            "too deeply nested".to_owned(),
            "split the expression with `let`, or raise `Limits::expr_depth` when loading the package".to_owned(),
        ),
        other => {
            // rhai's messages start with a capital: this one goes after a colon.
            let what = other.to_string();
            let mut chars = what.chars();
            let what = match chars.next() {
                Some(c) => c.to_lowercase().chain(chars).collect(),
                None => what,
            };
            (
                "tailor::script_syntax",
                format!("syntax error in script `{}`: {what}", s.path),
                "rhai cannot parse this".to_owned(),
                "see the rhai book (https://rhai.rs/book) for the language".to_owned(),
            )
        }
    };
    Diagnostic::error(code, message).at(span, label).help(help)
}

/// The span of the character (or the word) at a rhai position.
fn span_at(file: FileId, text: &str, pos: Position) -> Span {
    let Some(line) = pos.line() else {
        return Span::new(file, text.len(), text.len());
    };
    let col = pos.position().unwrap_or(1);
    let start = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum::<usize>();
    let rest = text.get(start..).unwrap_or("");
    let line_text = rest.split('\n').next().unwrap_or("");
    let offset: usize = line_text
        .chars()
        .take(col.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    let begin = start + offset;
    let tail = text.get(begin..).unwrap_or("");
    let word: usize = tail
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .map(char::len_utf8)
        .sum();
    let len = if word > 0 {
        word
    } else {
        tail.chars()
            .next()
            .filter(|c| *c != '\n')
            .map_or(0, char::len_utf8)
    };
    Span::new(file, begin, begin + len)
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

/// A record as an object map of its declared fields; missing fields are absent.
fn record_to_dynamic(schema: &Schema, values: &[Option<Value>], tz: &TimeZone) -> Dynamic {
    let mut map = rhai::Map::new();
    for (field, value) in schema.fields.iter().zip(values) {
        if let Some(v) = value {
            insert_at(&mut map, &field.path, value_to_dynamic(v, tz));
        }
    }
    Dynamic::from_map(map)
}

/// Insert at a dotted path, creating the nested maps on the way.
fn insert_at(map: &mut rhai::Map, path: &[String], v: Dynamic) {
    match path {
        [] => {}
        [last] => {
            map.insert(last.as_str().into(), v);
        }
        [first, rest @ ..] => {
            let mut child = map
                .remove(first.as_str())
                .and_then(|d| d.try_cast::<rhai::Map>())
                .unwrap_or_default();
            insert_at(&mut child, rest, v);
            map.insert(first.as_str().into(), Dynamic::from_map(child));
        }
    }
}

fn event_to_dynamic(e: &Event, tz: &TimeZone) -> Dynamic {
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
    // The opened item of an `open` (language.md §12).
    if let Some(o) = &e.opened {
        for (k, v) in [("rule", &o.item.rule), ("section", &o.item.section)] {
            if let Some(v) = v {
                m.insert(k.into(), Dynamic::from(v.clone()));
            }
        }
        if let Some(d) = o.item.delivered {
            m.insert("delivered".into(), Dynamic::from(format_time(d, tz)));
        }
    }
    Dynamic::from_map(m)
}

/// A rhai value's type in the words of the language.
fn describe(d: &Dynamic) -> String {
    match d.type_name() {
        "()" => "nothing (`()`)".to_owned(),
        "i64" | "i32" => "an int".to_owned(),
        "f64" | "f32" => "a float".to_owned(),
        "bool" => "a bool".to_owned(),
        "string" => "a string".to_owned(),
        "char" => "a char".to_owned(),
        "array" => "an array".to_owned(),
        "map" => "a map".to_owned(),
        other => format!("a `{other}`"),
    }
}

/// Convert a script's result by the declared type.
fn from_dynamic(d: Dynamic, ret: Ty) -> Result<Value, ScriptFailure> {
    let wrong = |found: String| ScriptFailure::WrongType {
        expected: ret.name().to_owned(),
        found,
    };
    let found = describe(&d);
    Ok(match ret {
        Ty::Bool => Value::Bool(d.as_bool().map_err(|_| wrong(found))?),
        Ty::Int => Value::Int(d.as_int().map_err(|_| wrong(found))?),
        Ty::Float => match (d.as_float(), d.as_int()) {
            (Ok(f), _) if f.is_finite() => Value::Float(f),
            (Ok(f), _) => return Err(wrong(format!("the float {f}"))),
            (_, Ok(i)) => Value::Float(i as f64),
            _ => return Err(wrong(found)),
        },
        Ty::String => Value::str(&d.into_immutable_string().map_err(|_| wrong(found))?),
        Ty::Time => {
            let s = d.into_immutable_string().map_err(|_| wrong(found))?;
            Value::Time(
                s.parse().map_err(|_| {
                    wrong(format!("the string `{s}`, which is not an RFC 3339 time"))
                })?,
            )
        }
        Ty::Duration => {
            let s = d.into_immutable_string().map_err(|_| wrong(found))?;
            Value::Duration(parse_duration(&s).ok_or_else(|| {
                wrong(format!(
                    "the string `{s}`, which is not a duration such as `3d`"
                ))
            })?)
        }
        Ty::SetString => {
            let arr = d.into_array().map_err(|_| wrong(found))?;
            let mut set = std::collections::BTreeSet::new();
            for x in arr {
                let what = describe(&x);
                let s = x
                    .into_immutable_string()
                    .map_err(|_| wrong(format!("an array holding {what}")))?;
                set.insert(Arc::from(s.as_str()));
            }
            Value::StrSet(Arc::new(set))
        }
        Ty::SetInt => {
            let arr = d.into_array().map_err(|_| wrong(found))?;
            let mut set = std::collections::BTreeSet::new();
            for x in arr {
                set.insert(
                    x.as_int()
                        .map_err(|_| wrong(format!("an array holding {}", describe(&x))))?,
                );
            }
            Value::IntSet(Arc::new(set))
        }
        Ty::MapInt | Ty::MapFloat | Ty::MapString => {
            let map = d.try_cast::<rhai::Map>().ok_or_else(|| wrong(found))?;
            let elem = match ret {
                Ty::MapInt => Ty::Int,
                Ty::MapFloat => Ty::Float,
                _ => Ty::String,
            };
            let mut out = BTreeMap::new();
            for (k, v) in map {
                let what = describe(&v);
                let v = from_dynamic(v, elem)
                    .map_err(|_| wrong(format!("a map holding {what} at `{k}`")))?;
                out.insert(Arc::from(k.as_str()), v);
            }
            Value::Map(Arc::new(out))
        }
        // Declared return types are schema types (the grammar allows nothing else).
        _ => return Err(wrong(found)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::Package;

    const RULES: &str = r#"
        profile {
          age: int
          interests: set<string>
          last_seen: time
          family.grandson.city: string
          seats: map<int>
        }
        content { score: float }
        edition e { sections { news 3 } }
    "#;

    /// A package whose one script declares `decls`, and a host compiled from `text`.
    fn host(decls: &str, text: &str, limits: Limits) -> Result<(Package, RhaiHost), String> {
        let rules = format!("{RULES}\nscript s from \"s.rhai\" {{ {decls} }}\n");
        let pkg = Package::from_sources(vec![("main.rules".into(), rules)])
            .map_err(|e| e.render(false))?;
        let host = RhaiHost::compile(&[text.to_owned()], pkg.compiled(), pkg.sources(), limits)
            .map_err(|e| e.render(false))?;
        Ok((pkg, host))
    }

    fn call(decls: &str, text: &str, limits: Limits, ret: Ty) -> Result<Value, ScriptFailure> {
        let (_, h) = host(decls, text, limits).map_err(ScriptFailure::Runtime)?;
        h.call(0, 0, ret, &[], &TimeZone::UTC)
    }

    fn small() -> Limits {
        Limits {
            operations: 10_000,
            call_depth: 8,
            expr_depth: 16,
            string_size: 100,
            array_size: 100,
            map_size: 100,
            memory: 100_000,
        }
    }

    /// The script of issue 16: a map of 32 KB strings, built by `m[k] = v` in a loop.
    /// Each string is new (`s + i`), so each entry costs 32 KB; rhai's per-value limits
    /// never see the map as a whole while it grows.
    const MAP_OF_BIG_STRINGS: &str = r#"
        fn f() {
            let s = "x";
            while s.len() < 32768 { s += s; }
            let m = #{};
            let i = 0;
            loop { m["k" + i] = s + i; i += 1; }
        }
    "#;

    #[test]
    fn limit_memory_stops_a_map_of_big_strings() {
        let r = call(
            "fn f() -> int",
            MAP_OF_BIG_STRINGS,
            Limits::default(),
            Ty::Int,
        );
        assert_eq!(r, Err(ScriptFailure::TooMuchMemory(1024 * 1024)));
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("held more than 1048576 bytes of data beyond its arguments".to_owned())
        );
    }

    #[test]
    fn limit_memory_counts_every_variable_and_callee() {
        // Many variables, each far within the per-value limits.
        let text = r#"
            fn f() { let s = "0123456789"; while s.len() < 2000 { s += s; } g(s, 0) }
            fn g(s, n) { let t = s + n; if n < 5 { g(s, n + 1) } else { let u = t; 0 } }
        "#;
        let limits = Limits {
            string_size: 10_000,
            memory: 10_000,
            ..small()
        };
        let r = call("fn f() -> int", text, limits, Ty::Int);
        assert_eq!(r, Err(ScriptFailure::TooMuchMemory(10_000)));
        // The same with room for it.
        let r = call(
            "fn f() -> int",
            text,
            Limits {
                memory: 100_000,
                ..limits
            },
            Ty::Int,
        );
        assert_eq!(r, Ok(Value::Int(0)));
    }

    #[test]
    fn limit_memory_cannot_be_caught() {
        let text = r#"
            fn f() { try { g() } catch (e) { "caught" } }
            fn g() { let a = []; loop { a.push("0123456789" + a.len()); } }
        "#;
        let limits = Limits {
            string_size: 100_000,
            array_size: 100_000,
            memory: 5_000,
            ..small()
        };
        let r = call("fn f() -> string", text, limits, Ty::String);
        assert_eq!(r, Err(ScriptFailure::TooMuchMemory(5_000)));
    }

    #[test]
    fn limit_memory_applies_to_the_result() {
        // Built without reading a variable: the result is checked when it comes back.
        let text = r#"fn f() { ["0123456789", "0123456789", "0123456789"] }"#;
        let limits = Limits {
            memory: 40,
            ..small()
        };
        let r = call("fn f() -> set<string>", text, limits, Ty::SetString);
        assert_eq!(r, Err(ScriptFailure::TooMuchMemory(40)));
    }

    /// `fn f(profile) -> int` called on a profile whose `interests` are the given strings.
    fn call_on_interests(
        text: &str,
        limits: Limits,
        interests: Vec<String>,
    ) -> Result<Value, ScriptFailure> {
        let (pkg, h) = host("fn f(profile) -> int", text, limits).unwrap();
        let obj = serde_json::json!({"id": "u1", "interests": interests});
        let profile = pkg
            .profile_from_json(obj.as_object().unwrap().clone())
            .unwrap();
        h.call(
            0,
            0,
            Ty::Int,
            &[ScriptArg::Profile(&profile)],
            &TimeZone::UTC,
        )
    }

    #[test]
    fn limit_memory_leaves_the_arguments_out() {
        // A profile far larger than the budget: the budget is what the call adds to it.
        let r = call_on_interests(
            "fn f(p) { let n = 0; for i in p.interests { n += i.len(); } n }",
            Limits {
                memory: 1_000,
                ..Limits::default()
            },
            (0..200).map(|i| format!("{i:0>100}")).collect(),
        );
        assert_eq!(r, Ok(Value::Int(20_000)));
    }

    #[test]
    fn limit_memory_counting_a_large_profile_stays_cheap() {
        // A profile of 3 000 values and a loop of some 6 000 variable accesses: counting
        // every 16 accesses would visit 1.1 million values, past the 16 per operation
        // the checks may take; counting every n / 4 accesses visits about 70 000.
        let r = call_on_interests(
            "fn f(p) { let n = 0; for i in 0..2000 { n += 1; } n }",
            Limits::default(),
            (0..3_000).map(|i| format!("i{i}")).collect(),
        );
        assert_eq!(r, Ok(Value::Int(2_000)));
    }

    #[test]
    fn measure_counts_as_documented() {
        let m = |d: Dynamic| measure(std::iter::once(&d), usize::MAX);
        assert_eq!(m(Dynamic::from_int(1)).bytes, SLOT);
        assert_eq!(m(Dynamic::from("abc".to_owned())).bytes, SLOT + 3);
        let arr = Dynamic::from_array(vec![Dynamic::from("ab".to_owned()), Dynamic::UNIT]);
        let got = m(arr);
        assert_eq!(got.bytes, SLOT + 2 * SLOT + 2);
        assert_eq!((got.elements, got.entries, got.string_bytes), (2, 0, 2));
        let mut map = rhai::Map::new();
        map.insert("key".into(), Dynamic::from("value".to_owned()));
        let entry = SLOT + key_size(&map);
        let got = m(Dynamic::from_map(map));
        assert_eq!(got.bytes, SLOT + entry + 3 + 5);
        assert_eq!((got.elements, got.entries, got.string_bytes), (0, 1, 5));
        // Nesting past MAX_DEPTH is reported, not followed; the count stops past its limit.
        let mut deep = Dynamic::UNIT;
        for _ in 0..MAX_DEPTH + 10 {
            deep = Dynamic::from_array(vec![deep]);
        }
        assert!(measure(std::iter::once(&deep), usize::MAX).too_deep);
        let wide = Dynamic::from_array(vec![Dynamic::from_int(0); 1_000]);
        let got = measure(std::iter::once(&wide), 100);
        assert!(got.bytes > 100 && got.visits < 20, "{got:?}");
    }

    #[test]
    fn limit_operations_stops_an_endless_loop() {
        let r = call("fn f() -> bool", "fn f() { loop {} }", small(), Ty::Bool);
        assert_eq!(r, Err(ScriptFailure::TooManyOperations(10_000)));
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("ran past its budget of 10000 operations".to_owned())
        );
    }

    #[test]
    fn limit_operations_leaves_room_for_ordinary_work() {
        let text = "fn f() { let n = 0; for i in 0..100 { n += i; } n }";
        assert_eq!(
            call("fn f() -> int", text, small(), Ty::Int),
            Ok(Value::Int(4950))
        );
    }

    #[test]
    fn limit_call_depth_stops_deep_recursion() {
        let text = "fn f() { g(0) }\nfn g(n) { g(n + 1) }";
        let r = call("fn f() -> int", text, small(), Ty::Int);
        assert_eq!(r, Err(ScriptFailure::CallTooDeep(8)));
        // Recursion within the limit is fine: f, then g six deep.
        let text = "fn f() { g(5) }\nfn g(n) { if n == 0 { 0 } else { 1 + g(n - 1) } }";
        assert_eq!(
            call("fn f() -> int", text, small(), Ty::Int),
            Ok(Value::Int(5))
        );
    }

    #[test]
    fn limit_expr_depth_is_a_load_error() {
        let deep = format!("fn f() {{ {}1{} }}", "(".repeat(40), ")".repeat(40));
        let err = host("fn f() -> int", &deep, small())
            .map(|_| ())
            .unwrap_err();
        assert!(err.contains("tailor::script_limit"), "{err}");
        assert!(
            err.contains("script `s.rhai` nests expressions deeper than 16"),
            "{err}"
        );
        assert!(err.contains("[s.rhai:1:16]"), "{err}");
        assert!(err.contains("raise `Limits::expr_depth`"), "{err}");
        // Ordinary nesting loads under the default limits.
        let nested = format!("fn f() {{ {}1{} }}", "(".repeat(10), ")".repeat(10));
        assert!(host("fn f() -> int", &nested, Limits::default()).is_ok());
    }

    #[test]
    fn limit_string_size_stops_a_growing_string() {
        let text = r#"fn f() { let s = "ab"; loop { s += s; } }"#;
        let r = call("fn f() -> string", text, small(), Ty::String);
        assert_eq!(r, Err(ScriptFailure::StringTooLong(100)));
    }

    #[test]
    fn limit_array_size_stops_a_growing_array() {
        let text = "fn f() { let a = []; loop { a.push(1); } }";
        let r = call("fn f() -> set<int>", text, small(), Ty::SetInt);
        assert_eq!(r, Err(ScriptFailure::ArrayTooLarge(100)));
    }

    #[test]
    fn limit_map_size_stops_a_growing_map() {
        let text = r#"
            fn f() { let m = #{}; let i = 0; loop { m += one(i); i += 1; } }
            fn one(i) { let x = #{}; x["k" + i] = i; x }
        "#;
        let r = call("fn f() -> map<int>", text, small(), Ty::MapInt);
        assert_eq!(r, Err(ScriptFailure::MapTooLarge(100)));
        // rhai does not check `m[k] = v` on a new key while the script runs (the operations
        // budget bounds it); the result is checked when it comes back.
        let text = r#"fn f() { let m = #{}; for i in 0..150 { m["k" + i] = i; } m }"#;
        let r = call("fn f() -> map<int>", text, small(), Ty::MapInt);
        assert_eq!(r, Err(ScriptFailure::MapTooLarge(100)));
    }

    #[test]
    fn wrong_result_types_are_failures() {
        let r = call("fn f() -> bool", r#"fn f() { "yes" }"#, small(), Ty::Bool);
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("returned a string where the declaration says `bool`".to_owned())
        );
        let r = call("fn f() -> int", "fn f() { 1.5 }", small(), Ty::Int);
        assert!(matches!(r, Err(ScriptFailure::WrongType { .. })));
        let r = call("fn f() -> bool", "fn f() { }", small(), Ty::Bool);
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("returned nothing (`()`) where the declaration says `bool`".to_owned())
        );
        let r = call("fn f() -> time", r#"fn f() { "soon" }"#, small(), Ty::Time);
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err("returned the string `soon`, which is not an RFC 3339 time where the declaration says `time`".to_owned())
        );
        let r = call(
            "fn f() -> set<string>",
            "fn f() { [1] }",
            small(),
            Ty::SetString,
        );
        assert_eq!(
            r.map_err(|e| e.to_string()),
            Err(
                "returned an array holding an int where the declaration says `set<string>`"
                    .to_owned()
            )
        );
        let r = call(
            "fn f() -> float",
            "fn f() { 1.0 / 0.0 }",
            small(),
            Ty::Float,
        );
        assert!(matches!(r, Err(ScriptFailure::WrongType { .. })));
    }

    #[test]
    fn results_convert_by_the_declared_type() {
        let ok = |decl: &str, body: &str, ty: Ty| call(decl, body, small(), ty);
        assert_eq!(
            ok("fn f() -> float", "fn f() { 2 }", Ty::Float),
            Ok(Value::Float(2.0))
        );
        assert_eq!(
            ok("fn f() -> duration", r#"fn f() { "3d" }"#, Ty::Duration),
            Ok(Value::Duration(jiff::SignedDuration::from_hours(72)))
        );
        let t = ok(
            "fn f() -> time",
            r#"fn f() { "2013-02-21T19:30:00+08:00" }"#,
            Ty::Time,
        );
        assert_eq!(t, Ok(Value::Time("2013-02-21T11:30:00Z".parse().unwrap())));
        let m = ok("fn f() -> map<int>", "fn f() { #{a: 1, b: 2} }", Ty::MapInt).unwrap();
        assert_eq!(
            m.to_json(&TimeZone::UTC),
            serde_json::json!({"a": 1, "b": 2})
        );
        let s = ok(
            "fn f() -> set<string>",
            r#"fn f() { ["b", "a", "b"] }"#,
            Ty::SetString,
        )
        .unwrap();
        assert_eq!(s.to_json(&TimeZone::UTC), serde_json::json!(["a", "b"]));
    }

    #[test]
    fn records_reach_rhai_as_maps_of_declared_fields() {
        let (pkg, h) = host(
            "fn f(profile) -> string",
            r#"fn f(p) {
                 let kinds = "";
                 for k in p.keys() { kinds += k + ":" + type_of(p[k]) + ","; }
                 kinds + "|" + p.family.grandson.city + "|" + p.last_seen
                   + "|" + p.interests[0] + "|" + ("age" in p)
               }"#,
            Limits::default(),
        )
        .unwrap();
        let obj = serde_json::json!({
            "id": "u1", "interests": ["window", "aisle"], "last_seen": "2013-02-21T11:30:00Z",
            "family": {"grandson": {"city": "Boston"}}, "seats": {"12A": 2}, "undeclared": 1
        });
        let profile = pkg
            .profile_from_json(obj.as_object().unwrap().clone())
            .unwrap();
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let r = h.call(0, 0, Ty::String, &[ScriptArg::Profile(&profile)], &tz);
        assert_eq!(
            r,
            Ok(Value::str(
                "family:map,id:string,interests:array,last_seen:string,seats:map,\
                 |Boston|2013-02-21T19:30:00+08:00|aisle|false"
            ))
        );
    }

    #[test]
    fn sandbox_has_no_modules_eval_files_or_clock() {
        let err = host(
            "fn f() -> bool",
            "import \"fs\" as fs;\nfn f() { true }",
            small(),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(err.contains("tailor::script_sandbox"), "{err}");
        assert!(err.contains("[s.rhai:1:1]"), "{err}");
        assert!(
            err.contains("uses `import`, but scripts cannot use modules"),
            "{err}"
        );
        let err = host("fn f() -> bool", "fn f() { eval(\"true\") }", small())
            .map(|_| ())
            .unwrap_err();
        assert!(err.contains("uses `eval`, which is disabled"), "{err}");
        for body in [
            r#"fn f() { open_file("/etc/passwd") }"#,
            r#"fn f() { timestamp() }"#,
            r#"fn f() { http_get("http://example.com") }"#,
        ] {
            let r = call("fn f() -> bool", body, small(), Ty::Bool);
            assert!(
                matches!(&r, Err(ScriptFailure::Runtime(m)) if m.contains("function not found")),
                "{body}: {r:?}"
            );
        }
    }

    /// Collects the messages of `tailor::script` log events.
    #[derive(Default)]
    struct Capture(std::sync::Mutex<Vec<String>>);

    impl tracing::Subscriber for Capture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            struct Message<'a>(&'a mut String);
            impl tracing::field::Visit for Message<'_> {
                fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                    if f.name() == "message" {
                        self.0.push_str(&format!("{v:?}"));
                    }
                }
            }
            let mut s = format!("{}: ", event.metadata().target());
            event.record(&mut Message(&mut s));
            if let Ok(mut v) = self.0.lock() {
                v.push(s);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn print_and_debug_go_to_the_log() {
        let capture = Arc::new(Capture::default());
        let (_, h) = host(
            "fn f() -> bool",
            r#"fn f() { print("hello"); debug("there"); true }"#,
            small(),
        )
        .unwrap();
        let r = tracing::subscriber::with_default(capture.clone(), || {
            h.call(0, 0, Ty::Bool, &[], &TimeZone::UTC)
        });
        assert_eq!(r, Ok(Value::Bool(true)));
        let logged = capture.0.lock().unwrap().clone();
        assert_eq!(
            logged,
            vec![
                "tailor::script: hello".to_owned(),
                "tailor::script: \"there\"".to_owned()
            ]
        );
    }

    #[test]
    fn declarations_are_checked_against_the_script() {
        let err = host(
            "fn rank(profile, block) -> float\nfn prefers(profile) -> bool",
            "fn rank(p) { 1.0 }\nfn prefer(p) { true }",
            small(),
        )
        .map(|_| ())
        .unwrap_err();
        assert!(
            err.contains("`s.rhai` defines `rank` with 1 parameter, but it is declared with 2"),
            "{err}"
        );
        assert!(
            err.contains("`s.rhai` defines no function `prefers`"),
            "{err}"
        );
        assert!(err.contains("`s.rhai` defines `prefer`"), "{err}");
    }
}
