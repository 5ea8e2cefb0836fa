//! Span rewriting over the AST: erasing spans (to compare ASTs parsed from different
//! texts) and shifting them.

use crate::ast::*;
use crate::span::Span;

type Map<'a> = &'a mut dyn FnMut(Span) -> Span;

impl File {
    /// The same AST with every span set to the default and comments removed.
    pub fn without_spans(&self) -> File {
        let mut f = self.clone();
        f.comments.clear();
        map_file_spans(&mut f, &mut |_| Span::default());
        f
    }
}

pub fn map_file_spans(f: &mut File, m: Map<'_>) {
    for c in &mut f.comments {
        c.span = m(c.span);
    }
    for item in &mut f.items {
        map_item(item, m);
    }
}

fn ident(i: &mut Ident, m: Map<'_>) {
    i.span = m(i.span);
}

fn ty(t: &mut TypeExpr, m: Map<'_>) {
    t.span = m(t.span);
}

fn cap(c: &mut Cap, m: Map<'_>) {
    c.span = m(c.span);
    c.count.span = m(c.count.span);
    c.per.span = m(c.per.span);
}

fn kinds(ks: &mut [EventKindLit], m: Map<'_>) {
    for k in ks {
        k.span = m(k.span);
    }
}

fn map_item(item: &mut Item, m: Map<'_>) {
    match item {
        Item::Profile(s) | Item::Content(s) => {
            s.span = m(s.span);
            for f in &mut s.fields {
                f.span = m(f.span);
                f.path.iter_mut().for_each(|i| ident(i, m));
                ty(&mut f.ty, m);
            }
        }
        Item::Edition(e) => {
            e.span = m(e.span);
            ident(&mut e.name, m);
            for s in [&mut e.title, &mut e.timezone].into_iter().flatten() {
                s.span = m(s.span);
            }
            for i in [&mut e.max, &mut e.min].into_iter().flatten() {
                i.span = m(i.span);
            }
            for s in &mut e.sections {
                s.span = m(s.span);
                ident(&mut s.name, m);
                s.quota.span = m(s.quota.span);
            }
            e.sections_span = e.sections_span.map(&mut *m);
            if let Some(c) = &mut e.cap {
                cap(c, m);
            }
            if let Some(r) = &mut e.repeat {
                r.span = m(r.span);
            }
            if let Some(fb) = &mut e.fallback {
                fb.span = m(fb.span);
                fb.picks.iter_mut().for_each(|p| pick(p, m));
            }
        }
        Item::Segment(s) => {
            s.span = m(s.span);
            ident(&mut s.name, m);
            map_expr_spans(&mut s.expr, m);
        }
        Item::Script(s) => {
            s.span = m(s.span);
            ident(&mut s.name, m);
            s.path.span = m(s.path.span);
            for f in &mut s.fns {
                f.span = m(f.span);
                ident(&mut f.name, m);
                ty(&mut f.ret, m);
                for p in &mut f.params {
                    ident(&mut p.name, m);
                    if let Some(t) = &mut p.ty {
                        ty(t, m);
                    }
                }
            }
        }
        Item::Rule(r) => {
            r.span = m(r.span);
            ident(&mut r.name, m);
            kinds(&mut r.on, m);
            if let Some(p) = &mut r.priority {
                p.span = m(p.span);
            }
            if let Some(w) = &mut r.when {
                map_expr_spans(w, m);
            }
            for a in &mut r.actions {
                match a {
                    Action::Pick(p) => pick(p, m),
                    Action::Drop(d) => {
                        d.span = m(d.span);
                        map_expr_spans(&mut d.filter, m);
                    }
                }
            }
            if let Some(c) = &mut r.cap {
                cap(c, m);
            }
        }
        Item::Learn(l) => {
            l.span = m(l.span);
            kinds(&mut l.on, m);
            if let Some(w) = &mut l.when {
                map_expr_spans(w, m);
            }
            for s in &mut l.stmts {
                stmt(s, m);
            }
        }
    }
}

fn path(p: &mut ProfilePath, m: Map<'_>) {
    p.span = m(p.span);
    p.path.iter_mut().for_each(|i| ident(i, m));
}

fn stmt(s: &mut Stmt, m: Map<'_>) {
    match s {
        Stmt::Set {
            path: p,
            value,
            span,
        } => {
            *span = m(*span);
            path(p, m);
            map_expr_spans(value, m);
        }
        Stmt::Unset { path: p, span } => {
            *span = m(*span);
            path(p, m);
        }
        Stmt::Add {
            value,
            path: p,
            span,
        }
        | Stmt::Remove {
            value,
            path: p,
            span,
        } => {
            *span = m(*span);
            path(p, m);
            map_expr_spans(value, m);
        }
        Stmt::Incr {
            path: p,
            key,
            by,
            span,
        } => {
            *span = m(*span);
            path(p, m);
            map_expr_spans(key, m);
            if let Some(b) = by {
                map_expr_spans(b, m);
            }
        }
    }
}

fn pick(p: &mut Pick, m: Map<'_>) {
    p.span = m(p.span);
    p.count.span = m(p.count.span);
    ident(&mut p.section, m);
    if let Some(f) = &mut p.filter {
        map_expr_spans(f, m);
    }
    match &mut p.order {
        Some(Order::Newest(s)) | Some(Order::Oldest(s)) => *s = m(*s),
        Some(Order::By { key, span, .. }) => {
            *span = m(*span);
            map_expr_spans(key, m);
        }
        None => {}
    }
}

/// Rewrite every span of an expression.
pub fn map_expr_spans(e: &mut Expr, m: Map<'_>) {
    e.span = m(e.span);
    match &mut e.kind {
        ExprKind::Literal(Literal::Duration(d)) => d.span = m(d.span),
        ExprKind::Literal(_) | ExprKind::Now | ExprKind::Root(_) => {}
        ExprKind::List(items) => items.iter_mut().for_each(|i| map_expr_spans(i, m)),
        ExprKind::Field { path, .. } => path.iter_mut().for_each(|i| ident(i, m)),
        ExprKind::Name(i) => ident(i, m),
        ExprKind::Index { target, key } => {
            map_expr_spans(target, m);
            map_expr_spans(key, m);
        }
        ExprKind::Call { func, args } => {
            ident(func, m);
            args.iter_mut().for_each(|a| map_expr_spans(a, m));
        }
        ExprKind::ScriptCall { script, func, args } => {
            ident(script, m);
            ident(func, m);
            args.iter_mut().for_each(|a| map_expr_spans(a, m));
        }
        ExprKind::Unary { operand, .. } => map_expr_spans(operand, m),
        ExprKind::Binary { lhs, rhs, .. } => {
            map_expr_spans(lhs, m);
            map_expr_spans(rhs, m);
        }
        ExprKind::Matches { subject, pattern } => {
            map_expr_spans(subject, m);
            pattern.span = m(pattern.span);
        }
        ExprKind::Exists(inner) => map_expr_spans(inner, m),
    }
}
