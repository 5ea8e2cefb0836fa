//! Every example of `docs/language.md`, the rule author's reference, compiles: the page's
//! own convention (stated at its top) is that a ` ```rules ` block with a `profile` and an
//! `edition` is a complete package, any other is a fragment compiled together with the
//! first complete one (the "example package") minus the items the fragment defines
//! itself; ` ```rhai ` blocks starting `// file: PATH` are written into every example's
//! package; ` ```jsonl profiles|catalog|history ` blocks load against the example package.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::path::{Path, PathBuf};

use tailor_engine::{History, Package};
use tailor_lang::SourceMap;

/// One fenced block: its info string, its first line on the page, its text.
struct Block {
    info: String,
    line: usize,
    text: String,
}

fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in page.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (&mut open, fence) {
            (None, Some(info)) => {
                open = Some(Block {
                    info: info.trim().to_owned(),
                    line: i + 1,
                    text: String::new(),
                })
            }
            (Some(_), Some(_)) => out.push(open.take().unwrap()),
            (Some(b), None) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed fence in docs/language.md");
    out
}

/// The top-level items of a package text: (key, text), where the key is what a fragment
/// replaces it by — `profile`, `content`, `edition`, or `segment NAME` and the like. An
/// item starts at column 0 with an item keyword and runs to the next one (comments before
/// the first item go with it).
fn items(text: &str) -> Vec<(String, String)> {
    const KEYWORDS: [&str; 7] = [
        "profile", "content", "edition", "segment", "script", "rule", "learn",
    ];
    let mut out: Vec<(String, String)> = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let mut words = line.split(|c: char| !(c.is_alphanumeric() || c == '_'));
        let first = words.next().unwrap_or("");
        if KEYWORDS.contains(&first) && !line.starts_with(' ') {
            let key = match first {
                "profile" | "content" | "edition" => first.to_owned(),
                // Learn items have no name: never replaced.
                "learn" => format!("learn {}", out.len()),
                _ => format!("{first} {}", words.find(|w| !w.is_empty()).unwrap_or("")),
            };
            out.push((key, std::mem::take(&mut pending)));
        }
        let target = match out.last_mut() {
            Some((_, t)) => t,
            None => &mut pending,
        };
        target.push_str(line);
        target.push('\n');
    }
    out
}

fn is_complete(text: &str) -> bool {
    let keys: Vec<String> = items(text).into_iter().map(|(k, _)| k).collect();
    keys.iter().any(|k| k == "profile") && keys.iter().any(|k| k == "edition")
}

/// The fragment with the example package's items it does not define itself.
fn with_base(base: &str, fragment: &str) -> String {
    let own: Vec<String> = items(fragment).into_iter().map(|(k, _)| k).collect();
    let mut text = String::new();
    for (key, item) in items(base) {
        if !own.contains(&key) {
            text.push_str(&item);
        }
    }
    format!("{text}\n{fragment}")
}

/// A fresh directory for one example package, removed on drop.
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn package_dir(n: usize, rules: &str, scripts: &[(String, String)]) -> Dir {
    let dir = std::env::temp_dir().join(format!("tailor-language-doc-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("example.rules"), rules).unwrap();
    for (path, text) in scripts {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    Dir(dir)
}

fn page() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/language.md");
    std::fs::read_to_string(path).expect("docs/language.md")
}

#[test]
fn every_rules_example_of_the_reference_compiles() {
    let page = page();
    let all = blocks(&page);
    let scripts: Vec<(String, String)> = all
        .iter()
        .filter(|b| b.info == "rhai")
        .filter_map(|b| {
            let first = b.text.lines().next()?;
            let path = first.strip_prefix("// file: ")?;
            Some((path.trim().to_owned(), b.text.clone()))
        })
        .collect();
    let rules: Vec<&Block> = all.iter().filter(|b| b.info == "rules").collect();
    assert!(
        rules.len() >= 10,
        "only {} rules examples: did the fence change?",
        rules.len()
    );
    let base = rules
        .iter()
        .find(|b| is_complete(&b.text))
        .expect("a complete example package on the page");
    let mut failures = Vec::new();
    for (n, b) in rules.iter().enumerate() {
        let text = if is_complete(&b.text) {
            b.text.clone()
        } else {
            with_base(&base.text, &b.text)
        };
        let dir = package_dir(n, &text, &scripts);
        if let Err(e) = Package::load(&dir.0) {
            failures.push(format!(
                "── the example at docs/language.md:{} ──\n{}",
                b.line,
                e.render(false)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_data_example_of_the_reference_loads() {
    let page = page();
    let all = blocks(&page);
    let base = all
        .iter()
        .find(|b| b.info == "rules" && is_complete(&b.text))
        .expect("a complete example package on the page");
    let dir = package_dir(usize::MAX, &base.text, &[]);
    let pkg = Package::load(&dir.0).map_err(|e| e.render(false)).unwrap();
    let mut seen = Vec::new();
    for b in all.iter().filter(|b| b.info.starts_with("jsonl")) {
        let mut sources = SourceMap::new();
        let kind = b.info.trim_start_matches("jsonl").trim();
        let name = format!("docs/language.md:{}", b.line);
        let result = match kind {
            "profiles" => pkg.parse_profiles(&mut sources, &name, &b.text).map(drop),
            "catalog" => pkg.parse_catalog(&mut sources, &name, &b.text).map(drop),
            "history" => History::parse(&mut sources, &name, &b.text).map(drop),
            other => panic!("{name}: unknown data fence `jsonl {other}`"),
        };
        if let Err(d) = result {
            panic!("{}", d.render(&sources, false));
        }
        seen.push(kind.to_owned());
    }
    for kind in ["profiles", "catalog", "history"] {
        assert!(seen.iter().any(|k| k == kind), "no `jsonl {kind}` example");
    }
}

/// The page's example package and data make a working package: 李大爷's evening digest
/// holds what language.md §0's three rules pick for him (the front page, the Taiwan story, the
/// weather of his city).
#[test]
fn the_example_package_and_data_give_a_digest() {
    let page = page();
    let all = blocks(&page);
    let base = all
        .iter()
        .find(|b| b.info == "rules" && is_complete(&b.text))
        .expect("a complete example package on the page");
    let data = |kind: &str| {
        all.iter()
            .find(|b| b.info == format!("jsonl {kind}"))
            .map(|b| b.text.clone())
            .expect("a data example")
    };
    let dir = package_dir(usize::MAX - 1, &base.text, &[]);
    let pkg = Package::load(&dir.0).map_err(|e| e.render(false)).unwrap();
    let mut sources = SourceMap::new();
    let profiles = pkg
        .parse_profiles(&mut sources, "profiles", &data("profiles"))
        .unwrap();
    let catalog = pkg
        .parse_catalog(&mut sources, "catalog", &data("catalog"))
        .unwrap();
    let li = profiles.iter().find(|p| p.id() == "li-daye").unwrap();
    let at = "2013-02-21T19:30:00+08:00".parse().unwrap();
    let event = tailor_engine::Event::new(tailor_engine::EventKind::Enter, at);
    let outcome = pkg.evaluate(&event, li, &catalog, &History::default());
    let json: serde_json::Value = serde_json::from_str(&outcome.to_json_string()).unwrap();
    let items: Vec<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(json["outcome"], "digest", "{json}");
    assert_eq!(items, ["h-101", "c-201", "w-401"], "{json}");
}

#[test]
fn fragments_replace_the_example_items_they_define() {
    let base =
        "# head\nprofile { a: int }\n\nsegment s = profile.a > 1\nrule r { pick 1 from x }\n";
    let text = with_base(base, "segment s = true\n");
    assert_eq!(text.matches("segment s").count(), 1, "{text}");
    assert!(text.contains("profile { a: int }") && text.contains("rule r"));
    assert!(is_complete("profile {}\nedition e { sections { a 1 } }\n"));
    assert!(!is_complete("rule r {\n  pick 1 from a\n}\n"));
}

/// language.md §7.5's table is the one generated from the engine's table of built-ins
/// (`tailor_engine::builtins::BUILTINS`): no built-in missing, none extra, every
/// signature and description as declared.
#[test]
fn the_builtins_table_is_generated_from_the_engine() {
    let page = page();
    let table = tailor_engine::builtins::markdown_table();
    assert!(
        page.contains(&table),
        "docs/language.md §7.5 differs from the built-ins table; paste this:\n\n{table}"
    );
    let section = &page[page.find("### §7.5").unwrap()..];
    let section = &section[..section.find("\n## ").unwrap()];
    let rows = section.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(rows, tailor_engine::builtins::BUILTINS.len());
}
