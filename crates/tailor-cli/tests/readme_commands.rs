//! The README's command list (the text block under "## The `tailor` command") and the
//! program's help agree: every subcommand of `tailor --help` has a line there, and every
//! option of `tailor SUBCOMMAND --help` is written in that subcommand's lines. A new
//! option without its README line fails here.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

mod common;
use common::{tailor, workspace};

/// The command list: the first ```text block after the heading.
fn command_list() -> String {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let after = readme
        .split_once("## The `tailor` command")
        .expect("the README's command section")
        .1;
    let block = after.split_once("```text\n").expect("its text block").1;
    block
        .split_once("```")
        .expect("a closed block")
        .0
        .to_owned()
}

/// The lines of the list that describe `sub`: its `tailor SUB` line and the indented
/// lines after it.
fn lines_of(list: &str, sub: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in list.lines() {
        if let Some(rest) = line.strip_prefix("tailor ") {
            inside = rest.split_whitespace().next() == Some(sub);
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

fn help(args: &[&str]) -> String {
    let o = tailor(args);
    assert!(o.status.success(), "{args:?}");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The subcommands listed by `tailor --help`.
fn subcommands() -> Vec<String> {
    let text = help(&["--help"]);
    let list = text
        .split_once("Commands:")
        .expect("a command list")
        .1
        .split_once("Options:")
        .expect("then options")
        .0;
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// The long options of `tailor SUB --help`, without `--help`.
fn options(sub: &str) -> Vec<String> {
    help(&[sub, "--help"])
        .lines()
        .filter_map(|l| {
            let t = l.trim_start();
            let t = t.strip_prefix("-h, ").unwrap_or(t);
            t.starts_with("--")
                .then(|| t.split_whitespace().next().unwrap_or("").to_owned())
        })
        .filter(|o| o != "--help")
        .collect()
}

#[test]
fn every_subcommand_and_option_is_in_the_readme() {
    let list = command_list();
    let subs = subcommands();
    assert!(subs.len() >= 9, "{subs:?}");
    let mut missing = Vec::new();
    for sub in &subs {
        let lines = lines_of(&list, sub);
        if lines.is_empty() {
            missing.push(format!("`tailor {sub}` has no line"));
            continue;
        }
        for opt in options(sub) {
            let written = lines
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .any(|w| w == opt);
            if !written {
                missing.push(format!("`tailor {sub} {opt}` is not in its lines"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the README's command list and `tailor --help` disagree:\n{}\n\nthe list:\n{list}",
        missing.join("\n")
    );
}

#[test]
fn the_readme_list_names_no_command_the_program_lacks() {
    let list = command_list();
    let subs = subcommands();
    for line in list.lines() {
        if let Some(rest) = line.strip_prefix("tailor ") {
            let sub = rest.split_whitespace().next().unwrap();
            assert!(subs.iter().any(|s| s == sub), "README lists `tailor {sub}`");
        }
    }
}

#[test]
fn every_positional_argument_is_described() {
    // `tailor fmt --help` once showed `<PACKAGE>` with no description. The short help
    // (`-h`) has each argument and its description on one line.
    for sub in subcommands() {
        let text = help(&[&sub, "-h"]);
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('<') || t.starts_with('[') {
                let words = t.split_whitespace().count();
                assert!(words > 1, "`tailor {sub} --help`: `{t}` is not described");
            }
        }
    }
}
