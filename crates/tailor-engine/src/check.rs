//! Checking and compiling a package: name resolution across files, schemas, the edition,
//! segment cycles, duplicate names, and the type rules of language.md §3 and §7. Every error is
//! reported; compilation goes on after one.

use std::collections::HashMap;

use jiff::SignedDuration;
use tailor_lang::ast::{self, Item};
use tailor_lang::{Diagnostic, Diagnostics, Span, suggest};

use crate::ir::*;
use crate::schema::{self, Schema};

mod expr;
mod learn;

pub(crate) use expr::ExprCtx;

/// The result of compiling a package's files.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub profile: Schema,
    pub content: Schema,
    pub edition: CEdition,
    pub segments: Vec<CSegment>,
    /// In evaluation order: priority descending, then name ascending.
    pub rules: Vec<CRule>,
    pub learns: Vec<CLearn>,
    pub scripts: Vec<CScript>,
}

/// Compile parsed files. Returns the compiled package when there were no errors, and
/// every diagnostic (errors and warnings) in any case.
pub fn compile(files: &[ast::File]) -> (Option<Compiled>, Diagnostics) {
    let mut c = Checker {
        unparsed: files
            .iter()
            .flat_map(|f| f.unparsed.iter().cloned())
            .collect(),
        ..Checker::default()
    };
    let items: Vec<&Item> = files.iter().flat_map(|f| f.items.iter()).collect();
    c.collect(&items);
    let compiled = c.build(&items);
    let mut diags = c.diags;
    diags.sort();
    if diags.has_errors() {
        (None, diags)
    } else {
        (compiled, diags)
    }
}

#[derive(Default)]
pub(crate) struct Checker<'a> {
    pub(crate) diags: Diagnostics,
    pub(crate) profile: Schema,
    pub(crate) content: Schema,
    /// Section names of the edition, in order.
    pub(crate) sections: Vec<String>,
    pub(crate) segment_index: HashMap<&'a str, usize>,
    pub(crate) segments: Vec<&'a ast::Segment>,
    pub(crate) scripts: Vec<CScript>,
    pub(crate) script_index: HashMap<String, usize>,
    /// Items that did not parse (their syntax errors are already reported): the errors
    /// that their absence alone would cause are left out, not to bury the one that
    /// matters under consequences.
    pub(crate) unparsed: Vec<ast::Unparsed>,
}

impl<'a> Checker<'a> {
    pub(crate) fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Whether an item with this keyword (and this name, when it has one) failed to parse.
    pub(crate) fn unparsed(&self, keyword: ast::ItemKeyword, name: Option<&str>) -> bool {
        self.unparsed.iter().any(|u| {
            u.keyword == keyword
                && match (name, &u.name) {
                    (Some(n), Some(m)) => n == m,
                    _ => true,
                }
        })
    }

    /// First pass: schemas, names, sections, script signatures.
    fn collect(&mut self, items: &[&'a Item]) {
        let profiles: Vec<&ast::Schema> = items
            .iter()
            .filter_map(|i| match i {
                Item::Profile(s) => Some(s),
                _ => None,
            })
            .collect();
        let contents: Vec<&ast::Schema> = items
            .iter()
            .filter_map(|i| match i {
                Item::Content(s) => Some(s),
                _ => None,
            })
            .collect();
        let editions: Vec<&ast::Edition> = items
            .iter()
            .filter_map(|i| match i {
                Item::Edition(e) => Some(e),
                _ => None,
            })
            .collect();

        match profiles.as_slice() {
            [] if self.unparsed(ast::ItemKeyword::Profile, None) => {}
            [] => self.error(
                Diagnostic::error("tailor::no_profile", "the package has no `profile { … }` schema")
                    .help("declare the profile's fields in one of the package's files: `profile { age: int }`"),
            ),
            [first, rest @ ..] => {
                for s in rest {
                    self.error(
                        Diagnostic::error("tailor::duplicate_schema", "`profile` is declared twice")
                            .at(keyword(s.span, "profile"), "second declaration")
                            .also(keyword(first.span, "profile"), "first declaration")
                            .help("a package has exactly one `profile { … }`; merge the two"),
                    );
                }
            }
        }
        if let [first, rest @ ..] = contents.as_slice() {
            for s in rest {
                self.error(
                    Diagnostic::error("tailor::duplicate_schema", "`content` is declared twice")
                        .at(keyword(s.span, "content"), "second declaration")
                        .also(keyword(first.span, "content"), "first declaration")
                        .help("a package has at most one `content { … }`; merge the two"),
                );
            }
        }
        match editions.as_slice() {
            [] if self.unparsed(ast::ItemKeyword::Edition, None) => {}
            [] => self.error(
                Diagnostic::error("tailor::no_edition", "the package has no `edition`")
                    .help("declare one: `edition evening { sections { headline 1 } }`"),
            ),
            [first, rest @ ..] => {
                for e in rest {
                    self.error(
                        Diagnostic::error(
                            "tailor::duplicate_edition",
                            "the package declares two editions",
                        )
                        .at(e.name.span, "second edition")
                        .also(first.name.span, "first edition")
                        .help("a package has exactly one `edition`"),
                    );
                }
            }
        }

        self.profile = schema::profile_builtins();
        if let Some(p) = profiles.first() {
            self.profile = self.schema(p, schema::profile_builtins(), "profile");
        }
        self.content = schema::block_builtins();
        if let Some(c) = contents.first() {
            self.content = self.schema(c, schema::block_builtins(), "content");
        }
        if let Some(e) = editions.first() {
            let mut seen: HashMap<&str, Span> = HashMap::new();
            for s in &e.sections {
                if let Some(first) = seen.get(s.name.name.as_str()) {
                    self.error(
                        Diagnostic::error(
                            "tailor::duplicate_section",
                            format!("section `{}` is declared twice", s.name.name),
                        )
                        .at(s.name.span, "second declaration")
                        .also(*first, "first declaration")
                        .help("declare each section once, with its quota; remove one of them"),
                    );
                    continue;
                }
                seen.insert(&s.name.name, s.name.span);
                self.sections.push(s.name.name.clone());
            }
        }

        // One namespace for the edition, segments, scripts and rules (language.md §1).
        let mut names: HashMap<&str, (Span, &'static str)> = HashMap::new();
        for item in items {
            let (name, kind) = match item {
                Item::Edition(e) => (&e.name, "edition"),
                Item::Segment(s) => (&s.name, "segment"),
                Item::Script(s) => (&s.name, "script"),
                Item::Rule(r) => (&r.name, "rule"),
                _ => continue,
            };
            if let Some((first, first_kind)) = names.get(name.name.as_str()) {
                self.error(
                    Diagnostic::error(
                        "tailor::duplicate_name",
                        format!("the name `{}` is defined twice", name.name),
                    )
                    .at(name.span, format!("this {kind}"))
                    .also(*first, format!("the {first_kind} defined first"))
                    .help("names are global within a package; rename one of them"),
                );
                continue;
            }
            names.insert(&name.name, (name.span, kind));
            match item {
                Item::Segment(s) => {
                    self.segment_index.insert(&s.name.name, self.segments.len());
                    self.segments.push(s);
                }
                Item::Script(s) => {
                    let compiled = self.script(s);
                    self.script_index
                        .insert(s.name.name.clone(), self.scripts.len());
                    self.scripts.push(compiled);
                }
                _ => {}
            }
        }
    }

    fn schema(&mut self, s: &ast::Schema, mut out: Schema, kind: &str) -> Schema {
        let builtin = out.len();
        let mut spans: HashMap<String, Span> = HashMap::new();
        for f in &s.fields {
            let dotted = f.dotted();
            if let Some(slot) = out.slot(&dotted) {
                if slot < builtin {
                    let ty = out.field(slot).map(|f| f.ty.name()).unwrap_or("");
                    self.error(
                        Diagnostic::error(
                            "tailor::builtin_field",
                            format!(
                                "`{dotted}` is a built-in field of every {}",
                                if kind == "profile" {
                                    "profile"
                                } else {
                                    "block"
                                }
                            ),
                        )
                        .at(
                            f.path.first().map_or(f.span, |p| {
                                p.span.to(f.path.last().map_or(p.span, |l| l.span))
                            }),
                            "already declared",
                        )
                        .help(format!(
                            "remove this line: `{dotted}` is always there, with type `{ty}`"
                        )),
                    );
                } else if let Some(first) = spans.get(&dotted) {
                    self.error(
                        Diagnostic::error(
                            "tailor::duplicate_field",
                            format!("field `{dotted}` is declared twice in `{kind}`"),
                        )
                        .at(f.span, "second declaration")
                        .also(*first, "first declaration")
                        .help(format!("keep one declaration of `{dotted}`")),
                    );
                }
                continue;
            }
            // A field cannot be both a value and an object holding other fields.
            let conflict = out.names().find(|n| {
                n.strip_prefix(dotted.as_str())
                    .is_some_and(|r| r.starts_with('.'))
                    || dotted.strip_prefix(n).is_some_and(|r| r.starts_with('.'))
            });
            if let Some(other) = conflict {
                let other = other.to_owned();
                let mut d = Diagnostic::error(
                    "tailor::field_conflict",
                    format!("`{dotted}` and `{other}` cannot both be fields"),
                )
                .at(f.span, "conflicts")
                .help(format!(
                    "`{}` would have to be both a value and an object holding other fields; rename one of them",
                    dotted.as_str().min(other.as_str())
                ));
                if let Some(first) = spans.get(&other) {
                    d = d.also(*first, "declared here");
                }
                self.error(d);
                continue;
            }
            spans.insert(dotted.clone(), f.span);
            out.push(&dotted, f.ty.ty);
        }
        out
    }

    fn script(&mut self, s: &ast::Script) -> CScript {
        let mut fns: Vec<CScriptFn> = Vec::new();
        for f in &s.fns {
            if let Some(first) = fns.iter().find(|g| g.name == f.name.name) {
                self.error(
                    Diagnostic::error(
                        "tailor::duplicate_name",
                        format!(
                            "function `{}` is declared twice in script `{}`",
                            f.name.name, s.name.name
                        ),
                    )
                    .at(f.name.span, "second declaration")
                    .also(first.span, "first declaration")
                    .help("declare each function once; remove one of them"),
                );
                continue;
            }
            let params = f
                .params
                .iter()
                .map(|p| match (&p.ty, p.name.name.as_str()) {
                    (Some(t), _) => crate::value::Ty::from(t.ty),
                    (None, "profile") => crate::value::Ty::Record(ast::Root::Profile),
                    (None, "block") => crate::value::Ty::Record(ast::Root::Block),
                    (None, "event") => crate::value::Ty::Record(ast::Root::Event),
                    (None, _) => crate::value::Ty::Any,
                })
                .collect();
            fns.push(CScriptFn {
                name: f.name.name.clone(),
                params,
                ret: f.ret.ty.into(),
                span: f.name.span,
            });
        }
        CScript {
            name: s.name.name.clone(),
            path: s.path.value.clone(),
            fns,
            span: s.path.span,
        }
    }

    /// Second pass: compile everything.
    fn build(&mut self, items: &[&'a Item]) -> Option<Compiled> {
        let edition = items.iter().find_map(|i| match i {
            Item::Edition(e) => Some(e),
            _ => None,
        });
        let edition = edition.map(|e| self.edition(e));

        let mut segments = Vec::new();
        let segs = self.segments.clone();
        for s in &segs {
            let expr = self.bool_expr(&s.expr, ExprCtx::segment(), "a segment");
            segments.push(CSegment {
                name: s.name.name.clone(),
                expr,
                span: s.name.span,
            });
        }
        self.segment_cycles(&segments);

        let mut rules = Vec::new();
        let mut learns = Vec::new();
        for item in items {
            match item {
                Item::Rule(r) => rules.push(self.rule(r)),
                Item::Learn(l) => learns.push(self.learn(l)),
                _ => {}
            }
        }
        rules.sort_by(|a: &CRule, b: &CRule| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        Some(Compiled {
            profile: self.profile.clone(),
            content: self.content.clone(),
            edition: edition?,
            segments,
            rules,
            learns,
            scripts: self.scripts.clone(),
        })
    }

    fn count(&mut self, n: &ast::IntLit, what: &str, min: i64, help: &str) -> usize {
        if n.value < min {
            self.error(
                Diagnostic::error(
                    "tailor::out_of_range",
                    format!("{what} must be at least {min}"),
                )
                .at(n.span, format!("{} is too small", n.value))
                .help(help),
            );
        }
        usize::try_from(n.value.max(0)).unwrap_or(usize::MAX)
    }

    fn positive_duration(&mut self, d: &ast::DurationLit, what: &str) -> SignedDuration {
        if d.amount <= 0 {
            self.error(
                Diagnostic::error(
                    "tailor::out_of_range",
                    format!("{what} must be longer than zero"),
                )
                .at(d.span, "zero length")
                .help("write a duration of at least one unit, such as `1d` or `12h`"),
            );
        }
        SignedDuration::from_secs(d.seconds())
    }

    fn cap(&mut self, c: &ast::Cap) -> CCap {
        CCap {
            count: self.count(
                &c.count,
                "a cap's count",
                1,
                "`cap N per D` allows N deliveries in any window D: write 1 or more (to stop a rule firing, remove the rule)",
            ),
            per: self.positive_duration(&c.per, "a cap's window"),
        }
    }

    fn edition(&mut self, e: &ast::Edition) -> CEdition {
        let (timezone, timezone_name) = match &e.timezone {
            None => (jiff::tz::TimeZone::UTC, "UTC".to_owned()),
            Some(tz) => match jiff::tz::TimeZone::get(&tz.value) {
                Ok(z) => (z, tz.value.clone()),
                Err(_) => {
                    let names: Vec<String> =
                        jiff::tz::db().available().map(|n| n.to_string()).collect();
                    let mut d = Diagnostic::error(
                        "tailor::unknown_timezone",
                        format!("unknown time zone `{}`", tz.value),
                    )
                    .at(tz.span, "not an IANA time zone");
                    d = match suggest(&tz.value, names.iter().map(String::as_str)) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help("use an IANA name such as \"Asia/Shanghai\" or \"UTC\""),
                    };
                    self.error(d);
                    (jiff::tz::TimeZone::UTC, "UTC".to_owned())
                }
            },
        };
        let max = e.max.as_ref().map_or(8, |m| {
            self.count(
                m,
                "`max`",
                1,
                "a digest holds at least one item: write `max 1` or more",
            )
        });
        let min = e
            .min
            .as_ref()
            .map_or(1, |m| self.count(m, "`min`", 0, "write `min 0` or more"));
        if min > max
            && let Some(m) = &e.min
        {
            self.error(
                Diagnostic::error("tailor::out_of_range", format!("`min` ({min}) is larger than `max` ({max})"))
                    .at(m.span, "too large")
                    .help("`min` is the fewest items before the fallback runs and cannot exceed `max`: lower `min` or raise `max`"),
            );
        }
        if e.sections.is_empty() {
            self.error(
                Diagnostic::error(
                    "tailor::no_sections",
                    format!("edition `{}` declares no sections", e.name.name),
                )
                .at(e.name.span, "no sections")
                .help("add `sections { headline 1 … }`: a digest's items are chosen into sections"),
            );
        }
        let mut sections = Vec::new();
        for s in &e.sections {
            let quota = self.count(
                &s.quota,
                "a section's quota",
                0,
                "write a quota of 0 or more",
            );
            if !sections
                .iter()
                .any(|(n, _): &(String, usize)| *n == s.name.name)
            {
                sections.push((s.name.name.clone(), quota));
            }
        }
        let cap = e.cap.as_ref().map(|c| self.cap(c));
        let repeat = e
            .repeat
            .as_ref()
            .map(|r| self.positive_duration(r, "`repeat after`"));
        let fallback = e
            .fallback
            .as_ref()
            .map(|f| f.picks.iter().filter_map(|p| self.pick(p)).collect())
            .unwrap_or_default();
        CEdition {
            name: e.name.name.clone(),
            title: e.title.as_ref().map(|t| t.value.clone()),
            timezone,
            timezone_name,
            max,
            min,
            sections,
            cap,
            repeat,
            fallback,
        }
    }

    pub(crate) fn section(&mut self, s: &ast::Ident) -> Option<usize> {
        match self.sections.iter().position(|n| *n == s.name) {
            Some(i) => Some(i),
            // The edition did not parse: its sections are unknown, not absent.
            None if self.sections.is_empty() && self.unparsed(ast::ItemKeyword::Edition, None) => {
                None
            }
            None => {
                let mut d = Diagnostic::error(
                    "tailor::unknown_section",
                    format!("section `{}` is not declared", s.name),
                )
                .at(s.span, "not in the edition's `sections`");
                d = match suggest(&s.name, self.sections.iter().map(String::as_str)) {
                    Some(x) => d.help(format!("did you mean `{x}`?")),
                    None => d.help(format!(
                        "declare it in the edition's `sections {{ … }}`; the sections are {}",
                        list(&self.sections)
                    )),
                };
                self.error(d);
                None
            }
        }
    }

    fn pick(&mut self, p: &ast::Pick) -> Option<CPick> {
        let count = self.count(
            &p.count,
            "a pick's count",
            1,
            "a pick chooses at least one block: write `pick 1 from …` or more",
        );
        let section = self.section(&p.section);
        let filter = p
            .filter
            .as_ref()
            .map(|f| self.bool_expr(f, ExprCtx::block(), "a `where`"));
        let order = match &p.order {
            None | Some(ast::Order::Newest(_)) => COrder::Newest,
            Some(ast::Order::Oldest(_)) => COrder::Oldest,
            Some(ast::Order::By { key, direction, .. }) => {
                let k = self.order_key(key);
                match direction {
                    ast::Direction::Asc => COrder::Asc(k),
                    ast::Direction::Desc => COrder::Desc(k),
                }
            }
        };
        Some(CPick {
            count,
            section: section?,
            filter,
            order,
            span: p.span,
        })
    }

    fn rule(&mut self, r: &ast::Rule) -> CRule {
        for k in r.on.iter().filter(|k| k.kind == ast::EventKind::Open) {
            self.error(
                Diagnostic::error(
                    "tailor::rule_on_open",
                    format!("rule `{}` cannot answer `open`", r.name.name),
                )
                .at(k.span, "a rule cannot answer `open`")
                .help("an open is answered by taking the reader to the article, never by a digest: to learn from opens, write `learn on open { … }`"),
            );
        }
        let on = if r.on.is_empty() {
            vec![ast::EventKind::Enter]
        } else {
            r.on.iter()
                .map(|k| k.kind)
                .filter(|k| *k != ast::EventKind::Open)
                .collect()
        };
        let when = r
            .when
            .as_ref()
            .map(|w| self.bool_expr(w, ExprCtx::when(), "a `when`"));
        let mut actions = Vec::new();
        for a in &r.actions {
            match a {
                ast::Action::Pick(p) => {
                    if let Some(p) = self.pick(p) {
                        actions.push(CAction::Pick(p));
                    }
                }
                ast::Action::Drop(d) => {
                    let filter = self.bool_expr(&d.filter, ExprCtx::block(), "a `drop where`");
                    actions.push(CAction::Drop {
                        filter,
                        span: d.span,
                    });
                }
            }
        }
        let cap = r.cap.as_ref().map(|c| self.cap(c));
        CRule {
            name: r.name.name.clone(),
            on,
            priority: r.priority.map_or(0, |p| p.value),
            when,
            actions,
            cap,
            span: r.span,
        }
    }

    /// Report every cycle between segments once, listing it.
    fn segment_cycles(&mut self, segments: &[CSegment]) {
        let deps: Vec<Vec<usize>> = segments
            .iter()
            .map(|s| {
                let mut d = Vec::new();
                s.expr.walk(&mut |e| {
                    if let CExpr::Segment(i) = e
                        && !d.contains(i)
                    {
                        d.push(*i);
                    }
                });
                d
            })
            .collect();
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; segments.len()];
        let mut reported: Vec<Vec<usize>> = Vec::new();
        for start in 0..segments.len() {
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            if state.get(start) != Some(&0) {
                continue;
            }
            if let Some(s) = state.get_mut(start) {
                *s = 1;
            }
            while let Some(&mut (node, ref mut next)) = stack.last_mut() {
                let child = deps.get(node).and_then(|d| d.get(*next)).copied();
                *next += 1;
                match child {
                    None => {
                        if let Some(s) = state.get_mut(node) {
                            *s = 2;
                        }
                        stack.pop();
                    }
                    Some(c) => match state.get(c).copied() {
                        Some(0) => {
                            if let Some(s) = state.get_mut(c) {
                                *s = 1;
                            }
                            stack.push((c, 0));
                        }
                        Some(1) => {
                            let pos = stack.iter().position(|(n, _)| *n == c).unwrap_or(0);
                            let cycle: Vec<usize> =
                                stack.iter().skip(pos).map(|(n, _)| *n).collect();
                            let mut key = cycle.clone();
                            key.sort_unstable();
                            if !reported.contains(&key) {
                                reported.push(key);
                                self.report_cycle(segments, &cycle);
                            }
                        }
                        _ => {}
                    },
                }
            }
        }
    }

    fn report_cycle(&mut self, segments: &[CSegment], cycle: &[usize]) {
        let names: Vec<&str> = cycle
            .iter()
            .chain(cycle.first())
            .filter_map(|&i| segments.get(i).map(|s| s.name.as_str()))
            .collect();
        let Some(first) = cycle.first().and_then(|&i| segments.get(i)) else {
            return;
        };
        let message = match cycle {
            [_] => format!("segment `{}` depends on itself", first.name),
            _ => format!("segments form a cycle: {}", names.join(" → ")),
        };
        let mut d = Diagnostic::error("tailor::segment_cycle", message)
            .at(first.span, "this segment depends on itself");
        for &i in cycle.iter().skip(1) {
            if let Some(s) = segments.get(i) {
                d = d.also(s.span, "part of the cycle");
            }
        }
        self.error(d.help(match cycle {
            [_] => format!(
                "a segment cannot depend on itself: write `{}` without naming it",
                first.name
            ),
            _ => "a segment cannot depend, directly or through others, on itself: write one of these without naming the others".to_owned(),
        }));
    }
}

/// The keyword that starts an item whose span is `item`: a short place to underline.
fn keyword(item: Span, keyword: &str) -> Span {
    Span {
        end: item.end.min(
            item.start
                .saturating_add(u32::try_from(keyword.len()).unwrap_or(0)),
        ),
        ..item
    }
}

/// `a`, `b` and `c` for messages.
pub(crate) fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        None => "none".to_owned(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}
