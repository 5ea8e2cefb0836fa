//! The lexical rules of language.md §2 and the precedence table of language.md §7, one row at a time:
//! each expression is parsed and shown fully parenthesized, so a test states the tree.

use tailor_lang::ast::{DurationUnit, Expr, ExprKind, Literal, Root, UnaryOp};
use tailor_lang::{Diagnostics, FileId, KEYWORDS, SourceMap, parse_expr, parse_file, print_expr};

/// The tree of `e` with every operator application in parentheses.
fn tree(e: &Expr) -> String {
    let list = |es: &[Expr]| es.iter().map(tree).collect::<Vec<_>>().join(", ");
    match &e.kind {
        ExprKind::Literal(Literal::Bool(b)) => b.to_string(),
        ExprKind::Literal(Literal::Int(i)) => i.to_string(),
        ExprKind::Literal(Literal::Float(f)) => format!("{f:?}"),
        ExprKind::Literal(Literal::Str(s)) => format!("{s:?}"),
        ExprKind::Literal(Literal::Duration(d)) => format!("{}{}", d.amount, d.unit.suffix()),
        ExprKind::List(items) => format!("[{}]", list(items)),
        ExprKind::Now => "now".to_owned(),
        ExprKind::Root(r) => format!("<{}>", r.name()),
        ExprKind::Field { root, path } => {
            let names: Vec<&str> = path.iter().map(|i| i.name.as_str()).collect();
            format!("{}.{}", root.name(), names.join("."))
        }
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Index { target, key } => format!("{}[{}]", tree(target), tree(key)),
        ExprKind::Call { func, args } => format!("{}({})", func.name, list(args)),
        ExprKind::ScriptCall { script, func, args } => {
            format!("{}::{}({})", script.name, func.name, list(args))
        }
        ExprKind::Unary { op, operand } => match op {
            UnaryOp::Not => format!("(not {})", tree(operand)),
            UnaryOp::Neg => format!("(-{})", tree(operand)),
        },
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", tree(lhs), op.symbol(), tree(rhs))
        }
        ExprKind::Matches { subject, pattern } => {
            format!("({} matches {:?})", tree(subject), pattern.value)
        }
        ExprKind::Exists(inner) => format!("({} exists)", tree(inner)),
    }
}

#[expect(clippy::panic, reason = "a test helper fails its test by panicking")]
fn parse(src: &str) -> Expr {
    match parse_expr(FileId(0), src) {
        Ok(e) => e,
        Err(d) => panic!("`{src}` does not parse:\n{d}"),
    }
}

/// Asserts the tree of `src`, and that printing it gives `printed`, which parses back to
/// the same tree.
#[track_caller]
fn check(src: &str, expected_tree: &str, printed: &str) {
    let e = parse(src);
    assert_eq!(tree(&e), expected_tree, "tree of `{src}`");
    assert_eq!(print_expr(&e), printed, "printing `{src}`");
    assert_eq!(tree(&parse(printed)), expected_tree, "tree of `{printed}`");
}

/// The errors of `src` as an expression, rendered against its text (no colour).
#[expect(clippy::panic, reason = "a test helper fails its test by panicking")]
fn errors(src: &str) -> (Diagnostics, String) {
    let diags = match parse_expr(FileId(0), src) {
        Ok(e) => panic!("`{src}` parses, as {}", tree(&e)),
        Err(d) => d,
    };
    let mut sources = SourceMap::new();
    sources.add("expr.rules", src);
    let rendered = diags.render(&sources, false);
    (diags, rendered)
}

// ---------------------------------------------------------------- language.md §7, lowest first

#[test]
fn or_is_below_and() {
    check("a or b and c", "(a or (b and c))", "a or b and c");
    check("a and b or c", "((a and b) or c)", "a and b or c");
    check("(a or b) and c", "((a or b) and c)", "(a or b) and c");
    check("a or b or c", "((a or b) or c)", "a or b or c");
}

#[test]
fn not_is_below_comparisons() {
    check("not a == b", "(not (a == b))", "not (a == b)");
    check("not (a == b)", "(not (a == b))", "not (a == b)");
    check("(not a) == b", "((not a) == b)", "(not a) == b");
    check("not a and b", "((not a) and b)", "not a and b");
    check("not not a", "(not (not a))", "not not a");
    check(
        "a and not b or c",
        "((a and (not b)) or c)",
        "a and not b or c",
    );
}

#[test]
fn not_is_below_exists() {
    check("not p exists", "(not (p exists))", "not (p exists)");
    check("p exists and q", "((p exists) and q)", "p exists and q");
    check(
        "profile.a exists or not profile.b exists",
        "((profile.a exists) or (not (profile.b exists)))",
        "profile.a exists or not (profile.b exists)",
    );
}

#[test]
fn membership_and_matching_are_comparisons() {
    check("x in S and y", "((x in S) and y)", "x in S and y");
    check("x not in S or y", "((x not in S) or y)", "x not in S or y");
    check("not x in S", "(not (x in S))", "not (x in S)");
    check(
        "a intersects b and c",
        "((a intersects b) and c)",
        "a intersects b and c",
    );
    check(
        "x in [\"杭州\", \"宁波\"]",
        "(x in [\"杭州\", \"宁波\"])",
        "x in [\"杭州\", \"宁波\"]",
    );
    check(
        "s matches \"re\" and t",
        "((s matches \"re\") and t)",
        "s matches \"re\" and t",
    );
    check(
        "a + b matches \"^x\"",
        "((a + b) matches \"^x\")",
        "a + b matches \"^x\"",
    );
}

#[test]
fn comparisons_are_below_sums() {
    check("a + 1 < b * 2", "((a + 1) < (b * 2))", "a + 1 < b * 2");
    check("a - b exists", "((a - b) exists)", "a - b exists");
    check(
        "profile.last_seen > now - 7d",
        "(profile.last_seen > (now - 7d))",
        "profile.last_seen > now - 7d",
    );
}

#[test]
fn sums_are_below_products() {
    check("a + b * c", "(a + (b * c))", "a + b * c");
    check("a * b + c", "((a * b) + c)", "a * b + c");
    check("(a + b) * c", "((a + b) * c)", "(a + b) * c");
    check("a - b - c", "((a - b) - c)", "a - b - c");
    check("a - (b - c)", "(a - (b - c))", "a - (b - c)");
    check("a % b * c / d", "(((a % b) * c) / d)", "a % b * c / d");
}

#[test]
fn products_are_below_prefix_minus() {
    check("-a * b", "((-a) * b)", "-a * b");
    check("-(a * b)", "(-(a * b))", "-(a * b)");
    check("a - -b", "(a - (-b))", "a - -b");
    check("--a", "(-(-a))", "--a");
    check("-1", "(-1)", "-1");
    check("-2.5 + 1", "((-2.5) + 1)", "-2.5 + 1");
    check("-(not a)", "(-(not a))", "-(not a)");
}

#[test]
fn postfix_binds_tightest() {
    check(
        "profile.reads[\"x\"] + 1",
        "(profile.reads[\"x\"] + 1)",
        "profile.reads[\"x\"] + 1",
    );
    check("-a[0]", "(-a[0])", "-a[0]");
    check("(-a)[0]", "(-a)[0]", "(-a)[0]");
    check("m[k][0]", "m[k][0]", "m[k][0]");
    check("f(x)[0] * 2", "(f(x)[0] * 2)", "f(x)[0] * 2");
    check("-a exists", "((-a) exists)", "-a exists");
}

#[test]
fn comparisons_do_not_chain() {
    for (src, at) in [
        ("a < b < c", 6),
        ("a == b == c", 7),
        ("a < b exists", 6),
        ("a in b == c", 7),
        ("a matches \"x\" == b", 14),
        ("a exists exists", 9),
        ("x != 1 in S", 7),
    ] {
        let (diags, rendered) = errors(src);
        assert_eq!(diags.len(), 1, "{src}: {diags}");
        let d = &diags.items[0];
        assert_eq!(d.code, "tailor::chained_comparison", "{src}");
        assert_eq!(d.message, "comparisons do not chain");
        let span = d.primary.as_ref().unwrap().span;
        assert_eq!(span.start as usize, at, "{src}: {span:?}");
        assert!(rendered.contains("comparisons do not chain"), "{rendered}");
        assert!(
            rendered.contains("help: join the comparisons with `and`, as in `a < b and b < c`"),
            "{rendered}"
        );
    }
    // Parentheses make it one comparison of another's result.
    check("(a < b) == c", "((a < b) == c)", "(a < b) == c");
    check("a == (b == c)", "(a == (b == c))", "a == (b == c)");
    check(
        "(p exists) == true",
        "((p exists) == true)",
        "(p exists) == true",
    );
    check(
        "a < b and b < c",
        "((a < b) and (b < c))",
        "a < b and b < c",
    );
}

// ---------------------------------------------------------------- operands

#[test]
fn matches_takes_a_string_literal() {
    let e = parse("s matches \"^杭\"");
    match &e.kind {
        ExprKind::Matches { subject, pattern } => {
            assert_eq!(tree(subject), "s");
            assert_eq!(pattern.value, "^杭");
            // The span of the pattern covers the literal with its quotes (0-based 10..16).
            assert_eq!(pattern.span.start, 10);
            assert_eq!(pattern.span.end as usize, "s matches \"^杭\"".len());
        }
        other => panic!("not a match: {other:?}"),
    }
    for (src, pattern) in [
        ("s matches t", "t"),
        ("s matches (\"re\")", "\"re\""),
        ("s matches \"a\" + \"b\"", "\"a\" + \"b\""),
    ] {
        let (diags, rendered) = errors(src);
        assert_eq!(diags.len(), 1, "{src}: {diags}");
        let d = &diags.items[0];
        assert_eq!(d.code, "tailor::matches_pattern");
        let span = d.primary.as_ref().unwrap().span;
        assert_eq!(&src[span.range()], pattern, "{src}");
        assert!(
            rendered.contains("the pattern of `matches` must be a string literal"),
            "{rendered}"
        );
    }
}

#[test]
fn script_calls_and_bare_roots() {
    check(
        "ns::f(profile, block)",
        "ns::f(<profile>, <block>)",
        "ns::f(profile, block)",
    );
    check(
        "seat::rank(profile, block, event)",
        "seat::rank(<profile>, <block>, <event>)",
        "seat::rank(profile, block, event)",
    );
    check("f(profile)", "f(<profile>)", "f(profile)");
    check(
        "len(profile.past_places) > 0",
        "(len(profile.past_places) > 0)",
        "len(profile.past_places) > 0",
    );
    check("f()", "f()", "f()");
    let e = parse("ns::f(profile)");
    let ExprKind::ScriptCall { args, .. } = &e.kind else {
        panic!("not a script call: {e:?}");
    };
    assert_eq!(args[0].kind, ExprKind::Root(Root::Profile));
}

#[test]
fn keywords_after_a_dot_are_field_names() {
    check("block.title", "block.title", "block.title");
    check("profile.order", "profile.order", "profile.order");
    check(
        "profile.in in event.not",
        "(profile.in in event.not)",
        "profile.in in event.not",
    );
    check(
        "block.order.by.asc exists",
        "(block.order.by.asc exists)",
        "block.order.by.asc exists",
    );
    // Every keyword is a field name after a dot.
    for k in KEYWORDS {
        let src = format!("profile.{k} == block.{k}");
        check(&src, &format!("(profile.{k} == block.{k})"), &src);
    }
}

#[test]
fn words_that_begin_with_a_keyword_are_names() {
    for src in [
        "notx",
        "in_s",
        "orders",
        "order_",
        "increment",
        "profiles",
        "nowhere",
        "tom",
    ] {
        check(src, src, src);
    }
    check("orders or incr2", "(orders or incr2)", "orders or incr2");
}

#[test]
fn keywords_are_not_names() {
    // Every keyword is rejected as a segment name, with a help that says why.
    for k in KEYWORDS {
        let src = format!("segment {k} = true\n");
        let (file, diags) = parse_file(FileId(0), &src);
        assert!(file.items.is_empty(), "{k}");
        assert_eq!(diags.len(), 1, "{k}: {diags}");
        let d = &diags.items[0];
        assert_eq!(d.code, "tailor::syntax", "{k}");
        assert_eq!(d.message, format!("expected a name, found `{k}`"));
        let span = d.primary.as_ref().unwrap().span;
        assert_eq!(&src[span.range()], k);
        let help = format!("`{k}` is a reserved word and cannot be used as a name");
        assert_eq!(d.help.as_deref(), Some(help.as_str()), "{k}");
        let mut sources = SourceMap::new();
        sources.add("kw.rules", src.as_str());
        let rendered = diags.render(&sources, false);
        assert!(rendered.contains("[kw.rules:1:9]"), "{rendered}");
        assert!(rendered.contains(&format!("help: {help}")), "{rendered}");
    }
    // As a rule name, a script name and a section too.
    for src in [
        "rule order {\n  drop where true\n}\n",
        "script incr from \"x.rhai\" {\n}\n",
        "edition e {\n  sections {\n    title 1\n  }\n}\n",
    ] {
        let (_, diags) = parse_file(FileId(0), src);
        assert_eq!(diags.len(), 1, "{src}: {diags}");
        let help = diags.items[0].help.as_deref().unwrap_or("");
        assert!(help.contains("is a reserved word"), "{src}: {help}");
    }
}

// ---------------------------------------------------------------- literals

#[test]
fn durations() {
    let cases = [
        ("90s", 90, DurationUnit::Seconds, 90),
        ("15m", 15, DurationUnit::Minutes, 900),
        ("12h", 12, DurationUnit::Hours, 43_200),
        ("3d", 3, DurationUnit::Days, 259_200),
        ("2w", 2, DurationUnit::Weeks, 1_209_600),
        ("0s", 0, DurationUnit::Seconds, 0),
    ];
    for (src, amount, unit, seconds) in cases {
        let e = parse(src);
        let ExprKind::Literal(Literal::Duration(d)) = e.kind else {
            panic!("`{src}` is not a duration: {e:?}");
        };
        assert_eq!(
            (d.amount, d.unit, d.seconds()),
            (amount, unit, seconds),
            "{src}"
        );
        assert_eq!(print_expr(&parse(src)), src);
    }
    // A unit must follow the digits at once, and only the five units exist.
    assert!(parse_expr(FileId(0), "3 d").is_err());
    assert!(parse_expr(FileId(0), "3y").is_err());
    assert!(parse_expr(FileId(0), "3ds").is_err());
    check("now - 3d", "(now - 3d)", "now - 3d");
    check("-2w", "(-2w)", "-2w");
}

#[test]
fn numbers() {
    check("42", "42", "42");
    check("3.5", "3.5", "3.5");
    check("0.25 * 4", "(0.25 * 4)", "0.25 * 4");
    let (diags, _) = errors("99999999999999999999");
    assert_eq!(diags.items[0].code, "tailor::int_range");
}

#[test]
fn string_escapes() {
    let e = parse(r#""\"\\\n\t\u{4E2D}""#);
    assert_eq!(
        e.kind,
        ExprKind::Literal(Literal::Str("\"\\\n\t中".to_owned()))
    );
    // Printing escapes what needs it and keeps the rest as written.
    assert_eq!(print_expr(&e), r#""\"\\\n\t中""#);
    let e = parse("\"钱江晚报 · 为你编排\"");
    assert_eq!(
        e.kind,
        ExprKind::Literal(Literal::Str("钱江晚报 · 为你编排".to_owned()))
    );
    let e = parse(r#""\u{1F600}\u{41}""#);
    assert_eq!(e.kind, ExprKind::Literal(Literal::Str("😀A".to_owned())));
}

#[test]
fn an_invalid_escape_is_reported_at_its_column() {
    // Columns count characters: the `\q` is the 16th character of the line, byte 19.
    let src = "segment a = \"中文\\q\"\n";
    let (_, diags) = parse_file(FileId(0), src);
    assert_eq!(diags.len(), 1, "{diags}");
    let d = &diags.items[0];
    assert_eq!(d.code, "tailor::escape");
    assert_eq!(d.message, "unknown escape `\\q`");
    let span = d.primary.as_ref().unwrap().span;
    assert_eq!(&src[span.range()], "\\q");
    let mut sources = SourceMap::new();
    sources.add("esc.rules", src);
    assert_eq!(d.location(&sources).as_deref(), Some("esc.rules:1:16"));
    let rendered = diags.render(&sources, false);
    assert!(rendered.contains("[esc.rules:1:16]"), "{rendered}");
    assert!(rendered.contains("unknown escape `\\q`"), "{rendered}");
    assert!(rendered.contains("not an escape"), "{rendered}");
    assert!(
        rendered.contains("help: the escapes are `\\\"` `\\\\` `\\n` `\\t` and `\\u{…}`"),
        "{rendered}"
    );

    // A `\u{…}` that is not a code point, on the second line.
    let src = "segment a = true\nsegment b = \"x\\u{D800}y\"\n";
    let (_, diags) = parse_file(FileId(0), src);
    assert_eq!(diags.len(), 1, "{diags}");
    let d = &diags.items[0];
    assert_eq!(d.code, "tailor::escape");
    assert_eq!(d.message, "invalid unicode escape");
    let span = d.primary.as_ref().unwrap().span;
    assert_eq!(&src[span.range()], "\\u{D800}");
    let mut sources = SourceMap::new();
    sources.add("esc.rules", src);
    assert_eq!(d.location(&sources).as_deref(), Some("esc.rules:2:15"));
    let rendered = diags.render(&sources, false);
    assert!(rendered.contains("[esc.rules:2:15]"), "{rendered}");
    assert!(
        rendered.contains("help: write a hexadecimal code point in braces, as in `\\u{4E2D}`"),
        "{rendered}"
    );
}

#[test]
fn lists() {
    check("[]", "[]", "[]");
    check("[1, 2, 3]", "[1, 2, 3]", "[1, 2, 3]");
    check(
        "profile.interests intersects [\"a\", \"b\"]",
        "(profile.interests intersects [\"a\", \"b\"])",
        "profile.interests intersects [\"a\", \"b\"]",
    );
}

#[test]
fn comments_and_newlines_separate_tokens() {
    check("a # first\n  and # second\n  b", "(a and b)", "a and b");
    check(
        "\"# not a comment\" == a",
        "(\"# not a comment\" == a)",
        "\"# not a comment\" == a",
    );
}
