//! Syntax errors: pest's failures turned into diagnostics that say what was expected in
//! the author's words, what was found, and, for common slips, how to fix it.

use super::Rule;
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Span};

pub(super) fn syntax_error(
    file: FileId,
    base: usize,
    chunk: &str,
    e: &pest::error::Error<Rule>,
) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = match e.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let found = found_token(chunk, pos);
    let span = Span::new(
        file,
        base + pos,
        base + pos + found.len().max(if pos < chunk.len() { 1 } else { 0 }),
    );
    let found_desc = if found.is_empty() {
        "end of file".to_owned()
    } else {
        format!("`{found}`")
    };
    let (expected, help) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => describe_expected(positives, &found),
        ErrorVariant::CustomError { message } => (message.clone(), None),
    };
    let mut d = Diagnostic::error(
        "tailor::syntax",
        format!("expected {expected}, found {found_desc}"),
    )
    .at(span, format!("expected {expected}"));
    if let Some(h) = help {
        d = d.help(h);
    }
    d
}

/// The token at `pos`: a word, a number, or one character; "" at the end of input.
fn found_token(src: &str, pos: usize) -> String {
    let rest = src.get(pos..).unwrap_or("");
    let mut chars = rest.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    if first.is_alphanumeric() || first == '_' {
        rest.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    } else if "=!<>:-".contains(first) && rest.len() > 1 {
        let two: String = rest.chars().take(2).collect();
        if ["==", "!=", "<=", ">=", "::", "->"].contains(&two.as_str()) {
            two
        } else {
            first.to_string()
        }
    } else {
        first.to_string()
    }
}

fn describe_expected(positives: &[Rule], found: &str) -> (String, Option<String>) {
    let mut names: Vec<String> = Vec::new();
    let mut help = None;
    let mut operator = false;
    for r in positives {
        let name = match r {
            Rule::ident | Rule::name => "a name".to_owned(),
            Rule::field_name | Rule::field_path => "a field name".to_owned(),
            Rule::expr | Rule::paren | Rule::list | Rule::duration | Rule::float
            | Rule::string | Rule::kw_true | Rule::kw_false | Rule::script_call | Rule::call
            | Rule::field | Rule::kw_now | Rule::root | Rule::op_not | Rule::op_neg => {
                "an expression".to_owned()
            }
            Rule::int => "an integer".to_owned(),
            Rule::type_expr => "a type".to_owned(),
            Rule::event_kind | Rule::event_kinds => "an event kind".to_owned(),
            Rule::profile_schema
            | Rule::content_schema
            | Rule::edition
            | Rule::segment
            | Rule::script
            | Rule::rule
            | Rule::learn => "an item (`profile`, `content`, `edition`, `segment`, `script`, `rule` or `learn`)".to_owned(),
            Rule::EOI => "end of file".to_owned(),
            Rule::section_decl => "a section (`name quota`)".to_owned(),
            Rule::field_decl => "a field declaration (`name: type`)".to_owned(),
            Rule::script_fn => "a function declaration (`fn name(params) -> type`)".to_owned(),
            Rule::rule_on | Rule::rule_priority | Rule::rule_when | Rule::pick | Rule::drop | Rule::cap => {
                "a rule clause (`on`, `priority`, `when`, `pick`, `drop` or `cap`)".to_owned()
            }
            Rule::ed_title | Rule::ed_timezone | Rule::ed_max | Rule::ed_min | Rule::ed_sections
            | Rule::ed_repeat | Rule::ed_fallback => "an edition clause (`title`, `timezone`, `max`, `min`, `sections`, `cap`, `repeat after` or `fallback`)".to_owned(),
            Rule::st_set | Rule::st_unset | Rule::st_add | Rule::st_remove | Rule::st_incr | Rule::learn_when => {
                "a learn statement (`set`, `unset`, `add`, `remove` or `incr`)".to_owned()
            }
            Rule::pick_where => "`where`".to_owned(),
            Rule::pick_order => "`order by`".to_owned(),
            Rule::order_key => "an order (`newest`, `oldest` or an expression with `asc`/`desc`)".to_owned(),
            Rule::op_exists | Rule::op_index | Rule::op_or | Rule::op_and | Rule::op_eq
            | Rule::op_ne | Rule::op_le | Rule::op_ge | Rule::op_lt | Rule::op_gt
            | Rule::op_not_in | Rule::op_in | Rule::op_intersects | Rule::op_matches
            | Rule::op_add | Rule::op_sub | Rule::op_mul | Rule::op_div | Rule::op_rem => {
                operator = true;
                continue;
            }
            other => {
                let dbg = format!("{other:?}");
                match dbg.strip_prefix("kw_") {
                    Some(k) => format!("`{k}`"),
                    None => dbg,
                }
            }
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if operator {
        names.push("an operator".to_owned());
    }
    if positives.contains(&Rule::kw_asc) || positives.contains(&Rule::kw_desc) {
        help = Some("an `order by` expression needs a direction: `asc` or `desc`".to_owned());
    }
    if found == "=" && operator {
        help = Some("use `==` to compare".to_owned());
    }
    if positives.contains(&Rule::ident) && crate::KEYWORDS.contains(&found) {
        help = Some(format!(
            "`{found}` is a reserved word and cannot be used as a name"
        ));
    }
    if found == "&&" || found == "&" {
        help = Some("write `and`".to_owned());
    } else if found == "|" {
        help = Some("write `or`".to_owned());
    } else if found == "'" {
        help = Some("strings use double quotes: \"…\"".to_owned());
    }
    let expected = match names.len() {
        0 => "something else".to_owned(),
        1 => names.remove(0),
        _ => {
            let last = names.pop().unwrap_or_default();
            format!("{} or {}", names.join(", "), last)
        }
    };
    (expected, help)
}
