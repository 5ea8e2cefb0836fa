//! The `text` format of `tailor digest`: the digest by section, for a person, with why
//! each item is there.

use std::fmt::Write as _;

use tailor_engine::{Outcome, OutcomeKind, Package, PickSource};
use tailor_lang::ast::{self, Item};

struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_owned()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
}

fn rule_ast<'a>(pkg: &'a Package, name: &str) -> Option<&'a ast::Rule> {
    pkg.files()
        .iter()
        .flat_map(|f| f.items.iter())
        .find_map(|i| match i {
            Item::Rule(r) if r.name.name == name => Some(r),
            _ => None,
        })
}

/// Render an outcome for a person.
pub fn render(pkg: &Package, o: &Outcome, color: bool) -> String {
    let st = Style { on: color };
    let c = pkg.compiled();
    let mut out = String::new();
    let title = c
        .edition
        .title
        .clone()
        .unwrap_or_else(|| c.edition.name.clone());
    let _ = writeln!(out, "{}", st.bold(&title));
    let _ = writeln!(
        out,
        "{}",
        st.dim(&format!(
            "edition `{}` for {} · {} at {}",
            o.edition, o.user, o.event, o.at_local
        ))
    );
    let _ = writeln!(out);
    match o.kind {
        OutcomeKind::Quiet => {
            let _ = writeln!(out, "quiet: {}", o.reason.as_deref().unwrap_or(""));
        }
        OutcomeKind::Empty => {
            let _ = writeln!(out, "empty: no block was chosen for this reader");
        }
        OutcomeKind::Digest => {
            let mut section = "";
            let mut n = 0;
            for item in &o.items {
                if *item.section != *section {
                    section = item.section;
                    let _ = writeln!(out, "{}", st.bold(&format!("【{section}】")));
                }
                n += 1;
                let _ = writeln!(
                    out,
                    "  {n}. {}  {}",
                    item.title,
                    st.dim(&format!("[{}]", item.id))
                );
                if let Some(s) = &item.summary {
                    let _ = writeln!(out, "     {s}");
                }
                let _ = writeln!(
                    out,
                    "     {}",
                    st.dim(&format!("why: {}", why(pkg, o, item.source)))
                );
            }
        }
    }
    let _ = writeln!(out);
    let fired = if o.fired.is_empty() {
        "none".to_owned()
    } else {
        o.fired.join(", ")
    };
    let _ = writeln!(out, "{}", st.dim(&format!("fired: {fired}")));
    for l in &o.learned {
        let what = match (&l.key, &l.value, &l.by) {
            (Some(k), _, Some(by)) => format!("{} {}[{k:?}] by {by}", l.op, l.field),
            (_, Some(v), _) => format!("{} {} {v}", l.op, l.field),
            _ => format!("{} {}", l.op, l.field),
        };
        let _ = writeln!(out, "{}", st.dim(&format!("learned: {what}")));
    }
    for e in &o.errors {
        let _ = writeln!(
            out,
            "script error: {}::{} for {}: {}",
            e.script, e.function, e.user, e.error
        );
    }
    out
}

/// "rule taiwan_first (when taiwan_reader): pick 3 from current where …"
fn why(pkg: &Package, o: &Outcome, source: PickSource) -> String {
    let c = pkg.compiled();
    match source {
        PickSource::Fallback { pick } => {
            let text = c
                .edition
                .fallback
                .get(pick)
                .map(|p| pkg.sources().snippet(p.span).to_owned())
                .unwrap_or_default();
            format!("the edition's fallback: {}", one_line(&text))
        }
        PickSource::Rule { rule, pick } => {
            let Some(name) = o.fired.get(rule) else {
                return String::new();
            };
            let Some(r) = rule_ast(pkg, name) else {
                return format!("rule {name}");
            };
            let picks: Vec<&ast::Pick> = r
                .actions
                .iter()
                .filter_map(|a| match a {
                    ast::Action::Pick(p) => Some(p),
                    ast::Action::Drop(_) => None,
                })
                .collect();
            let pick_text = picks
                .get(pick)
                .map(|p| one_line(pkg.sources().snippet(p.span)))
                .unwrap_or_default();
            match &r.when {
                Some(w) => format!(
                    "rule {name}, because {}: {pick_text}",
                    tailor_lang::print_expr(w)
                ),
                None => format!("rule {name}: {pick_text}"),
            }
        }
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
