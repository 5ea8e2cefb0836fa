//! Type checking and compiling expressions (language.md §7).

use std::sync::Arc;

use tailor_lang::ast::{self, BinaryOp, ExprKind, Literal, Root, UnaryOp};
use tailor_lang::{Diagnostic, Span, suggest};

use super::Checker;
use crate::ir::{Builtin, CExpr, ScriptCall};
use crate::schema::EventField;
use crate::value::{Ty, Value};

/// Where an expression stands: whether it may see the block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExprCtx {
    pub allow_block: bool,
    /// "a segment", "a `when`", "a learn statement": for messages.
    pub place: &'static str,
}

impl ExprCtx {
    pub fn segment() -> ExprCtx {
        ExprCtx {
            allow_block: false,
            place: "a segment",
        }
    }
    pub fn when() -> ExprCtx {
        ExprCtx {
            allow_block: false,
            place: "a `when`",
        }
    }
    pub fn block() -> ExprCtx {
        ExprCtx {
            allow_block: true,
            place: "a `where`",
        }
    }
    /// A learn item's `when` and statements: `block` is the opened block in an item
    /// that answers `open` alone (language.md §12), and refused in any other.
    pub fn learn(opens: bool) -> ExprCtx {
        ExprCtx {
            allow_block: opens,
            place: LEARN_NOT_OPEN,
        }
    }
}

/// Where `block` is refused in a learn item, as messages name it.
const LEARN_NOT_OPEN: &str = "a learn item that does not answer `open` alone";

/// The help of `tailor::block_outside_pick`.
fn block_help(ctx: ExprCtx) -> &'static str {
    if ctx.place == LEARN_NOT_OPEN {
        "in a learn item, `block` is the opened block of an `open`: name it only in an item that answers `open` alone, `learn on open { … }`"
    } else {
        "only a pick's `where` and `order by`, and `drop where`, look at blocks: move this condition there"
    }
}

fn mismatch(span: Span, expected: &str, found: Ty) -> Diagnostic {
    Diagnostic::error(
        "tailor::type_mismatch",
        format!("expected {expected}, found `{found}`"),
    )
    .at(span, format!("this is `{found}`"))
}

impl Checker<'_> {
    /// A boolean expression: `when`, `where`, segments.
    pub(crate) fn bool_expr(&mut self, e: &ast::Expr, ctx: ExprCtx, place: &str) -> CExpr {
        let (c, ty) = self.expr(e, ctx);
        if !matches!(ty, Ty::Bool | Ty::Any) {
            self.error(mismatch(e.span, "`bool`", ty).help(format!(
                "{place} must be a condition, such as `profile.age >= 60`"
            )));
        }
        c
    }

    pub(crate) fn order_key(&mut self, e: &ast::Expr) -> CExpr {
        let (c, ty) = self.expr(e, ExprCtx::block());
        if !matches!(
            ty,
            Ty::Int | Ty::Float | Ty::String | Ty::Time | Ty::Duration | Ty::Any
        ) {
            self.error(
                mismatch(e.span, "a number, string, time or duration", ty)
                    .help("an `order by` key must be something that sorts"),
            );
        }
        c
    }

    pub(crate) fn expr(&mut self, e: &ast::Expr, ctx: ExprCtx) -> (CExpr, Ty) {
        let any = || (CExpr::Const(Value::Bool(false)), Ty::Any);
        match &e.kind {
            ExprKind::Literal(l) => literal(l),
            ExprKind::List(items) => self.list(items, e.span),
            ExprKind::Now => (CExpr::Now, Ty::Time),
            ExprKind::Root(root) => {
                self.error(
                    Diagnostic::error(
                        "tailor::bare_record",
                        format!(
                            "`{}` on its own can only be passed to a script function",
                            root.name()
                        ),
                    )
                    .at(e.span, "a whole record")
                    .help(format!(
                        "name one of its fields, as in `{}.{}`",
                        root.name(),
                        match root {
                            Root::Profile => "age",
                            Root::Block => "tags",
                            Root::Event => "text",
                        }
                    )),
                );
                any()
            }
            ExprKind::Field { root, path } => self.field(*root, path, e.span, ctx),
            ExprKind::Name(n) => match self.segment_index.get(n.name.as_str()) {
                Some(&i) => (CExpr::Segment(i), Ty::Bool),
                None if self.unparsed(ast::ItemKeyword::Segment, Some(&n.name)) => any(),
                None => {
                    let mut d = Diagnostic::error(
                        "tailor::unknown_name",
                        format!("unknown name `{}`", n.name),
                    )
                    .at(n.span, "not a segment");
                    let names: Vec<&str> = self.segment_index.keys().copied().collect();
                    d = match suggest(&n.name, names) {
                        Some(s) => d.help(format!("did you mean the segment `{s}`?")),
                        None if ast::EventKind::parse(&n.name).is_some() => {
                            d.help(format!("to test the event's kind, write `event.kind == \"{}\"`", n.name))
                        }
                        None => d.help(format!(
                            "a bare name refers to a segment: declare it with `segment {0} = …`, name a field as `profile.{0}`, or put text in quotes, `\"{0}\"`",
                            n.name
                        )),
                    };
                    self.error(d);
                    any()
                }
            },
            ExprKind::Index { target, key } => {
                let (t, tt) = self.expr(target, ctx);
                let (k, kt) = self.expr(key, ctx);
                let Some(vt) = tt.map_value() else {
                    self.error(
                        mismatch(target.span, "a map", tt)
                            .help("only maps can be indexed with `[key]`"),
                    );
                    return any();
                };
                if !kt.fits(Ty::String) {
                    self.error(
                        mismatch(key.span, "a `string` key", kt).help("map keys are strings"),
                    );
                }
                (CExpr::Index(Box::new(t), Box::new(k)), vt)
            }
            ExprKind::Call { func, args } => self.call(func, args, e.span, ctx),
            ExprKind::ScriptCall { script, func, args } => {
                self.script_call(script, func, args, e.span, ctx)
            }
            ExprKind::Unary { op, operand } => {
                let (c, t) = self.expr(operand, ctx);
                match op {
                    UnaryOp::Not => {
                        if !matches!(t, Ty::Bool | Ty::Any) {
                            self.error(mismatch(operand.span, "`bool` after `not`", t).help(
                                "`not` negates a condition, as in `not (profile.age >= 60)`",
                            ));
                        }
                        (CExpr::Not(Box::new(c)), Ty::Bool)
                    }
                    UnaryOp::Neg => {
                        if !matches!(t, Ty::Int | Ty::Float | Ty::Duration | Ty::Any) {
                            self.error(
                                mismatch(operand.span, "a number or duration after `-`", t).help(
                                    "`-` negates a number or a duration, as in `-3` or `-1d`",
                                ),
                            );
                            return any();
                        }
                        // Fold `-literal` so that negative constants stay constants.
                        match c {
                            CExpr::Const(Value::Int(i)) => {
                                (CExpr::Const(Value::Int(i.wrapping_neg())), t)
                            }
                            CExpr::Const(Value::Float(f)) => (CExpr::Const(Value::Float(-f)), t),
                            c => (CExpr::Neg(Box::new(c)), t),
                        }
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => self.binary(*op, lhs, rhs, e.span, ctx),
            ExprKind::Matches { subject, pattern } => {
                let (s, st) = self.expr(subject, ctx);
                if !st.fits(Ty::String) {
                    self.error(
                        mismatch(subject.span, "a `string` before `matches`", st)
                            .help("`matches` tests a string against a pattern, as in `profile.city matches \"^杭\"`"),
                    );
                }
                match regex::Regex::new(&pattern.value) {
                    Ok(re) => (CExpr::Matches(Box::new(s), Arc::new(re)), Ty::Bool),
                    Err(err) => {
                        let msg = match &err {
                            regex::Error::Syntax(s) => {
                                let last = s.lines().last().unwrap_or("").trim();
                                last.strip_prefix("error: ").unwrap_or(last).to_owned()
                            }
                            other => other.to_string(),
                        };
                        self.error(
                            Diagnostic::error(
                                "tailor::bad_regex",
                                format!("invalid regular expression: {msg}"),
                            )
                            .at(pattern.span, msg)
                                .help("the pattern uses the syntax of the Rust `regex` crate (like RE2: no look-around or back-references)"),
                        );
                        any()
                    }
                }
            }
            ExprKind::Exists(inner) => {
                let (c, t) = self.expr(inner, ctx);
                if matches!(t, Ty::Record(_)) {
                    self.error(
                        mismatch(inner.span, "a field", t)
                            .help("`exists` tests a field, as in `profile.city exists`"),
                    );
                }
                (CExpr::Exists(Box::new(c)), Ty::Bool)
            }
        }
    }

    fn list(&mut self, items: &[ast::Expr], span: Span) -> (CExpr, Ty) {
        let mut values = Vec::new();
        let mut elem: Option<(Ty, Span)> = None;
        for item in items {
            let v = match &item.kind {
                ExprKind::Literal(l) => Some(literal(l)),
                ExprKind::Unary {
                    op: UnaryOp::Neg,
                    operand,
                } => match &operand.kind {
                    ExprKind::Literal(Literal::Int(i)) => {
                        Some((CExpr::Const(Value::Int(i.wrapping_neg())), Ty::Int))
                    }
                    ExprKind::Literal(Literal::Float(f)) => {
                        Some((CExpr::Const(Value::Float(-f)), Ty::Float))
                    }
                    _ => None,
                },
                _ => None,
            };
            let Some((CExpr::Const(v), t)) = v else {
                self.error(
                    Diagnostic::error("tailor::list_literal", "a list holds literals only")
                        .at(item.span, "not a literal")
                        .help("write the values themselves: `[\"杭州\", \"宁波\"]`"),
                );
                continue;
            };
            if !matches!(t, Ty::String | Ty::Int | Ty::Float) {
                self.error(
                    Diagnostic::error(
                        "tailor::list_literal",
                        format!("a list cannot hold `{t}` values"),
                    )
                    .at(item.span, "not a string or number")
                    .help("lists hold strings, ints or floats"),
                );
                continue;
            }
            match elem {
                None => elem = Some((t, item.span)),
                Some((first, first_span)) if first != t => {
                    self.error(
                        Diagnostic::error(
                            "tailor::list_literal",
                            format!("a list holds one element type, but this is `{t}`"),
                        )
                        .at(item.span, format!("`{t}`"))
                        .also(first_span, format!("the first element is `{first}`"))
                        .help("write every element with the same type"),
                    );
                    continue;
                }
                _ => {}
            }
            values.push(v);
        }
        let ty = match elem.map(|(t, _)| t) {
            None => Ty::ListEmpty,
            Some(Ty::String) => Ty::ListString,
            Some(Ty::Int) => Ty::ListInt,
            Some(_) => Ty::ListFloat,
        };
        let _ = span;
        (CExpr::Const(Value::List(values.into())), ty)
    }

    fn field(&mut self, root: Root, path: &[ast::Ident], span: Span, ctx: ExprCtx) -> (CExpr, Ty) {
        let any = (CExpr::Const(Value::Bool(false)), Ty::Any);
        let dotted = ast::dotted(path);
        match root {
            Root::Block if !ctx.allow_block => {
                self.error(
                    Diagnostic::error(
                        "tailor::block_outside_pick",
                        format!("`block` cannot be used in {}", ctx.place),
                    )
                    .at(span, "no block here")
                    .help(block_help(ctx)),
                );
                any
            }
            Root::Profile | Root::Block => {
                let schema = if root == Root::Profile {
                    &self.profile
                } else {
                    &self.content
                };
                match schema.slot(&dotted) {
                    Some(slot) => {
                        let ty = schema.field(slot).map_or(Ty::Any, |f| f.ty.into());
                        let c = if root == Root::Profile {
                            CExpr::Profile(slot)
                        } else {
                            CExpr::Block(slot)
                        };
                        (c, ty)
                    }
                    // The schema did not parse: its fields are unknown, not absent.
                    None if self.unparsed(
                        if root == Root::Profile {
                            ast::ItemKeyword::Profile
                        } else {
                            ast::ItemKeyword::Content
                        },
                        None,
                    ) =>
                    {
                        any
                    }
                    None => {
                        let names: Vec<String> = schema.names().map(str::to_owned).collect();
                        let kind = if root == Root::Profile {
                            "profile"
                        } else {
                            "content"
                        };
                        let mut d = Diagnostic::error(
                            "tailor::unknown_field",
                            format!("unknown field `{}.{dotted}`", root.name()),
                        )
                        .at(span, format!("not declared in `{kind} {{ … }}`"));
                        let prefixed: Vec<&str> = names
                            .iter()
                            .filter(|n| n.starts_with(&format!("{dotted}.")))
                            .map(String::as_str)
                            .collect();
                        d = if let Some(s) = suggest(&dotted, names.iter().map(String::as_str)) {
                            d.help(format!("did you mean `{}.{s}`?", root.name()))
                        } else if !prefixed.is_empty() {
                            d.help(format!(
                                "`{dotted}` holds other fields; name one, such as `{}.{}`",
                                root.name(),
                                prefixed.first().copied().unwrap_or("")
                            ))
                        } else {
                            d.help(format!(
                                "declare it in `{kind} {{ … }}`, as in `{dotted}: string`"
                            ))
                        };
                        self.error(d);
                        any
                    }
                }
            }
            Root::Event => match EventField::parse(&dotted) {
                Some(f) => (CExpr::Event(f), f.ty().into()),
                None => {
                    let names = EventField::ALL.map(EventField::name);
                    let mut d = Diagnostic::error(
                        "tailor::unknown_field",
                        format!("unknown field `event.{dotted}`"),
                    )
                    .at(span, "not an event field");
                    d = match suggest(&dotted, names) {
                        Some(s) => d.help(format!("did you mean `event.{s}`?")),
                        None => d.help(format!("the event fields are {}", names.join(", "))),
                    };
                    self.error(d);
                    any
                }
            },
        }
    }

    fn call(
        &mut self,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        ctx: ExprCtx,
    ) -> (CExpr, Ty) {
        let compiled: Vec<(CExpr, Ty, Span)> = args
            .iter()
            .map(|a| {
                let (c, t) = self.expr(a, ctx);
                (c, t, a.span)
            })
            .collect();
        let Some(b) = Builtin::parse(&func.name) else {
            let mut d = Diagnostic::error(
                "tailor::unknown_function",
                format!("unknown function `{}`", func.name),
            )
            .at(func.span, "not a built-in");
            d = match suggest(&func.name, Builtin::names()) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help(format!(
                    "the built-ins are {}; script functions are called as `script::function(…)`",
                    Builtin::names().collect::<Vec<_>>().join(", ")
                )),
            };
            self.error(d);
            return (CExpr::Const(Value::Bool(false)), Ty::Any);
        };
        let (params, ret) = (b.params(), b.ret());
        if compiled.len() != params.len() {
            self.error(
                Diagnostic::error(
                    "tailor::arity",
                    format!(
                        "`{}` takes {} argument{}, found {}",
                        b.name(),
                        params.len(),
                        if params.len() == 1 { "" } else { "s" },
                        compiled.len()
                    ),
                )
                .at(span, "wrong number of arguments")
                .help(format!("its signature is `{}`", b.signature())),
            );
            return (CExpr::Const(Value::Bool(false)), ret);
        }
        for ((_, t, s), p) in compiled.iter().zip(params) {
            if !p.accepts(*t) {
                self.error(
                    mismatch(
                        *s,
                        &format!("{} as an argument of `{}`", p.expected(), b.name()),
                        *t,
                    )
                    .help(format!("its signature is `{}`", b.signature())),
                );
            }
        }
        (
            CExpr::Call(b, compiled.into_iter().map(|(c, _, _)| c).collect()),
            ret,
        )
    }

    fn script_call(
        &mut self,
        script: &ast::Ident,
        func: &ast::Ident,
        args: &[ast::Expr],
        span: Span,
        ctx: ExprCtx,
    ) -> (CExpr, Ty) {
        let any = (CExpr::Const(Value::Bool(false)), Ty::Any);
        let mut compiled = Vec::new();
        for a in args {
            // Bare records are allowed here, and only here.
            let (c, t) = match &a.kind {
                ExprKind::Root(Root::Block) if !ctx.allow_block => {
                    self.error(
                        Diagnostic::error(
                            "tailor::block_outside_pick",
                            format!("`block` cannot be used in {}", ctx.place),
                        )
                        .at(a.span, "no block here")
                        .help(block_help(ctx)),
                    );
                    (CExpr::Record(Root::Block), Ty::Any)
                }
                ExprKind::Root(r) => (CExpr::Record(*r), Ty::Record(*r)),
                _ => self.expr(a, ctx),
            };
            compiled.push((c, t, a.span));
        }
        let Some(&si) = self.script_index.get(&script.name) else {
            if self.unparsed(ast::ItemKeyword::Script, Some(&script.name)) {
                return any;
            }
            let names: Vec<&str> = self.script_index.keys().map(String::as_str).collect();
            let mut d = Diagnostic::error(
                "tailor::unknown_script",
                format!("unknown script `{}`", script.name),
            )
            .at(script.span, "no such script");
            d = match suggest(&script.name, names) {
                Some(s) => d.help(format!("did you mean `{s}`?")),
                None => d.help("declare it with `script NAME from \"PATH.rhai\" { fn … }`"),
            };
            self.error(d);
            return any;
        };
        let Some(s) = self.scripts.get(si) else {
            return any;
        };
        let Some(fi) = s.fns.iter().position(|f| f.name == func.name) else {
            let mut d = Diagnostic::error(
                "tailor::unknown_function",
                format!(
                    "script `{}` declares no function `{}`",
                    script.name, func.name
                ),
            )
            .at(func.span, "not declared");
            d = match suggest(&func.name, s.fns.iter().map(|f| f.name.as_str())) {
                Some(x) => d.help(format!("did you mean `{x}`?")),
                None => d.help(format!(
                    "declare it in `script {} … {{ fn {}(…) -> … }}`",
                    script.name, func.name
                )),
            };
            self.error(d);
            return any;
        };
        let Some(f) = s.fns.get(fi).cloned() else {
            return any;
        };
        if f.params.len() != compiled.len() {
            self.error(
                Diagnostic::error(
                    "tailor::arity",
                    format!(
                        "`{}::{}` takes {} arguments, found {}",
                        script.name,
                        func.name,
                        f.params.len(),
                        compiled.len()
                    ),
                )
                .at(span, "wrong number of arguments")
                .also(f.span, "declared here")
                .help(format!(
                    "pass {} argument{}, as the script's declaration says",
                    f.params.len(),
                    if f.params.len() == 1 { "" } else { "s" }
                )),
            );
            return (CExpr::Const(Value::Bool(false)), f.ret);
        }
        for ((_, t, sp), p) in compiled.iter().zip(&f.params) {
            let ok = match p {
                Ty::Record(_) => t == p || *t == Ty::Any,
                Ty::Any => !matches!(t, Ty::Record(_)),
                _ => t.fits(*p),
            };
            if !ok {
                self.error(
                    mismatch(
                        *sp,
                        &format!("`{p}` as an argument of `{}::{}`", script.name, func.name),
                        *t,
                    )
                    .also(f.span, "declared here")
                    .help(format!(
                        "the declaration says this argument is `{p}`: pass one, or change the declaration"
                    )),
                );
            }
        }
        (
            CExpr::Script(ScriptCall {
                script: si,
                func: fi,
                args: compiled.into_iter().map(|(c, _, _)| c).collect(),
                ret: f.ret,
                span,
            }),
            f.ret,
        )
    }

    fn binary(
        &mut self,
        op: BinaryOp,
        lhs: &ast::Expr,
        rhs: &ast::Expr,
        span: Span,
        ctx: ExprCtx,
    ) -> (CExpr, Ty) {
        let (l, lt) = self.expr(lhs, ctx);
        let (r, rt) = self.expr(rhs, ctx);
        let any = lt == Ty::Any || rt == Ty::Any;
        let bad = |this: &mut Self, what: String, help: &str| {
            this.error(
                Diagnostic::error("tailor::type_mismatch", what)
                    .at(span, format!("`{lt}` {} `{rt}`", op.symbol()))
                    .help(help.to_owned()),
            );
        };
        let ty = match op {
            BinaryOp::And | BinaryOp::Or => {
                for (t, s) in [(lt, lhs.span), (rt, rhs.span)] {
                    if !matches!(t, Ty::Bool | Ty::Any) {
                        self.error(
                            mismatch(s, &format!("`bool` on each side of `{}`", op.symbol()), t)
                                .help(format!(
                                    "`{}` joins conditions, as in `profile.age >= 60 {} \"taiwan\" in profile.interests`",
                                    op.symbol(),
                                    op.symbol()
                                )),
                        );
                    }
                }
                let (l, r) = (Box::new(l), Box::new(r));
                return (
                    if op == BinaryOp::And {
                        CExpr::And(l, r)
                    } else {
                        CExpr::Or(l, r)
                    },
                    Ty::Bool,
                );
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                let ok = any
                    || lt == rt
                    || (lt.is_numeric() && rt.is_numeric())
                    || (lt.element().is_some()
                        && rt.element().is_some()
                        && comparable_elems(lt, rt));
                if !ok || matches!(lt, Ty::Record(_)) || matches!(rt, Ty::Record(_)) {
                    let help = quoted_number(lhs, rhs, lt, rt).unwrap_or_else(|| {
                        "`==` and `!=` compare values of the same type (ints and floats compare as numbers)".to_owned()
                    });
                    bad(self, format!("cannot compare `{lt}` with `{rt}`"), &help);
                }
                Ty::Bool
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ordered = |t: Ty| {
                    matches!(
                        t,
                        Ty::Int | Ty::Float | Ty::String | Ty::Time | Ty::Duration | Ty::Any
                    )
                };
                let ok = ordered(lt)
                    && ordered(rt)
                    && (any || lt == rt || (lt.is_numeric() && rt.is_numeric()));
                if !ok {
                    let help = quoted_number(lhs, rhs, lt, rt).unwrap_or_else(|| {
                        if lt == Ty::Time || rt == Ty::Time {
                            "times compare with times: write `profile.last_seen > now - 7d`"
                        } else {
                            "`<` `<=` `>` `>=` compare numbers, strings, times or durations of the same type"
                        }
                        .to_owned()
                    });
                    bad(self, format!("cannot order `{lt}` against `{rt}`"), &help);
                }
                Ty::Bool
            }
            BinaryOp::In | BinaryOp::NotIn => {
                let ok = any
                    || (lt == Ty::String && rt == Ty::String)
                    || rt.element().is_some_and(|e| {
                        e == Ty::Any || lt.fits(e) || (lt.is_numeric() && e.is_numeric())
                    });
                if !ok {
                    let help = match rt.element() {
                        Some(e) => format!(
                            "the right side holds `{e}` values; the left side must be one too"
                        ),
                        None => "`in` looks for a value in a set or list, or a string in a string"
                            .to_owned(),
                    };
                    bad(self, format!("cannot look for `{lt}` in `{rt}`"), &help);
                }
                Ty::Bool
            }
            BinaryOp::Intersects => {
                let ok = any
                    || (lt.element().is_some()
                        && rt.element().is_some()
                        && comparable_elems(lt, rt));
                if !ok {
                    bad(
                        self,
                        format!(
                            "`intersects` needs two sets (or a set and a list) of one element type, found `{lt}` and `{rt}`"
                        ),
                        "as in `profile.interests intersects [\"taiwan\", \"sports\"]`",
                    );
                }
                Ty::Bool
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => {
                match arith_type(op, lt, rt) {
                    Some(t) => t,
                    None => {
                        let time_and_int = matches!(op, BinaryOp::Add | BinaryOp::Sub)
                            && matches!((lt, rt), (Ty::Time, Ty::Int) | (Ty::Int, Ty::Time));
                        let help = if time_and_int {
                            "a time moves by a duration, not a number: give the number a unit, as in `now - 7d` or `now + 12h`"
                        } else {
                            arith_help(op)
                        };
                        bad(
                            self,
                            format!("cannot apply `{}` to `{lt}` and `{rt}`", op.symbol()),
                            help,
                        );
                        Ty::Any
                    }
                }
            }
        };
        (CExpr::Binary(op, Box::new(l), Box::new(r)), ty)
    }
}

/// Help for a number compared with a number written in quotes (`profile.age > "60"`).
fn quoted_number(lhs: &ast::Expr, rhs: &ast::Expr, lt: Ty, rt: Ty) -> Option<String> {
    let quoted = match (&lhs.kind, &rhs.kind) {
        (_, ExprKind::Literal(Literal::Str(s))) if lt.is_numeric() => s,
        (ExprKind::Literal(Literal::Str(s)), _) if rt.is_numeric() => s,
        _ => return None,
    };
    let number = quoted.trim();
    number
        .parse::<f64>()
        .is_ok()
        .then(|| format!("`\"{quoted}\"` is a string: write the number without quotes, `{number}`"))
}

fn comparable_elems(a: Ty, b: Ty) -> bool {
    match (a.element(), b.element()) {
        (Some(x), Some(y)) => {
            x == y || x == Ty::Any || y == Ty::Any || (x.is_numeric() && y.is_numeric())
        }
        _ => false,
    }
}

/// The result type of arithmetic, if defined.
pub(crate) fn arith_type(op: BinaryOp, l: Ty, r: Ty) -> Option<Ty> {
    use Ty::*;
    if l == Any || r == Any {
        return Some(match (l, r) {
            (Any, Any) => Any,
            (Any, t) | (t, Any) if t.is_numeric() => t,
            _ => Any,
        });
    }
    Some(match (op, l, r) {
        (_, Int, Int) => Int,
        (_, Int | Float, Int | Float) => Float,
        (BinaryOp::Add, Time, Duration) | (BinaryOp::Add, Duration, Time) => Time,
        (BinaryOp::Sub, Time, Duration) => Time,
        (BinaryOp::Sub, Time, Time) => Duration,
        (BinaryOp::Add | BinaryOp::Sub, Duration, Duration) => Duration,
        (BinaryOp::Mul, Duration, Int) | (BinaryOp::Mul, Int, Duration) => Duration,
        (BinaryOp::Div, Duration, Int) => Duration,
        (BinaryOp::Add, String, String) => String,
        _ => return None,
    })
}

fn arith_help(op: BinaryOp) -> &'static str {
    match op {
        BinaryOp::Add => "`+` adds numbers, a duration to a time or duration, or joins strings",
        BinaryOp::Sub => "`-` subtracts numbers, a duration from a time, or a time from a time",
        BinaryOp::Mul => "`*` multiplies numbers, or a duration by an int",
        BinaryOp::Div => "`/` divides numbers, or a duration by an int",
        _ => "`%` takes the remainder of numbers",
    }
}

fn literal(l: &Literal) -> (CExpr, Ty) {
    match l {
        Literal::Bool(b) => (CExpr::Const(Value::Bool(*b)), Ty::Bool),
        Literal::Int(i) => (CExpr::Const(Value::Int(*i)), Ty::Int),
        Literal::Float(f) => (CExpr::Const(Value::Float(*f)), Ty::Float),
        Literal::Str(s) => (CExpr::Const(Value::str(s)), Ty::String),
        Literal::Duration(d) => (
            CExpr::Const(Value::Duration(jiff::SignedDuration::from_secs(
                d.seconds(),
            ))),
            Ty::Duration,
        ),
    }
}
