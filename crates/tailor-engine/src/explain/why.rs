//! Explaining conditions: an expression's AST and its compiled form walked side by side,
//! giving the conditions that made it true or false, as written, with the values seen.

use std::collections::HashMap;

use tailor_lang::ast::{self, BinaryOp, ExprKind, Item, UnaryOp};

use super::{Fact, show_value};
use crate::eval::Ctx;
use crate::ir::CExpr;
use crate::package::Package;
use crate::value::Value;

/// The AST of the package by name, to print conditions as written.
pub(super) struct Sources<'p> {
    pub(super) rules: HashMap<&'p str, &'p ast::Rule>,
    pub(super) segments: HashMap<&'p str, &'p ast::Segment>,
    pub(super) fallback: Vec<&'p ast::Pick>,
}

impl<'p> Sources<'p> {
    pub(super) fn new(pkg: &'p Package) -> Sources<'p> {
        let mut s = Sources {
            rules: HashMap::new(),
            segments: HashMap::new(),
            fallback: Vec::new(),
        };
        for item in pkg.files().iter().flat_map(|f| f.items.iter()) {
            match item {
                Item::Rule(r) => {
                    s.rules.insert(r.name.name.as_str(), r);
                }
                Item::Segment(g) => {
                    s.segments.insert(g.name.name.as_str(), g);
                }
                Item::Edition(e) => {
                    s.fallback = e.fallback.iter().flat_map(|f| f.picks.iter()).collect();
                }
                _ => {}
            }
        }
        s
    }
}

/// Explains conditions: walks an expression's AST and its compiled form side by side.
pub(super) struct Why<'p, 'c> {
    pub(super) src: &'c Sources<'p>,
    pub(super) pkg: &'p Package,
    pub(super) tz: &'p jiff::tz::TimeZone,
}

impl Why<'_, '_> {
    /// The facts that made `a` evaluate to `want` (false: the conditions that failed;
    /// true: the conditions that held).
    pub(super) fn facts(
        &self,
        ctx: &Ctx<'_>,
        a: &ast::Expr,
        c: &CExpr,
        want: bool,
        via: &[String],
    ) -> Vec<Fact> {
        let mut out = Vec::new();
        self.collect(ctx, a, c, want, via, &mut out);
        // A leaf records the value it had to have; it is under a `not` when that differs
        // from what the whole expression had to be.
        for f in &mut out {
            f.negated = f.negated != want;
        }
        out
    }

    fn collect(
        &self,
        ctx: &Ctx<'_>,
        a: &ast::Expr,
        c: &CExpr,
        want: bool,
        via: &[String],
        out: &mut Vec<Fact>,
    ) {
        let holds = |e: &CExpr| ctx.holds(e).unwrap_or(false);
        match (&a.kind, c) {
            (
                ExprKind::Binary {
                    op: BinaryOp::And,
                    lhs,
                    rhs,
                },
                CExpr::And(l, r),
            ) => {
                if want {
                    self.collect(ctx, lhs, l, true, via, out);
                    self.collect(ctx, rhs, r, true, via, out);
                } else if !holds(l) {
                    self.collect(ctx, lhs, l, false, via, out);
                } else {
                    self.collect(ctx, rhs, r, false, via, out);
                }
            }
            (
                ExprKind::Binary {
                    op: BinaryOp::Or,
                    lhs,
                    rhs,
                },
                CExpr::Or(l, r),
            ) => {
                if !want {
                    self.collect(ctx, lhs, l, false, via, out);
                    self.collect(ctx, rhs, r, false, via, out);
                } else if holds(l) {
                    self.collect(ctx, lhs, l, true, via, out);
                } else {
                    self.collect(ctx, rhs, r, true, via, out);
                }
            }
            (
                ExprKind::Unary {
                    op: UnaryOp::Not,
                    operand,
                },
                CExpr::Not(x),
            ) => self.collect(ctx, operand, x, !want, via, out),
            (ExprKind::Name(name), CExpr::Segment(i)) => {
                let seg_ast = self.src.segments.get(name.name.as_str());
                let seg_c = self.pkg.compiled().segments.get(*i);
                match (seg_ast, seg_c) {
                    (Some(sa), Some(sc)) if via.len() < 16 => {
                        let inner = Ctx {
                            block: None,
                            ..*ctx
                        };
                        let mut via = via.to_vec();
                        via.push(name.name.clone());
                        self.collect(&inner, &sa.expr, &sc.expr, want, &via, out);
                    }
                    _ => out.push(self.leaf(ctx, a, c, want, via)),
                }
            }
            _ => out.push(self.leaf(ctx, a, c, want, via)),
        }
    }

    fn leaf(&self, ctx: &Ctx<'_>, a: &ast::Expr, c: &CExpr, want: bool, via: &[String]) -> Fact {
        let result = match ctx.eval(c) {
            Ok(Some(Value::Bool(b))) => b.to_string(),
            Ok(Some(v)) => show_value(Some(&v), self.tz),
            Ok(None) => "missing".to_owned(),
            Err(_) => "failed".to_owned(),
        };
        let mut seen = Vec::new();
        self.operands(ctx, a, c, &mut seen);
        Fact {
            text: tailor_lang::print_expr(a),
            span: a.span,
            result,
            seen,
            via: via.to_vec(),
            negated: want,
        }
    }

    /// The values of the fields, calls and `now` an expression looks at.
    fn operands(&self, ctx: &Ctx<'_>, a: &ast::Expr, c: &CExpr, seen: &mut Vec<(String, String)>) {
        match &a.kind {
            ExprKind::Field { .. }
            | ExprKind::Now
            | ExprKind::Index { .. }
            | ExprKind::Call { .. }
            | ExprKind::ScriptCall { .. } => {
                let text = tailor_lang::print_expr(a);
                if !seen.iter().any(|(t, _)| *t == text) {
                    let v = match ctx.eval(c) {
                        Ok(v) => show_value(v.as_ref(), self.tz),
                        Err(_) => "failed".to_owned(),
                    };
                    seen.push((text, v));
                }
                // A call's arguments are worth showing too: `len(profile.past_places)`.
                if let (ExprKind::Call { args, .. }, CExpr::Call(_, cargs)) = (&a.kind, c) {
                    for (x, y) in args.iter().zip(cargs) {
                        self.operands(ctx, x, y, seen);
                    }
                }
            }
            _ => {
                for (x, y) in children(a, c) {
                    self.operands(ctx, x, y, seen);
                }
            }
        }
    }
}

/// The sub-expressions of an AST node paired with those of its compiled form, when the
/// two have the same shape.
fn children<'x>(a: &'x ast::Expr, c: &'x CExpr) -> Vec<(&'x ast::Expr, &'x CExpr)> {
    match (&a.kind, c) {
        (
            ExprKind::Binary { lhs, rhs, .. },
            CExpr::Binary(_, l, r) | CExpr::And(l, r) | CExpr::Or(l, r),
        ) => vec![(&**lhs, &**l), (&**rhs, &**r)],
        (ExprKind::Unary { operand, .. }, CExpr::Not(x) | CExpr::Neg(x)) => {
            vec![(&**operand, &**x)]
        }
        (ExprKind::Matches { subject, .. }, CExpr::Matches(s, _)) => vec![(&**subject, &**s)],
        (ExprKind::Exists(x), CExpr::Exists(y)) => vec![(&**x, &**y)],
        (ExprKind::Index { target, key }, CExpr::Index(t, k)) => {
            vec![(&**target, &**t), (&**key, &**k)]
        }
        (ExprKind::Call { args, .. }, CExpr::Call(_, cargs)) => args.iter().zip(cargs).collect(),
        (ExprKind::ScriptCall { args, .. }, CExpr::Script(sc)) => {
            args.iter().zip(&sc.args).collect()
        }
        _ => Vec::new(),
    }
}
