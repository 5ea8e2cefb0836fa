//! Parsing: pest pairs lowered to the typed AST, with every syntax error reported.
//!
//! The grammar accepts a little more than the language (clauses in any order, any word as
//! a type or event kind) so that lowering can say precisely what is wrong and keep going.

use std::cell::{Cell, RefCell};
use std::sync::LazyLock;

use pest::Parser as _;
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use crate::ast::*;
use crate::diagnostic::{Diagnostic, Diagnostics, suggest};
use crate::span::{FileId, Span};

mod depth;
mod syntax;
use syntax::syntax_error;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct RulesParser;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::op_or, Assoc::Left))
        .op(Op::infix(Rule::op_and, Assoc::Left))
        .op(Op::prefix(Rule::op_not))
        .op(Op::infix(Rule::op_eq, Assoc::Left)
            | Op::infix(Rule::op_ne, Assoc::Left)
            | Op::infix(Rule::op_lt, Assoc::Left)
            | Op::infix(Rule::op_le, Assoc::Left)
            | Op::infix(Rule::op_gt, Assoc::Left)
            | Op::infix(Rule::op_ge, Assoc::Left)
            | Op::infix(Rule::op_in, Assoc::Left)
            | Op::infix(Rule::op_not_in, Assoc::Left)
            | Op::infix(Rule::op_intersects, Assoc::Left)
            | Op::infix(Rule::op_matches, Assoc::Left)
            | Op::postfix(Rule::op_exists))
        .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
        .op(Op::infix(Rule::op_mul, Assoc::Left)
            | Op::infix(Rule::op_div, Assoc::Left)
            | Op::infix(Rule::op_rem, Assoc::Left))
        .op(Op::prefix(Rule::op_neg))
        .op(Op::postfix(Rule::op_index))
});

const ITEM_KEYWORDS: [&str; 7] = [
    "profile", "content", "edition", "segment", "script", "rule", "learn",
];

/// Parse one `.rules` file. Always returns an AST (of the items that parsed) and every
/// syntax error found; a file with errors yields the items around them.
pub fn parse_file(file: FileId, src: &str) -> (File, Diagnostics) {
    let mut diags = Diagnostics::new();
    let comments = scan_comments(file, src);
    let mut unparsed = Vec::new();
    let items = match RulesParser::parse(Rule::file, src) {
        Ok(pairs) => {
            let lowerer = Lowerer::new(file, 0, src, &comments);
            let items = lowerer.file(pairs);
            diags.extend(lowerer.finish());
            items
        }
        Err(_) => {
            // Parse item by item so that an error in one item does not hide the others.
            let mut items = Vec::new();
            let all = chunks(src);
            let last = all.len().saturating_sub(1);
            for (i, (start, end)) in all.into_iter().enumerate() {
                let chunk = src.get(start..end).unwrap_or("");
                match RulesParser::parse(Rule::file, chunk) {
                    Ok(pairs) => {
                        let lowerer = Lowerer::new(file, start, src, &comments);
                        items.extend(lowerer.file(pairs));
                        diags.extend(lowerer.finish());
                    }
                    Err(e) => {
                        let head = chunk_head(chunk);
                        let next_item = (i < last).then_some((start, end));
                        diags.push(
                            syntax::unclosed_item(file, src, next_item, head.as_ref(), &e)
                                .unwrap_or_else(|| syntax_error(file, src, start, &e)),
                        );
                        unparsed.extend(head);
                    }
                }
            }
            items
        }
    };
    (
        File {
            items,
            comments,
            unparsed,
        },
        diags,
    )
}

/// Parse a single expression (used by tests and tools).
pub fn parse_expr(file: FileId, src: &str) -> Result<Expr, Diagnostics> {
    let full = format!("segment __expr = {src}");
    let offset = "segment __expr = ".len();
    let (parsed, diags) = parse_file(file, &full);
    let shift = |mut d: Diagnostics| {
        for item in &mut d.items {
            if let Some(l) = item.primary.as_mut() {
                l.span.start = l.span.start.saturating_sub(offset as u32);
                l.span.end = l.span.end.saturating_sub(offset as u32);
            }
        }
        d
    };
    if diags.has_errors() {
        return Err(shift(diags));
    }
    match parsed.items.into_iter().next() {
        Some(Item::Segment(s)) => {
            let mut e = s.expr;
            shift_expr(&mut e, offset);
            Ok(e)
        }
        _ => Err(Diagnostic::error("tailor::syntax", "expected an expression").into()),
    }
}

fn shift_expr(e: &mut Expr, offset: usize) {
    crate::erase::map_expr_spans(e, &mut |s| Span {
        file: s.file,
        start: s.start.saturating_sub(offset as u32),
        end: s.end.saturating_sub(offset as u32),
    });
}

/// Byte ranges that start at an item keyword in column 0: the unit of error recovery.
fn chunks(src: &str) -> Vec<(usize, usize)> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        if offset > 0 && starts_item(line) {
            starts.push(offset);
        }
        offset += line.len();
    }
    let mut out = Vec::new();
    for (i, &s) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(src.len());
        out.push((s, e));
    }
    out
}

/// The keyword and name of the item a chunk holds, skipping comments and blank lines.
fn chunk_head(chunk: &str) -> Option<Unparsed> {
    let code = chunk
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))?;
    let mut words = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty());
    let keyword = ItemKeyword::parse(words.next()?)?;
    let name = match keyword {
        ItemKeyword::Edition | ItemKeyword::Segment | ItemKeyword::Script | ItemKeyword::Rule => {
            words.next().map(str::to_owned)
        }
        ItemKeyword::Profile | ItemKeyword::Content | ItemKeyword::Learn => None,
    };
    Some(Unparsed { keyword, name })
}

fn starts_item(line: &str) -> bool {
    ITEM_KEYWORDS.iter().any(|k| {
        line.strip_prefix(k)
            .is_some_and(|rest| rest.starts_with([' ', '\t', '{', '\r', '\n']))
    })
}

/// Find `# …` comments outside string literals.
fn scan_comments(file: FileId, src: &str) -> Vec<Comment> {
    let mut out = Vec::new();
    let mut in_string = false;
    let mut escaped = false;
    let mut code_on_line = false;
    let mut iter = src.char_indices();
    while let Some((i, c)) = iter.next() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            if c == '\n' {
                code_on_line = false;
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                code_on_line = true;
            }
            '\n' => code_on_line = false,
            '#' => {
                let end = src
                    .get(i..)
                    .and_then(|r| r.find('\n'))
                    .map_or(src.len(), |n| i + n);
                let text = src.get(i + 1..end).unwrap_or("").trim_end_matches('\r');
                out.push(Comment {
                    text: text.to_owned(),
                    span: Span::new(file, i, end),
                    trailing: code_on_line,
                });
                // Skip to the line end; the newline itself resets `code_on_line`.
                while let Some((j, _)) = iter.clone().next() {
                    if j >= end {
                        break;
                    }
                    iter.next();
                }
            }
            c if !c.is_whitespace() => code_on_line = true,
            _ => {}
        }
    }
    out
}

/// Lowers pest pairs to AST nodes, collecting errors instead of stopping at the first.
struct Lowerer<'s> {
    file: FileId,
    base: usize,
    diags: RefCell<Diagnostics>,
    /// The whole file's text and comments: pest spans of rules that end in an optional
    /// part include the trivia after them, which [`Lowerer::span`] trims.
    src: &'s str,
    comments: &'s [Comment],
    /// How many expressions are being lowered, one inside the other.
    nested: Cell<usize>,
}

/// An expression together with whether it was written in parentheses; needed to reject
/// chained comparisons (`a < b < c`) while accepting `(a < b) == c`.
struct Lowered {
    expr: Expr,
    paren: bool,
}

impl<'s> Lowerer<'s> {
    fn new(file: FileId, base: usize, src: &'s str, comments: &'s [Comment]) -> Lowerer<'s> {
        Lowerer {
            file,
            base,
            diags: RefCell::new(Diagnostics::new()),
            src,
            comments,
            nested: Cell::new(0),
        }
    }

    fn finish(self) -> Diagnostics {
        self.diags.into_inner()
    }

    fn error(&self, d: Diagnostic) {
        self.diags.borrow_mut().push(d);
    }

    fn span(&self, p: &Pair<'_, Rule>) -> Span {
        let s = p.as_span();
        let start = self.base + s.start();
        let mut end = self.base + s.end();
        loop {
            // Only the grammar's WHITESPACE: a comment may end in other white space.
            let text = self.src.get(start..end).unwrap_or("");
            let trimmed = text.trim_end_matches([' ', '\t', '\r', '\n']);
            end = start + trimmed.len();
            // A comment's span runs to the `\n`, so on a `\r\n` line it ends past `end`.
            match self.comments.iter().find(|c| {
                let (cs, ce) = (c.span.start as usize, c.span.end as usize);
                cs >= start && cs < end && ce >= end
            }) {
                Some(c) => end = c.span.start as usize,
                None => break,
            }
        }
        Span::new(self.file, start, end)
    }

    fn ident(&self, p: Pair<'_, Rule>) -> Ident {
        Ident {
            name: p.as_str().to_owned(),
            span: self.span(&p),
        }
    }

    fn file(&self, mut pairs: Pairs<'_, Rule>) -> Vec<Item> {
        let mut items = Vec::new();
        let Some(file) = pairs.next() else {
            return items;
        };
        for p in file.into_inner() {
            let item = match p.as_rule() {
                Rule::profile_schema => Item::Profile(self.schema(p)),
                Rule::content_schema => Item::Content(self.schema(p)),
                Rule::edition => Item::Edition(self.edition(p)),
                Rule::segment => Item::Segment(self.segment(p)),
                Rule::script => Item::Script(self.script(p)),
                Rule::rule => match self.rule(p) {
                    Some(r) => Item::Rule(r),
                    None => continue,
                },
                Rule::learn => Item::Learn(self.learn(p)),
                _ => continue,
            };
            items.push(item);
        }
        items
    }

    fn schema(&self, p: Pair<'_, Rule>) -> Schema {
        let span = self.span(&p);
        let mut fields = Vec::new();
        for f in p.into_inner() {
            if f.as_rule() != Rule::field_decl {
                continue;
            }
            let fspan = self.span(&f);
            let mut inner = f.into_inner();
            let (Some(path), Some(ty)) = (inner.next(), inner.next()) else {
                continue;
            };
            let path = path.into_inner().map(|n| self.ident(n)).collect();
            let ty = self.type_expr(ty);
            fields.push(FieldDecl {
                path,
                ty,
                span: fspan,
            });
        }
        Schema { fields, span }
    }

    fn type_expr(&self, p: Pair<'_, Rule>) -> TypeExpr {
        let span = self.span(&p);
        let text: String = self
            .src
            .get(span.range())
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let ty = Type::ALL.into_iter().find(|t| t.name() == text);
        match ty {
            Some(ty) => TypeExpr { ty, span },
            None => {
                let names = Type::ALL.map(Type::name);
                let mut d =
                    Diagnostic::error("tailor::unknown_type", format!("unknown type `{text}`"))
                        .at(span, "not a type");
                // The names other languages give the same types.
                let alias = match text.to_lowercase().as_str() {
                    "integer" | "long" | "i64" => Some("int"),
                    "boolean" => Some("bool"),
                    "number" | "double" | "decimal" | "f64" => Some("float"),
                    "str" | "text" => Some("string"),
                    "datetime" | "timestamp" | "date" => Some("time"),
                    _ => None,
                };
                d = match alias.or_else(|| suggest(&text, names)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("the types are {}", names.join(", "))),
                };
                self.error(d);
                TypeExpr {
                    ty: Type::String,
                    span,
                }
            }
        }
    }

    fn int(&self, p: Pair<'_, Rule>) -> IntLit {
        let span = self.span(&p);
        let value = p.as_str().parse::<i64>().unwrap_or_else(|_| {
            self.error(
                Diagnostic::error(
                    "tailor::int_range",
                    format!("integer `{}` is too large", p.as_str()),
                )
                .at(span, "does not fit in 64 bits")
                .help("integers run from -9223372036854775808 to 9223372036854775807"),
            );
            0
        });
        IntLit { value, span }
    }

    fn duration(&self, p: Pair<'_, Rule>) -> DurationLit {
        let span = self.span(&p);
        let text = p.as_str();
        let (digits, unit) = text.split_at(text.len().saturating_sub(1));
        let unit = unit
            .chars()
            .next()
            .and_then(DurationUnit::from_suffix)
            .unwrap_or(DurationUnit::Seconds);
        let amount = match digits.parse::<i64>() {
            Ok(n) if n.checked_mul(unit.seconds()).is_some() => n,
            _ => {
                self.error(
                    Diagnostic::error(
                        "tailor::int_range",
                        format!("duration `{text}` is too large"),
                    )
                    .at(span, "does not fit in 64 bits of seconds")
                    .help("durations run up to about 292 billion years; write a shorter one"),
                );
                0
            }
        };
        DurationLit { amount, unit, span }
    }

    fn string(&self, p: Pair<'_, Rule>) -> StrLit {
        let span = self.span(&p);
        let raw = p.as_str();
        let inner = raw.get(1..raw.len().saturating_sub(1)).unwrap_or("");
        let inner_start = span.start as usize + 1;
        let mut value = String::with_capacity(inner.len());
        let mut chars = inner.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            let Some((_, e)) = chars.next() else { break };
            match e {
                '"' => value.push('"'),
                '\\' => value.push('\\'),
                'n' => value.push('\n'),
                't' => value.push('\t'),
                'u' => {
                    let rest = inner.get(i + 2..).unwrap_or("");
                    let close = rest.find('}');
                    let hex = if rest.starts_with('{') {
                        close.and_then(|c| rest.get(1..c))
                    } else {
                        None
                    };
                    let code = hex
                        .and_then(|h| u32::from_str_radix(h, 16).ok())
                        .and_then(char::from_u32);
                    // Bytes of the escape after `\u`: the braces when there are both,
                    // else the `{` alone, else nothing (the next character may be wide).
                    let len = match (rest.starts_with('{'), close) {
                        (true, Some(c)) => c + 1,
                        (true, None) => 1,
                        (false, _) => 0,
                    };
                    match code {
                        Some(ch) => value.push(ch),
                        None => self.error(
                            Diagnostic::error("tailor::escape", "invalid unicode escape")
                                .at(
                                    Span::new(
                                        self.file,
                                        inner_start + i,
                                        inner_start + i + 2 + len,
                                    ),
                                    "not a valid `\\u{…}` code point",
                                )
                                .help(
                                    "write a hexadecimal code point in braces, as in `\\u{4E2D}`",
                                ),
                        ),
                    }
                    // Skip the braces and digits.
                    while let Some(&(j, _)) = chars.peek() {
                        if j >= i + 2 + len {
                            break;
                        }
                        chars.next();
                    }
                }
                other => self.error(
                    Diagnostic::error("tailor::escape", format!("unknown escape `\\{other}`"))
                        .at(
                            Span::new(
                                self.file,
                                inner_start + i,
                                inner_start + i + 1 + other.len_utf8(),
                            ),
                            "not an escape",
                        )
                        .help("the escapes are `\\\"` `\\\\` `\\n` `\\t` and `\\u{…}`"),
                ),
            }
        }
        StrLit { value, span }
    }

    fn cap(&self, p: Pair<'_, Rule>) -> Cap {
        let span = self.span(&p);
        let mut count = IntLit { value: 0, span };
        let mut per = DurationLit {
            amount: 0,
            unit: DurationUnit::Seconds,
            span,
        };
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::int => count = self.int(q),
                Rule::duration => per = self.duration(q),
                _ => {}
            }
        }
        Cap { count, per, span }
    }

    fn edition(&self, p: Pair<'_, Rule>) -> Edition {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        inner.next(); // `edition`
        let name = inner.next().map(|n| self.ident(n)).unwrap_or(Ident {
            name: String::new(),
            span,
        });
        let mut ed = Edition {
            name,
            title: None,
            timezone: None,
            max: None,
            min: None,
            sections: Vec::new(),
            sections_span: None,
            cap: None,
            repeat: None,
            fallback: None,
            span,
        };
        let mut seen: Vec<(&'static str, Span)> = Vec::new();
        for c in inner {
            let cspan = self.span(&c);
            let key = match c.as_rule() {
                Rule::ed_title => "title",
                Rule::ed_timezone => "timezone",
                Rule::ed_max => "max",
                Rule::ed_min => "min",
                Rule::ed_sections => "sections",
                Rule::cap => "cap",
                Rule::ed_repeat => "repeat after",
                Rule::ed_fallback => "fallback",
                _ => continue,
            };
            if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
                self.error(
                    Diagnostic::error(
                        "tailor::duplicate_clause",
                        format!("`{key}` given twice in the edition"),
                    )
                    .at(cspan, "second here")
                    .also(*first, "first here")
                    .help("keep one of them"),
                );
                continue;
            }
            seen.push((key, cspan));
            let clause = c.as_rule();
            let mut parts = c.into_inner();
            parts.next(); // the keyword
            match clause {
                Rule::ed_title => ed.title = parts.next().map(|s| self.string(s)),
                Rule::ed_timezone => ed.timezone = parts.next().map(|s| self.string(s)),
                Rule::ed_max => ed.max = parts.next().map(|s| self.int(s)),
                Rule::ed_min => ed.min = parts.next().map(|s| self.int(s)),
                Rule::ed_sections => {
                    ed.sections_span = Some(cspan);
                    for s in parts {
                        let sspan = self.span(&s);
                        let mut si = s.into_inner();
                        if let (Some(n), Some(q)) = (si.next(), si.next()) {
                            ed.sections.push(SectionDecl {
                                name: self.ident(n),
                                quota: self.int(q),
                                span: sspan,
                            });
                        }
                    }
                }
                Rule::cap => {
                    // Re-assemble: the cap pair was consumed by `into_inner` above.
                    let mut count = IntLit {
                        value: 0,
                        span: cspan,
                    };
                    let mut per = DurationLit {
                        amount: 0,
                        unit: DurationUnit::Seconds,
                        span: cspan,
                    };
                    for q in parts {
                        match q.as_rule() {
                            Rule::int => count = self.int(q),
                            Rule::duration => per = self.duration(q),
                            _ => {}
                        }
                    }
                    ed.cap = Some(Cap {
                        count,
                        per,
                        span: cspan,
                    });
                }
                Rule::ed_repeat => {
                    ed.repeat = parts
                        .find(|q| q.as_rule() == Rule::duration)
                        .map(|q| self.duration(q));
                }
                Rule::ed_fallback => {
                    let picks = parts
                        .filter(|q| q.as_rule() == Rule::pick)
                        .map(|q| self.pick(q))
                        .collect();
                    ed.fallback = Some(Fallback { picks, span: cspan });
                }
                _ => {}
            }
        }
        ed
    }

    fn segment(&self, p: Pair<'_, Rule>) -> Segment {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        inner.next();
        let name = inner.next().map(|n| self.ident(n)).unwrap_or(Ident {
            name: String::new(),
            span,
        });
        let expr = inner
            .next()
            .map(|e| self.expr(e))
            .unwrap_or_else(|| Expr::new(ExprKind::Literal(Literal::Bool(false)), span));
        Segment { name, expr, span }
    }

    fn script(&self, p: Pair<'_, Rule>) -> Script {
        let span = self.span(&p);
        let mut name = Ident {
            name: String::new(),
            span,
        };
        let mut path = StrLit {
            value: String::new(),
            span,
        };
        let mut fns = Vec::new();
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::ident => name = self.ident(q),
                Rule::string => path = self.string(q),
                Rule::script_fn => fns.push(self.script_fn(q)),
                _ => {}
            }
        }
        Script {
            name,
            path,
            fns,
            span,
        }
    }

    fn script_fn(&self, p: Pair<'_, Rule>) -> ScriptFn {
        let span = self.span(&p);
        let mut name = Ident {
            name: String::new(),
            span,
        };
        let mut params = Vec::new();
        let mut ret = TypeExpr {
            ty: Type::Bool,
            span,
        };
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::ident => name = self.ident(q),
                Rule::param => {
                    let mut pi = q.into_inner();
                    if let Some(n) = pi.next() {
                        let ty = pi.next().map(|t| self.type_expr(t));
                        params.push(Param {
                            name: self.ident(n),
                            ty,
                        });
                    }
                }
                Rule::type_expr => ret = self.type_expr(q),
                _ => {}
            }
        }
        ScriptFn {
            name,
            params,
            ret,
            span,
        }
    }

    fn event_kinds(&self, p: Pair<'_, Rule>) -> Vec<EventKindLit> {
        let mut out: Vec<EventKindLit> = Vec::new();
        for k in p.into_inner() {
            let span = self.span(&k);
            match EventKind::parse(k.as_str()) {
                Some(kind) => {
                    if let Some(first) = out.iter().find(|e| e.kind == kind) {
                        self.error(
                            Diagnostic::error(
                                "tailor::duplicate_event_kind",
                                format!("event kind `{kind}` listed twice"),
                            )
                            .at(span, "second here")
                            .also(first.span, "first here")
                            .help("list each event kind once"),
                        );
                    } else {
                        out.push(EventKindLit { kind, span });
                    }
                }
                None => {
                    let names = EventKind::ALL.map(EventKind::name);
                    let mut d = Diagnostic::error(
                        "tailor::unknown_event_kind",
                        format!("unknown event kind `{}`", k.as_str()),
                    )
                    .at(span, "not an event kind");
                    d = match suggest(k.as_str(), names) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!("the event kinds are {}", names.join(", "))),
                    };
                    self.error(d);
                }
            }
        }
        out
    }

    fn rule(&self, p: Pair<'_, Rule>) -> Option<Rule_> {
        let span = self.span(&p);
        let mut inner = p.into_inner();
        inner.next();
        let name = inner.next().map(|n| self.ident(n))?;
        let mut rule = Rule_ {
            name,
            on: Vec::new(),
            priority: None,
            when: None,
            actions: Vec::new(),
            cap: None,
            span,
        };
        const CLAUSES: [&str; 5] = ["on", "priority", "when", "pick/drop", "cap"];
        let mut last_rank = 0usize;
        // The first clause of the highest rank so far: what an out-of-order clause follows.
        let mut last: Option<(&str, Span)> = None;
        let mut firsts: [Option<Span>; 5] = [None; 5];
        for c in inner {
            let cspan = self.span(&c);
            let rank = match c.as_rule() {
                Rule::rule_on => 0,
                Rule::rule_priority => 1,
                Rule::rule_when => 2,
                Rule::pick | Rule::drop => 3,
                Rule::cap => 4,
                _ => continue,
            };
            let keyword = match rank {
                3 if c.as_rule() == Rule::pick => "pick",
                3 => "drop",
                r => CLAUSES.get(r).copied().unwrap_or(""),
            };
            if rank != 3
                && let Some(first) = firsts.get(rank).copied().flatten()
            {
                self.error(
                    Diagnostic::error(
                        "tailor::duplicate_clause",
                        format!("`{keyword}` given twice in rule `{}`", rule.name.name),
                    )
                    .at(cspan, "second here")
                    .also(first, "first here")
                    .help("a rule has at most one of each `on`, `priority`, `when` and `cap`"),
                );
                continue;
            }
            if rank < last_rank
                && let Some((later, later_span)) = last
            {
                self.error(
                    Diagnostic::error("tailor::clause_order", format!("`{keyword}` must come before `{later}`"))
                        .at(cspan, "out of order")
                        .also(later_span, format!("`{later}` is here"))
                        .help("a rule's clauses go in this order: `on`, `priority`, `when`, actions (`pick`, `drop`), `cap`"),
                );
            }
            if rank > last_rank || last.is_none() {
                last = Some((keyword, cspan));
            }
            last_rank = last_rank.max(rank);
            if let Some(slot) = firsts.get_mut(rank)
                && slot.is_none()
            {
                *slot = Some(cspan);
            }
            let r = c.as_rule();
            match r {
                Rule::rule_on => {
                    if let Some(k) = c.into_inner().find(|q| q.as_rule() == Rule::event_kinds) {
                        rule.on = self.event_kinds(k);
                    }
                }
                Rule::rule_priority => {
                    let mut neg_span = None;
                    let mut value = IntLit {
                        value: 0,
                        span: cspan,
                    };
                    for q in c.into_inner() {
                        match q.as_rule() {
                            Rule::neg => neg_span = Some(self.span(&q)),
                            Rule::int => value = self.int(q),
                            _ => {}
                        }
                    }
                    if let Some(n) = neg_span {
                        value.value = value.value.saturating_neg();
                        value.span = n.to(value.span);
                    }
                    rule.priority = Some(value);
                }
                Rule::rule_when => rule.when = c.into_inner().nth(1).map(|e| self.expr(e)),
                Rule::pick => rule.actions.push(Action::Pick(self.pick(c))),
                Rule::drop => {
                    let filter = c
                        .into_inner()
                        .find(|q| q.as_rule() == Rule::expr)
                        .map(|e| self.expr(e))
                        .unwrap_or_else(|| {
                            Expr::new(ExprKind::Literal(Literal::Bool(false)), cspan)
                        });
                    rule.actions.push(Action::Drop(Drop {
                        filter,
                        span: cspan,
                    }));
                }
                Rule::cap => rule.cap = Some(self.cap(c)),
                _ => {}
            }
        }
        if rule.actions.is_empty() {
            self.error(
                Diagnostic::error(
                    "tailor::no_action",
                    format!("rule `{}` has no action", rule.name.name),
                )
                .at(rule.name.span, "this rule would do nothing")
                .help("add a `pick N from SECTION …` or a `drop where …`"),
            );
        }
        Some(rule)
    }

    fn pick(&self, p: Pair<'_, Rule>) -> Pick {
        let span = self.span(&p);
        let mut count = IntLit { value: 0, span };
        let mut section = Ident {
            name: String::new(),
            span,
        };
        let mut filter = None;
        let mut order = None;
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::int => count = self.int(q),
                Rule::ident => section = self.ident(q),
                Rule::pick_where => filter = q.into_inner().nth(1).map(|e| self.expr(e)),
                Rule::pick_order => {
                    let ospan = self.span(&q);
                    for o in q.into_inner() {
                        match o.as_rule() {
                            Rule::kw_newest => order = Some(Order::Newest(self.span(&o))),
                            Rule::kw_oldest => order = Some(Order::Oldest(self.span(&o))),
                            Rule::order_key => {
                                let mut oi = o.into_inner();
                                let key = oi.next().map(|e| self.expr(e));
                                let direction = match oi.next().map(|d| d.as_rule()) {
                                    Some(Rule::kw_desc) => Direction::Desc,
                                    _ => Direction::Asc,
                                };
                                if let Some(key) = key {
                                    order = Some(Order::By {
                                        key,
                                        direction,
                                        span: ospan,
                                    });
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Pick {
            count,
            section,
            filter,
            order,
            span,
        }
    }

    fn learn(&self, p: Pair<'_, Rule>) -> Learn {
        let span = self.span(&p);
        let mut learn = Learn {
            on: Vec::new(),
            when: None,
            stmts: Vec::new(),
            span,
        };
        for q in p.into_inner() {
            let qspan = self.span(&q);
            match q.as_rule() {
                Rule::event_kinds => learn.on = self.event_kinds(q),
                Rule::learn_when => learn.when = q.into_inner().nth(1).map(|e| self.expr(e)),
                Rule::st_set | Rule::st_unset | Rule::st_add | Rule::st_remove | Rule::st_incr => {
                    if let Some(s) = self.stmt(q, qspan) {
                        learn.stmts.push(s);
                    }
                }
                _ => {}
            }
        }
        if learn.stmts.is_empty() {
            self.error(
                Diagnostic::error("tailor::no_statement", "`learn` has no statement")
                    .at(span, "this would learn nothing")
                    .help("add `set`, `unset`, `add`, `remove` or `incr` statements"),
            );
        }
        learn
    }

    fn profile_path(&self, p: Pair<'_, Rule>) -> ProfilePath {
        let span = self.span(&p);
        let path = p
            .into_inner()
            .filter(|q| q.as_rule() == Rule::field_name)
            .map(|q| self.ident(q))
            .collect();
        ProfilePath { path, span }
    }

    fn stmt(&self, p: Pair<'_, Rule>, span: Span) -> Option<Stmt> {
        let kind = p.as_rule();
        let mut path = None;
        let mut exprs = Vec::new();
        for q in p.into_inner() {
            match q.as_rule() {
                Rule::profile_path => path = Some(self.profile_path(q)),
                Rule::expr => exprs.push(self.expr(q)),
                _ => {}
            }
        }
        let path = path?;
        let mut exprs = exprs.into_iter();
        Some(match kind {
            Rule::st_set => Stmt::Set {
                path,
                value: exprs.next()?,
                span,
            },
            Rule::st_unset => Stmt::Unset { path, span },
            Rule::st_add => Stmt::Add {
                value: exprs.next()?,
                path,
                span,
            },
            Rule::st_remove => Stmt::Remove {
                value: exprs.next()?,
                path,
                span,
            },
            Rule::st_incr => Stmt::Incr {
                path,
                key: exprs.next()?,
                by: exprs.next(),
                span,
            },
            _ => return None,
        })
    }

    fn expr(&self, p: Pair<'_, Rule>) -> Expr {
        // Check an outermost expression's depth before recursing into it.
        if self.nested.get() == 0
            && let Some(deep) = depth::too_deep(&p)
        {
            self.error(
                Diagnostic::error("tailor::expr_depth", "expression nested too deeply")
                    .at(self.span(&deep), "too deep")
                    .help(format!(
                        "an expression may nest at most {} brackets, calls and prefix \
                         operators and chain at most {} operators; split it into segments",
                        depth::MAX_NESTING,
                        depth::MAX_DEPTH
                    )),
            );
            return Expr::new(ExprKind::Literal(Literal::Bool(false)), self.span(&p));
        }
        self.nested.set(self.nested.get() + 1);
        let e = self.lowered(p).expr;
        self.nested.set(self.nested.get().saturating_sub(1));
        e
    }

    fn lowered(&self, p: Pair<'_, Rule>) -> Lowered {
        PRATT
            .map_primary(|q| self.primary(q))
            .map_prefix(|op, rhs| {
                let ospan = self.span(&op);
                let span = ospan.to(rhs.expr.span);
                let uop = if op.as_rule() == Rule::op_not {
                    UnaryOp::Not
                } else {
                    UnaryOp::Neg
                };
                Lowered {
                    expr: Expr::new(
                        ExprKind::Unary {
                            op: uop,
                            operand: Box::new(rhs.expr),
                        },
                        span,
                    ),
                    paren: false,
                }
            })
            .map_postfix(|lhs, op| {
                let ospan = self.span(&op);
                let span = lhs.expr.span.to(ospan);
                match op.as_rule() {
                    Rule::op_exists => {
                        self.no_chain(&lhs, ospan, "exists");
                        Lowered {
                            expr: Expr::new(ExprKind::Exists(Box::new(lhs.expr)), span),
                            paren: false,
                        }
                    }
                    _ => {
                        let key = op
                            .into_inner()
                            .next()
                            .map(|k| self.expr(k))
                            .unwrap_or_else(|| Expr::new(ExprKind::Literal(Literal::Str(String::new())), ospan));
                        Lowered {
                            expr: Expr::new(
                                ExprKind::Index {
                                    target: Box::new(lhs.expr),
                                    key: Box::new(key),
                                },
                                span,
                            ),
                            paren: false,
                        }
                    }
                }
            })
            .map_infix(|lhs, op, rhs| {
                let ospan = self.span(&op);
                let span = lhs.expr.span.to(rhs.expr.span);
                let bop = match op.as_rule() {
                    Rule::op_or => BinaryOp::Or,
                    Rule::op_and => BinaryOp::And,
                    Rule::op_eq => BinaryOp::Eq,
                    Rule::op_ne => BinaryOp::Ne,
                    Rule::op_lt => BinaryOp::Lt,
                    Rule::op_le => BinaryOp::Le,
                    Rule::op_gt => BinaryOp::Gt,
                    Rule::op_ge => BinaryOp::Ge,
                    Rule::op_in => BinaryOp::In,
                    Rule::op_not_in => BinaryOp::NotIn,
                    Rule::op_intersects => BinaryOp::Intersects,
                    Rule::op_add => BinaryOp::Add,
                    Rule::op_sub => BinaryOp::Sub,
                    Rule::op_mul => BinaryOp::Mul,
                    Rule::op_div => BinaryOp::Div,
                    Rule::op_rem => BinaryOp::Rem,
                    _ => {
                        // `matches`: the pattern must be a string literal.
                        self.no_chain(&lhs, ospan, "matches");
                        let pattern = match rhs.expr.kind {
                            ExprKind::Literal(Literal::Str(s)) if !rhs.paren => StrLit {
                                value: s,
                                span: rhs.expr.span,
                            },
                            _ => {
                                self.error(
                                    Diagnostic::error("tailor::matches_pattern", "the pattern of `matches` must be a string literal")
                                        .at(rhs.expr.span, "not a string literal")
                                        .help("write the regular expression in quotes: `s matches \"^a.*\"`"),
                                );
                                StrLit {
                                    value: String::new(),
                                    span: rhs.expr.span,
                                }
                            }
                        };
                        return Lowered {
                            expr: Expr::new(
                                ExprKind::Matches {
                                    subject: Box::new(lhs.expr),
                                    pattern,
                                },
                                span,
                            ),
                            paren: false,
                        };
                    }
                };
                if bop.is_comparison() && self.no_chain(&lhs, ospan, bop.symbol()) {
                    // Go on as if `a < b < c` were `a < b and b < c`, as the help says, so
                    // that checking adds no type errors of its own about the chain.
                    if let ExprKind::Binary { rhs: middle, .. } = &lhs.expr.kind {
                        let second = Expr::new(
                            ExprKind::Binary {
                                op: bop,
                                lhs: middle.clone(),
                                rhs: Box::new(rhs.expr),
                            },
                            middle.span.to(span),
                        );
                        return Lowered {
                            expr: Expr::new(
                                ExprKind::Binary {
                                    op: BinaryOp::And,
                                    lhs: Box::new(lhs.expr),
                                    rhs: Box::new(second),
                                },
                                span,
                            ),
                            paren: false,
                        };
                    }
                }
                Lowered {
                    expr: Expr::new(
                        ExprKind::Binary {
                            op: bop,
                            lhs: Box::new(lhs.expr),
                            rhs: Box::new(rhs.expr),
                        },
                        span,
                    ),
                    paren: false,
                }
            })
            .parse(p.into_inner())
    }

    /// Comparisons do not chain: `a < b < c` is a syntax error (language.md §7). Says whether it was one.
    fn no_chain(&self, lhs: &Lowered, op_span: Span, op: &str) -> bool {
        let chained = !lhs.paren
            && match &lhs.expr.kind {
                ExprKind::Binary { op, .. } => op.is_comparison(),
                ExprKind::Matches { .. } | ExprKind::Exists(_) => true,
                _ => false,
            };
        if chained {
            self.error(
                Diagnostic::error("tailor::chained_comparison", "comparisons do not chain")
                    .at(op_span, format!("`{op}` follows another comparison"))
                    .help("join the comparisons with `and`, as in `a < b and b < c`, or add parentheses"),
            );
        }
        chained
    }

    fn primary(&self, q: Pair<'_, Rule>) -> Lowered {
        let span = self.span(&q);
        let lit = |l: Literal| Lowered {
            expr: Expr::new(ExprKind::Literal(l), span),
            paren: false,
        };
        let kind = match q.as_rule() {
            Rule::paren => {
                let inner = q
                    .into_inner()
                    .next()
                    .map(|e| self.expr(e))
                    .unwrap_or_else(|| Expr::new(ExprKind::Literal(Literal::Bool(false)), span));
                return Lowered {
                    expr: inner,
                    paren: true,
                };
            }
            Rule::int => return lit(Literal::Int(self.int(q).value)),
            Rule::float => match q.as_str().parse::<f64>() {
                Ok(f) if f.is_finite() => return lit(Literal::Float(f)),
                _ => {
                    self.error(
                        Diagnostic::error(
                            "tailor::float_range",
                            format!("number `{}` is out of range", q.as_str()),
                        )
                        .at(span, "not a finite number")
                        .help("write a number that fits in a 64-bit float, up to about 1.8e308"),
                    );
                    return lit(Literal::Float(0.0));
                }
            },
            Rule::duration => return lit(Literal::Duration(self.duration(q))),
            Rule::string => return lit(Literal::Str(self.string(q).value)),
            Rule::kw_true => return lit(Literal::Bool(true)),
            Rule::kw_false => return lit(Literal::Bool(false)),
            Rule::kw_now => ExprKind::Now,
            Rule::list => {
                let items = q.into_inner().map(|e| self.expr(e)).collect();
                ExprKind::List(items)
            }
            Rule::script_call => {
                let mut inner = q.into_inner();
                let script = inner.next().map(|n| self.ident(n));
                let func = inner.next().map(|n| self.ident(n));
                let args = inner.next().map(|a| self.args(a)).unwrap_or_default();
                match (script, func) {
                    (Some(script), Some(func)) => ExprKind::ScriptCall { script, func, args },
                    _ => ExprKind::Literal(Literal::Bool(false)),
                }
            }
            Rule::call => {
                let mut inner = q.into_inner();
                let func = inner.next().map(|n| self.ident(n));
                let args = inner.next().map(|a| self.args(a)).unwrap_or_default();
                match func {
                    Some(func) => ExprKind::Call { func, args },
                    None => ExprKind::Literal(Literal::Bool(false)),
                }
            }
            Rule::field => {
                let mut inner = q.into_inner();
                let root = inner
                    .next()
                    .map(|r| root_of(r.as_str()))
                    .unwrap_or(Root::Profile);
                let path = inner.map(|n| self.ident(n)).collect();
                ExprKind::Field { root, path }
            }
            Rule::root => ExprKind::Root(root_of(q.as_str())),
            Rule::name => match q.into_inner().next() {
                Some(n) => ExprKind::Name(self.ident(n)),
                None => ExprKind::Literal(Literal::Bool(false)),
            },
            _ => ExprKind::Literal(Literal::Bool(false)),
        };
        Lowered {
            expr: Expr::new(kind, span),
            paren: false,
        }
    }

    fn args(&self, p: Pair<'_, Rule>) -> Vec<Expr> {
        p.into_inner().map(|e| self.expr(e)).collect()
    }
}

type Rule_ = crate::ast::Rule;

fn root_of(s: &str) -> Root {
    match s.trim() {
        "block" => Root::Block,
        "event" => Root::Event,
        _ => Root::Profile,
    }
}
