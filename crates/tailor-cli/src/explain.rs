//! `tailor explain`: for one user and one event, every rule fired or not and why, and for
//! every pick which blocks it considered and why each was or was not taken.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tailor_engine::explain::{CandidateStatus, Explanation, RuleStatus};
use tailor_engine::{Catalog, Event, EventKind, History, Package, Profile};
use tailor_lang::SourceMap;

use crate::out::{out, outln};
use crate::{Format, Rejected, data_error, load, parse_kind, parse_time, read, unknown_user};

#[derive(clap::Args)]
pub struct Args {
    /// The package directory.
    package: PathBuf,
    /// The user's profile id.
    #[arg(long)]
    user: String,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    event: EventArgs,
    /// Output format: text for people, json for tools (the same object the library's
    /// `Explanation::to_json` gives).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// List every candidate of every pick, also the blocks already in the digest (by
    /// default they are only counted).
    #[arg(long)]
    all: bool,
}

/// Where the data comes from.
#[derive(clap::Args, Clone)]
pub struct DataArgs {
    /// Profiles (JSON lines). Default: PACKAGE/profiles.jsonl.
    #[arg(long)]
    pub profiles: Option<PathBuf>,
    /// The catalog (JSON lines). Default: PACKAGE/catalog.jsonl.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// Delivery history (JSON lines). Default: none.
    #[arg(long)]
    pub history: Option<PathBuf>,
}

/// The event, as for `tailor digest`.
#[derive(clap::Args, Clone)]
pub struct EventArgs {
    /// The event kind.
    #[arg(long, default_value = "enter", value_parser = parse_kind)]
    pub event: EventKind,
    /// The event's time (RFC 3339). Default: now.
    #[arg(long, value_parser = parse_time)]
    pub at: Option<jiff::Timestamp>,
    /// `event.text` (text messages).
    #[arg(long)]
    pub text: Option<String>,
    /// `event.key` (clicks, scans, subscriptions by QR code).
    #[arg(long)]
    pub key: Option<String>,
    /// `event.url` (views).
    #[arg(long)]
    pub url: Option<String>,
    /// `event.lat` (location reports).
    #[arg(long, allow_negative_numbers = true)]
    pub lat: Option<f64>,
    /// `event.lon` (location reports).
    #[arg(long, allow_negative_numbers = true)]
    pub lon: Option<f64>,
}

impl EventArgs {
    pub fn event(&self) -> Event {
        Event {
            kind: self.event,
            at: self.at.unwrap_or_else(jiff::Timestamp::now),
            text: self.text.clone(),
            key: self.key.clone(),
            url: self.url.clone(),
            lat: self.lat,
            lon: self.lon,
            precision: None,
            opened: None,
        }
    }
}

/// A package's data: profiles, catalog, history.
pub struct Data {
    pub profiles: Vec<Profile>,
    pub profiles_path: PathBuf,
    pub catalog: Catalog,
    pub history: History,
}

pub fn load_data(pkg: &Package, package: &Path, a: &DataArgs) -> Result<Data, Rejected> {
    let profiles_path = a
        .profiles
        .clone()
        .unwrap_or_else(|| package.join("profiles.jsonl"));
    let catalog_path = a
        .catalog
        .clone()
        .unwrap_or_else(|| package.join("catalog.jsonl"));
    let mut sources = SourceMap::new();
    let name = |p: &Path| p.display().to_string();
    let profiles = pkg
        .parse_profiles(&mut sources, &name(&profiles_path), &read(&profiles_path)?)
        .map_err(|d| data_error(&sources, &d))?;
    let catalog = pkg
        .parse_catalog(&mut sources, &name(&catalog_path), &read(&catalog_path)?)
        .map_err(|d| data_error(&sources, &d))?;
    let history = match &a.history {
        Some(h) => History::parse(&mut sources, &name(h), &read(h)?)
            .map_err(|d| data_error(&sources, &d))?,
        None => History::default(),
    };
    Ok(Data {
        profiles,
        profiles_path,
        catalog,
        history,
    })
}

pub fn run(a: Args) -> Result<(), Rejected> {
    let pkg = load(&a.package)?;
    let data = load_data(&pkg, &a.package, &a.data)?;
    let Some(profile) = data.profiles.iter().find(|p| p.id() == a.user) else {
        return Err(unknown_user(&a.user, &data.profiles, &data.profiles_path));
    };
    let ex = pkg.explain(&a.event.event(), profile, &data.catalog, &data.history);
    match a.format {
        Format::Json => outln!(
            "{}",
            serde_json::to_string_pretty(&ex.to_json()).unwrap_or_default()
        ),
        Format::Text => out!("{}", render(&pkg, &ex, &data.catalog, a.all)),
    }
    Ok(())
}

/// The explanation for a person.
pub fn render(pkg: &Package, ex: &Explanation, catalog: &Catalog, all: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "explain: {} · {} at {} · edition `{}`",
        ex.user, ex.event, ex.at_local, ex.edition
    );
    for l in &ex.learned {
        let what = match (&l.key, &l.value, &l.by) {
            (Some(k), _, Some(by)) => format!("{} {}[{k:?}] by {by}", l.op, l.field),
            (_, Some(v), _) => format!("{} {} {v}", l.op, l.field),
            _ => format!("{} {}", l.op, l.field),
        };
        let _ = writeln!(out, "learned first: {what}");
    }
    match &ex.edition_cap {
        Some(c) => {
            let _ = writeln!(
                out,
                "edition cap: {} of {} unsolicited digests in the last {} — {}",
                c.count,
                c.limit,
                tailor_engine::value::format_duration(c.per),
                if c.reached() {
                    "reached: the outcome is quiet, no rule is evaluated"
                } else {
                    "not reached"
                }
            );
        }
        None => {
            let _ = writeln!(out, "edition cap: does not apply to `{}`", ex.event);
        }
    }
    let _ = writeln!(out, "\nrules, in evaluation order:");
    for r in &ex.rules {
        let loc = pkg.sources().location(r.span);
        match &r.status {
            RuleStatus::Fired { because } => {
                let _ = writeln!(out, "  ✓ {} (priority {}) fired", r.name, r.priority);
                for f in because {
                    let _ = writeln!(out, "      because {}", f.describe());
                }
            }
            RuleStatus::NotEvaluated => {
                let _ = writeln!(out, "  · {} not evaluated (quiet)", r.name);
            }
            RuleStatus::OtherKinds { on } => {
                let kinds: Vec<&str> = on.iter().map(|k| k.name()).collect();
                let _ = writeln!(
                    out,
                    "  ✗ {} does not answer `{}` (on {})",
                    r.name,
                    ex.event,
                    kinds.join(", ")
                );
            }
            RuleStatus::WhenFalse { facts } => {
                let _ = writeln!(out, "  ✗ {} did not fire ({loc}):", r.name);
                for f in facts {
                    let _ = writeln!(out, "      {}", f.describe());
                }
            }
            RuleStatus::WhenFailed => {
                let _ = writeln!(
                    out,
                    "  ✗ {} did not fire: a script call in its `when` failed",
                    r.name
                );
            }
            RuleStatus::CapReached(c) => {
                let _ = writeln!(
                    out,
                    "  ✗ {} did not fire: its cap is reached ({} of {} per {})",
                    r.name,
                    c.count,
                    c.limit,
                    tailor_engine::value::format_duration(c.per)
                );
            }
        }
    }
    if !ex.picks.is_empty() {
        let _ = writeln!(out, "\npicks, in the order they ran:");
    }
    for p in &ex.picks {
        let _ = writeln!(
            out,
            "  {}: {}\n    section `{}`: {} of {} taken before, {} of {} in the digest; room for {}",
            p.rule, p.text, p.section, p.section_used, p.quota, p.total_before, p.max, p.room
        );
        let mut already = 0;
        for c in &p.candidates {
            if !all && matches!(c.status, CandidateStatus::AlreadyChosen { .. }) {
                already += 1;
                continue;
            }
            let mark = if c.status == CandidateStatus::Chosen {
                "✓"
            } else {
                "·"
            };
            let key = c
                .key
                .as_deref()
                .map(|k| format!(" [key {k}]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {mark} {} {}{key} — {}",
                c.id,
                c.title,
                c.status.describe()
            );
        }
        if already > 0 {
            let _ = writeln!(
                out,
                "    ({already} already in the digest; --all lists them)"
            );
        }
    }
    let f = &ex.fallback;
    let _ = writeln!(
        out,
        "\nfallback: {}",
        if ex.quiet {
            "not run (quiet)".to_owned()
        } else if f.ran {
            format!(
                "ran: the rules chose {}, fewer than min {}",
                f.chosen_by_rules, f.min
            )
        } else if !f.kind_answered {
            format!(
                "not run: no rule answers `{}`, so the fallback does not either",
                ex.event
            )
        } else {
            format!(
                "not run: the rules chose {} (min {})",
                f.chosen_by_rules, f.min
            )
        }
    );
    if ex.quiet {
        let _ = writeln!(out, "outcome: quiet");
    } else if ex.items.is_empty() {
        let _ = writeln!(out, "outcome: empty");
    } else {
        let _ = writeln!(out, "digest:");
        for (n, i) in ex.items.iter().enumerate() {
            let title = catalog.get(&i.id).map_or("", |b| b.title());
            let _ = writeln!(
                out,
                "  {}. [{}] {} {} — {}",
                n + 1,
                i.section,
                i.id,
                title,
                i.reason
            );
        }
    }
    for e in &ex.errors {
        let _ = writeln!(
            out,
            "script error: {}::{} for {}{}: {}",
            e.script,
            e.function,
            e.user,
            e.block
                .as_deref()
                .map(|b| format!(" (block {b})"))
                .unwrap_or_default(),
            e.error
        );
    }
    out
}
