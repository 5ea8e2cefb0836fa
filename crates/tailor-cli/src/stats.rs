//! `tailor stats`: which rules work — delivered items, distinct opens and open rates per
//! rule, section and day, from history files (delivery records with `items` and open
//! records, docs/language.md §12); `--compare A B` tests whether two rules' open rates
//! differ (a two-proportion z-test at 95%).

use std::path::PathBuf;

use tailor_engine::stats::{Stats, compare};
use tailor_lang::SourceMap;

use crate::out::{out, outln};
use crate::{Rejected, color, load, parse_time, read};

#[derive(clap::Args)]
pub struct Args {
    /// The package directory (its edition's time zone gives the days).
    package: PathBuf,
    /// History files (JSON lines of delivery and open records); repeat for several.
    #[arg(long, required = true)]
    history: Vec<PathBuf>,
    /// Count deliveries at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    from: Option<jiff::Timestamp>,
    /// Count deliveries before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    to: Option<jiff::Timestamp>,
    /// Compare two rules' open rates (`fallback` is a rule here).
    #[arg(long, num_args = 2, value_names = ["RULE_A", "RULE_B"])]
    compare: Option<Vec<String>>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

pub fn run(a: Args) -> Result<(), Rejected> {
    let pkg = load(&a.package)?;
    let mut sources = SourceMap::new();
    let mut history = tailor_engine::History::default();
    for path in &a.history {
        let text = read(path)?;
        let h = tailor_engine::History::parse(&mut sources, &path.display().to_string(), &text)
            .map_err(|d| Rejected(d.render(&sources, color())))?;
        history.extend(h);
    }
    let tz = &pkg.compiled().edition.timezone;
    let stats = Stats::compute(&history, a.from, a.to, tz);
    if let Some(pair) = &a.compare {
        let [ra, rb] = pair.as_slice() else {
            return Err(Rejected(
                "error: `--compare` takes two rule names\n".to_owned(),
            ));
        };
        return compare_rules(&stats, ra, rb, a.format);
    }
    match a.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&stats).unwrap_or_default()
        ),
        Format::Text => out!("{}", table(&stats)),
    }
    Ok(())
}

fn pct(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.1}%", r * 100.0))
}

/// The three tables, aligned.
fn table(s: &Stats) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let w = s
        .rules
        .iter()
        .map(|r| r.rule.chars().count())
        .chain(s.sections.iter().map(|x| x.section.chars().count()))
        .chain([7])
        .max()
        .unwrap_or(7);
    let _ = writeln!(
        out,
        "{:<w$}  {:>10}  {:>7}  {:>7}  {:>9}",
        "rule", "deliveries", "items", "opens", "open rate"
    );
    for r in &s.rules {
        let _ = writeln!(
            out,
            "{:<w$}  {:>10}  {:>7}  {:>7}  {:>9}",
            r.rule,
            r.deliveries,
            r.items,
            r.opens,
            pct(r.open_rate)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<w$}  {:>10}  {:>7}  {:>7}  {:>9}",
        "section", "", "items", "opens", "open rate"
    );
    for x in &s.sections {
        let _ = writeln!(
            out,
            "{:<w$}  {:>10}  {:>7}  {:>7}  {:>9}",
            x.section,
            "",
            x.items,
            x.opens,
            pct(x.open_rate)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<w$}  {:>10}  {:>7}  {:>7}",
        "day", "deliveries", "items", "opens"
    );
    for d in &s.days {
        let _ = writeln!(
            out,
            "{:<w$}  {:>10}  {:>7}  {:>7}",
            d.day, d.deliveries, d.items, d.opens
        );
    }
    out
}

fn compare_rules(s: &Stats, ra: &str, rb: &str, format: Format) -> Result<(), Rejected> {
    let figures =
        |name: &str| {
            s.rule(name).map(|r| (r.opens, r.items)).ok_or_else(|| {
            let known: Vec<&str> = s.rules.iter().map(|r| r.rule.as_str()).collect();
            Rejected(format!(
                "error: no delivered item of rule `{name}` in the history (rules with items: {})\n",
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ))
        })
        };
    let (oa, na) = figures(ra)?;
    let (ob, nb) = figures(rb)?;
    let Some(c) = compare(oa, na, ob, nb) else {
        return Err(Rejected(
            "error: a rule without items cannot be compared\n".to_owned(),
        ));
    };
    match format {
        Format::Json => {
            let j = serde_json::json!({
                "a": {"rule": ra, "items": na, "opens": oa, "open_rate": oa as f64 / na as f64, "interval": c.a_interval},
                "b": {"rule": rb, "items": nb, "opens": ob, "open_rate": ob as f64 / nb as f64, "interval": c.b_interval},
                "difference": c.difference,
                "difference_interval": c.difference_interval,
                "z": c.z,
                "significant": c.significant,
            });
            outln!("{}", serde_json::to_string_pretty(&j).unwrap_or_default());
        }
        Format::Text => {
            let line = |name: &str, o: u64, n: u64, iv: [f64; 2]| {
                format!(
                    "{name}: {o} opens of {n} items, open rate {:.1}% (95% interval {:.1}%–{:.1}%)",
                    o as f64 / n as f64 * 100.0,
                    iv[0] * 100.0,
                    iv[1] * 100.0
                )
            };
            outln!("{}", line(ra, oa, na, c.a_interval));
            outln!("{}", line(rb, ob, nb, c.b_interval));
            outln!(
                "difference {:+.1} points (95% interval {:+.1} to {:+.1}), z = {:.2}: {}",
                c.difference * 100.0,
                c.difference_interval[0] * 100.0,
                c.difference_interval[1] * 100.0,
                c.z,
                if c.significant {
                    "significant at the 5% level"
                } else {
                    "not significant at the 5% level (could be chance)"
                }
            );
        }
    }
    Ok(())
}
