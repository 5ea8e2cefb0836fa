//! The pretty-printer: any AST printed back as canonical source, comments kept.
//!
//! Canonical form: two-space indentation, one clause per line, a blank line between items
//! (consecutive segments stay together), section quotas in a column, expressions with the
//! fewest parentheses that parse back to the same tree — except around a compound operand
//! of `not`, where they are always written (`not (block.region in places)` reads as
//! meant; `not block.region in places` is the same tree but is easily misread). Comments
//! are attached by position: a comment on a line of its own is printed before the next
//! line-level node (item, field, clause, statement); a blank line of the source between
//! line-level nodes and comments is kept (one at most; none just inside braces), so a
//! file's header comment stays apart from the first item; a comment after code on the same line stays at the end of that node's line, and such
//! comments on neighbouring lines of one indentation are aligned in one column, two spaces
//! after the longest code among them.

use crate::ast::*;

/// Print a file without comments.
pub fn print_file(file: &File) -> String {
    let mut p = Printer::new(&[], "");
    p.file(file);
    p.out
}

/// Print a file in canonical form, keeping the comments found in `src` (its source).
pub fn format_file(file: &File, src: &str) -> String {
    let mut p = Printer::new(&file.comments, src);
    p.file(file);
    align_trailing(&p.out, &p.trailing)
}

/// Aligns the trailing comments (each starting at one of `marks`, the byte offsets of the
/// space before their `#`) of neighbouring lines: a run of non-blank lines of one
/// indentation puts its comments two spaces after its longest commented code.
fn align_trailing(out: &str, marks: &[usize]) -> String {
    // Each line: its text, and where its comment starts in it.
    let mut lines: Vec<(&str, Option<usize>)> = Vec::new();
    let mut start = 0;
    let mut next = marks.iter().copied().peekable();
    for line in out.split_inclusive('\n') {
        let end = start + line.len();
        let mut mark = None;
        while let Some(&m) = next.peek() {
            if m >= end {
                break;
            }
            if m >= start {
                mark = Some(m - start);
            }
            next.next();
        }
        lines.push((line, mark));
        start = end;
    }
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let blank = |l: &str| l.trim().is_empty();
    let mut result = String::with_capacity(out.len());
    let mut i = 0;
    while let Some(&(first, _)) = lines.get(i) {
        // The run of lines that starts here.
        let mut j = i + 1;
        while let Some(&(l, _)) = lines.get(j) {
            if blank(first) || blank(l) || indent(l) != indent(first) {
                break;
            }
            j += 1;
        }
        let run = lines.get(i..j).unwrap_or(&[]);
        let column = run
            .iter()
            .filter_map(|(l, m)| m.and_then(|m| l.get(..m)).map(|code| code.chars().count()))
            .max();
        for &(l, m) in run {
            match (m, column) {
                (Some(m), Some(column)) => {
                    let code = l.get(..m).unwrap_or(l);
                    let comment = l.get(m + 1..).unwrap_or("");
                    result.push_str(code);
                    for _ in code.chars().count()..column + 2 {
                        result.push(' ');
                    }
                    result.push_str(comment);
                }
                _ => result.push_str(l),
            }
        }
        i = j;
    }
    result
}

/// Print one expression.
pub fn print_expr(e: &Expr) -> String {
    let mut s = String::new();
    expr(&mut s, e, 0);
    s
}

struct Printer<'a> {
    out: String,
    comments: &'a [Comment],
    next: usize,
    src: &'a str,
    /// Where each trailing comment starts in `out` (the space before its `#`).
    trailing: Vec<usize>,
    /// The source offset where the last node or comment printed ends.
    last_end: u32,
}

const INDENT: &str = "  ";

impl<'a> Printer<'a> {
    fn new(comments: &'a [Comment], src: &'a str) -> Printer<'a> {
        Printer {
            out: String::new(),
            comments,
            next: 0,
            src,
            trailing: Vec::new(),
            last_end: 0,
        }
    }

    fn indent(&mut self, level: usize) {
        for _ in 0..level {
            self.out.push_str(INDENT);
        }
    }

    /// Emit every pending comment that starts before `offset`, each on its own line, and
    /// the blank lines the source has between the nodes and comments (one at most).
    fn leading(&mut self, offset: u32, level: usize) {
        loop {
            let pending = self
                .comments
                .get(self.next)
                .filter(|c| c.span.start < offset);
            self.keep_blank(pending.map_or(offset, |c| c.span.start));
            let Some(c) = pending else {
                break;
            };
            self.indent(level);
            self.out.push('#');
            self.out.push_str(&c.text);
            self.out.push('\n');
            self.last_end = c.span.end;
            self.next += 1;
        }
    }

    /// One blank line where the source has one or more between the last node or comment
    /// printed and `next` — not right after an opening brace, not before a closing one
    /// (then the gap holds the `}`), and not twice.
    fn keep_blank(&mut self, next: u32) {
        let gap = self
            .src
            .get(self.last_end as usize..next as usize)
            .unwrap_or("");
        if gap.trim().is_empty()
            && gap.matches('\n').count() >= 2
            && !self.out.is_empty()
            && !self.out.ends_with("{\n")
            && !self.out.ends_with("\n\n")
        {
            self.out.push('\n');
        }
    }

    /// After a node that ended at `end`, keep a comment that followed it on the same line.
    fn line_end(&mut self, end: u32) {
        self.last_end = self.last_end.max(end);
        if let Some(c) = self.comments.get(self.next) {
            let between = self
                .src
                .get(end as usize..c.span.start as usize)
                .unwrap_or("\n");
            if c.trailing && c.span.start >= end && !between.contains('\n') {
                self.trailing.push(self.out.len());
                self.out.push_str(" #");
                self.out.push_str(&c.text);
                self.last_end = c.span.end;
                self.next += 1;
            }
        }
        self.out.push('\n');
    }

    fn file(&mut self, f: &File) {
        let mut prev: Option<&Item> = None;
        for item in &f.items {
            if let Some(p) = prev {
                let grouped = matches!((p, item), (Item::Segment(_), Item::Segment(_)));
                let comment_next = self
                    .comments
                    .get(self.next)
                    .is_some_and(|c| c.span.start < item.span().start);
                if !grouped || comment_next {
                    self.out.push('\n');
                }
            }
            self.leading(item.span().start, 0);
            self.item(item);
            prev = Some(item);
        }
        self.leading(u32::MAX, 0);
    }

    fn close(&mut self, span_end: u32, level: usize) {
        self.leading(span_end, level + 1);
        self.indent(level);
        self.out.push('}');
        self.line_end(span_end);
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Profile(s) => self.schema("profile", s),
            Item::Content(s) => self.schema("content", s),
            Item::Edition(e) => self.edition(e),
            Item::Segment(s) => {
                self.out.push_str("segment ");
                self.out.push_str(&s.name.name);
                self.out.push_str(" = ");
                expr(&mut self.out, &s.expr, 0);
                self.line_end(s.span.end);
            }
            Item::Script(s) => {
                self.out.push_str("script ");
                self.out.push_str(&s.name.name);
                self.out.push_str(" from ");
                string(&mut self.out, &s.path.value);
                self.out.push_str(" {\n");
                for f in &s.fns {
                    self.leading(f.span.start, 1);
                    self.indent(1);
                    self.out.push_str("fn ");
                    self.out.push_str(&f.name.name);
                    self.out.push('(');
                    for (i, p) in f.params.iter().enumerate() {
                        if i > 0 {
                            self.out.push_str(", ");
                        }
                        self.out.push_str(&p.name.name);
                        if let Some(t) = &p.ty {
                            self.out.push_str(": ");
                            self.out.push_str(t.ty.name());
                        }
                    }
                    self.out.push_str(") -> ");
                    self.out.push_str(f.ret.ty.name());
                    self.line_end(f.span.end);
                }
                self.close(s.span.end, 0);
            }
            Item::Rule(r) => self.rule(r),
            Item::Learn(l) => self.learn(l),
        }
    }

    fn schema(&mut self, kw: &str, s: &Schema) {
        self.out.push_str(kw);
        self.out.push_str(" {\n");
        for f in &s.fields {
            self.leading(f.span.start, 1);
            self.indent(1);
            self.out.push_str(&f.dotted());
            self.out.push_str(": ");
            self.out.push_str(f.ty.ty.name());
            self.line_end(f.span.end);
        }
        self.close(s.span.end, 0);
    }

    fn clause_start(&mut self, start: u32, level: usize) {
        self.leading(start, level);
        self.indent(level);
    }

    fn edition(&mut self, e: &Edition) {
        self.out.push_str("edition ");
        self.out.push_str(&e.name.name);
        self.out.push_str(" {\n");
        if let Some(t) = &e.title {
            self.clause_start(t.span.start, 1);
            self.out.push_str("title ");
            string(&mut self.out, &t.value);
            self.line_end(t.span.end);
        }
        if let Some(t) = &e.timezone {
            self.clause_start(t.span.start, 1);
            self.out.push_str("timezone ");
            string(&mut self.out, &t.value);
            self.line_end(t.span.end);
        }
        if let Some(m) = &e.max {
            self.clause_start(m.span.start, 1);
            self.out.push_str(&format!("max {}", m.value));
            self.line_end(m.span.end);
        }
        if let Some(m) = &e.min {
            self.clause_start(m.span.start, 1);
            self.out.push_str(&format!("min {}", m.value));
            self.line_end(m.span.end);
        }
        if let Some(span) = e.sections_span {
            self.clause_start(span.start, 1);
            self.out.push_str("sections {\n");
            // Quotas in a column: names padded to the longest.
            let width = e
                .sections
                .iter()
                .map(|s| s.name.name.len())
                .max()
                .unwrap_or(0);
            for s in &e.sections {
                self.clause_start(s.span.start, 2);
                self.out
                    .push_str(&format!("{:width$} {}", s.name.name, s.quota.value));
                self.line_end(s.span.end);
            }
            self.close(span.end, 1);
        }
        if let Some(c) = &e.cap {
            self.clause_start(c.span.start, 1);
            cap(&mut self.out, c);
            self.line_end(c.span.end);
        }
        if let Some(r) = &e.repeat {
            self.clause_start(r.span.start, 1);
            self.out.push_str("repeat after ");
            duration(&mut self.out, r);
            self.line_end(r.span.end);
        }
        if let Some(fb) = &e.fallback {
            self.clause_start(fb.span.start, 1);
            self.out.push_str("fallback {\n");
            for p in &fb.picks {
                self.clause_start(p.span.start, 2);
                pick(&mut self.out, p);
                self.line_end(p.span.end);
            }
            self.close(fb.span.end, 1);
        }
        self.close(e.span.end, 0);
    }

    fn rule(&mut self, r: &Rule) {
        self.out.push_str("rule ");
        self.out.push_str(&r.name.name);
        self.out.push_str(" {\n");
        if let Some(first) = r.on.first() {
            self.clause_start(first.span.start, 1);
            self.out.push_str("on ");
            kinds(&mut self.out, &r.on);
            self.line_end(r.on.last().map_or(first.span.end, |k| k.span.end));
        }
        if let Some(p) = &r.priority {
            self.clause_start(p.span.start, 1);
            self.out.push_str(&format!("priority {}", p.value));
            self.line_end(p.span.end);
        }
        if let Some(w) = &r.when {
            self.clause_start(w.span.start, 1);
            self.out.push_str("when ");
            expr(&mut self.out, w, 0);
            self.line_end(w.span.end);
        }
        for a in &r.actions {
            self.clause_start(a.span().start, 1);
            match a {
                Action::Pick(p) => pick(&mut self.out, p),
                Action::Drop(d) => {
                    self.out.push_str("drop where ");
                    expr(&mut self.out, &d.filter, 0);
                }
            }
            self.line_end(a.span().end);
        }
        if let Some(c) = &r.cap {
            self.clause_start(c.span.start, 1);
            cap(&mut self.out, c);
            self.line_end(c.span.end);
        }
        self.close(r.span.end, 0);
    }

    fn learn(&mut self, l: &Learn) {
        self.out.push_str("learn on ");
        kinds(&mut self.out, &l.on);
        self.out.push_str(" {\n");
        if let Some(w) = &l.when {
            self.clause_start(w.span.start, 1);
            self.out.push_str("when ");
            expr(&mut self.out, w, 0);
            self.line_end(w.span.end);
        }
        for s in &l.stmts {
            self.clause_start(s.span().start, 1);
            stmt(&mut self.out, s);
            self.line_end(s.span().end);
        }
        self.close(l.span.end, 0);
    }
}

fn kinds(out: &mut String, ks: &[EventKindLit]) {
    for (i, k) in ks.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(k.kind.name());
    }
}

fn cap(out: &mut String, c: &Cap) {
    out.push_str(&format!("cap {} per ", c.count.value));
    duration(out, &c.per);
}

fn duration(out: &mut String, d: &DurationLit) {
    out.push_str(&format!("{}{}", d.amount, d.unit.suffix()));
}

fn pick(out: &mut String, p: &Pick) {
    out.push_str(&format!("pick {} from {}", p.count.value, p.section.name));
    if let Some(f) = &p.filter {
        out.push_str(" where ");
        expr(out, f, 0);
    }
    match &p.order {
        None => {}
        Some(Order::Newest(_)) => out.push_str(" order by newest"),
        Some(Order::Oldest(_)) => out.push_str(" order by oldest"),
        Some(Order::By { key, direction, .. }) => {
            out.push_str(" order by ");
            expr(out, key, 0);
            out.push_str(match direction {
                Direction::Asc => " asc",
                Direction::Desc => " desc",
            });
        }
    }
}

fn stmt(out: &mut String, s: &Stmt) {
    match s {
        Stmt::Set { path, value, .. } => {
            out.push_str(&format!("set profile.{} = ", path.dotted()));
            expr(out, value, 0);
        }
        Stmt::Unset { path, .. } => out.push_str(&format!("unset profile.{}", path.dotted())),
        Stmt::Add { value, path, .. } => {
            out.push_str("add ");
            expr(out, value, 0);
            out.push_str(&format!(" to profile.{}", path.dotted()));
        }
        Stmt::Remove { value, path, .. } => {
            out.push_str("remove ");
            expr(out, value, 0);
            out.push_str(&format!(" from profile.{}", path.dotted()));
        }
        Stmt::Incr { path, key, by, .. } => {
            out.push_str(&format!("incr profile.{}[", path.dotted()));
            expr(out, key, 0);
            out.push(']');
            if let Some(b) = by {
                out.push_str(" by ");
                expr(out, b, 0);
            }
        }
    }
}

/// Print a string literal with the escapes of language.md §2.
pub fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:X}}}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Print a float so that it reads back as the same float (never in exponent form).
pub fn float(out: &mut String, f: f64) {
    let s = format!("{f}");
    out.push_str(&s);
    if !s.contains('.') {
        out.push_str(".0");
    }
}

/// Print `e`, parenthesized when its precedence is below `min`.
fn expr(out: &mut String, e: &Expr, min: u8) {
    let prec = precedence(e);
    let paren = prec < min;
    if paren {
        out.push('(');
    }
    match &e.kind {
        ExprKind::Literal(l) => match l {
            Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Literal::Int(i) => out.push_str(&i.to_string()),
            Literal::Float(f) => float(out, *f),
            Literal::Str(s) => string(out, s),
            Literal::Duration(d) => duration(out, d),
        },
        ExprKind::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                expr(out, item, 0);
            }
            out.push(']');
        }
        ExprKind::Now => out.push_str("now"),
        ExprKind::Root(r) => out.push_str(r.name()),
        ExprKind::Field { root, path } => {
            out.push_str(root.name());
            for p in path {
                out.push('.');
                out.push_str(&p.name);
            }
        }
        ExprKind::Name(n) => out.push_str(&n.name),
        ExprKind::Index { target, key } => {
            expr(out, target, POSTFIX_PRECEDENCE);
            out.push('[');
            expr(out, key, 0);
            out.push(']');
        }
        ExprKind::Call { func, args } => {
            out.push_str(&func.name);
            call_args(out, args);
        }
        ExprKind::ScriptCall { script, func, args } => {
            out.push_str(&script.name);
            out.push_str("::");
            out.push_str(&func.name);
            call_args(out, args);
        }
        ExprKind::Unary { op, operand } => match op {
            // A compound operand keeps its parentheses: `not (a in b)`.
            UnaryOp::Not
                if matches!(
                    operand.kind,
                    ExprKind::Binary { .. } | ExprKind::Matches { .. } | ExprKind::Exists(_)
                ) =>
            {
                out.push_str("not (");
                expr(out, operand, 0);
                out.push(')');
            }
            UnaryOp::Not => {
                out.push_str("not ");
                expr(out, operand, NOT_PRECEDENCE);
            }
            UnaryOp::Neg => {
                out.push('-');
                expr(out, operand, NEG_PRECEDENCE);
            }
        },
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            // Comparisons do not chain: both operands bind tighter.
            let left_min = if op.is_comparison() { p + 1 } else { p };
            expr(out, lhs, left_min);
            out.push(' ');
            out.push_str(op.symbol());
            out.push(' ');
            expr(out, rhs, p + 1);
        }
        ExprKind::Matches { subject, pattern } => {
            expr(out, subject, COMPARISON_PRECEDENCE + 1);
            out.push_str(" matches ");
            string(out, &pattern.value);
        }
        ExprKind::Exists(inner) => {
            expr(out, inner, COMPARISON_PRECEDENCE + 1);
            out.push_str(" exists");
        }
    }
    if paren {
        out.push(')');
    }
}

const POSTFIX_PRECEDENCE: u8 = 8;

fn precedence(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Unary {
            op: UnaryOp::Not, ..
        } => NOT_PRECEDENCE,
        ExprKind::Unary {
            op: UnaryOp::Neg, ..
        } => NEG_PRECEDENCE,
        ExprKind::Matches { .. } | ExprKind::Exists(_) => COMPARISON_PRECEDENCE,
        ExprKind::Index { .. } => POSTFIX_PRECEDENCE,
        _ => POSTFIX_PRECEDENCE + 1,
    }
}

fn call_args(out: &mut String, args: &[Expr]) {
    out.push('(');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        expr(out, a, 0);
    }
    out.push(')');
}
