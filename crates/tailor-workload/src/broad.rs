//! The broad-audience shape ([`crate::Audience::Broad`]): audiences that do not narrow as
//! rules grow, so that the rules a reader fires grow with the rule count — a big
//! publisher's many rules for its home city and its most popular interests.
//!
//! About 300 cities and 200 tags, both Zipf-distributed with exponent 1.1 over a fixed
//! pool whatever the rule count (the narrow shape's pools grow with the rules instead).
//! Readers have an age, a city, 0–10 interests (tags), 0–3 past places (cities), map
//! counters keyed by tag and a `vip` flag. Rules have 1–3 conjuncts — city equality, tag
//! membership, age ranges, segments, map thresholds, `in` lists, `intersects`, some `or` —
//! over those pools; 5% of the rules are `drop where "TAG" in block.tags`, the others pick
//! 1–3 blocks of one of 20 sections (quota 2 each, `max 8`, `repeat after 2d`) filtered by
//! `"TAG" in block.tags`, `block.region in profile.past_places`, `block.city ==
//! profile.city` or `block.tags intersects profile.interests`, ordered by score, oldest or
//! newest. A reader fires about 11% of the rules; one of the head (the first city, many
//! popular interests) fires more, up to a fifth of the drops.
//!
//! Only constructs that the peers harness (`crates/tailor-peers`) translates appear in a
//! `when` or a segment: its peers match rules, so the same rules are compared there.

use std::fmt::Write as _;

use crate::{Rng, SECTIONS, Shape, city, put, tag};

/// Cities of the broad shape (rules, readers and blocks alike).
pub const CITIES: u64 = 300;
/// Tags of the broad shape: readers' interests, block tags, map keys.
pub const TAGS: u64 = 200;
/// The exponent of both Zipf distributions.
pub const ZIPF_S: f64 = 1.1;

/// A Zipf distribution over `0..n` with exponent `s`: rank r has weight 1/(r+1)^s.
/// Sampled by a binary search in its cumulative table, so that the draw is exact for any
/// exponent (the narrow shape's [`Rng::zipf`] approximates exponent 1 only).
#[derive(Debug, Clone)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: u64, s: f64) -> Zipf {
        let weights: Vec<f64> = (0..n.max(1)).map(|r| (r as f64 + 1.0).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Zipf { cdf }
    }

    /// One rank in `0..n`.
    pub fn sample(&self, r: &mut Rng) -> u64 {
        let u = r.unit();
        let i = self.cdf.partition_point(|&c| c <= u);
        (i as u64).min(self.cdf.len() as u64 - 1)
    }
}

/// The pools' distributions.
struct Pools {
    cities: Zipf,
    tags: Zipf,
}

impl Pools {
    fn new() -> Pools {
        Pools {
            cities: Zipf::new(CITIES, ZIPF_S),
            tags: Zipf::new(TAGS, ZIPF_S),
        }
    }

    fn city(&self, r: &mut Rng) -> String {
        city(self.cities.sample(r))
    }

    fn tag(&self, r: &mut Rng) -> String {
        tag(self.tags.sample(r))
    }
}

const SCHEMA: &str = "profile {\n  age: int\n  city: string\n  interests: set<string>\n  \
    past_places: set<string>\n  reads: map<int>\n  vip: bool\n}\n\
    content {\n  region: string\n  city: string\n  score: float\n}\n";

/// What a conjunct constrains, when a second one on the same could contradict it (two
/// cities, or two age ranges, in one rule): a rule that can never fire is not what an
/// editor writes, and `tailor lint` flags it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Constrains {
    City,
    Age,
    Other,
}

/// The segments' bodies: over the head of the skewed attributes, so that they stay
/// broad; and what each constrains.
fn segment(i: u64) -> (String, Constrains) {
    match i % 5 {
        0 => (format!("profile.age >= {}", 20 + i * 2), Constrains::Age),
        1 => (
            format!("\"{}\" in profile.interests", tag(i / 5)),
            Constrains::Other,
        ),
        2 => (
            format!("profile.city == \"{}\"", city(i / 5)),
            Constrains::City,
        ),
        3 => (
            format!("profile.reads[\"{}\"] >= 1 or profile.vip", tag(i / 5)),
            Constrains::Other,
        ),
        _ => (
            format!(
                "profile.interests intersects [\"{}\", \"{}\"]",
                tag(i / 5 + 4),
                tag(i / 5 + 8)
            ),
            Constrains::Other,
        ),
    }
}

/// A rule's `when`: `n` conjuncts, at most one on the city and one on the age.
fn when(r: &mut Rng, pools: &Pools, n: u64) -> String {
    let mut used = Vec::new();
    let mut out = Vec::new();
    while (out.len() as u64) < n {
        let (text, what) = conjunct(r, pools);
        if what != Constrains::Other && used.contains(&what) {
            continue;
        }
        used.push(what);
        out.push(text);
    }
    out.join(" and ")
}

/// One conjunct of a rule's `when`, and what it constrains.
fn conjunct(r: &mut Rng, pools: &Pools) -> (String, Constrains) {
    match r.below(16) {
        0..=2 => (
            format!("profile.city == \"{}\"", pools.city(r)),
            Constrains::City,
        ),
        3..=5 => (
            format!("\"{}\" in profile.interests", pools.tag(r)),
            Constrains::Other,
        ),
        6 | 7 => {
            let low = 16 + r.below(50);
            let text = match r.below(3) {
                0 => format!("profile.age >= {low}"),
                1 => format!("profile.age < {}", low + 10),
                _ => format!(
                    "profile.age >= {low} and profile.age < {}",
                    low + 10 + r.below(30)
                ),
            };
            (text, Constrains::Age)
        }
        8 | 9 => {
            let i = r.below(20);
            (format!("seg{i:02}"), segment(i).1)
        }
        10 | 11 => (
            format!("profile.reads[\"{}\"] >= {}", pools.tag(r), 1 + r.below(4)),
            Constrains::Other,
        ),
        12 => (
            format!(
                "profile.city in [\"{}\", \"{}\", \"{}\"]",
                pools.city(r),
                pools.city(r),
                pools.city(r)
            ),
            Constrains::City,
        ),
        13 | 14 => (
            format!(
                "profile.interests intersects [\"{}\", \"{}\"]",
                pools.tag(r),
                pools.tag(r)
            ),
            Constrains::Other,
        ),
        _ => (
            format!(
                "(profile.city == \"{}\" or \"{}\" in profile.interests)",
                pools.city(r),
                pools.tag(r)
            ),
            Constrains::Other,
        ),
    }
}

/// The package's source: schema, edition, 20 segments and `shape.rules` rules.
pub fn package(shape: &Shape) -> String {
    let mut r = Rng::new(shape.seed ^ 0xB50A_D000);
    let pools = Pools::new();
    let mut s = String::from(SCHEMA);
    s.push_str("edition morning {\n  timezone \"Asia/Shanghai\"\n  max 8\n  min 1\n  sections {\n");
    for i in 0..SECTIONS {
        let _ = writeln!(s, "    s{i:02} 2");
    }
    s.push_str(
        "  }\n  repeat after 2d\n  fallback {\n    pick 2 from s00 order by block.score desc\n  }\n}\n",
    );
    for i in 0..20u64 {
        let _ = writeln!(s, "segment seg{i:02} = {}", segment(i).0);
    }
    for i in 0..shape.rules {
        let n = 1 + r.below(3);
        let when = when(&mut r, &pools, n);
        let _ = writeln!(s, "rule r{i:06} {{");
        if r.below(10) == 0 {
            s.push_str("  on enter, subscribe\n");
        }
        let _ = writeln!(s, "  priority {}", r.below(21) as i64 - 10);
        let _ = writeln!(s, "  when {when}");
        if r.below(20) == 0 {
            // A drop of one tag, any of the pool's (a tail tag as often as a head one).
            let _ = writeln!(s, "  drop where \"{}\" in block.tags", tag(r.below(TAGS)));
        } else {
            let section = r.below(SECTIONS as u64);
            let filter = match r.below(4) {
                0 => format!("\"{}\" in block.tags", pools.tag(&mut r)),
                1 => "block.region in profile.past_places".to_owned(),
                2 => "block.city == profile.city".to_owned(),
                _ => "block.tags intersects profile.interests".to_owned(),
            };
            let order = match r.below(3) {
                0 => "block.score desc",
                1 => "oldest",
                _ => "newest",
            };
            let _ = writeln!(
                s,
                "  pick {} from s{section:02} where {filter} order by {order}",
                1 + r.below(3)
            );
        }
        s.push_str("}\n");
    }
    s
}

/// The catalog, one JSON object per line.
pub fn catalog(shape: &Shape) -> String {
    let mut r = Rng::new(shape.seed ^ 0xB50A_D0B1);
    let pools = Pools::new();
    let mut out = String::new();
    for i in 0..shape.blocks {
        let published_h = r.below(7 * 24);
        let tags: Vec<String> = (0..r.below(6)).map(|_| pools.tag(&mut r)).collect();
        let mut o = serde_json::json!({
            "id": format!("b{i:07}"),
            "section": format!("s{:02}", r.below(SECTIONS as u64)),
            "title": format!("block {i}"),
            "summary": "…",
            "url": format!("https://example.com/b/{i}"),
            "tags": tags,
            "published": format!("2024-04-{:02}T{:02}:00:00+08:00", 24 + published_h / 24, published_h % 24),
            "city": pools.city(&mut r),
            "region": pools.city(&mut r),
            "score": (r.unit() * 1000.0).round() / 1000.0,
        });
        if r.below(4) == 0 {
            put(
                &mut o,
                "expires",
                serde_json::json!(format!("2024-05-0{}T00:00:00+08:00", 1 + r.below(7))),
            );
        }
        out.push_str(&o.to_string());
        out.push('\n');
    }
    out
}

/// Profiles, one JSON object per line.
pub fn profiles(shape: &Shape) -> String {
    let mut r = Rng::new(shape.seed ^ 0xB50A_D9E0);
    let pools = Pools::new();
    let mut out = String::new();
    for i in 0..shape.profiles {
        let interests: Vec<String> = (0..r.below(11)).map(|_| pools.tag(&mut r)).collect();
        let past: Vec<String> = (0..r.below(4)).map(|_| pools.city(&mut r)).collect();
        let mut reads = serde_json::Map::new();
        for _ in 0..r.below(6) {
            reads.insert(pools.tag(&mut r), serde_json::json!(r.below(10)));
        }
        let o = serde_json::json!({
            "id": format!("u{i:07}"),
            "age": 16 + r.below(75),
            "city": pools.city(&mut r),
            "interests": interests,
            "past_places": past,
            "reads": reads,
            "vip": r.below(10) == 0,
        });
        out.push_str(&o.to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AT, Audience, Loaded};

    /// Fired rules per reader and the most drops one reader fires, on the indexed path
    /// (checked equal to the reference's outcome for every reader).
    fn fired(shape: &Shape) -> (f64, usize) {
        let Loaded {
            package: pkg,
            profiles: ps,
            catalog: cat,
            ..
        } = Audience::Broad.load(shape).unwrap();
        let drops: Vec<bool> = pkg
            .compiled()
            .rules
            .iter()
            .map(|r| r.drops().next().is_some())
            .collect();
        // It loads (`tailor check`: parse, types, data), and `tailor lint` finds no rule
        // that can never fire and no pick that never adds (at these small sizes some
        // segment goes unused and some drop's tag is on no block, which is fine).
        let lint = tailor_engine::lint::lint(&pkg, Some(&cat));
        let wrong = lint.iter().find(|d| {
            !matches!(
                d.code,
                "tailor::unused_segment" | "tailor::drop_affects_nothing"
            )
        });
        assert!(wrong.is_none(), "{wrong:?}");
        let index = tailor_engine::Index::new(&pkg, cat.clone());
        let event = tailor_engine::Event::new(tailor_engine::EventKind::Enter, AT.parse().unwrap());
        let h = tailor_engine::History::default();
        let (mut total, mut most_drops) = (0, 0);
        for p in &ps {
            let a = pkg.evaluate(&event, p, &cat, &h);
            let b = index.evaluate(&event, p, &h);
            assert_eq!(a.to_json(), b.to_json());
            total += b.fired.len();
            let d = pkg
                .matching_rules(&event, p)
                .iter()
                .filter(|&&i| drops.get(i) == Some(&true))
                .count();
            most_drops = most_drops.max(d);
        }
        (total as f64 / ps.len() as f64, most_drops)
    }

    #[test]
    fn broad_fired_grows_with_rules() {
        let small = Shape {
            rules: 300,
            blocks: 400,
            profiles: 150,
            seed: 3,
        };
        let large = Shape {
            rules: 1_200,
            ..small
        };
        let (f_small, d_small) = fired(&small);
        let (f_large, d_large) = fired(&large);
        eprintln!(
            "fired per reader: {f_small:.1} at 300 rules, {f_large:.1} at 1,200; most drops {d_small}, {d_large}"
        );
        // Four times the rules: about four times the fired rules (the audiences do not
        // narrow), about 11% of the rules each time.
        assert!(f_large > 3.0 * f_small, "{f_small} → {f_large}");
        for (f, rules) in [(f_small, 300.0), (f_large, 1_200.0)] {
            assert!((0.06..0.2).contains(&(f / rules)), "{f} of {rules}");
        }
        assert!(d_large > d_small);
    }
}
