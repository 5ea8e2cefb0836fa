//! Robustness of the front end: `parse_file` never panics nor overflows the stack, whatever
//! the text, its diagnostics point inside the text on character boundaries, and rendering
//! them never panics.

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::TestCaseError;
use tailor_lang::{
    Diagnostics, FileId, KEYWORDS, SourceMap, format_file, parse_expr, parse_file, print_file,
};

const SPEC: &str = include_str!("spec_examples.rules");

/// Every label of every diagnostic lies within `src` and on character boundaries.
fn check_spans(src: &str, diags: &Diagnostics) -> Result<(), TestCaseError> {
    for d in diags.iter() {
        prop_assert!(d.primary.is_some(), "no primary span: {d:?}");
        for label in d.primary.iter().chain(&d.secondary) {
            let (start, end) = (label.span.start as usize, label.span.end as usize);
            prop_assert!(start <= end && end <= src.len(), "{d:?} out of {src:?}");
            prop_assert!(
                src.is_char_boundary(start) && src.is_char_boundary(end),
                "{d:?} not on char boundaries of {src:?}"
            );
        }
    }
    Ok(())
}

/// Parses `src`, checks the diagnostics and renders them; a file without errors also
/// prints and formats back to the same AST.
fn check(src: &str) -> Result<(), TestCaseError> {
    let (file, diags) = parse_file(FileId(0), src);
    check_spans(src, &diags)?;
    let mut sources = SourceMap::new();
    sources.add("mutant.rules", src);
    let plain = diags.render(&sources, false);
    let _ = diags.render(&sources, true);
    for d in diags.iter() {
        prop_assert!(plain.contains(d.code), "{plain}");
    }
    // Whatever parsed, printing it never panics.
    let printed = print_file(&file);
    let formatted = format_file(&file, src);
    if diags.is_empty() {
        for (what, text) in [("printed", &printed), ("formatted", &formatted)] {
            let (again, diags) = parse_file(FileId(0), text);
            prop_assert!(diags.is_empty(), "{what}: {diags}\n{text}\nfrom:\n{src}");
            prop_assert_eq!(
                again.without_spans(),
                file.without_spans(),
                "{}:\n{}\nfrom:\n{}",
                what,
                text,
                src
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- inputs

/// Fragments of the language, valid and not, to build token soups from.
fn token() -> impl Strategy<Value = String> {
    let punct = [
        "{", "}", "(", ")", "[", "]", ",", ".", ":", "::", "->", "=", "==", "!=", "<", "<=", ">",
        ">=", "+", "-", "*", "/", "%", "&&", "|", "'", "#", "\\", "\"",
    ];
    let words = [
        "x",
        "age",
        "seat",
        "rank",
        "headline",
        "enter",
        "clik",
        "set<string>",
        "map<float>",
        "strin",
        "set<",
        "42",
        "0",
        "3.5",
        "1.",
        "90s",
        "15m",
        "12h",
        "3d",
        "2w",
        "7x",
        "99999999999999999999",
        "1e5",
        "\"taiwan\"",
        "\"\\u{4E2D}\"",
        "\"\\u{110000}\"",
        "\"\\u{}\"",
        "\"\\u中\"",
        "\"\\q\"",
        "\"\\",
        "\"unterminated",
        "\"a\nb\"",
        "# note\n",
        "中文",
        "\u{feff}",
        "\u{0}",
        "\r\n",
        "\t",
    ];
    prop_oneof![
        3 => select(KEYWORDS.to_vec()).prop_map(str::to_owned),
        2 => select(punct.to_vec()).prop_map(str::to_owned),
        3 => select(words.to_vec()).prop_map(str::to_owned),
        1 => any::<char>().prop_map(String::from),
    ]
}

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec((token(), select(vec![" ", " ", "\n", ""])), 0..80)
        .prop_map(|ts| ts.into_iter().map(|(t, sep)| t + sep).collect::<String>())
}

/// The inside of a string literal, heavy on escapes, well-formed or not.
fn string_body() -> impl Strategy<Value = String> {
    let parts = vec![
        "\\", "\\u", "\\u{", "u", "{", "}", "中", "4E2D", "110000", "D800", "\\\"", "\"", "n", "t",
        "x", "😀", " ", "#",
    ];
    prop::collection::vec(select(parts), 0..12).prop_map(|ps| ps.concat())
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index, usize),
    Insert(Index, String),
    Replace(Index, char),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1usize..40).prop_map(|(i, n)| Mutation::Delete(i, n)),
        (any::<Index>(), prop_oneof![token(), any::<String>()])
            .prop_map(|(i, s)| Mutation::Insert(i, s)),
        (
            any::<Index>(),
            prop_oneof![
                select(vec![
                    '{', '}', '(', ')', '"', '\\', '#', '\n', '-', '=', '中', ' '
                ]),
                any::<char>(),
            ]
        )
            .prop_map(|(i, c)| Mutation::Replace(i, c)),
    ]
}

/// The largest character boundary of `s` at or before `i`.
fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(src: &str, mutations: &[Mutation]) -> String {
    let mut s = src.to_owned();
    for m in mutations {
        match m {
            Mutation::Delete(at, n) => {
                let start = floor_boundary(&s, at.index(s.len() + 1));
                let end = floor_boundary(&s, start + n);
                s.replace_range(start..end, "");
            }
            Mutation::Insert(at, text) => {
                let at = floor_boundary(&s, at.index(s.len() + 1));
                s.insert_str(at, text);
            }
            Mutation::Replace(at, c) => {
                let at = floor_boundary(&s, at.index(s.len() + 1));
                let end = s[at..].chars().next().map_or(at, |old| at + old.len_utf8());
                s.replace_range(at..end, c.encode_utf8(&mut [0; 4]));
            }
        }
    }
    s
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text(src in any::<String>()) {
        check(&src)?;
    }

    #[test]
    fn token_soups(src in token_soup()) {
        check(&src)?;
    }

    #[test]
    fn string_literals(body in string_body()) {
        check(&format!("segment a = \"{body}\""))?;
        check(&format!("edition e {{\n  title \"{body}\"\n}}\n"))?;
    }

    #[test]
    fn mutated_spec_examples(mutations in prop::collection::vec(mutation(), 1..5)) {
        check(&apply(SPEC, &mutations))?;
    }

    #[test]
    fn mutated_items(item in 0usize..18, mutations in prop::collection::vec(mutation(), 1..3)) {
        // One item at a time: more mutants get past the first error.
        let items: Vec<&str> = SPEC.split("\n\n").collect();
        let src = items[item % items.len()];
        check(&apply(src, &mutations))?;
    }

    #[test]
    fn arbitrary_expressions(src in prop_oneof![any::<String>(), token_soup()]) {
        if let Err(diags) = parse_expr(FileId(0), &src) {
            for d in diags.iter() {
                for label in d.primary.iter() {
                    let (start, end) = (label.span.start as usize, label.span.end as usize);
                    prop_assert!(start <= end && end <= src.len(), "{d:?} out of {src:?}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------- deep input

fn codes(src: &str) -> Vec<&'static str> {
    let (_, diags) = parse_file(FileId(0), src);
    diags.iter().map(|d| d.code).collect()
}

/// Deeply nested expressions are rejected with a diagnostic, not a stack overflow, on the
/// test harness's small thread stacks.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let n = 20_000;
    let cases = [
        format!("segment a = {}x{}", "(".repeat(n), ")".repeat(n)),
        format!("segment a = {}x", "-".repeat(n)),
        format!("segment a = {}x", "not ".repeat(n)),
        format!("segment a = {}{}", "[".repeat(n), "]".repeat(n)),
        format!("segment a = {}x{}", "f(".repeat(n), ")".repeat(n)),
        format!("segment a = x{}", "[0]".repeat(n)),
        format!("segment a = x{}", " or x".repeat(n)),
        format!("segment a = x{}", " - 1".repeat(n)),
        format!("segment a = {}x", "-(".repeat(n)),
        format!(
            "rule r {{\n  pick 1 from s where {}x{}\n}}",
            "(".repeat(300),
            ")".repeat(300)
        ),
    ];
    for src in &cases {
        let (file, diags) = parse_file(FileId(0), src);
        assert!(diags.has_errors(), "{}", &src[..40]);
        let mut sources = SourceMap::new();
        sources.add("deep.rules", src.as_str());
        let _ = diags.render(&sources, false);
        let _ = print_file(&file);
        let _ = file.without_spans();
    }
    // Below the limits, the error names the limit.
    let deep = format!("segment a = {}x{}", "(".repeat(300), ")".repeat(300));
    assert_eq!(codes(&deep), ["tailor::expr_depth"]);
    let (_, diags) = parse_file(FileId(0), &deep);
    let mut sources = SourceMap::new();
    sources.add("deep.rules", deep.as_str());
    let text = diags.render(&sources, false);
    assert!(text.contains("expression nested too deeply"), "{text}");
    assert!(text.contains("split it into segments"), "{text}");
    let long_chain = format!("segment a = x{}", " or x".repeat(1000));
    assert_eq!(codes(&long_chain), ["tailor::expr_depth"]);
}

/// Nesting that a person might write stays well inside the limits.
#[test]
fn reasonable_nesting_is_accepted() {
    let cases = [
        format!("segment a = {}x{}", "(".repeat(50), ")".repeat(50)),
        format!("segment a = {}x", "not ".repeat(50)),
        format!("segment a = {}x{}", "f(".repeat(50), ")".repeat(50)),
        format!("segment a = x{}", " or x".repeat(400)),
        format!("segment a = x{}", "[0]".repeat(400)),
    ];
    for src in &cases {
        let (file, diags) = parse_file(FileId(0), src);
        assert!(diags.is_empty(), "{diags}");
        let (again, diags) = parse_file(FileId(0), &print_file(&file));
        assert!(diags.is_empty(), "{diags}");
        assert_eq!(again.without_spans(), file.without_spans());
    }
}

/// Small inputs at the edges: empty, only trivia, a lone quote, a byte-order mark.
#[test]
fn edge_inputs() {
    for src in [
        "",
        " ",
        "\n\n",
        "# only a comment",
        "#",
        "\"",
        "\\",
        "\u{feff}",
        "{",
        "}",
    ] {
        check(src).unwrap();
    }
}

/// Found by `string_literals`: the span of the invalid escape in `"\u中"` ended inside `中`.
#[test]
fn escape_errors_end_on_char_boundaries() {
    for (src, escape) in [
        ("segment a = \"\\u中\"", "\\u"),
        ("segment a = \"\\u中}\"", "\\u"),
        ("segment a = \"\\u{中}\"", "\\u{中}"),
        ("segment a = \"\\u{4E2D\"", "\\u{"),
    ] {
        let (_, diags) = parse_file(FileId(0), src);
        assert_eq!(diags.len(), 1, "{diags}");
        let d = &diags.items[0];
        assert_eq!(d.code, "tailor::escape");
        let span = d.primary.as_ref().unwrap().span;
        assert_eq!(src.get(span.range()), Some(escape), "{src}");
    }
}
