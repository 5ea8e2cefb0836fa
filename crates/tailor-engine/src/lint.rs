//! Lint: warnings about a package that compiles but does not do what its author meant.
//!
//! - `tailor::never_fires`: a rule whose `when` can never hold (contradictory conditions
//!   such as `profile.age > 60 and profile.age < 30`, segments included); the same for a
//!   pick's or a drop's `where` (`tailor::never_matches`).
//! - `tailor::pick_never_adds`: a pick that can never add anything, because its section's
//!   quota is 0, or because earlier picks that always run fill the section (or the
//!   edition) first whenever they find enough blocks.
//! - `tailor::unused_segment`, `tailor::unused_script`, `tailor::unused_section`.
//! - `tailor::empty_section`: a section with no block in the catalog (when one is given).
//! - `tailor::drop_affects_nothing`: a drop limited to sections no pick takes from, or,
//!   given a catalog, a drop that looks only at blocks and holds for none of them.
//!
//! Lint is static and conservative: a warning names what it proved, never a guess about
//! profiles it has not seen.

use std::collections::{BTreeSet, HashMap, HashSet};

use tailor_lang::ast::{self, BinaryOp, EventKind, ExprKind, Item, Literal, Root, UnaryOp};
use tailor_lang::{Diagnostic, Diagnostics, Span, print_expr};

use crate::data::{Catalog, Event, Profile};
use crate::eval::Ctx;
use crate::ir::{CAction, CExpr};
use crate::package::Package;

/// Lint a package; `catalog` enables the checks that need one. Every result is a warning.
pub fn lint(pkg: &Package, catalog: Option<&Catalog>) -> Diagnostics {
    let mut l = Linter::new(pkg);
    l.never_fires();
    l.picks_never_add();
    l.unused();
    l.drops(catalog);
    if let Some(cat) = catalog {
        l.empty_sections(cat);
    }
    let mut d = l.diags;
    d.sort();
    d
}

struct Linter<'p> {
    pkg: &'p Package,
    rules: Vec<&'p ast::Rule>,
    segments: HashMap<&'p str, &'p ast::Segment>,
    scripts: Vec<&'p ast::Script>,
    learns: Vec<&'p ast::Learn>,
    edition: Option<&'p ast::Edition>,
    diags: Diagnostics,
}

/// A comparison of an expression with a constant: the atoms of a conjunction.
#[derive(Debug, Clone)]
struct Atom {
    /// The non-constant side, printed: `profile.age`.
    key: String,
    test: Test,
    span: Span,
    text: String,
    /// Found under a `not`: a missing subject satisfies it.
    negated: bool,
}

#[derive(Debug, Clone)]
enum Test {
    /// A numeric bound: `op` is one of `< <= > >= == !=`, the subject on the left.
    Num(BinaryOp, f64),
    StrEq(String),
    StrNe(String),
    StrIn(BTreeSet<String>),
    /// A condition that holds (`true`) or does not (`false`, from `not`).
    Bool(bool),
}

impl<'p> Linter<'p> {
    fn new(pkg: &'p Package) -> Linter<'p> {
        let mut l = Linter {
            pkg,
            rules: Vec::new(),
            segments: HashMap::new(),
            scripts: Vec::new(),
            learns: Vec::new(),
            edition: None,
            diags: Diagnostics::new(),
        };
        for item in pkg.files().iter().flat_map(|f| f.items.iter()) {
            match item {
                Item::Rule(r) => l.rules.push(r),
                Item::Segment(s) => {
                    l.segments.insert(s.name.name.as_str(), s);
                }
                Item::Script(s) => l.scripts.push(s),
                Item::Learn(x) => l.learns.push(x),
                Item::Edition(e) => l.edition = Some(e),
                Item::Profile(_) | Item::Content(_) => {}
            }
        }
        l
    }

    fn rule(&self, name: &str) -> Option<&'p ast::Rule> {
        self.rules.iter().copied().find(|r| r.name.name == name)
    }

    // ---- contradictions -------------------------------------------------------------

    /// The conjuncts of an expression, segments inlined (up to a depth, for cycles).
    fn conjuncts(&self, e: &'p ast::Expr, negated: bool, depth: usize, out: &mut Vec<Atom>) {
        if depth > 16 {
            return;
        }
        match &e.kind {
            ExprKind::Binary {
                op: BinaryOp::And,
                lhs,
                rhs,
            } if !negated => {
                self.conjuncts(lhs, false, depth, out);
                self.conjuncts(rhs, false, depth, out);
            }
            // not (a or b) = not a and not b
            ExprKind::Binary {
                op: BinaryOp::Or,
                lhs,
                rhs,
            } if negated => {
                self.conjuncts(lhs, true, depth, out);
                self.conjuncts(rhs, true, depth, out);
            }
            ExprKind::Unary {
                op: UnaryOp::Not,
                operand,
            } => self.conjuncts(operand, !negated, depth, out),
            ExprKind::Name(n) => {
                if let Some(s) = self.segments.get(n.name.as_str()) {
                    self.conjuncts(&s.expr, negated, depth + 1, out);
                }
            }
            _ => {
                if let Some(a) = atom(e, negated) {
                    out.push(a);
                }
            }
        }
    }

    fn never_fires(&mut self) {
        let mut found = Vec::new();
        for r in &self.rules {
            if let Some(w) = &r.when
                && let Some((a, b)) = self.contradiction(w)
            {
                found.push(
                    Diagnostic::warning(
                        "tailor::never_fires",
                        format!("rule `{}` can never fire", r.name.name),
                    )
                    .at(a.span, format!("`{}`", a.text))
                    .also(b.span, format!("cannot hold together with `{}`", b.text))
                    .help("its `when` contradicts itself: fix the bounds, or delete the rule"),
                );
            }
            for a in &r.actions {
                let (filter, what) = match a {
                    ast::Action::Pick(p) => (p.filter.as_ref(), "pick"),
                    ast::Action::Drop(d) => (Some(&d.filter), "drop"),
                };
                if let Some(f) = filter
                    && let Some((x, y)) = self.contradiction(f)
                {
                    found.push(
                        Diagnostic::warning(
                            "tailor::never_matches",
                            format!(
                                "this {what} of rule `{}` can never match a block",
                                r.name.name
                            ),
                        )
                        .at(x.span, format!("`{}`", x.text))
                        .also(y.span, format!("cannot hold together with `{}`", y.text))
                        .help("its `where` contradicts itself"),
                    );
                }
            }
        }
        for d in found {
            self.diags.push(d);
        }
    }

    /// Two atoms of `e`'s conjunction that cannot both hold.
    fn contradiction(&self, e: &'p ast::Expr) -> Option<(Atom, Atom)> {
        let mut atoms = Vec::new();
        self.conjuncts(e, false, 0, &mut atoms);
        for (i, a) in atoms.iter().enumerate() {
            for b in atoms.iter().skip(i + 1) {
                // A missing subject satisfies two negated tests at once.
                let both_negated = a.negated && b.negated && !matches!(a.test, Test::Bool(_));
                if a.key == b.key && !both_negated && !compatible(&a.test, &b.test) {
                    return Some((a.clone(), b.clone()));
                }
            }
        }
        None
    }

    // ---- picks that never add -------------------------------------------------------

    fn picks_never_add(&mut self) {
        let c = self.pkg.compiled();
        let ed = &c.edition;
        // Per section: items that picks always running before this point take, when
        // the catalog has enough eligible blocks; and the edition's total.
        let mut filled: Vec<usize> = vec![0; ed.sections.len()];
        let mut total = 0usize;
        let mut found = Vec::new();
        for r in &c.rules {
            let Some(rast) = self.rule(&r.name) else {
                continue;
            };
            let always = r.when.is_none() && r.cap.is_none() && r.on.contains(&EventKind::Enter);
            let picks: Vec<&ast::Pick> = rast
                .actions
                .iter()
                .filter_map(|a| match a {
                    ast::Action::Pick(p) => Some(p),
                    ast::Action::Drop(_) => None,
                })
                .collect();
            for (p, pa) in r.picks().zip(picks) {
                let Some((section, quota)) = ed.sections.get(p.section) else {
                    continue;
                };
                let before = filled.get(p.section).copied().unwrap_or(0);
                if *quota == 0 {
                    found.push(
                        Diagnostic::warning(
                            "tailor::pick_never_adds",
                            format!("this pick of rule `{}` can never add anything", r.name),
                        )
                        .at(pa.span, format!("section `{section}` has quota 0"))
                        .help("raise the section's quota in the edition, or delete the pick"),
                    );
                } else if r.on.iter().all(|k| *k == EventKind::Enter)
                    && (before >= *quota || total >= ed.max)
                {
                    let why = if before >= *quota {
                        format!(
                            "earlier picks that always run fill section `{section}` ({quota}) first"
                        )
                    } else {
                        format!(
                            "earlier picks that always run fill the edition's max ({}) first",
                            ed.max
                        )
                    };
                    found.push(
                        Diagnostic::warning(
                            "tailor::pick_never_adds",
                            format!(
                                "this pick of rule `{}` adds something only when earlier picks find too few blocks",
                                r.name
                            ),
                        )
                        .at(pa.span, why)
                        .help("give it a higher priority than the picks that fill the section, or delete it"),
                    );
                }
                if always && p.filter.is_none() {
                    let take = p
                        .count
                        .min(quota.saturating_sub(before))
                        .min(ed.max.saturating_sub(total));
                    if let Some(f) = filled.get_mut(p.section) {
                        *f += take;
                    }
                    total += take;
                }
            }
        }
        for d in found {
            self.diags.push(d);
        }
    }

    // ---- unused names ---------------------------------------------------------------

    fn unused(&mut self) {
        // Every expression that runs: rules, learns, the fallback.
        let mut roots: Vec<&'p ast::Expr> = Vec::new();
        for r in &self.rules {
            roots.extend(r.when.iter());
            for a in &r.actions {
                match a {
                    ast::Action::Pick(p) => roots.extend(pick_exprs(p)),
                    ast::Action::Drop(d) => roots.push(&d.filter),
                }
            }
        }
        for l in &self.learns {
            roots.extend(l.when.iter());
            for s in &l.stmts {
                match s {
                    ast::Stmt::Set { value, .. }
                    | ast::Stmt::Add { value, .. }
                    | ast::Stmt::Remove { value, .. } => roots.push(value),
                    ast::Stmt::Incr { key, by, .. } => {
                        roots.push(key);
                        roots.extend(by.iter());
                    }
                    ast::Stmt::Unset { .. } => {}
                }
            }
        }
        if let Some(f) = self.edition.and_then(|e| e.fallback.as_ref()) {
            for p in &f.picks {
                roots.extend(pick_exprs(p));
            }
        }
        // Segments reachable from those, transitively.
        let mut used_segments: HashSet<&str> = HashSet::new();
        let mut called: HashSet<(String, String)> = HashSet::new();
        let mut stack: Vec<&'p ast::Expr> = roots;
        while let Some(e) = stack.pop() {
            e.walk(&mut |x| match &x.kind {
                ExprKind::Name(n) => {
                    if let Some(s) = self.segments.get(n.name.as_str())
                        && used_segments.insert(s.name.name.as_str())
                    {
                        stack.push(&s.expr);
                    }
                }
                ExprKind::ScriptCall { script, func, .. } => {
                    called.insert((script.name.clone(), func.name.clone()));
                }
                _ => {}
            });
        }
        let mut found = Vec::new();
        for s in self.segments.values() {
            if !used_segments.contains(s.name.name.as_str()) {
                found.push(
                    Diagnostic::warning(
                        "tailor::unused_segment",
                        format!("segment `{}` is never used", s.name.name),
                    )
                    .at(s.name.span, "no rule, learn item or used segment names it")
                    .help("use it in a rule's `when`, or delete it"),
                );
            }
        }
        for s in &self.scripts {
            let any = called.iter().any(|(sc, _)| *sc == s.name.name);
            if !any {
                found.push(
                    Diagnostic::warning(
                        "tailor::unused_script",
                        format!("script `{}` is never called", s.name.name),
                    )
                    .at(s.name.span, "no expression calls its functions")
                    .help("call one of its functions, or delete the script"),
                );
                continue;
            }
            for f in &s.fns {
                if !called.contains(&(s.name.name.clone(), f.name.name.clone())) {
                    found.push(
                        Diagnostic::warning(
                            "tailor::unused_script",
                            format!(
                                "script function `{}::{}` is never called",
                                s.name.name, f.name.name
                            ),
                        )
                        .at(f.name.span, "declared but never called")
                        .help("call it, or remove the declaration"),
                    );
                }
            }
        }
        if let Some(ed) = self.edition {
            let mut picked: HashSet<&str> = HashSet::new();
            for r in &self.rules {
                for a in &r.actions {
                    if let ast::Action::Pick(p) = a {
                        picked.insert(p.section.name.as_str());
                    }
                }
            }
            for p in ed.fallback.iter().flat_map(|f| f.picks.iter()) {
                picked.insert(p.section.name.as_str());
            }
            for s in &ed.sections {
                if !picked.contains(s.name.name.as_str()) {
                    found.push(
                        Diagnostic::warning(
                            "tailor::unused_section",
                            format!("no pick takes from section `{}`", s.name.name),
                        )
                        .at(s.name.span, "never picked from")
                        .help("add a rule that picks from it, or remove it from `sections`"),
                    );
                }
            }
        }
        for d in found {
            self.diags.push(d);
        }
    }

    // ---- drops ----------------------------------------------------------------------

    fn drops(&mut self, catalog: Option<&Catalog>) {
        let c = self.pkg.compiled();
        let ed = &c.edition;
        let mut found = Vec::new();
        for r in &c.rules {
            let Some(rast) = self.rule(&r.name) else {
                continue;
            };
            // Sections that picks running with this rule may take from: picks of rules
            // answering one of its kinds, and the fallback.
            let mut sections: HashSet<&str> = HashSet::new();
            for other in &c.rules {
                if other.on.iter().any(|k| r.on.contains(k)) {
                    for p in other.picks() {
                        if let Some((n, _)) = ed.sections.get(p.section) {
                            sections.insert(n.as_str());
                        }
                    }
                }
            }
            for p in &ed.fallback {
                if let Some((n, _)) = ed.sections.get(p.section) {
                    sections.insert(n.as_str());
                }
            }
            let drops_ast: Vec<&ast::Drop> = rast
                .actions
                .iter()
                .filter_map(|a| match a {
                    ast::Action::Drop(d) => Some(d),
                    ast::Action::Pick(_) => None,
                })
                .collect();
            let drops_c = r.actions.iter().filter_map(|a| match a {
                CAction::Drop { filter, .. } => Some(filter),
                CAction::Pick(_) => None,
            });
            for (d, filter) in drops_ast.into_iter().zip(drops_c) {
                let mut atoms = Vec::new();
                self.conjuncts(&d.filter, false, 0, &mut atoms);
                let limited: Option<BTreeSet<String>> = atoms
                    .iter()
                    .filter(|a| a.key == "block.section")
                    .filter_map(|a| match &a.test {
                        Test::StrEq(s) => Some(BTreeSet::from([s.clone()])),
                        Test::StrIn(set) => Some(set.clone()),
                        _ => None,
                    })
                    .reduce(|a, b| a.intersection(&b).cloned().collect());
                if let Some(only) = limited
                    && !only.iter().any(|s| sections.contains(s.as_str()))
                {
                    let list: Vec<String> = only.iter().map(|s| format!("`{s}`")).collect();
                    found.push(
                        Diagnostic::warning(
                            "tailor::drop_affects_nothing",
                            format!("this drop of rule `{}` affects no pick", r.name),
                        )
                        .at(
                            d.span,
                            format!(
                                "only blocks of {} — no pick takes from there",
                                if list.is_empty() {
                                    "no section".to_owned()
                                } else {
                                    list.join(", ")
                                }
                            ),
                        )
                        .help("fix the section name in the condition, or delete the drop"),
                    );
                    continue;
                }
                if let Some(cat) = catalog
                    && only_blocks(&d.filter)
                    && !cat.is_empty()
                    && !cat.blocks().iter().any(|b| self.holds_for_block(filter, b))
                {
                    found.push(
                        Diagnostic::warning(
                            "tailor::drop_affects_nothing",
                            format!(
                                "this drop of rule `{}` holds for no block of the catalog",
                                r.name
                            ),
                        )
                        .at(d.span, format!("none of the {} blocks matches", cat.len()))
                        .help("check the tags or fields it tests against the catalog"),
                    );
                }
            }
        }
        for d in found {
            self.diags.push(d);
        }
    }

    /// Evaluate a condition that looks only at the block.
    fn holds_for_block(&self, e: &CExpr, b: &crate::data::Block) -> bool {
        let c = self.pkg.compiled();
        let profile = Profile {
            values: vec![None; c.profile.len()].into(),
            raw: Default::default(),
        };
        let event = Event::new(EventKind::Enter, jiff::Timestamp::UNIX_EPOCH);
        let errors = std::cell::RefCell::new(Vec::new());
        let ctx = Ctx {
            segments: &c.segments,
            scripts: &c.scripts,
            host: self.pkg.script_host(),
            tz: &c.edition.timezone,
            profile: &profile,
            block: Some(b),
            event: &event,
            now: jiff::Timestamp::UNIX_EPOCH,
            errors: &errors,
        };
        ctx.holds(e).unwrap_or(true)
    }

    fn empty_sections(&mut self, catalog: &Catalog) {
        let Some(ed) = self.edition else {
            return;
        };
        let mut found = Vec::new();
        for s in &ed.sections {
            if catalog.section(&s.name.name).next().is_none() {
                found.push(
                    Diagnostic::warning(
                        "tailor::empty_section",
                        format!("section `{}` has no blocks in the catalog", s.name.name),
                    )
                    .at(s.name.span, "no block has this section")
                    .help("add blocks with this `section`, or check the spelling in the catalog"),
                );
            }
        }
        for d in found {
            self.diags.push(d);
        }
    }
}

fn pick_exprs(p: &ast::Pick) -> Vec<&ast::Expr> {
    let mut v: Vec<&ast::Expr> = p.filter.iter().collect();
    if let Some(ast::Order::By { key, .. }) = &p.order {
        v.push(key);
    }
    v
}

/// True when an expression reads only the block and constants (no profile, event, now,
/// segments or scripts).
fn only_blocks(e: &ast::Expr) -> bool {
    let mut ok = true;
    e.walk(&mut |x| match &x.kind {
        ExprKind::Field {
            root: Root::Block, ..
        }
        | ExprKind::Literal(_)
        | ExprKind::List(_) => {}
        ExprKind::Field { .. }
        | ExprKind::Now
        | ExprKind::Root(_)
        | ExprKind::Name(_)
        | ExprKind::ScriptCall { .. } => ok = false,
        _ => {}
    });
    ok
}

fn number(e: &ast::Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::Literal(Literal::Int(i)) => Some(*i as f64),
        ExprKind::Literal(Literal::Float(f)) => Some(*f),
        ExprKind::Unary {
            op: UnaryOp::Neg,
            operand,
        } => number(operand).map(|n| -n),
        _ => None,
    }
}

fn string(e: &ast::Expr) -> Option<String> {
    match &e.kind {
        ExprKind::Literal(Literal::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

fn constant(e: &ast::Expr) -> bool {
    matches!(e.kind, ExprKind::Literal(_) | ExprKind::List(_)) || number(e).is_some()
}

/// The comparison with the subject on the other side: `3 < x` is `x > 3`.
fn flip(op: BinaryOp) -> BinaryOp {
    match op {
        BinaryOp::Lt => BinaryOp::Gt,
        BinaryOp::Le => BinaryOp::Ge,
        BinaryOp::Gt => BinaryOp::Lt,
        BinaryOp::Ge => BinaryOp::Le,
        other => other,
    }
}

/// `not (x < 3)` is `x >= 3` when `x` is present. A missing `x` makes `not (x < 3)`
/// true, so negated bounds are only used where both atoms see a present value, which
/// holds for comparisons: a missing value fails every comparison, so the conjunction
/// with a non-negated comparison on the same subject is false anyway.
fn negate(op: BinaryOp) -> Option<BinaryOp> {
    Some(match op {
        BinaryOp::Lt => BinaryOp::Ge,
        BinaryOp::Le => BinaryOp::Gt,
        BinaryOp::Gt => BinaryOp::Le,
        BinaryOp::Ge => BinaryOp::Lt,
        BinaryOp::Eq => BinaryOp::Ne,
        BinaryOp::Ne => BinaryOp::Eq,
        _ => return None,
    })
}

fn atom(e: &ast::Expr, negated: bool) -> Option<Atom> {
    let text = print_expr(e);
    let text = if negated {
        format!("not ({text})")
    } else {
        text
    };
    if let ExprKind::Binary { op, lhs, rhs } = &e.kind {
        let (subject, value, op) = if constant(rhs) && !constant(lhs) {
            (&**lhs, &**rhs, *op)
        } else if constant(lhs) && !constant(rhs) {
            (&**rhs, &**lhs, flip(*op))
        } else {
            return bool_atom(e, negated, text);
        };
        let key = print_expr(subject);
        // Negated tests are only safe when every other atom on the key also requires a
        // present value; they are kept only for numbers and string equality, which do.
        let op = match (negated, negate(op)) {
            (false, _) => op,
            (true, Some(n)) => n,
            (true, None) => return bool_atom(e, negated, text),
        };
        let test = if let Some(n) = number(value) {
            match op {
                BinaryOp::Lt
                | BinaryOp::Le
                | BinaryOp::Gt
                | BinaryOp::Ge
                | BinaryOp::Eq
                | BinaryOp::Ne => Test::Num(op, n),
                _ => return bool_atom(e, negated, text),
            }
        } else if let Some(s) = string(value) {
            match op {
                BinaryOp::Eq => Test::StrEq(s),
                BinaryOp::Ne => Test::StrNe(s),
                _ => return bool_atom(e, negated, text),
            }
        } else if let (BinaryOp::In, ExprKind::List(items), false) = (op, &value.kind, negated) {
            match items
                .iter()
                .map(string)
                .collect::<Option<BTreeSet<String>>>()
            {
                Some(set) => Test::StrIn(set),
                None => return bool_atom(e, negated, text),
            }
        } else {
            return bool_atom(e, negated, text);
        };
        return Some(Atom {
            key,
            test,
            span: e.span,
            text,
            negated,
        });
    }
    bool_atom(e, negated, text)
}

/// Any other condition: `x` and `not x` cannot both hold.
fn bool_atom(e: &ast::Expr, negated: bool, text: String) -> Option<Atom> {
    Some(Atom {
        key: print_expr(e),
        test: Test::Bool(!negated),
        span: e.span,
        text,
        negated,
    })
}

/// Whether two tests on the same subject can both hold.
fn compatible(a: &Test, b: &Test) -> bool {
    match (a, b) {
        (Test::Num(o1, v1), Test::Num(o2, v2)) => {
            // The set of numbers each allows, as an interval with an excluded point.
            let mut lo = (f64::NEG_INFINITY, false);
            let mut hi = (f64::INFINITY, false);
            let mut excluded = Vec::new();
            for (op, v) in [(o1, *v1), (o2, *v2)] {
                match op {
                    BinaryOp::Gt => lo = tighter_lo(lo, (v, true)),
                    BinaryOp::Ge => lo = tighter_lo(lo, (v, false)),
                    BinaryOp::Lt => hi = tighter_hi(hi, (v, true)),
                    BinaryOp::Le => hi = tighter_hi(hi, (v, false)),
                    BinaryOp::Eq => {
                        lo = tighter_lo(lo, (v, false));
                        hi = tighter_hi(hi, (v, false));
                    }
                    BinaryOp::Ne => excluded.push(v),
                    _ => {}
                }
            }
            if lo.0 > hi.0 {
                return false;
            }
            if lo.0 == hi.0 {
                if lo.1 || hi.1 {
                    return false;
                }
                if excluded.contains(&lo.0) {
                    return false;
                }
            }
            true
        }
        (Test::StrEq(x), Test::StrEq(y)) => x == y,
        (Test::StrEq(x), Test::StrNe(y)) | (Test::StrNe(y), Test::StrEq(x)) => x != y,
        (Test::StrEq(x), Test::StrIn(s)) | (Test::StrIn(s), Test::StrEq(x)) => s.contains(x),
        (Test::StrIn(s), Test::StrIn(t)) => s.intersection(t).next().is_some(),
        (Test::Bool(x), Test::Bool(y)) => x == y,
        _ => true,
    }
}

fn tighter_lo(a: (f64, bool), b: (f64, bool)) -> (f64, bool) {
    if b.0 > a.0 || (b.0 == a.0 && b.1) {
        b
    } else {
        a
    }
}

fn tighter_hi(a: (f64, bool), b: (f64, bool)) -> (f64, bool) {
    if b.0 < a.0 || (b.0 == a.0 && b.1) {
        b
    } else {
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint_src(src: &str) -> Vec<(&'static str, String)> {
        let pkg = Package::from_sources(vec![("main.rules".into(), src.into())])
            .map_err(|e| e.render(false));
        let pkg = match pkg {
            Ok(p) => p,
            Err(e) => return vec![("rejected", e)],
        };
        lint(&pkg, None)
            .iter()
            .map(|d| (d.code, d.message.clone()))
            .collect()
    }

    const HEAD: &str = "profile { age: int city: string }\ncontent { region: string }\nedition e { sections { a 2 b 1 } }\n";

    #[test]
    fn contradictory_bounds_never_fire() {
        let w = lint_src(&format!(
            "{HEAD}rule r {{ when profile.age > 60 and profile.age < 30 pick 1 from a }}\nrule s {{ pick 1 from b }}"
        ));
        assert_eq!(
            w,
            vec![("tailor::never_fires", "rule `r` can never fire".to_owned())]
        );
    }

    #[test]
    fn contradictions_through_segments_and_not() {
        let w = lint_src(&format!(
            "{HEAD}segment old = profile.age >= 60\nrule r {{ when old and not (profile.age >= 50) pick 1 from a }}\nrule s {{ when profile.city == \"杭州\" and profile.city == \"宁波\" pick 1 from b }}"
        ));
        assert_eq!(
            w.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec!["tailor::never_fires", "tailor::never_fires"]
        );
    }

    #[test]
    fn consistent_conditions_are_quiet() {
        let w = lint_src(&format!(
            "{HEAD}rule r {{ when profile.age >= 60 and profile.age < 61 pick 1 from a }}\nrule s {{ when profile.age != 3 and profile.age == 4 pick 1 from b }}"
        ));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn a_missing_value_satisfies_two_negations() {
        // A reader without an age passes both `not (…)`: this rule can fire.
        let w = lint_src(&format!(
            "{HEAD}rule r {{ when not (profile.age >= 30) and not (profile.age < 30) pick 1 from a }}\nrule s {{ pick 1 from b }}"
        ));
        assert!(w.is_empty(), "{w:?}");
    }

    #[test]
    fn unused_names_and_full_sections() {
        let w = lint_src(&format!(
            "{HEAD}segment lonely = profile.age > 1\nrule first {{ priority 9 pick 2 from a }}\nrule late {{ pick 1 from a where block.region == \"x\" }}\nrule d {{ drop where block.section == \"c\" }}"
        ));
        let codes: Vec<&str> = w.iter().map(|x| x.0).collect();
        assert_eq!(
            codes,
            vec![
                "tailor::unused_section",
                "tailor::unused_segment",
                "tailor::pick_never_adds",
                "tailor::drop_affects_nothing"
            ],
            "{w:?}"
        );
    }

    mod soundness {
        use super::*;
        use proptest::prelude::*;

        const OPS: [&str; 6] = ["<", "<=", ">", ">=", "==", "!="];

        fn atom(op: usize, n: i64, neg: bool) -> String {
            let a = format!("profile.age {} {n}", OPS.get(op).copied().unwrap_or("<"));
            if neg { format!("not ({a})") } else { a }
        }

        proptest! {
            /// Whatever `never_fires` reports really never fires: checked for every age
            /// around the constants, and for a reader without an age.
            #[test]
            fn never_fires_is_sound(
                a in (0usize..6, 0i64..6, any::<bool>()),
                b in (0usize..6, 0i64..6, any::<bool>()),
            ) {
                let when = format!("{} and {}", atom(a.0, a.1, a.2), atom(b.0, b.1, b.2));
                let src = format!("profile {{ age: int }}\nedition e {{ sections {{ a 1 }} }}\nrule r {{ when {when} pick 1 from a }}");
                let Ok(pkg) = Package::from_sources(vec![("m.rules".into(), src)]) else {
                    return Err(TestCaseError::fail("package rejected"));
                };
                let flagged = lint(&pkg, None).iter().any(|d| d.code == "tailor::never_fires");
                if !flagged {
                    return Ok(());
                }
                let mut sources = tailor_lang::SourceMap::new();
                let mut lines = vec![r#"{"id": "none"}"#.to_owned()];
                lines.extend((-2..9).map(|age| format!(r#"{{"id": "u{age}", "age": {age}}}"#)));
                let profiles = pkg
                    .parse_profiles(&mut sources, "p", &lines.join("\n"))
                    .unwrap_or_default();
                let catalog = pkg
                    .parse_catalog(&mut sources, "c", r#"{"id": "b", "section": "a", "title": "t", "published": "2000-01-01T00:00:00Z"}"#)
                    .unwrap_or_default();
                let event = Event::new(EventKind::Enter, jiff::Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_hours(24 * 365 * 40));
                for p in &profiles {
                    let o = pkg.evaluate(&event, p, &catalog, &crate::data::History::default());
                    prop_assert!(o.fired.is_empty(), "lint said `{when}` never fires, but it fired for {}", p.id());
                }
            }
        }
    }
}
