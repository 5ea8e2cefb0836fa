//! Property tests over generated packages, profiles, catalogs and histories: whatever the
//! rules say, an outcome keeps language.md §10's invariants — no block twice, quotas and `max`
//! respected, no dropped or ineligible block chosen, sections in declared order, `fired`
//! in evaluation order, reasons naming fired rules or the fallback.
//!
//! The checks are written against the generated data directly (drops are generated in a
//! form the test can evaluate itself), not through the engine's own evaluator.

// Test code: panicking on a broken generator is the right failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::HashSet;

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use tailor_engine::{Delivery, Event, EventKind, History, OutcomeKind, Package};
use tailor_lang::SourceMap;

const SECTIONS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
const TAGS: [&str; 4] = ["t0", "t1", "t2", "t3"];
const REGIONS: [&str; 3] = ["r0", "r1", "r2"];
// Cities share names with regions so that `block.region == profile.city` can hold.
const CITIES: [&str; 3] = ["r0", "r1", "c2"];
const KINDS: [EventKind; 3] = [EventKind::Enter, EventKind::Text, EventKind::Location];

fn t0() -> Timestamp {
    "2013-02-21T12:00:00Z".parse().unwrap()
}

#[derive(Debug, Clone)]
enum Drop {
    Tag(usize),
    Region(usize),
    /// One of the forms of [`DROPS`], which the test evaluates itself ([`dropped`]).
    Form(usize),
}

/// Drops beyond one tag or one region: against the profile, lists, `or` of tests (a set
/// of ids to the index), and `and`/`not` and comparisons (evaluated by the interpreter).
const DROPS: [&str; 9] = [
    "block.tags intersects profile.interests",
    "block.region in profile.places",
    "block.region == profile.city",
    "block.tags intersects [\"t1\", \"t3\"]",
    "block.region in [\"r0\", \"r2\"]",
    "\"t2\" in block.tags or block.region == \"r1\"",
    "\"t0\" in block.tags and block.score > 0.5",
    "not (\"t1\" in block.tags) and block.region == \"r2\"",
    "block.region in profile.places or block.tags intersects profile.interests",
];

/// What the test knows of a profile, to evaluate drops with.
struct Reader<'r> {
    city: Option<usize>,
    interests: &'r [usize],
    places: &'r [usize],
}

/// The drop holds for the block, evaluated by the test (missing values make a test
/// false, as in language.md §7).
fn dropped(d: &Drop, b: &BlockSpec, r: &Reader<'_>) -> bool {
    let tag = |t: usize| b.tags.contains(&t);
    let region = |x: usize| b.region == Some(x);
    let interests = || b.tags.iter().any(|t| r.interests.contains(t));
    let places = || b.region.is_some_and(|x| r.places.contains(&x));
    match d {
        Drop::Tag(t) => tag(*t),
        Drop::Region(x) => region(*x),
        Drop::Form(f) => match f {
            0 => interests(),
            1 => places(),
            // Cities r0 and r1 are regions 0 and 1; c2 is no region.
            2 => r.city.is_some_and(|c| c < 2 && region(c)),
            3 => tag(1) || tag(3),
            4 => region(0) || region(2),
            5 => tag(2) || region(1),
            6 => tag(0) && b.score.is_some_and(|s| s > 2),
            7 => !tag(1) && region(2),
            _ => places() || interests(),
        },
    }
}

#[derive(Debug, Clone)]
struct Rule {
    kinds: Vec<usize>,
    priority: i64,
    /// Index into a few `when` conditions; 0 means none.
    when: usize,
    picks: Vec<(usize, usize, usize, usize)>, // count, section, where, order
    drops: Vec<Drop>,
    cap: Option<(usize, u32)>,
}

#[derive(Debug, Clone)]
struct Spec {
    sections: Vec<usize>, // quota per declared section (prefix of SECTIONS)
    max: usize,
    min: usize,
    cap: Option<(usize, u32)>,
    repeat: Option<u32>,
    fallback: Vec<(usize, usize)>,
    rules: Vec<Rule>,
}

const WHENS: [&str; 27] = [
    "",
    "profile.age >= 30",
    "\"t1\" in profile.interests",
    "profile.city == \"r0\" or profile.age < 20",
    "not (profile.city exists)",
    "young and \"t2\" in profile.interests",
    "profile.city in [\"r1\", \"c2\"] and profile.age > 40",
    "profile.interests intersects [\"t0\", \"t3\"] or young",
    "30 <= profile.age and profile.age < 60",
    "profile.city != \"r1\"",
    "len(profile.interests) > 1 or profile.age == 25",
    "profile.reads[\"t1\"] >= 2 or profile.reads[\"t2\"] != 1",
    "profile.reads[\"t0\"] exists and profile.age > 20",
    "\"t1\" in profile.interests and profile.vip",
    "profile.age >= 30 and not profile.vip",
    "\"t2\" in profile.interests and not (profile.age > 50)",
    // Two exact predicates: the index finds the conjunction through one, the other is
    // evaluated; constants on either side of every comparison.
    "\"t0\" in profile.interests and profile.city == \"r0\"",
    "\"t3\" in profile.interests and \"t1\" in profile.interests",
    "profile.age <= 40 and 25 < profile.age and \"t0\" in profile.interests",
    "50 > profile.age and profile.city == \"r1\" or 35 >= profile.age and \"t3\" in profile.interests",
    "profile.reads[\"t1\"] <= 3 and \"t3\" in profile.interests and 20 != profile.age",
    // A bool field as the only indexable conjunct: found through the flag's list.
    "profile.vip or profile.age < 18",
    "young and profile.vip and not (profile.city == \"r0\")",
    // Memberships, lists and `intersects` left in a remainder (under `not`, never an
    // access predicate): compared by interned ids.
    "\"t2\" in profile.interests and not (profile.interests intersects [\"t0\", \"t1\"])",
    "profile.age >= 20 and not (profile.city in [\"r0\", \"c2\"]) and not (\"t3\" in profile.interests)",
    "profile.reads[\"t0\"] >= 1 and not ([\"t1\", \"t3\"] intersects profile.interests)",
    "young and profile.city in [\"r1\", \"x\"] and profile.interests intersects [\"t2\", \"t3\"]",
];
const WHERES: [&str; 16] = [
    "",
    " where block.region == profile.city",
    " where \"t0\" in block.tags",
    " where block.score > 0.5",
    " where block.region in [\"r0\", \"r1\"]",
    " where block.tags intersects profile.interests and block.score >= 0.25",
    " where block.region == \"r2\" or \"t1\" in block.tags",
    " where not (block.region exists)",
    " where block.tags intersects [\"t2\", \"t3\"]",
    " where block.region in profile.interests",
    // Overlapping filters on tags, regions and cities: an access predicate and a
    // remainder of tests, `or` and `not` of tests, profile sets.
    " where block.region in profile.places",
    " where block.tags intersects profile.interests and block.region in profile.places",
    " where \"t1\" in block.tags and not (block.region == profile.city)",
    " where block.region in profile.places or \"t2\" in block.tags",
    " where block.tags intersects [\"t0\", \"t1\"] and (block.region == \"r0\" or block.region in profile.places)",
    " where block.region == profile.city and not (block.tags intersects profile.interests)",
];
const ORDERS: [&str; 6] = [
    "",
    " order by oldest",
    " order by block.score desc",
    " order by block.score asc",
    " order by block.score * 2.0 + 1.0 desc",
    " order by block.region asc",
];

impl Spec {
    fn source(&self) -> String {
        let mut s = String::from(
            "profile {\n  age: int\n  city: string\n  interests: set<string>\n  places: set<string>\n  reads: map<int>\n  vip: bool\n}\ncontent {\n  region: string\n  score: float\n}\nsegment young = profile.age < 30\n",
        );
        s.push_str(&format!(
            "edition e {{\n  max {}\n  min {}\n  sections {{\n",
            self.max, self.min
        ));
        for (i, q) in self.sections.iter().enumerate() {
            s.push_str(&format!("    {} {q}\n", SECTIONS[i]));
        }
        s.push_str("  }\n");
        if let Some((n, h)) = self.cap {
            s.push_str(&format!("  cap {n} per {h}h\n"));
        }
        if let Some(h) = self.repeat {
            s.push_str(&format!("  repeat after {h}h\n"));
        }
        s.push_str("  fallback {\n");
        for (n, sec) in &self.fallback {
            s.push_str(&format!(
                "    pick {n} from {}\n",
                SECTIONS[*sec % self.sections.len()]
            ));
        }
        s.push_str("  }\n}\n");
        for (i, r) in self.rules.iter().enumerate() {
            s.push_str(&format!("rule r{i} {{\n"));
            let kinds: Vec<&str> = r.kinds.iter().map(|k| KINDS[*k].name()).collect();
            s.push_str(&format!(
                "  on {}\n  priority {}\n",
                kinds.join(", "),
                r.priority
            ));
            if r.when > 0 {
                s.push_str(&format!("  when {}\n", WHENS[r.when]));
            }
            for (n, sec, w, o) in &r.picks {
                s.push_str(&format!(
                    "  pick {n} from {}{}{}\n",
                    SECTIONS[*sec % self.sections.len()],
                    WHERES[*w],
                    ORDERS[*o]
                ));
            }
            for d in &r.drops {
                match d {
                    Drop::Tag(t) => {
                        s.push_str(&format!("  drop where \"{}\" in block.tags\n", TAGS[*t]))
                    }
                    Drop::Region(x) => s.push_str(&format!(
                        "  drop where block.region == \"{}\"\n",
                        REGIONS[*x]
                    )),
                    Drop::Form(f) => s.push_str(&format!("  drop where {}\n", DROPS[*f])),
                }
            }
            if let Some((n, h)) = r.cap {
                s.push_str(&format!("  cap {n} per {h}h\n"));
            }
            s.push_str("}\n");
        }
        s
    }
}

fn rule() -> impl Strategy<Value = Rule> {
    rule_with(0usize..WHENS.len(), 0..3, 0..2)
}

/// A rule of a broad package: it mostly fires (no `when`, or a broad one), drops often
/// and picks much.
fn broad_rule() -> impl Strategy<Value = Rule> {
    rule_with(
        prop_oneof![3 => Just(0usize), 1 => 0usize..WHENS.len()],
        1..4,
        0..4,
    )
}

fn rule_with(
    when: impl Strategy<Value = usize>,
    picks: std::ops::Range<usize>,
    drops: std::ops::Range<usize>,
) -> impl Strategy<Value = Rule> {
    (
        proptest::sample::subsequence(vec![0usize, 1, 2], 1..=3),
        -2i64..=2,
        when,
        proptest::collection::vec(
            (
                1usize..4,
                0usize..4,
                0usize..WHERES.len(),
                0usize..ORDERS.len(),
            ),
            picks,
        ),
        proptest::collection::vec(
            prop_oneof![
                (0usize..4).prop_map(Drop::Tag),
                (0usize..3).prop_map(Drop::Region),
                (0usize..DROPS.len()).prop_map(Drop::Form),
            ],
            drops,
        ),
        proptest::option::of((1usize..3, 1u32..48)),
    )
        .prop_filter("a rule needs an action", |(_, _, _, p, d, _)| {
            !p.is_empty() || !d.is_empty()
        })
        .prop_map(|(kinds, priority, when, picks, drops, cap)| Rule {
            kinds,
            priority,
            when,
            picks,
            drops,
            cap,
        })
}

fn spec() -> impl Strategy<Value = Spec> {
    spec_with(proptest::collection::vec(rule(), 1..7).boxed())
}

/// A package whose readers fire many rules: many drops, many overlapping picks.
fn broad_spec() -> impl Strategy<Value = Spec> {
    spec_with(proptest::collection::vec(broad_rule(), 8..40).boxed())
}

fn spec_with(rules: BoxedStrategy<Vec<Rule>>) -> impl Strategy<Value = Spec> {
    (
        proptest::collection::vec(0usize..4, 1..=4),
        1usize..9,
        0usize..4,
        proptest::option::of((1usize..3, 1u32..48)),
        proptest::option::of(1u32..96),
        proptest::collection::vec((1usize..4, 0usize..4), 0..3),
        rules,
    )
        .prop_map(|(sections, max, min, cap, repeat, fallback, rules)| Spec {
            sections,
            max,
            min: min.min(max),
            cap,
            repeat,
            fallback,
            rules,
        })
}

#[derive(Debug, Clone)]
struct BlockSpec {
    section: usize,
    tags: Vec<usize>,
    region: Option<usize>,
    score: Option<u8>,
    published_h: i64,
    expires_h: Option<i64>,
}

fn block() -> impl Strategy<Value = BlockSpec> {
    (
        0usize..5, // 4 = a section the edition may not declare
        proptest::sample::subsequence(vec![0usize, 1, 2, 3], 0..=4),
        proptest::option::of(0usize..3),
        proptest::option::of(0u8..4),
        -72i64..6,
        proptest::option::of(-6i64..48),
    )
        .prop_map(
            |(section, tags, region, score, published_h, expires_h)| BlockSpec {
                section,
                tags,
                region,
                score,
                published_h,
                expires_h,
            },
        )
}

fn hours(h: i64) -> Timestamp {
    t0().checked_add(SignedDuration::from_hours(h)).unwrap()
}

fn catalog_text(blocks: &[BlockSpec]) -> String {
    let mut out = String::new();
    for (i, b) in blocks.iter().enumerate() {
        let mut o = serde_json::json!({
            "id": format!("b{i:02}"),
            "section": SECTIONS.get(b.section).copied().unwrap_or("elsewhere"),
            "title": format!("block {i}"),
            "published": hours(b.published_h).to_string(),
            "tags": b.tags.iter().map(|t| TAGS[*t]).collect::<Vec<_>>(),
        });
        if let Some(r) = b.region {
            o["region"] = serde_json::json!(REGIONS[r]);
        }
        if let Some(s) = b.score {
            o["score"] = serde_json::json!(f64::from(s) / 4.0);
        }
        if let Some(e) = b.expires_h {
            o["expires"] = serde_json::json!(hours(e).to_string());
        }
        out.push_str(&o.to_string());
        out.push('\n');
    }
    out
}

/// A generated package with one profile, a catalog and the profile's history.
struct World {
    src: String,
    pkg: Package,
    profile: tailor_engine::Profile,
    catalog: tailor_engine::Catalog,
    deliveries: Vec<Delivery>,
}

type Past = (i64, Vec<usize>, Vec<usize>, usize);

/// Up to six past deliveries: when (hours before `t0`), which of the first `blocks`
/// blocks they carried, which of the rules `r0`–`r5` fired, and the event kind.
fn past(blocks: usize) -> impl Strategy<Value = Vec<Past>> {
    proptest::collection::vec(
        (
            -60i64..1,
            proptest::sample::subsequence((0..blocks).collect::<Vec<_>>(), 0..4),
            proptest::sample::subsequence(vec![0usize, 1, 2, 3, 4, 5], 0..3),
            0usize..3,
        ),
        0..6,
    )
}

fn world(
    spec: &Spec,
    blocks: &[BlockSpec],
    age: Option<i64>,
    city: Option<usize>,
    interests: &[usize],
    places: &[usize],
    past: &[Past],
) -> Result<World, TestCaseError> {
    let src = spec.source();
    let pkg = Package::from_sources(vec![("gen.rules".into(), src.clone())])
        .map_err(|e| TestCaseError::fail(format!("{}\n{src}", e.render(false))))?;
    let mut sources = SourceMap::new();
    let mut profile = serde_json::json!({"id": "u"});
    // No interests: sometimes an empty set, sometimes missing.
    if !interests.is_empty() || age.is_some_and(|a| a % 2 == 0) {
        profile["interests"] =
            serde_json::json!(interests.iter().map(|t| TAGS[*t]).collect::<Vec<_>>());
    }
    if let Some(a) = age {
        profile["age"] = serde_json::json!(a);
        if a % 3 != 0 {
            profile["reads"] = serde_json::json!({"t0": a % 4, "t1": a % 5, "t2": a % 2});
        }
        // `vip` true, false or missing.
        if a % 5 != 0 {
            profile["vip"] = serde_json::json!(a % 2 == 0);
        }
    }
    if let Some(c) = city {
        profile["city"] = serde_json::json!(CITIES[c]);
    }
    // No places: sometimes an empty set, sometimes missing.
    if !places.is_empty() || age.is_some_and(|a| a % 3 == 1) {
        profile["places"] =
            serde_json::json!(places.iter().map(|r| REGIONS[*r]).collect::<Vec<_>>());
    }
    let profile = pkg
        .parse_profiles(&mut sources, "p.jsonl", &profile.to_string())
        .unwrap()
        .remove(0);
    let catalog = pkg
        .parse_catalog(&mut sources, "c.jsonl", &catalog_text(blocks))
        .unwrap();
    let deliveries = past
        .iter()
        .map(|(h, bs, fired, k)| Delivery {
            user: "u".into(),
            at: hours(*h),
            event: KINDS[*k],
            blocks: bs.iter().map(|b| format!("b{b:02}")).collect(),
            fired: fired.iter().map(|r| format!("r{r}")).collect(),
            items: Vec::new(),
        })
        .collect();
    Ok(World {
        src,
        pkg,
        profile,
        catalog,
        deliveries,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(256), ..ProptestConfig::default() })]

    #[test]
    fn outcomes_keep_the_invariants_of_assembly(
        spec in spec(),
        blocks in proptest::collection::vec(block(), 0..30),
        age in proptest::option::of(0i64..90),
        city in proptest::option::of(0usize..3),
        interests in proptest::sample::subsequence(vec![0usize, 1, 2, 3], 0..=4),
        places in proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3),
        kind in 0usize..3,
        past in past(30),
    ) {
        let World { src: _, pkg, profile, catalog, deliveries } = world(&spec, &blocks, age, city, &interests, &places, &past)?;
        let reader = Reader { city, interests: &interests, places: &places };
        let profiles = [profile];
        let history = History::new(deliveries.clone());
        let t = t0();
        let event = Event::new(KINDS[kind], t);
        let o = pkg.evaluate(&event, &profiles[0], &catalog, &history);

        // Quiet: nothing chosen, nothing fired.
        if o.kind == OutcomeKind::Quiet {
            prop_assert!(o.items.is_empty() && o.fired.is_empty());
            prop_assert!(event.kind.is_unsolicited() && spec.cap.is_some());
            return Ok(());
        }
        prop_assert_eq!(o.kind == OutcomeKind::Empty, o.items.is_empty());

        // `fired` in evaluation order: priority descending, then name ascending.
        let prio = |name: &str| spec.rules[name[1..].parse::<usize>().unwrap()].priority;
        for w in o.fired.windows(2) {
            let (a, b) = (&w[0], &w[1]);
            prop_assert!(prio(a) > prio(b) || (prio(a) == prio(b) && a < b), "fired out of order: {:?}", o.fired);
        }
        // Fired rules answer the event's kind.
        for f in &o.fired {
            let r = &spec.rules[f[1..].parse::<usize>().unwrap()];
            prop_assert!(r.kinds.iter().any(|k| KINDS[*k] == event.kind));
        }

        // No block twice; max and quotas respected; sections in declared order.
        let ids: HashSet<&str> = o.items.iter().map(|i| i.id).collect();
        prop_assert_eq!(ids.len(), o.items.len());
        prop_assert!(o.items.len() <= spec.max);
        let declared = &SECTIONS[..spec.sections.len()];
        let mut last = 0;
        for (si, name) in declared.iter().enumerate() {
            let n = o.items.iter().filter(|i| *i.section == **name).count();
            prop_assert!(n <= spec.sections[si], "section {name} over quota");
        }
        for i in &o.items {
            let si = declared.iter().position(|s| **s == *i.section);
            prop_assert!(si.is_some(), "item in undeclared section {}", i.section);
            let si = si.unwrap();
            prop_assert!(si >= last, "sections out of order");
            last = si;
        }

        // Every chosen block is eligible and not dropped by a fired rule.
        let recent: HashSet<String> = match spec.repeat {
            Some(h) => deliveries.iter()
                .filter(|d| d.at > hours(-i64::from(h)) && d.at <= t)
                .flat_map(|d| d.blocks.clone()).collect(),
            None => HashSet::new(),
        };
        for item in &o.items {
            let b = &blocks[item.id[1..].parse::<usize>().unwrap()];
            prop_assert!(hours(b.published_h) <= t, "unpublished block {}", item.id);
            prop_assert!(b.expires_h.is_none_or(|e| t < hours(e)), "expired block {}", item.id);
            prop_assert!(!recent.contains(item.id), "repeated block {}", item.id);
            for f in &o.fired {
                for d in &spec.rules[f[1..].parse::<usize>().unwrap()].drops {
                    prop_assert!(!dropped(d, b, &reader), "block {} chosen despite a drop of {}", item.id, f);
                }
            }
            // Reasons name a fired rule or the fallback.
            prop_assert_eq!(item.reasons.len(), 1);
            let r = &item.reasons[0];
            prop_assert!(&**r == "fallback" || o.fired.iter().any(|f| **f == **r), "reason {} is not a fired rule", r);
        }

        // The same inputs always give the same outcome.
        prop_assert_eq!(&o, &pkg.evaluate(&event, &profiles[0], &catalog, &history));
    }

    /// The indexed evaluator gives exactly the reference evaluator's outcome: the whole
    /// JSON, including `fired`, item order, reasons and `learned`.
    #[test]
    fn indexed_evaluator_equals_reference(
        spec in spec(),
        blocks in proptest::collection::vec(block(), 0..40),
        age in proptest::option::of(0i64..90),
        city in proptest::option::of(0usize..3),
        interests in proptest::sample::subsequence(vec![0usize, 1, 2, 3], 0..=4),
        places in proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3),
        kind in 0usize..3,
        past in past(40),
    ) {
        let w = world(&spec, &blocks, age, city, &interests, &places, &past)?;
        indexed_equals_reference(w, kind)?;
    }

    /// The same, when a reader fires many rules (issue 20): many fired drops of every
    /// form, many overlapping picks over tags, regions and cities, a bigger catalog.
    #[test]
    fn indexed_evaluator_equals_reference_when_many_rules_fire(
        spec in broad_spec(),
        blocks in proptest::collection::vec(block(), 0..80),
        age in proptest::option::of(0i64..90),
        city in proptest::option::of(0usize..3),
        interests in proptest::sample::subsequence(vec![0usize, 1, 2, 3], 0..=4),
        places in proptest::sample::subsequence(vec![0usize, 1, 2], 0..=3),
        kind in 0usize..3,
        past in past(80),
    ) {
        let w = world(&spec, &blocks, age, city, &interests, &places, &past)?;
        indexed_equals_reference(w, kind)?;
    }
}

/// The indexed evaluator's outcome is the reference's: the whole JSON, including
/// `fired`, item order, reasons and `learned`.
fn indexed_equals_reference(w: World, kind: usize) -> Result<(), TestCaseError> {
    let World {
        src,
        pkg,
        profile,
        catalog,
        deliveries,
    } = w;
    let history = History::new(deliveries);
    let event = Event::new(KINDS[kind], t0());
    let reference = pkg.evaluate(&event, &profile, &catalog, &history);
    let index = tailor_engine::Index::new(&pkg, catalog.clone());
    let indexed = index.evaluate(&event, &profile, &history);
    prop_assert_eq!(reference.to_json(), indexed.to_json(), "package:\n{}", src);
    // The text written directly (`tailor batch`, the HTTP API) is the tree's text.
    prop_assert_eq!(indexed.to_json_string(), indexed.to_json().to_string());
    // Beyond the JSON: the same pick chose each item.
    prop_assert_eq!(reference, indexed, "package:\n{}", src);
    Ok(())
}
