//! `Package::explain` re-runs assembly to record why; it must always choose exactly what
//! `Package::evaluate` chooses (same items, same order, same reasons, same fired rules),
//! or the explanations would describe another digest. Checked over every corpus case
//! (every profile of the case, not only the event's user), over a sweep of the example
//! packages, and by proptest over generated packages, catalogs and histories.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::path::{Path, PathBuf};

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use tailor_engine::{Catalog, Delivery, Event, EventKind, History, OutcomeKind, Package, Profile};
use tailor_lang::SourceMap;

fn root() -> PathBuf {
    // The repository root, where the corpus (tests/corpus) and rules/ sit.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Compare the two on one input; the difference, if any.
fn disagreement(
    pkg: &Package,
    event: &Event,
    profile: &Profile,
    catalog: &Catalog,
    history: &History,
) -> Option<String> {
    let o = pkg.evaluate(event, profile, catalog, history);
    let ex = pkg.explain(event, profile, catalog, history);
    let from_outcome: Vec<(String, String, String)> = o
        .items
        .iter()
        .map(|i| {
            (
                i.id.to_string(),
                i.section.to_string(),
                i.reasons.first().map(|r| r.to_string()).unwrap_or_default(),
            )
        })
        .collect();
    let from_explain: Vec<(String, String, String)> = ex
        .items
        .iter()
        .map(|i| (i.id.clone(), i.section.clone(), i.reason.clone()))
        .collect();
    let fired: Vec<&str> = ex
        .rules
        .iter()
        .filter(|r| r.fired())
        .map(|r| r.name.as_str())
        .collect();
    let chosen_in_picks: usize = ex.picks.iter().map(|p| p.chosen().count()).sum();
    if from_outcome != from_explain
        || fired != o.fired
        || ex.quiet != (o.kind == OutcomeKind::Quiet)
        || chosen_in_picks != ex.items.len()
    {
        return Some(format!(
            "user {} {} at {}:\n  evaluate: {from_outcome:?} fired {:?}\n  explain:  {from_explain:?} fired {fired:?} (quiet {})",
            profile.id(),
            event.kind,
            event.at,
            o.fired,
            ex.quiet
        ));
    }
    // Every item's pick lists it as chosen.
    for item in &ex.items {
        let ok = ex
            .why(&item.id)
            .is_some_and(|(_, p)| p.chosen().any(|c| c.id == item.id));
        if !ok {
            return Some(format!(
                "item {} has no chosen candidate in its pick",
                item.id
            ));
        }
    }
    None
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn explain_agrees_with_evaluate_on_the_corpus() {
    let dir = root().join("tests/corpus");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in &cases {
        let inline = case.join("package");
        let pkg_dir = if inline.is_dir() {
            inline
        } else {
            root().join(read(&inline).trim())
        };
        let Ok(pkg) = Package::load(&pkg_dir) else {
            continue; // rejected packages are the error corpus' business
        };
        let file = |name: &str| {
            let own = case.join(name);
            if own.exists() {
                own
            } else {
                pkg_dir.join(name)
            }
        };
        let mut sources = SourceMap::new();
        let profiles = pkg
            .parse_profiles(&mut sources, "p", &read(&file("profiles.jsonl")))
            .unwrap();
        let catalog = pkg
            .parse_catalog(&mut sources, "c", &read(&file("catalog.jsonl")))
            .unwrap();
        let history = match std::fs::read_to_string(case.join("history.jsonl")) {
            Ok(t) => History::parse(&mut sources, "h", &t).unwrap(),
            Err(_) => History::default(),
        };
        let ev: serde_json::Value = serde_json::from_str(&read(&case.join("event.json"))).unwrap();
        let s = |k: &str| ev.get(k).and_then(|v| v.as_str()).map(str::to_owned);
        let event = Event {
            kind: EventKind::parse(&s("kind").unwrap_or_else(|| "enter".into())).unwrap(),
            at: s("at").unwrap().parse().unwrap(),
            text: s("text"),
            key: s("key"),
            url: s("url"),
            lat: ev.get("lat").and_then(|v| v.as_f64()),
            lon: ev.get("lon").and_then(|v| v.as_f64()),
            precision: None,
            opened: None,
        };
        for p in &profiles {
            checked += 1;
            if let Some(d) = disagreement(&pkg, &event, p, &catalog, &history) {
                failures.push(format!("{}: {d}", case.display()));
            }
        }
    }
    assert!(checked > 20, "only {checked} evaluations checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn explain_agrees_with_evaluate_on_the_example_packages() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for name in ["qianjiang", "airline"] {
        let dir = root().join("rules").join(name);
        let (Ok(pkg), true) = (Package::load(&dir), dir.join("profiles.jsonl").is_file()) else {
            continue;
        };
        let mut sources = SourceMap::new();
        let Ok(profiles) =
            pkg.parse_profiles(&mut sources, "p", &read(&dir.join("profiles.jsonl")))
        else {
            continue;
        };
        let Ok(catalog) = pkg.parse_catalog(&mut sources, "c", &read(&dir.join("catalog.jsonl")))
        else {
            continue;
        };
        // Times around the catalog's dates, and the whole span of its publication times.
        let mut times: Vec<Timestamp> = catalog
            .blocks()
            .iter()
            .filter_map(|b| b.published())
            .collect();
        times.sort();
        times.dedup();
        let probes: Vec<Timestamp> = times
            .iter()
            .step_by(times.len().div_ceil(8).max(1))
            .flat_map(|t| [*t, *t + SignedDuration::from_hours(3)])
            .collect();
        let events = |at: Timestamp| {
            let mut v = Vec::new();
            for kind in EventKind::ALL {
                v.push(Event::new(kind, at));
            }
            v.push(Event {
                text: Some("今天天气怎么样".into()),
                ..Event::new(EventKind::Text, at)
            });
            v.push(Event {
                key: Some("MENU_SPORTS".into()),
                ..Event::new(EventKind::Click, at)
            });
            v
        };
        for at in probes {
            for p in &profiles {
                // No history, then the digest just delivered a day earlier.
                let earlier = Event::new(EventKind::Enter, at - SignedDuration::from_hours(24));
                let first = pkg.evaluate(&earlier, p, &catalog, &History::default());
                let histories = [History::default(), History::new(first.delivery())];
                for history in &histories {
                    for e in events(at) {
                        checked += 1;
                        if let Some(d) = disagreement(&pkg, &e, p, &catalog, history) {
                            failures.push(format!("{name}: {d}"));
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 100, "only {checked} evaluations checked");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- generated packages -------------------------------------------------------------

const WHENS: [&str; 5] = [
    "",
    "when profile.age >= 30",
    "when \"t1\" in profile.interests",
    "when profile.city == \"c0\" or profile.age < 20",
    "when not (profile.city exists)",
];
const WHERES: [&str; 4] = [
    "",
    " where \"t0\" in block.tags",
    " where block.region == profile.city",
    " where block.score > 0.5",
];
const ORDERS: [&str; 4] = [
    "",
    " order by oldest",
    " order by block.score desc",
    " order by block.score asc",
];
const DROPS: [&str; 3] = [
    "drop where \"t2\" in block.tags",
    "drop where block.region == \"c1\"",
    "drop where block.score < 0.2 and profile.age > 40",
];
const SECTIONS: [&str; 3] = ["alpha", "beta", "gamma"];

type PickSpec = (usize, usize, usize, usize);

#[derive(Debug, Clone)]
struct RuleSpec {
    kinds: usize,
    priority: i64,
    when: usize,
    picks: Vec<PickSpec>,
    drops: Vec<usize>,
    cap: bool,
}

fn rule() -> impl Strategy<Value = RuleSpec> {
    (
        0usize..3,
        -2i64..3,
        0usize..WHENS.len(),
        proptest::collection::vec(
            (
                1usize..4,
                0usize..3,
                0usize..WHERES.len(),
                0usize..ORDERS.len(),
            ),
            0..3,
        ),
        proptest::collection::vec(0usize..DROPS.len(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(kinds, priority, when, picks, drops, cap)| RuleSpec {
            kinds,
            priority,
            when,
            picks,
            drops,
            cap,
        })
}

fn source(
    quotas: &[usize],
    max: usize,
    min: usize,
    rules: &[RuleSpec],
    fallback: &[PickSpec],
) -> String {
    let mut s = String::from(
        "profile { age: int city: string interests: set<string> }\ncontent { region: string score: float }\n",
    );
    s.push_str(&format!(
        "edition e {{ max {max} min {min} repeat after 2h cap 2 per 6h sections {{"
    ));
    for (i, q) in quotas.iter().enumerate() {
        s.push_str(&format!(" {} {q}", SECTIONS[i]));
    }
    s.push_str(" }");
    let pick = |(count, sec, w, o): &PickSpec| {
        format!(
            "pick {count} from {}{}{}",
            SECTIONS[*sec % quotas.len()],
            WHERES[*w],
            ORDERS[*o]
        )
    };
    if !fallback.is_empty() {
        s.push_str(" fallback {");
        for p in fallback {
            s.push_str(&format!(" {}", pick(p)));
        }
        s.push_str(" }");
    }
    s.push_str(" }\n");
    for (i, r) in rules.iter().enumerate() {
        if r.picks.is_empty() && r.drops.is_empty() {
            continue;
        }
        let on = ["enter", "enter, text", "text"][r.kinds];
        s.push_str(&format!(
            "rule r{i} {{ on {on} priority {} {}",
            r.priority, WHENS[r.when]
        ));
        for p in &r.picks {
            s.push_str(&format!(" {}", pick(p)));
        }
        for d in &r.drops {
            s.push_str(&format!(" {}", DROPS[*d]));
        }
        if r.cap {
            s.push_str(" cap 1 per 1d");
        }
        s.push_str(" }\n");
    }
    s
}

fn t0() -> Timestamp {
    "2013-02-21T12:00:00Z"
        .parse()
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    #[test]
    fn explain_agrees_with_evaluate_on_generated_packages(
        quotas in proptest::collection::vec(0usize..4, 1..4),
        max in 1usize..8,
        min in 0usize..3,
        rules in proptest::collection::vec(rule(), 0..6),
        fallback in proptest::collection::vec((1usize..3, 0usize..3, 0usize..WHERES.len(), 0usize..ORDERS.len()), 0..2),
        blocks in proptest::collection::vec((0usize..3, proptest::sample::subsequence(vec![0usize, 1, 2], 0..3), 0usize..3, proptest::option::of(0u8..10), -30i64..5, proptest::option::of(-5i64..10)), 0..25),
        age in proptest::option::of(0i64..90),
        city in proptest::option::of(0usize..3),
        interests in proptest::sample::subsequence(vec![0usize, 1, 2], 0..3),
        text in any::<bool>(),
        past in proptest::collection::vec((-30i64..1, proptest::sample::subsequence((0usize..25).collect::<Vec<_>>(), 0..3), proptest::sample::subsequence((0usize..6).collect::<Vec<_>>(), 0..3), any::<bool>()), 0..5),
    ) {
        let min = min.min(max);
        let src = source(&quotas, max, min, &rules, &fallback);
        let pkg = Package::from_sources(vec![("gen.rules".into(), src.clone())])
            .map_err(|e| TestCaseError::fail(format!("{}\n{src}", e.render(false))))?;
        let mut sources = SourceMap::new();
        let mut profile = serde_json::json!({"id": "u", "interests": interests.iter().map(|t| format!("t{t}")).collect::<Vec<_>>()});
        if let Some(a) = age { profile["age"] = serde_json::json!(a); }
        if let Some(c) = city { profile["city"] = serde_json::json!(format!("c{c}")); }
        let profiles = pkg.parse_profiles(&mut sources, "p", &profile.to_string()).map_err(|d| TestCaseError::fail(d.to_string()))?;
        let hours = |h: i64| t0() + SignedDuration::from_hours(h);
        let lines: Vec<String> = blocks.iter().enumerate().map(|(i, (sec, tags, region, score, published, expires))| {
            let mut b = serde_json::json!({
                "id": format!("b{i:02}"), "section": SECTIONS[*sec], "title": format!("block {i}"),
                "tags": tags.iter().map(|t| format!("t{t}")).collect::<Vec<_>>(),
                "region": format!("c{region}"),
                "published": hours(*published).to_string(),
            });
            if let Some(s) = score { b["score"] = serde_json::json!(f64::from(*s) / 10.0); }
            if let Some(e) = expires { b["expires"] = serde_json::json!(hours(*e).to_string()); }
            b.to_string()
        }).collect();
        let catalog = pkg.parse_catalog(&mut sources, "c", &lines.join("\n")).map_err(|d| TestCaseError::fail(d.to_string()))?;
        let history = History::new(past.iter().map(|(h, bs, fired, enter)| Delivery {
            user: "u".into(),
            at: hours(*h),
            event: if *enter { EventKind::Enter } else { EventKind::Text },
            blocks: bs.iter().map(|b| format!("b{b:02}")).collect(),
            fired: fired.iter().map(|r| format!("r{r}")).collect(),
            items: Vec::new(),
        }));
        let event = Event::new(if text { EventKind::Text } else { EventKind::Enter }, t0());
        let Some(p) = profiles.first() else { return Ok(()); };
        let d = disagreement(&pkg, &event, p, &catalog, &history);
        prop_assert!(d.is_none(), "{}\npackage:\n{src}", d.unwrap_or_default());
    }
}
