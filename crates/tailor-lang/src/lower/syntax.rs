//! Syntax errors: pest's failures turned into diagnostics that say what was expected in
//! the author's words, what was found, and, for common slips, how to fix it.

use super::Rule;
use crate::ast::Unparsed;
use crate::diagnostic::Diagnostic;
use crate::span::{FileId, Span};

/// `e` is the error of parsing the chunk of `src` that starts at `base`.
pub(super) fn syntax_error(
    file: FileId,
    src: &str,
    base: usize,
    e: &pest::error::Error<Rule>,
) -> Diagnostic {
    use pest::error::{ErrorVariant, InputLocation};
    let pos = base
        + match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    let rest = src.get(pos..).unwrap_or("");
    // `2.25h` in an expression fails after `2`, at `.25h`: look from the number's start.
    let before = src.get(..pos).unwrap_or("");
    let number = pos - (before.len() - before.trim_end_matches(|c: char| c.is_ascii_digit()).len());
    if let Some(d) = fractional_duration(file, number, src.get(number..).unwrap_or("")) {
        return d;
    }
    let after_digit = number < pos;
    // What follows in the whole file: the end of a chunk is not the end of the file.
    let found = found_token(src, pos);
    if let Some(digits) = rest
        .strip_prefix('.')
        .map(|r| {
            r.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
        .filter(|d| !d.is_empty() && !after_digit)
    {
        let written = format!(".{digits}");
        return Diagnostic::error(
            "tailor::syntax",
            format!("`{written}` is not a number: a float needs a digit before the point"),
        )
        .at(
            Span::new(file, pos, pos + written.len()),
            "no digit before the point",
        )
        .help(format!("write `0{written}`"));
    }
    let span = Span::new(file, pos, pos + found.len());
    let found_desc = if found.is_empty() {
        "end of file".to_owned()
    } else {
        format!("`{found}`")
    };
    let (expected, help) = match &e.variant {
        ErrorVariant::ParsingError { positives, .. } => describe_expected(positives, &found),
        // pest's only custom errors are its call and stack limits.
        ErrorVariant::CustomError { message } => {
            return Diagnostic::error(
                "tailor::syntax",
                format!("input nested too deeply to parse ({message})"),
            )
            .at(span, "too deep")
            .help("split the expression into segments");
        }
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

/// `1.5d` where a duration (or any expression) was expected: durations are whole numbers
/// of a unit; say so, with the same length in a smaller unit when there is one.
fn fractional_duration(file: FileId, pos: usize, rest: &str) -> Option<Diagnostic> {
    let whole: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = rest.get(whole.len()..)?.strip_prefix('.')?;
    let frac: String = after.chars().take_while(char::is_ascii_digit).collect();
    let unit = after.get(frac.len()..)?.chars().next()?;
    let tail = after.get(frac.len() + 1..).unwrap_or("");
    const UNITS: [(char, u64); 5] = [
        ('w', 604_800),
        ('d', 86_400),
        ('h', 3_600),
        ('m', 60),
        ('s', 1),
    ];
    let secs_per = UNITS.iter().find(|(u, _)| *u == unit)?.1;
    if whole.is_empty()
        || frac.is_empty()
        || tail.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let written = format!("{whole}.{frac}{unit}");
    // The length in seconds, when it is a whole number of them.
    let denominator = 10u64.checked_pow(u32::try_from(frac.len()).ok()?)?;
    let numerator = format!("{whole}{frac}")
        .parse::<u64>()
        .ok()?
        .checked_mul(secs_per)?;
    let exact = (numerator % denominator == 0).then(|| numerator / denominator);
    let better = exact.and_then(|secs| {
        UNITS
            .iter()
            .find(|(_, n)| secs % n == 0)
            .map(|(u, n)| format!("{}{u}", secs / n))
    });
    let help = match better {
        Some(b) => {
            format!("write `{b}`: a duration is a whole number of `s`, `m`, `h`, `d` or `w`")
        }
        None => "use a smaller unit: a duration is a whole number of `s`, `m`, `h`, `d` or `w`"
            .to_owned(),
    };
    Some(
        Diagnostic::error(
            "tailor::syntax",
            format!("durations are whole numbers, found `{written}`"),
        )
        .at(
            Span::new(file, pos, pos + written.len()),
            "a fraction of a unit",
        )
        .help(help),
    )
}

/// A chunk (one item, as the recovery splits the file) that ends where a clause or its
/// `}` should come, and is followed by another item: the author forgot the `}`. `chunk`
/// is the failed chunk's range when another item follows it.
pub(super) fn unclosed_item(
    file: FileId,
    src: &str,
    chunk: Option<(usize, usize)>,
    head: Option<&Unparsed>,
    e: &pest::error::Error<Rule>,
) -> Option<Diagnostic> {
    use pest::error::{ErrorVariant, InputLocation};
    let (start, end) = chunk?;
    let head = head?;
    let ErrorVariant::ParsingError { positives, .. } = &e.variant else {
        return None;
    };
    // An expression left unfinished before the next item has its own message.
    if positives.iter().any(|r| EXPRESSION_ONLY.contains(r)) {
        return None;
    }
    let pos = start
        + match e.location {
            InputLocation::Pos(p) => p,
            InputLocation::Span((s, _)) => s,
        };
    // Nothing but blank lines and comments between the error and the next item.
    let between = src.get(pos..end)?;
    if !between.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    }) {
        return None;
    }
    let next = found_token(src, end);
    let keyword = head.keyword.name();
    let what = match &head.name {
        Some(n) => format!("`{keyword} {n}`"),
        None => format!("this `{keyword}`"),
    };
    // Where the unclosed item starts: its keyword, after any comments.
    let mut opened = None;
    let mut offset = start;
    for line in src.get(start..end)?.split_inclusive('\n') {
        let t = line.trim_start();
        if !t.is_empty() && !t.starts_with('#') {
            let at = offset + (line.len() - t.len());
            opened = Some(Span::new(file, at, at + keyword.len()));
            break;
        }
        offset += line.len();
    }
    let mut d = Diagnostic::error(
        "tailor::syntax",
        format!("{what} is not closed: expected `}}` before the next item"),
    )
    .at(
        Span::new(file, end, end + next.len()),
        "the next item starts here",
    );
    if let Some(o) = opened {
        d = d.also(o, "this item has no closing `}`");
    }
    Some(d.help(format!(
        "add the missing `}}` at the end of {what}; a line that starts with an item keyword always starts a new item"
    )))
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
    } else if "=!<>:-&|".contains(first) && rest.len() > 1 {
        let two: String = rest.chars().take(2).collect();
        if ["==", "!=", "<=", ">=", "::", "->", "&&", "||"].contains(&two.as_str()) {
            two
        } else {
            first.to_string()
        }
    } else {
        first.to_string()
    }
}

/// Rules that are tried only where an expression may start.
const EXPRESSION_ONLY: [Rule; 13] = [
    Rule::expr,
    Rule::paren,
    Rule::list,
    Rule::float,
    Rule::kw_true,
    Rule::kw_false,
    Rule::script_call,
    Rule::call,
    Rule::field,
    Rule::kw_now,
    Rule::root,
    Rule::op_not,
    Rule::op_neg,
];

fn describe_expected(positives: &[Rule], found: &str) -> (String, Option<String>) {
    let mut names: Vec<String> = Vec::new();
    let mut help = None;
    let mut operator = false;
    let expression = positives.iter().any(|r| EXPRESSION_ONLY.contains(r));
    for r in positives {
        let name = match r {
            r if EXPRESSION_ONLY.contains(r) => "an expression".to_owned(),
            // Where an expression may start, its first tokens are summed up by it.
            Rule::ident
            | Rule::name
            | Rule::int
            | Rule::string
            | Rule::duration
            | Rule::kw_not
            | Rule::kw_profile
            | Rule::kw_block
            | Rule::kw_event
                if expression =>
            {
                continue;
            }
            Rule::ident | Rule::name => "a name".to_owned(),
            Rule::field_name | Rule::field_path => "a field name".to_owned(),
            Rule::string => "a string".to_owned(),
            Rule::duration => "a duration (`90s`, `15m`, `12h`, `3d` or `2w`)".to_owned(),
            Rule::int => "an integer".to_owned(),
            // The keywords of infix and postfix operators (`not` as in `not in`).
            Rule::kw_and
            | Rule::kw_or
            | Rule::kw_not
            | Rule::kw_in
            | Rule::kw_intersects
            | Rule::kw_matches
            | Rule::kw_exists => {
                operator = true;
                continue;
            }
            Rule::type_expr => "a type".to_owned(),
            Rule::event_kind | Rule::event_kinds => "an event kind".to_owned(),
            Rule::profile_schema
            | Rule::kw_profile
            | Rule::kw_content
            | Rule::kw_edition
            | Rule::kw_segment
            | Rule::kw_script
            | Rule::kw_rule
            | Rule::kw_learn
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
    // An item keyword where an expression should be: the expression is missing, the
    // keyword starts the next item.
    let next_item = expression && super::ITEM_KEYWORDS.contains(&found);
    if positives.contains(&Rule::ident) && crate::KEYWORDS.contains(&found) && !next_item {
        help = Some(format!(
            "`{found}` is a reserved word and cannot be used as a name"
        ));
    }
    if found == "&&" || found == "&" {
        help = Some("write `and`".to_owned());
    } else if found == "||" || found == "|" {
        help = Some("write `or`".to_owned());
    } else if found == "'" {
        help = Some("strings use double quotes: \"…\"".to_owned());
    } else if found == "\"" && (expression || positives.contains(&Rule::string)) {
        help = Some("this string is not closed: add a `\"` where it ends".to_owned());
    }
    let expected = match names.len() {
        0 => "something else".to_owned(),
        1 => names.remove(0),
        _ => {
            let last = names.pop().unwrap_or_default();
            format!("{} or {}", names.join(", "), last)
        }
    };
    let help = help.unwrap_or_else(|| fallback_help(positives, found, next_item, &expected));
    (expected, Some(help))
}

/// How to fix a syntax error that no common slip explains.
fn fallback_help(positives: &[Rule], found: &str, next_item: bool, expected: &str) -> String {
    let word = found.starts_with(|c: char| c.is_alphanumeric() || c == '_');
    if positives.contains(&Rule::kw_newest) {
        "after `order by`, write `newest`, `oldest`, or an expression and `asc` or `desc`"
            .to_owned()
    } else if positives.contains(&Rule::duration) && found.chars().all(|c| c.is_ascii_digit()) {
        format!(
            "a duration needs a unit: `{found}s`, `{found}m`, `{found}h`, `{found}d` or `{found}w`"
        )
    } else if positives.contains(&Rule::field_decl) && word {
        "declare a field as `name: type`, as in `age: int`".to_owned()
    } else if next_item {
        "the expression above is not finished: complete it before the next item starts".to_owned()
    } else if found.is_empty() {
        "the file ends before this item does: is a closing `}` missing?".to_owned()
    } else if word && !found.is_ascii() && positives.iter().any(|r| EXPRESSION_ONLY.contains(r)) {
        // Names are ASCII: a word in other letters is text that lost its quotes.
        format!("put text in double quotes: `\"{found}\"`")
    } else if let Some(s) = Some(keywords(positives))
        .filter(|_| word && !crate::KEYWORDS.contains(&found))
        .and_then(|k| crate::diagnostic::suggest(found, k.iter().copied()))
    {
        format!("did you mean `{s}`?")
    } else if positives.contains(&Rule::EOI) {
        "remove it, or check that the item above is complete".to_owned()
    } else {
        format!("write {expected} here")
    }
}

/// The keywords that would have been accepted where `positives` were expected: a clause
/// or item is named by its first keyword.
fn keywords(positives: &[Rule]) -> Vec<&'static str> {
    let mut out = Vec::new();
    for r in positives {
        let k = match r {
            Rule::ed_title => "title",
            Rule::ed_timezone => "timezone",
            Rule::ed_max => "max",
            Rule::ed_min => "min",
            Rule::ed_sections => "sections",
            Rule::ed_repeat => "repeat",
            Rule::ed_fallback => "fallback",
            Rule::cap => "cap",
            Rule::rule_on => "on",
            Rule::rule_priority => "priority",
            Rule::rule_when | Rule::learn_when => "when",
            Rule::pick => "pick",
            Rule::drop => "drop",
            Rule::pick_where => "where",
            Rule::pick_order => "order",
            Rule::st_set => "set",
            Rule::st_unset => "unset",
            Rule::st_add => "add",
            Rule::st_remove => "remove",
            Rule::st_incr => "incr",
            Rule::profile_schema => "profile",
            Rule::content_schema => "content",
            Rule::edition => "edition",
            Rule::segment => "segment",
            Rule::script => "script",
            Rule::rule => "rule",
            Rule::learn => "learn",
            other => match crate::KEYWORDS
                .iter()
                .find(|k| format!("{other:?}").strip_prefix("kw_") == Some(**k))
            {
                Some(k) => k,
                None => continue,
            },
        };
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}
