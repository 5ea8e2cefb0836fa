//! `tailor test`: the rule authors' own tests, kept in the package under `tests/*.json`
//! (format: docs/authoring.md). Output like `cargo test`; a failing case is shown as a
//! diff of what was expected and what the package gave, with the explanation of every
//! expected item that is missing; exit 1 when a case fails. `--coverage` lists the rules,
//! picks and drops that no case exercised.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{Map, Value as J};
use tailor_engine::explain::{CandidateStatus, Explanation, RuleStatus};
use tailor_engine::{
    Catalog, Delivery, Event, EventKind, History, Outcome, Package, PickSource, Profile,
};
use tailor_lang::SourceMap;

use crate::out::outln;
use crate::{Rejected, data_error, load, read};

#[derive(clap::Args)]
pub struct Args {
    /// The package directory; its tests are `PACKAGE/tests/**/*.json`.
    package: PathBuf,
    /// Run only the cases whose name contains this text.
    filter: Option<String>,
    /// List the rules, picks and drops that no case exercised.
    #[arg(long)]
    coverage: bool,
}

/// One case of a test file.
struct Case {
    name: String,
    file: String,
    who: Who,
    event: Event,
    history: History,
    expect: Expect,
    catalog: usize,
}

enum Who {
    User(String),
    Profile(Box<Profile>),
}

#[derive(Default)]
struct Expect {
    outcome: Option<String>,
    items: Option<Vec<String>>,
    includes: Vec<String>,
    excludes: Vec<String>,
    fired: Option<Vec<String>>,
    fires: Vec<String>,
    not_fired: Vec<String>,
    reasons: Vec<(String, String)>,
    count: Option<usize>,
}

const CASE_KEYS: [&str; 15] = [
    "name",
    "user",
    "profile",
    "event",
    "at",
    "text",
    "key",
    "url",
    "lat",
    "lon",
    "history",
    "block",
    "rule",
    "section",
    "delivered",
];
const EXPECT_KEYS: [&str; 9] = [
    "outcome",
    "items",
    "includes",
    "excludes",
    "fired",
    "fires",
    "not_fired",
    "reasons",
    "count",
];
const FILE_KEYS: [&str; 5] = ["description", "at", "profiles", "catalog", "cases"];

/// Every `*.json` file below `dir`, sorted.
fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn unknown_key(key: &str, known: &[&str], place: &str) -> String {
    let hint = tailor_lang::suggest(key, known.iter().copied())
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_else(|| format!("; known keys: {}", known.join(", ")));
    format!("unknown key `{key}` in {place}{hint}")
}

fn strings(v: &J, what: &str) -> Result<Vec<String>, String> {
    match v {
        J::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("`{what}` holds strings only, found {x}"))
            })
            .collect(),
        J::String(s) => Ok(vec![s.clone()]),
        other => Err(format!("`{what}` is a list of strings, found {other}")),
    }
}

fn parse_expect(o: &Map<String, J>, case: &str) -> Result<Expect, String> {
    let mut e = Expect::default();
    for (k, v) in o {
        match k.as_str() {
            "outcome" => {
                let s = v.as_str().unwrap_or_default();
                if !["digest", "quiet", "empty"].contains(&s) {
                    return Err(format!(
                        "`expect.outcome` is \"digest\", \"quiet\" or \"empty\", found {v}"
                    ));
                }
                e.outcome = Some(s.to_owned());
            }
            "items" => e.items = Some(strings(v, "items")?),
            "includes" => e.includes = strings(v, "includes")?,
            "excludes" => e.excludes = strings(v, "excludes")?,
            "fired" => e.fired = Some(strings(v, "fired")?),
            "fires" => e.fires = strings(v, "fires")?,
            "not_fired" => e.not_fired = strings(v, "not_fired")?,
            "reasons" => {
                let m = v
                    .as_object()
                    .ok_or("`reasons` maps block ids to rule names")?;
                for (id, r) in m {
                    let r = r.as_str().ok_or("`reasons` maps block ids to rule names")?;
                    e.reasons.push((id.clone(), r.to_owned()));
                }
            }
            "count" => {
                e.count = Some(
                    v.as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or("`count` is a whole number")?,
                )
            }
            other => {
                return Err(unknown_key(
                    other,
                    &EXPECT_KEYS,
                    &format!("the `expect` of `{case}`"),
                ));
            }
        }
    }
    Ok(e)
}

fn parse_time(v: &J, what: &str) -> Result<jiff::Timestamp, String> {
    v.as_str().and_then(|s| s.parse().ok()).ok_or_else(|| {
        format!("`{what}` is an RFC 3339 time such as \"2013-02-21T19:30:00+08:00\", found {v}")
    })
}

/// Parse one test file. `catalogs` collects the catalog paths the files name.
fn parse_file(
    pkg: &Package,
    package: &Path,
    path: &Path,
    text: &str,
    catalogs: &mut Vec<PathBuf>,
    profile_files: &mut Vec<(PathBuf, Vec<Profile>)>,
) -> Result<Vec<Case>, String> {
    let file = path
        .strip_prefix(package)
        .unwrap_or(path)
        .display()
        .to_string();
    let top: J = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let top = top
        .as_object()
        .ok_or("a test file is a JSON object with `cases`")?;
    for k in top.keys() {
        if !FILE_KEYS.contains(&k.as_str()) {
            return Err(unknown_key(k, &FILE_KEYS, "the file"));
        }
    }
    let default_at = top.get("at").map(|v| parse_time(v, "at")).transpose()?;
    let catalog_path = package.join(
        top.get("catalog")
            .and_then(J::as_str)
            .unwrap_or("catalog.jsonl"),
    );
    let catalog = match catalogs.iter().position(|p| *p == catalog_path) {
        Some(i) => i,
        None => {
            catalogs.push(catalog_path);
            catalogs.len() - 1
        }
    };
    let profiles_path = package.join(
        top.get("profiles")
            .and_then(J::as_str)
            .unwrap_or("profiles.jsonl"),
    );
    if !profile_files.iter().any(|(p, _)| *p == profiles_path) && profiles_path.is_file() {
        let mut sources = SourceMap::new();
        let text = std::fs::read_to_string(&profiles_path).map_err(|e| e.to_string())?;
        let profiles = pkg
            .parse_profiles(&mut sources, &profiles_path.display().to_string(), &text)
            .map_err(|d| d.render(&sources, false))?;
        profile_files.push((profiles_path.clone(), profiles));
    }
    let cases = top
        .get("cases")
        .and_then(J::as_array)
        .ok_or("a test file needs `cases`: a list of cases")?;
    let mut out = Vec::new();
    for (n, c) in cases.iter().enumerate() {
        let c = c.as_object().ok_or("each case is a JSON object")?;
        let name = c
            .get("name")
            .and_then(J::as_str)
            .map_or_else(|| format!("case_{}", n + 1), str::to_owned);
        for k in c.keys() {
            if !CASE_KEYS.contains(&k.as_str()) && k != "expect" {
                return Err(unknown_key(k, &CASE_KEYS, &format!("case `{name}`")));
            }
        }
        let err = |m: String| format!("case `{name}`: {m}");
        let who = match (c.get("user"), c.get("profile")) {
            (Some(J::String(u)), None) => Who::User(u.clone()),
            (None, Some(J::Object(p))) => Who::Profile(Box::new(
                pkg.profile_from_json(p.clone())
                    .map_err(|e| err(e.to_string()))?,
            )),
            _ => {
                return Err(err(
                    "give either `user` (a profile id) or `profile` (a profile object)".into(),
                ));
            }
        };
        let kind = match c.get("event") {
            None => EventKind::Enter,
            Some(v) => v
                .as_str()
                .and_then(EventKind::parse)
                .ok_or_else(|| err(format!("unknown event kind {v}")))?,
        };
        let at = match c.get("at") {
            Some(v) => parse_time(v, "at").map_err(err)?,
            None => default_at.ok_or_else(|| {
                err("no `at`: give the event's time in the case or for the whole file".into())
            })?,
        };
        let s = |k: &str| c.get(k).and_then(J::as_str).map(str::to_owned);
        let event = if kind == EventKind::Open {
            // The opened block's data is the catalog's, looked up when the case runs.
            let item = tailor_engine::OpenedItem {
                block: s("block")
                    .ok_or_else(|| err("an `open` names the opened block: `block`".into()))?,
                rule: s("rule"),
                section: s("section"),
                delivered: match c.get("delivered") {
                    Some(v) => Some(parse_time(v, "delivered").map_err(err)?),
                    None => None,
                },
            };
            Event::open(at, item, None)
        } else {
            Event {
                kind,
                at,
                text: s("text"),
                key: s("key"),
                url: s("url"),
                lat: c.get("lat").and_then(J::as_f64),
                lon: c.get("lon").and_then(J::as_f64),
                precision: None,
                opened: None,
            }
        };
        let user_id = match &who {
            Who::User(u) => u.clone(),
            Who::Profile(p) => p.id().to_owned(),
        };
        let mut history = History::default();
        if let Some(h) = c.get("history") {
            let list = h
                .as_array()
                .ok_or_else(|| err("`history` is a list of deliveries".into()))?;
            for d in list {
                let mut d = d.clone();
                if let Some(o) = d.as_object_mut() {
                    o.entry("user").or_insert_with(|| J::from(user_id.clone()));
                    o.entry("fired").or_insert_with(|| J::Array(Vec::new()));
                    o.entry("blocks").or_insert_with(|| J::Array(Vec::new()));
                    o.entry("event").or_insert_with(|| J::from("enter"));
                }
                let d: Delivery = serde_json::from_value(d)
                    .map_err(|e| err(format!("a delivery in `history`: {e}")))?;
                history.push(d);
            }
        }
        let expect = match c.get("expect") {
            Some(J::Object(o)) => parse_expect(o, &name)?,
            _ => return Err(err("needs `expect`: what the outcome must be".into())),
        };
        out.push(Case {
            name,
            file: file.clone(),
            who,
            event,
            history,
            expect,
            catalog,
        });
    }
    // Cases naming a user are resolved against this file's profiles.
    for c in &mut out {
        if let Who::User(u) = &c.who {
            let found = profile_files
                .iter()
                .find(|(p, _)| *p == profiles_path)
                .and_then(|(_, ps)| ps.iter().find(|p| p.id() == u));
            match found {
                Some(p) => c.who = Who::Profile(Box::new(p.clone())),
                None => {
                    return Err(format!(
                        "case `{}`: no profile `{u}` in `{}`",
                        c.name,
                        profiles_path.display()
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Lines of a diff of two lists (longest common subsequence): ` ` both, `-` expected
/// only, `+` actual only.
fn diff(expected: &[String], actual: &[String], label: &dyn Fn(&str) -> String) -> String {
    let (n, m) = (expected.len(), actual.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            let v = if expected.get(i) == actual.get(j) {
                lcs.get(i + 1)
                    .and_then(|r| r.get(j + 1))
                    .copied()
                    .unwrap_or(0)
                    + 1
            } else {
                let a = lcs.get(i + 1).and_then(|r| r.get(j)).copied().unwrap_or(0);
                let b = lcs.get(i).and_then(|r| r.get(j + 1)).copied().unwrap_or(0);
                a.max(b)
            };
            if let Some(cell) = lcs.get_mut(i).and_then(|r| r.get_mut(j)) {
                *cell = v;
            }
        }
    }
    let at = |i: usize, j: usize| lcs.get(i).and_then(|r| r.get(j)).copied().unwrap_or(0);
    let mut out = String::new();
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        match (expected.get(i), actual.get(j)) {
            (Some(e), Some(a)) if e == a => {
                let _ = writeln!(out, "      {}", label(e));
                i += 1;
                j += 1;
            }
            (Some(e), Some(_)) if at(i + 1, j) >= at(i, j + 1) => {
                let _ = writeln!(out, "    - {}", label(e));
                i += 1;
            }
            (_, Some(a)) => {
                let _ = writeln!(out, "    + {}", label(a));
                j += 1;
            }
            (Some(e), None) => {
                let _ = writeln!(out, "    - {}", label(e));
                i += 1;
            }
            (None, None) => break,
        }
    }
    out
}

/// Why a block is not in the digest, from the explanation.
fn why_not(ex: &Explanation, id: &str, catalog: &Catalog) -> String {
    let mut out = String::new();
    for p in &ex.picks {
        if let Some(c) = p.candidates.iter().find(|c| c.id == id) {
            let _ = writeln!(
                out,
                "        {} — {}: {}",
                p.rule,
                p.text,
                c.status.describe()
            );
        }
    }
    if out.is_empty() {
        let section = catalog.get(id).map(|b| b.section().to_owned());
        let _ = match section {
            None => writeln!(out, "        `{id}` is not in the catalog"),
            Some(s) => writeln!(out, "        no pick that ran takes from section `{s}`"),
        };
    }
    out
}

/// Check one case; the failure report, or `None` when it passed.
fn check(c: &Case, o: &Outcome, ex: &Explanation, catalog: &Catalog) -> Option<String> {
    let e = &c.expect;
    let mut out = String::new();
    let actual: Vec<String> = o.items.iter().map(|i| i.id.to_string()).collect();
    let label = |id: &str| {
        let title = catalog.get(id).map_or("", |b| b.title());
        let reason = o
            .items
            .iter()
            .find(|i| *i.id == *id)
            .and_then(|i| i.reasons.first())
            .map(|r| format!("  ({r})"))
            .unwrap_or_default();
        format!("{id:<8} {title}{reason}")
    };
    if let Some(want) = &e.outcome
        && want != o.kind.name()
    {
        let _ = writeln!(
            out,
            "  outcome: expected {want}, got {}{}",
            o.kind.name(),
            o.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    if let Some(want) = &e.items
        && *want != actual
    {
        let _ = writeln!(out, "  items: expected (-) and actual (+)");
        out.push_str(&diff(want, &actual, &label));
        for id in want.iter().filter(|id| !actual.contains(id)) {
            let _ = writeln!(out, "    why `{id}` is missing:");
            out.push_str(&why_not(ex, id, catalog));
        }
    }
    for id in &e.includes {
        if !actual.contains(id) {
            let _ = writeln!(out, "  includes: `{id}` is not in the digest; why:");
            out.push_str(&why_not(ex, id, catalog));
        }
    }
    for id in &e.excludes {
        if let Some(i) = o.items.iter().find(|i| *i.id == **id) {
            let _ = writeln!(
                out,
                "  excludes: `{id}` is in the digest, chosen by {}",
                i.reasons.join(", ")
            );
        }
    }
    let fired: Vec<String> = o.fired.iter().map(|f| f.to_string()).collect();
    if let Some(want) = &e.fired
        && *want != fired
    {
        let _ = writeln!(out, "  fired: expected (-) and actual (+)");
        out.push_str(&diff(want, &fired, &|s| s.to_owned()));
    }
    for r in &e.fires {
        if !fired.contains(r) {
            let why = match ex.rule(r).map(|x| &x.status) {
                None => "there is no such rule".to_owned(),
                Some(RuleStatus::WhenFalse { facts }) => facts
                    .iter()
                    .map(|f| f.describe())
                    .collect::<Vec<_>>()
                    .join("; "),
                Some(RuleStatus::OtherKinds { on }) => format!(
                    "it answers {} only",
                    on.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                ),
                Some(RuleStatus::CapReached(_)) => "its cap is reached".to_owned(),
                Some(RuleStatus::NotEvaluated) => "the outcome is quiet".to_owned(),
                Some(RuleStatus::WhenFailed) => "a script call failed".to_owned(),
                Some(RuleStatus::Fired { .. }) => String::new(),
            };
            let _ = writeln!(out, "  fires: rule `{r}` did not fire: {why}");
        }
    }
    for r in &e.not_fired {
        if fired.contains(r) {
            let _ = writeln!(out, "  not_fired: rule `{r}` fired");
        }
    }
    for (id, want) in &e.reasons {
        let got = o.items.iter().find(|i| *i.id == **id);
        match got {
            None => {
                let _ = writeln!(out, "  reasons: `{id}` is not in the digest");
            }
            Some(i) if !i.reasons.iter().any(|r| **r == **want) => {
                let _ = writeln!(
                    out,
                    "  reasons: `{id}` was chosen by {}, expected {want}",
                    i.reasons.join(", ")
                );
            }
            Some(_) => {}
        }
    }
    if let Some(n) = e.count
        && n != o.items.len()
    {
        let _ = writeln!(out, "  count: expected {n} items, got {}", o.items.len());
    }
    if out.is_empty() {
        return None;
    }
    if e.items.is_none() {
        let _ = writeln!(out, "  the digest was:");
        for id in &actual {
            let _ = writeln!(out, "      {}", label(id));
        }
        if actual.is_empty() {
            let _ = writeln!(out, "      (nothing: {})", o.kind.name());
        }
    }
    Some(out)
}

/// What the cases exercised.
#[derive(Default)]
struct Coverage {
    rules: BTreeSet<String>,
    picks: BTreeSet<(String, usize)>,
    fallback: BTreeSet<usize>,
    drops: BTreeSet<(String, usize)>,
}

impl Coverage {
    fn record(&mut self, ex: &Explanation) {
        for r in ex.rules.iter().filter(|r| r.fired()) {
            self.rules.insert(r.name.clone());
        }
        for p in &ex.picks {
            if p.chosen().next().is_some() {
                match p.source {
                    PickSource::Rule { pick, .. } => {
                        self.picks.insert((p.rule.clone(), pick));
                    }
                    PickSource::Fallback { pick } => {
                        self.fallback.insert(pick);
                    }
                }
            }
            for c in &p.candidates {
                if let CandidateStatus::Dropped {
                    rule, drop, also, ..
                } = &c.status
                {
                    self.drops.insert((rule.clone(), *drop));
                    self.drops.extend(also.iter().cloned());
                }
            }
        }
    }

    fn report(&self, pkg: &Package) -> String {
        let c = pkg.compiled();
        let loc = |s| pkg.sources().location(s);
        let text = |s| {
            pkg.sources()
                .snippet(s)
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut missing = String::new();
        let (mut rules, mut picks, mut drops) = ((0, 0), (0, 0), (0, 0));
        for r in &c.rules {
            rules.1 += 1;
            if self.rules.contains(&r.name) {
                rules.0 += 1;
            } else {
                let _ = writeln!(
                    missing,
                    "  rule `{}` ({}): never fired",
                    r.name,
                    loc(r.span)
                );
            }
            let mut pi = 0;
            let mut di = 0;
            for a in &r.actions {
                match a {
                    tailor_engine::ir::CAction::Pick(p) => {
                        picks.1 += 1;
                        if self.picks.contains(&(r.name.clone(), pi)) {
                            picks.0 += 1;
                        } else {
                            let _ = writeln!(
                                missing,
                                "  pick `{}` of rule `{}` ({}): never chose a block",
                                text(p.span),
                                r.name,
                                loc(p.span)
                            );
                        }
                        pi += 1;
                    }
                    tailor_engine::ir::CAction::Drop { span, .. } => {
                        drops.1 += 1;
                        if self.drops.contains(&(r.name.clone(), di)) {
                            drops.0 += 1;
                        } else {
                            let _ = writeln!(
                                missing,
                                "  drop `{}` of rule `{}` ({}): never kept a block out",
                                text(*span),
                                r.name,
                                loc(*span)
                            );
                        }
                        di += 1;
                    }
                }
            }
        }
        for (i, p) in c.edition.fallback.iter().enumerate() {
            picks.1 += 1;
            if self.fallback.contains(&i) {
                picks.0 += 1;
            } else {
                let _ = writeln!(
                    missing,
                    "  fallback pick `{}` ({}): never chose a block",
                    text(p.span),
                    loc(p.span)
                );
            }
        }
        let mut out = format!(
            "coverage: {}/{} rules fired, {}/{} picks chose a block, {}/{} drops kept a block out\n",
            rules.0, rules.1, picks.0, picks.1, drops.0, drops.1
        );
        if missing.is_empty() {
            out.push_str("every rule, pick and drop was exercised\n");
        } else {
            out.push_str("not exercised:\n");
            out.push_str(&missing);
        }
        out
    }
}

pub fn run(a: Args) -> Result<(), Rejected> {
    let pkg = load(&a.package)?;
    let dir = a.package.join("tests");
    let files = json_files(&dir);
    if files.is_empty() {
        return Err(Rejected(format!(
            "error: no test files in `{}`\nhelp: add `tests/NAME.json` to the package (see docs/authoring.md)\n",
            dir.display()
        )));
    }
    let mut catalog_paths = Vec::new();
    let mut profile_files = Vec::new();
    let mut cases = Vec::new();
    for f in &files {
        let text = read(f)?;
        let parsed = parse_file(
            &pkg,
            &a.package,
            f,
            &text,
            &mut catalog_paths,
            &mut profile_files,
        )
        .map_err(|e| Rejected(format!("error: {}: {e}\n", f.display())))?;
        cases.extend(parsed);
    }
    let mut catalogs = Vec::new();
    for p in &catalog_paths {
        let mut sources = SourceMap::new();
        catalogs.push(
            pkg.parse_catalog(&mut sources, &p.display().to_string(), &read(p)?)
                .map_err(|d| data_error(&sources, &d))?,
        );
    }
    let started = Instant::now();
    let selected: Vec<&Case> = cases
        .iter()
        .filter(|c| a.filter.as_deref().is_none_or(|f| c.name.contains(f)))
        .collect();
    let mut failures: Vec<(&Case, String)> = Vec::new();
    let mut coverage = Coverage::default();
    let mut current_file = "";
    for c in &selected {
        if c.file != current_file {
            current_file = &c.file;
            let n = selected.iter().filter(|x| x.file == c.file).count();
            outln!(
                "\nrunning {n} test{} ({})",
                if n == 1 { "" } else { "s" },
                c.file
            );
        }
        let Some(catalog) = catalogs.get(c.catalog) else {
            continue;
        };
        let Who::Profile(profile) = &c.who else {
            continue;
        };
        let event = match &c.event.opened {
            Some(o) => Event::open(
                c.event.at,
                o.item.clone(),
                catalog.shared(&o.item.block).cloned(),
            ),
            None => c.event.clone(),
        };
        let outcome = pkg.evaluate(&event, profile, catalog, &c.history);
        let ex = pkg.explain(&event, profile, catalog, &c.history);
        coverage.record(&ex);
        match check(c, &outcome, &ex, catalog) {
            None => outln!("test {} ... ok", c.name),
            Some(report) => {
                outln!("test {} ... FAILED", c.name);
                failures.push((c, report));
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    if !failures.is_empty() {
        outln!("\nfailures:\n");
        for (c, report) in &failures {
            outln!("---- {} ({}) ----", c.name, c.file);
            outln!("{report}");
        }
        outln!("failures:");
        for (c, _) in &failures {
            outln!("    {}", c.name);
        }
    }
    let passed = selected.len() - failures.len();
    let filtered = cases.len() - selected.len();
    outln!(
        "\ntest result: {}. {passed} passed; {} failed; {filtered} filtered out; finished in {elapsed:.2}s",
        if failures.is_empty() { "ok" } else { "FAILED" },
        failures.len()
    );
    if a.coverage {
        outln!("\n{}", coverage.report(&pkg));
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Rejected(format!(
            "error: {} test{} failed\n",
            failures.len(),
            if failures.len() == 1 { "" } else { "s" }
        )))
    }
}
