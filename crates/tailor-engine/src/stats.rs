//! Which rules work (issue 21): delivered items and their opens, per rule, section and
//! day, computed from history records alone (delivery records with `items`, and open
//! records, language.md §12), and the two-proportion z-test of `tailor stats --compare`.
//!
//! Definitions: a delivery counts when its time is in `[from, to)`; `items` counts its
//! items placed by a rule (or `fallback`); an item is *opened* when some open record of
//! the same user names the same block and the same delivery time (a second open of it
//! is not counted again); the open is credited to the rule, section and day of the
//! delivered item (the delivery record is the authority, not the open record).
//! `open_rate = opens / items`. Deliveries written before v1.1 (without `items`) count
//! as deliveries of no rule, and opens of items not found in the history are not counted.

use std::collections::{BTreeMap, HashSet};

use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::data::History;

/// One rule's (or `fallback`'s) figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RuleStats {
    pub rule: String,
    /// Deliveries with at least one item of this rule.
    pub deliveries: u64,
    pub items: u64,
    pub opens: u64,
    /// `opens / items`; `None` (JSON `null`) without items.
    pub open_rate: Option<f64>,
}

/// One section's figures.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SectionStats {
    pub section: String,
    pub items: u64,
    pub opens: u64,
    pub open_rate: Option<f64>,
}

/// One day's figures (the delivery's day in the edition's time zone).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DayStats {
    pub day: String,
    pub deliveries: u64,
    pub items: u64,
    pub opens: u64,
}

/// `{"rules": […], "sections": […], "days": […]}`, each list sorted by its key.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize)]
pub struct Stats {
    pub rules: Vec<RuleStats>,
    pub sections: Vec<SectionStats>,
    pub days: Vec<DayStats>,
}

fn rate(opens: u64, items: u64) -> Option<f64> {
    (items > 0).then(|| opens as f64 / items as f64)
}

impl Stats {
    /// The figures of the deliveries in `[from, to)` (either bound optional), days in `tz`.
    pub fn compute(
        history: &History,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        tz: &TimeZone,
    ) -> Stats {
        // Opened items: (user, block, delivery time), once each.
        let opened: HashSet<(&str, &str, Timestamp)> = history
            .opens()
            .filter_map(|o| Some((o.user.as_str(), o.block.as_str(), o.delivered?)))
            .collect();
        let mut rules: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
        let mut sections: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut days: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for d in history.deliveries() {
            if from.is_some_and(|f| d.at < f) || to.is_some_and(|t| d.at >= t) {
                continue;
            }
            let day = d.at.to_zoned(tz.clone()).date().to_string();
            let day = days.entry(day).or_default();
            day.0 += 1;
            let mut ruled: HashSet<&str> = HashSet::new();
            for i in &d.items {
                let open = u64::from(opened.contains(&(d.user.as_str(), i.id.as_str(), d.at)));
                let r = rules.entry(i.rule.as_str()).or_default();
                if ruled.insert(i.rule.as_str()) {
                    r.0 += 1;
                }
                r.1 += 1;
                r.2 += open;
                let s = sections.entry(i.section.as_str()).or_default();
                s.0 += 1;
                s.1 += open;
                day.1 += 1;
                day.2 += open;
            }
        }
        Stats {
            rules: rules
                .into_iter()
                .map(|(rule, (deliveries, items, opens))| RuleStats {
                    rule: rule.to_owned(),
                    deliveries,
                    items,
                    opens,
                    open_rate: rate(opens, items),
                })
                .collect(),
            sections: sections
                .into_iter()
                .map(|(section, (items, opens))| SectionStats {
                    section: section.to_owned(),
                    items,
                    opens,
                    open_rate: rate(opens, items),
                })
                .collect(),
            days: days
                .into_iter()
                .map(|(day, (deliveries, items, opens))| DayStats {
                    day,
                    deliveries,
                    items,
                    opens,
                })
                .collect(),
        }
    }

    pub fn rule(&self, name: &str) -> Option<&RuleStats> {
        self.rules.iter().find(|r| r.rule == name)
    }
}

/// The two-sided 95% critical value of the standard normal distribution.
pub const Z_95: f64 = 1.959_963_984_540_054;

/// Two open rates compared (`tailor stats --compare A B`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Comparison {
    /// Each rate's 95% Wilson score interval, `[low, high]`.
    pub a_interval: [f64; 2],
    pub b_interval: [f64; 2],
    /// `rate_a − rate_b` and its 95% (Wald) interval.
    pub difference: f64,
    pub difference_interval: [f64; 2],
    /// The two-proportion z statistic (pooled standard error).
    pub z: f64,
    /// `|z| > 1.96`: the difference is significant at the 5% level.
    pub significant: bool,
}

/// The 95% Wilson score interval of `k` successes in `n` trials.
fn wilson(k: u64, n: u64) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z_95 * Z_95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / (1.0 + z2 / n);
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

/// Compare the open rates `opens_a / items_a` and `opens_b / items_b`; `None` when a
/// side has no items.
pub fn compare(opens_a: u64, items_a: u64, opens_b: u64, items_b: u64) -> Option<Comparison> {
    if items_a == 0 || items_b == 0 {
        return None;
    }
    let (na, nb) = (items_a as f64, items_b as f64);
    let (pa, pb) = (opens_a as f64 / na, opens_b as f64 / nb);
    let pooled = (opens_a + opens_b) as f64 / (na + nb);
    let se_pooled = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    let difference = pa - pb;
    // Equal rates of 0 or 1 on both sides: no variance, no evidence of a difference.
    let z = if se_pooled > 0.0 {
        difference / se_pooled
    } else {
        0.0
    };
    let se = (pa * (1.0 - pa) / na + pb * (1.0 - pb) / nb).sqrt();
    Some(Comparison {
        a_interval: wilson(opens_a, items_a),
        b_interval: wilson(opens_b, items_b),
        difference,
        difference_interval: [difference - Z_95 * se, difference + Z_95 * se],
        z,
        significant: z.abs() > Z_95,
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail loudly"
)]
mod tests {
    use super::*;
    use tailor_lang::SourceMap;

    const HISTORY: &str = r#"{"user": "a", "at": "2013-02-20T12:00:00Z", "event": "enter", "blocks": ["c1", "h1"], "fired": ["r1"], "items": [{"id": "h1", "section": "headline", "rule": "fallback", "url": ""}, {"id": "c1", "section": "current", "rule": "r1", "url": ""}]}
{"user": "b", "at": "2013-02-20T23:30:00Z", "event": "enter", "blocks": ["c1", "c2"], "fired": ["r1"], "items": [{"id": "c1", "section": "current", "rule": "r1", "url": ""}, {"id": "c2", "section": "current", "rule": "r1", "url": ""}]}
{"user": "a", "at": "2013-02-19T12:00:00Z", "event": "enter", "blocks": ["old"], "fired": []}
{"user": "a", "at": "2013-02-20T12:05:00Z", "event": "open", "block": "c1", "rule": "r1", "section": "current", "delivered": "2013-02-20T12:00:00Z"}
{"user": "a", "at": "2013-02-20T12:09:00Z", "event": "open", "block": "c1", "rule": "r1", "section": "current", "delivered": "2013-02-20T12:00:00Z"}
{"user": "b", "at": "2013-02-21T08:00:00Z", "event": "open", "block": "c2", "rule": "wrong", "section": "current", "delivered": "2013-02-20T23:30:00Z"}
{"user": "b", "at": "2013-02-21T08:00:00Z", "event": "open", "block": "zz", "rule": "r1", "section": "current", "delivered": "2013-02-20T23:30:00Z"}
"#;

    fn history() -> History {
        History::parse(&mut SourceMap::new(), "h.jsonl", HISTORY).unwrap()
    }

    #[test]
    fn items_and_distinct_opens_per_rule_section_and_day() {
        let tz = TimeZone::get("Asia/Shanghai").unwrap();
        let s = Stats::compute(&history(), None, None, &tz);
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                // A second open of c1 by a is not counted again; b's open of c2 is
                // credited to r1 (the delivery's rule), b's open of zz to nothing.
                "rules": [
                    {"rule": "fallback", "deliveries": 1, "items": 1, "opens": 0, "open_rate": 0.0},
                    {"rule": "r1", "deliveries": 2, "items": 3, "opens": 2, "open_rate": 2.0 / 3.0}
                ],
                "sections": [
                    {"section": "current", "items": 3, "opens": 2, "open_rate": 2.0 / 3.0},
                    {"section": "headline", "items": 1, "opens": 0, "open_rate": 0.0}
                ],
                // 23:30Z on the 20th is the 21st in Shanghai; the record without items
                // is a delivery of no item.
                "days": [
                    {"day": "2013-02-19", "deliveries": 1, "items": 0, "opens": 0},
                    {"day": "2013-02-20", "deliveries": 1, "items": 2, "opens": 1},
                    {"day": "2013-02-21", "deliveries": 1, "items": 2, "opens": 1}
                ]
            })
        );
    }

    #[test]
    fn the_window_is_half_open_on_the_delivery_time() {
        let from: Timestamp = "2013-02-20T12:00:00Z".parse().unwrap();
        let to: Timestamp = "2013-02-20T23:30:00Z".parse().unwrap();
        let s = Stats::compute(&history(), Some(from), Some(to), &TimeZone::UTC);
        assert_eq!(
            s.rule("r1").map(|r| (r.deliveries, r.items, r.opens)),
            Some((1, 1, 1))
        );
        assert_eq!(s.days.len(), 1);
    }

    #[test]
    fn the_z_test_matches_a_worked_example() {
        // 120/1000 against 90/1000: pooled p = 0.105, se = sqrt(0.105·0.895·0.002)
        // = 0.013709, z = 0.03 / 0.013709 = 2.188 > 1.96.
        let c = compare(120, 1000, 90, 1000).unwrap();
        assert!((c.z - 2.188).abs() < 0.001, "{}", c.z);
        assert!(c.significant);
        assert!((c.difference - 0.03).abs() < 1e-12);
        assert!(c.difference_interval[0] > 0.0);
        // Wilson interval of 120/1000: [0.1011, 0.1417].
        assert!(
            (c.a_interval[0] - 0.1011).abs() < 0.0005,
            "{:?}",
            c.a_interval
        );
        assert!(
            (c.a_interval[1] - 0.1417).abs() < 0.0005,
            "{:?}",
            c.a_interval
        );
        // 12/100 against 9/100: the same rates, not significant.
        let small = compare(12, 100, 9, 100).unwrap();
        assert!(!small.significant, "{}", small.z);
        assert_eq!(compare(1, 0, 1, 10), None);
        assert_eq!(
            compare(0, 10, 0, 10).map(|c| (c.z, c.significant)),
            Some((0.0, false))
        );
    }
}
