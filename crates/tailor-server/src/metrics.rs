//! Counters and a latency histogram, rendered in the Prometheus text format at `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use dashmap::DashMap;

/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// A counter family keyed by its rendered label set (`a="x",b="y"`).
#[derive(Debug, Default)]
struct Family(DashMap<String, AtomicU64>);

impl Family {
    fn add(&self, labels: String, n: u64) {
        self.0
            .entry(labels)
            .or_default()
            .fetch_add(n, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        let sorted: BTreeMap<String, u64> = self
            .0
            .iter()
            .map(|e| (e.key().clone(), e.value().load(Ordering::Relaxed)))
            .collect();
        for (labels, v) in sorted {
            let _ = writeln!(out, "{name}{{{labels}}} {v}");
        }
    }
}

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

/// Everything `/metrics` shows.
#[derive(Debug, Default)]
pub struct Metrics {
    events: Family,
    fires: Family,
    script_errors: Family,
    reloads: Family,
    rejected: Family,
    replays: Family,
    opens: Family,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

/// The `kind` labels of WeChat messages that no rule answers (counted as `skipped`), as
/// `tailor-wechat` names them; with the event kinds and `other` the whole `kind` set.
pub const SKIPPED_KINDS: [&str; 5] = ["image", "voice", "video", "shortvideo", "link"];

/// The `kind` label of `kind`: itself when it is an event kind or a known WeChat message
/// type, else `other`. Senders choose `MsgType` and `Event`; a label taken from them as
/// sent made a series per made-up name (20,000 names grew `/metrics` to 6.3 MB).
#[must_use]
pub fn kind_label(kind: &str) -> &'static str {
    tailor_engine::EventKind::ALL
        .iter()
        .map(|k| k.name())
        .chain(SKIPPED_KINDS)
        .find(|k| *k == kind)
        .unwrap_or("other")
}

/// The `rule` label of an opened item's rule: the rule's name when `rules` (the serving
/// package's rule names) has it, `fallback` for the fallback, else `other`. Tracked links
/// carry rule names the server signed, but the JSON API's open events name any rule, and
/// a label taken from them as sent would make a series per made-up name.
#[must_use]
pub fn rule_label<'a>(rule: Option<&str>, rules: impl IntoIterator<Item = &'a str>) -> &'a str {
    match rule {
        Some("fallback") => "fallback",
        Some(r) => rules.into_iter().find(|n| *n == r).unwrap_or("other"),
        None => "other",
    }
}

/// Escapes a label value (`\`, `"` and newlines).
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// One event handled: its kind (see [`kind_label`]), its outcome (`digest`, `quiet`, `empty`, `replayed`,
    /// `over_budget`, `error`, `skipped`) and how long it took.
    pub fn event(&self, account: &str, kind: &str, outcome: &str, took: Duration) {
        self.events.add(
            format!(
                "account=\"{}\",kind=\"{}\",outcome=\"{}\"",
                esc(account),
                kind_label(kind),
                esc(outcome)
            ),
            1,
        );
        let secs = took.as_secs_f64();
        if let Ok(mut hist) = self.latency.lock() {
            let h = hist.entry(esc(account)).or_default();
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter_mut()) {
                if secs <= *bound {
                    *count += 1;
                }
            }
            h.count += 1;
            h.sum += secs;
        }
    }

    /// Rules fired by a recorded evaluation.
    pub fn fired<'a>(&self, account: &str, rules: impl IntoIterator<Item = &'a str>) {
        for rule in rules {
            self.fires.add(
                format!("account=\"{}\",rule=\"{}\"", esc(account), esc(rule)),
                1,
            );
        }
    }

    /// A first open of an item of a delivery (language.md §12; a second open of it is
    /// not counted, as in `/v1/{account}/stats`), by the item's rule label (see
    /// [`rule_label`]).
    pub fn opened(&self, account: &str, rule_label: &str) {
        self.opens.add(
            format!("account=\"{}\",rule=\"{}\"", esc(account), esc(rule_label)),
            1,
        );
    }

    /// Script failures of an evaluation.
    pub fn script_errors(&self, account: &str, n: usize) {
        if n > 0 {
            self.script_errors
                .add(format!("account=\"{}\"", esc(account)), n as u64);
        }
    }

    /// A reload attempt: `ok` or `rejected`.
    pub fn reload(&self, account: &str, result: &str) {
        self.reloads.add(
            format!("account=\"{}\",result=\"{}\"", esc(account), result),
            1,
        );
    }

    /// A WeChat request refused before evaluation, by HTTP status.
    pub fn rejected(&self, account: &str, status: u16) {
        self.rejected.add(
            format!("account=\"{}\",status=\"{status}\"", esc(account)),
            1,
        );
    }

    /// A retried WeChat delivery answered with its stored reply.
    pub fn replayed(&self, account: &str) {
        self.replays.add(format!("account=\"{}\"", esc(account)), 1);
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.events.render(
            &mut out,
            "tailor_events_total",
            "Events handled, by kind and outcome.",
        );
        self.fires.render(
            &mut out,
            "tailor_rule_fires_total",
            "Rules fired in recorded evaluations.",
        );
        self.opens.render(
            &mut out,
            "tailor_opens_total",
            "First opens of delivered items (tracked links and open events), by the item's rule.",
        );
        self.script_errors.render(
            &mut out,
            "tailor_script_errors_total",
            "Script failures reported in the outcomes of evaluated events, dry runs included (identical failures within one event counted once).",
        );
        self.reloads.render(
            &mut out,
            "tailor_reloads_total",
            "Package reloads, by result.",
        );
        self.rejected.render(
            &mut out,
            "tailor_wechat_rejected_total",
            "WeChat requests refused (signature, freshness, size, XML), by status.",
        );
        self.replays.render(
            &mut out,
            "tailor_wechat_replays_total",
            "Retried WeChat deliveries answered with the stored first reply.",
        );
        let name = "tailor_event_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time to handle one event, lock wait included.\n# TYPE {name} histogram"
        );
        if let Ok(hist) = self.latency.lock() {
            for (account, h) in hist.iter() {
                for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                    let _ = writeln!(
                        out,
                        "{name}_bucket{{account=\"{account}\",le=\"{bound}\"}} {count}"
                    );
                }
                let _ = writeln!(
                    out,
                    "{name}_bucket{{account=\"{account}\",le=\"+Inf\"}} {}",
                    h.count
                );
                let _ = writeln!(out, "{name}_sum{{account=\"{account}\"}} {}", h.sum);
                let _ = writeln!(out, "{name}_count{{account=\"{account}\"}} {}", h.count);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_are_labelled_by_the_packages_rules_fallback_or_other() {
        let rules = ["front_page", "taiwan_first"];
        assert_eq!(rule_label(Some("taiwan_first"), rules), "taiwan_first");
        assert_eq!(rule_label(Some("fallback"), rules), "fallback");
        assert_eq!(rule_label(Some("made-up"), rules), "other");
        assert_eq!(rule_label(Some("x\"}\n"), rules), "other");
        assert_eq!(rule_label(None, rules), "other");
        let m = Metrics::default();
        m.opened("q", rule_label(Some("front_page"), rules));
        m.opened("q", rule_label(Some("front_page"), rules));
        m.opened("q", rule_label(Some("made-up"), rules));
        let text = m.render();
        assert!(text.contains("# TYPE tailor_opens_total counter"), "{text}");
        assert!(
            text.contains("tailor_opens_total{account=\"q\",rule=\"front_page\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tailor_opens_total{account=\"q\",rule=\"other\"} 1"),
            "{text}"
        );
    }
}
