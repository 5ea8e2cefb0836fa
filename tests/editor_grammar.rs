//! The TextMate grammar under `editors/` highlights exactly the language's reserved words
//! (its `keywords` patterns list every word of `tailor_lang::KEYWORDS` and no other) and
//! exactly the built-in functions (its `builtin` pattern lists the names of the engine's
//! table, `tailor_engine::builtins::BUILTINS`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::collections::BTreeSet;

fn grammar() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/editors/vscode/syntaxes/tailor.tmLanguage.json"
    );
    let text = std::fs::read_to_string(path).expect("the grammar file");
    serde_json::from_str(&text).expect("the grammar is JSON")
}

/// The words of `\b(?:a|b|c)\b…` patterns.
fn words(pattern: &str) -> Vec<String> {
    let start = pattern.find("(?:").expect("a (?:…) group") + 3;
    let end = start + pattern[start..].find(')').expect("a closing parenthesis");
    pattern[start..end].split('|').map(str::to_owned).collect()
}

#[test]
fn grammar_keywords_are_the_language_keywords() {
    let g = grammar();
    let patterns = g["repository"]["keywords"]["patterns"]
        .as_array()
        .expect("keywords.patterns");
    let mut in_grammar = BTreeSet::new();
    for p in patterns {
        in_grammar.extend(words(p["match"].as_str().expect("a match")));
    }
    let in_language: BTreeSet<String> = tailor_lang::KEYWORDS
        .iter()
        .map(|k| k.to_string())
        .collect();
    let missing: Vec<_> = in_language.difference(&in_grammar).collect();
    let extra: Vec<_> = in_grammar.difference(&in_language).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "not highlighted: {missing:?}; highlighted but not keywords: {extra:?}"
    );
}

#[test]
fn grammar_builtins_are_the_engine_builtins() {
    let g = grammar();
    let pattern = g["repository"]["builtin"]["match"]
        .as_str()
        .expect("repository.builtin.match");
    let in_grammar: BTreeSet<String> = words(pattern).into_iter().collect();
    let in_engine: BTreeSet<String> = tailor_engine::builtins::Builtin::names()
        .map(str::to_owned)
        .collect();
    let missing: Vec<_> = in_engine.difference(&in_grammar).collect();
    let extra: Vec<_> = in_grammar.difference(&in_engine).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "built-ins not highlighted: {missing:?}; highlighted but not built-ins: {extra:?}"
    );
}

#[test]
fn grammar_is_wired_into_the_vscode_extension() {
    let g = grammar();
    assert_eq!(g["scopeName"], "source.tailor");
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/editors/vscode/package.json"
        ))
        .expect("package.json"),
    )
    .expect("package.json is JSON");
    let grammar = &manifest["contributes"]["grammars"][0];
    assert_eq!(grammar["scopeName"], "source.tailor");
    assert_eq!(grammar["path"], "./syntaxes/tailor.tmLanguage.json");
    assert_eq!(
        manifest["contributes"]["languages"][0]["extensions"][0],
        ".rules"
    );
    // Every regex in the grammar is at least balanced in its parentheses.
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if ["match", "begin", "end"].contains(&k.as_str()) {
                        out.extend(x.as_str().map(str::to_owned));
                    } else {
                        walk(x, out);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut regexes = Vec::new();
    walk(&g, &mut regexes);
    assert!(regexes.len() > 15);
    for r in &regexes {
        let mut depth = 0i32;
        let mut escaped = false;
        let mut in_class = false;
        for c in r.chars() {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '[') if !in_class => in_class = true,
                (false, ']') if in_class => in_class = false,
                (false, '(') if !in_class => depth += 1,
                (false, ')') if !in_class => depth -= 1,
                _ => {}
            }
            assert!(depth >= 0, "unbalanced: {r}");
        }
        assert_eq!(depth, 0, "unbalanced: {r}");
    }
}
