//! `tailor`: check, evaluate and format rules packages from the command line.
//!
//! Exit codes: 0 when the command did its job (an outcome was produced: digest, quiet or
//! empty); 1 when the rules or the data were rejected; 2 for usage errors; 141, with
//! nothing printed, when standard output was closed before everything was written (`|
//! head`), as for a Unix tool that a broken pipe ends.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use tailor_engine::{Event, EventKind, Package, Profile};
use tailor_lang::{Diagnostic, Diagnostics, SourceMap};

mod batch;
mod explain;
mod lint;
mod out;
mod preview;
mod stats;
mod test;
mod text;

use out::{out, outln};

/// mimalloc, not the system allocator: an event makes some 17 small allocations, and
/// mimalloc was faster per event in every alternating pair measured; with glibc's
/// allocator two threads on one index gave about 1.55× one thread, with mimalloc about
/// 1.7× (BENCHMARKS.md, "The allocator" and "Threads").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tailor",
    version,
    about = "Tailor: a personalization rules engine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a package and its data: exit 0 with a summary, or 1 with every diagnostic.
    ///
    /// The profiles and the catalog are loaded too: every record error with file:line,
    /// and warnings about undeclared fields and blocks in sections the edition does not
    /// have.
    Check(CheckArgs),
    /// Evaluate one event for one user and print the outcome.
    Digest(DigestArgs),
    /// Everyone's digest at one moment, one outcome per line (JSON lines).
    Batch(batch::Args),
    /// Rewrite a package's files in canonical form (comments kept).
    Fmt {
        /// The package directory: every `.rules` file below it is formatted.
        package: PathBuf,
        /// Only check: list the files that are not in canonical form and exit 1 if any.
        #[arg(long)]
        check: bool,
    },
    /// Run the package's tests (`PACKAGE/tests/**/*.json`); exit 1 when one fails.
    Test(test::Args),
    /// Explain one event for one user: every rule fired or not and why, every pick's
    /// candidates and why each was or was not taken.
    Explain(explain::Args),
    /// Warn about rules that can never fire, picks that never add, unused names.
    Lint(lint::Args),
    /// Which rules work: delivered items, opens and open rates per rule, section and day,
    /// from history files; `--compare A B` tests two rules' open rates.
    Stats(stats::Args),
    /// Write static HTML previews of readers' digests as WeChat shows them.
    Preview(preview::Args),
    /// Serve events over HTTP (WeChat callback and JSON API) with durable state. Without
    /// `--config`: `rules/qianjiang` on 127.0.0.1:8080, the store under `./data`.
    Serve {
        /// The TOML configuration (see docs/api.md).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

#[derive(clap::Args)]
struct CheckArgs {
    /// The package directory.
    package: PathBuf,
    #[command(flatten)]
    data: CheckedData,
}

/// The data files `check` and `lint` look at.
#[derive(clap::Args)]
pub(crate) struct CheckedData {
    /// Profiles (JSON lines) to check against the schema. Default: PACKAGE/profiles.jsonl
    /// when it exists.
    #[arg(long)]
    pub(crate) profiles: Option<PathBuf>,
    /// The catalog (JSON lines) to check. Default: PACKAGE/catalog.jsonl when it exists.
    #[arg(long)]
    pub(crate) catalog: Option<PathBuf>,
}

#[derive(clap::Args)]
struct DigestArgs {
    /// The package directory.
    package: PathBuf,
    /// The user's profile id.
    #[arg(long)]
    user: String,
    #[command(flatten)]
    data: crate::explain::DataArgs,
    /// The event kind.
    #[arg(long, default_value = "enter", value_parser = parse_kind)]
    event: EventKind,
    /// The event's time (RFC 3339). Default: now.
    #[arg(long, value_parser = parse_time)]
    at: Option<jiff::Timestamp>,
    /// `event.text` (text messages).
    #[arg(long)]
    text: Option<String>,
    /// `event.key` (clicks, scans, subscriptions by QR code).
    #[arg(long)]
    key: Option<String>,
    /// `event.url` (views).
    #[arg(long)]
    url: Option<String>,
    /// `event.lat` (location reports).
    #[arg(long, allow_negative_numbers = true)]
    lat: Option<f64>,
    /// `event.lon` (location reports).
    #[arg(long, allow_negative_numbers = true)]
    lon: Option<f64>,
    /// The opened block's id (`--event open`, required there).
    #[arg(long)]
    block: Option<String>,
    /// `event.rule` (`open`): the opened item's reason. Default: from the latest delivery
    /// of the block in `--history`.
    #[arg(long)]
    rule: Option<String>,
    /// `event.section` (`open`). Default: as `--rule`.
    #[arg(long)]
    section: Option<String>,
    /// `event.delivered` (`open`, RFC 3339): when the digest was sent. Default: as
    /// `--rule`.
    #[arg(long, value_parser = parse_time)]
    delivered: Option<jiff::Timestamp>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// The evaluator: `reference` (default for one event) or `indexed`; both give the
    /// same outcome.
    #[arg(long, value_enum, default_value_t = Engine::Reference)]
    engine: Engine,
}

/// Which evaluator computes outcomes.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Engine {
    Indexed,
    Reference,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Text,
    Json,
}

pub(crate) fn parse_kind(s: &str) -> Result<EventKind, String> {
    EventKind::parse(s).ok_or_else(|| {
        let names: Vec<&str> = EventKind::ALL.iter().map(|k| k.name()).collect();
        format!(
            "unknown event kind `{s}`; expected one of {}",
            names.join(", ")
        )
    })
}

pub(crate) fn parse_time(s: &str) -> Result<jiff::Timestamp, String> {
    s.parse::<jiff::Timestamp>().map_err(|e| {
        format!("`{s}` is not an RFC 3339 time such as 2013-02-21T19:30:00+08:00: {e}")
    })
}

/// Colour only on a terminal, and never when `NO_COLOR` is set.
fn color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// A failure already explained to the user; the exit code is 1.
pub(crate) struct Rejected(pub(crate) String);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(args) => check(&args),
        Command::Digest(args) => digest(args),
        Command::Batch(args) => batch::run(args),
        Command::Fmt { package, check } => fmt(&package, check),
        Command::Test(args) => test::run(args),
        Command::Explain(args) => explain::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Stats(args) => stats::run(args),
        Command::Preview(args) => preview::run(args),
        Command::Serve { config } => tailor_server::serve_main(config.as_deref())
            .map_err(|e| Rejected(format!("error: {e}\n"))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Rejected(msg)) => {
            eprint!("{msg}");
            if !msg.ends_with('\n') {
                eprintln!();
            }
            ExitCode::from(1)
        }
    }
}

pub(crate) fn load(package: &Path) -> Result<Package, Rejected> {
    let pkg = Package::load(package).map_err(|e| {
        let n = e.diagnostics.error_count();
        Rejected(format!(
            "{}error: `{}` was rejected: {n} error{}\n",
            e.render(color()),
            package.display(),
            if n == 1 { "" } else { "s" }
        ))
    })?;
    if !pkg.warnings().is_empty() {
        eprint!("{}", pkg.warnings().render(pkg.sources(), color()));
    }
    Ok(pkg)
}

/// The data `check` and `lint` read: the files given, or the package's own when they
/// exist. Every record error of both files is reported (exit 1); warnings (undeclared
/// fields, sections the edition does not have) go to stderr.
pub(crate) fn check_data(
    pkg: &Package,
    package: &Path,
    a: &CheckedData,
) -> Result<DataCheck, Rejected> {
    let default = |name: &str| Some(package.join(name)).filter(|p| p.is_file());
    let profiles = a.profiles.clone().or_else(|| default("profiles.jsonl"));
    let catalog = a.catalog.clone().or_else(|| default("catalog.jsonl"));
    let mut sources = SourceMap::new();
    let mut errors = Diagnostics::new();
    let mut warnings = Diagnostics::new();
    let mut summary = Vec::new();
    if let Some(p) = &profiles {
        let (name, text) = (p.display().to_string(), read(p)?);
        match pkg.parse_profiles(&mut sources, &name, &text) {
            Ok(v) => {
                warnings.extend(pkg.profile_warnings(&mut sources, &name, &text));
                summary.push(format!("{} profiles ({name})", v.len()));
            }
            Err(d) => errors.extend(d),
        }
    }
    let mut loaded = None;
    if let Some(p) = &catalog {
        let (name, text) = (p.display().to_string(), read(p)?);
        match pkg.parse_catalog(&mut sources, &name, &text) {
            Ok(c) => {
                warnings.extend(pkg.catalog_warnings(&mut sources, &name, &text));
                summary.push(format!("{} blocks ({name})", c.len()));
                loaded = Some(c);
            }
            Err(d) => errors.extend(d),
        }
    }
    if !warnings.is_empty() {
        eprint!("{}", warnings.render(&sources, color()));
    }
    if errors.has_errors() {
        return Err(data_error(&sources, &errors));
    }
    let line = (!summary.is_empty()).then(|| {
        let n = warnings.len();
        let w = match n {
            0 => String::new(),
            1 => " — 1 warning".to_owned(),
            _ => format!(" — {n} warnings"),
        };
        format!("data: {}{w}", summary.join(", "))
    });
    Ok(DataCheck {
        summary: line,
        catalog: loaded,
        warnings: warnings.len(),
    })
}

/// What [`check_data`] found in data that loads.
pub(crate) struct DataCheck {
    /// `data: 7 profiles (…), 58 blocks (…)`, when there was any data.
    pub(crate) summary: Option<String>,
    pub(crate) catalog: Option<tailor_engine::Catalog>,
    /// Warnings printed.
    pub(crate) warnings: usize,
}

fn check(a: &CheckArgs) -> Result<(), Rejected> {
    let package = a.package.as_path();
    let pkg = load(package)?;
    let data = check_data(&pkg, package, &a.data)?.summary;
    let s = pkg.summary();
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    outln!(
        "ok: {} — {}, {}, {}, {}, {} ({})",
        package.display(),
        plural(s.rules, "rule"),
        plural(s.segments, "segment"),
        plural(s.scripts, "script"),
        plural(s.sections, "section"),
        plural(s.learns, "learn item"),
        plural(s.files, "file"),
    );
    if let Some(line) = data {
        outln!("{line}");
    }
    Ok(())
}

pub(crate) fn read(path: &Path) -> Result<String, Rejected> {
    std::fs::read_to_string(path)
        .map_err(|e| Rejected(format!("error: cannot read `{}`: {e}", path.display())))
}

pub(crate) fn data_error(sources: &SourceMap, d: &Diagnostics) -> Rejected {
    let n = d.error_count();
    Rejected(format!(
        "{}error: the data was rejected: {n} error{}\n",
        d.render(sources, color()),
        if n == 1 { "" } else { "s" }
    ))
}

fn digest(a: DigestArgs) -> Result<(), Rejected> {
    let pkg = load(&a.package)?;
    let crate::explain::Data {
        profiles,
        profiles_path,
        catalog,
        history,
    } = crate::explain::load_data(&pkg, &a.package, &a.data)?;
    let Some(profile) = profiles.iter().find(|p| p.id() == a.user) else {
        return Err(unknown_user(&a.user, &profiles, &profiles_path));
    };
    let at = a.at.unwrap_or_else(jiff::Timestamp::now);
    let opened = open_item(&a, at, &history)?;
    let event = match &opened {
        Some(item) => Event::open(at, item.clone(), catalog.shared(&item.block).cloned()),
        None => Event {
            kind: a.event,
            at,
            text: a.text,
            key: a.key,
            url: a.url,
            lat: a.lat,
            lon: a.lon,
            precision: None,
            opened: None,
        },
    };
    // `learn on open` runs on the first open of an item of a delivery only (language.md §12).
    let learning = match &opened {
        Some(item) if history.opened_before(&a.user, item) => {
            eprintln!(
                "note: `{}` already opened `{}` of this delivery in the history: nothing is learned again",
                a.user, item.block
            );
            tailor_engine::Learning {
                profile: profile.clone(),
                learned: Vec::new(),
                errors: Vec::new(),
            }
        }
        _ => pkg.learn(&event, profile),
    };
    // The outcome borrows the evaluator and catalog: the index lives as long.
    let index;
    let outcome = match a.engine {
        Engine::Reference => pkg.assemble(&event, &learning, &catalog, &history),
        Engine::Indexed => {
            index = tailor_engine::Index::new(&pkg, catalog);
            index.assemble(&event, &learning, &history)
        }
    };
    match a.format {
        Format::Json => {
            let json = serde_json::to_string_pretty(&outcome).unwrap_or_default();
            outln!("{json}");
        }
        Format::Text => out!(
            "{}",
            text::render(
                &pkg,
                &outcome,
                std::io::stdout().is_terminal() && color_allowed()
            )
        ),
    }
    Ok(())
}

/// The opened item of `--event open`: `--block` required; `--rule`, `--section` and
/// `--delivered` default to the latest delivery of that block to the user, at or before
/// the open, in `--history`. `None` for other kinds, which take no `--block`.
fn open_item(
    a: &DigestArgs,
    at: jiff::Timestamp,
    history: &tailor_engine::History,
) -> Result<Option<tailor_engine::OpenedItem>, Rejected> {
    if a.event != EventKind::Open {
        if a.block.is_some() || a.rule.is_some() || a.section.is_some() || a.delivered.is_some() {
            return Err(Rejected(format!(
                "error: `--block`, `--rule`, `--section` and `--delivered` describe an opened item: they need `--event open`, not `--event {}`\n",
                a.event
            )));
        }
        return Ok(None);
    }
    let Some(block) = a.block.clone() else {
        return Err(Rejected(
            "error: `--event open` needs `--block ID`, the opened block\n".to_owned(),
        ));
    };
    let carried = history
        .for_user(&a.user)
        .iter()
        .filter(|d| d.at <= at && d.blocks.contains(&block))
        .filter(|d| a.delivered.is_none_or(|t| d.at == t))
        .max_by_key(|d| d.at);
    let item = carried.and_then(|d| d.item(&block));
    Ok(Some(tailor_engine::OpenedItem {
        rule: a.rule.clone().or_else(|| item.map(|i| i.rule.clone())),
        section: a
            .section
            .clone()
            .or_else(|| item.map(|i| i.section.clone())),
        delivered: a.delivered.or_else(|| carried.map(|d| d.at)),
        block,
    }))
}

fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn unknown_user(user: &str, profiles: &[Profile], path: &Path) -> Rejected {
    let ids: Vec<&str> = profiles.iter().map(Profile::id).collect();
    let mut d = Diagnostic::error(
        "tailor::unknown_user",
        format!("no profile with id `{user}` in `{}`", path.display()),
    );
    d = match tailor_lang::suggest(user, ids.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("the file has {} profiles", ids.len())),
    };
    Rejected(Diagnostics::from(d).render(&SourceMap::new(), color()))
}

fn fmt(package: &Path, check_only: bool) -> Result<(), Rejected> {
    let paths = tailor_engine::package::rules_files(package).map_err(|e| {
        Rejected(format!(
            "error: cannot read package `{}`: {e}",
            package.display()
        ))
    })?;
    let mut sources = SourceMap::new();
    let mut diags = Diagnostics::new();
    let mut changed = Vec::new();
    let mut outputs = Vec::new();
    for p in &paths {
        let text = read(p)?;
        let id = sources.add(p.display().to_string(), text.as_str());
        let (file, d) = tailor_lang::parse_file(id, &text);
        if d.has_errors() {
            diags.extend(d);
            continue;
        }
        let formatted = tailor_lang::format_file(&file, &text);
        if formatted != text {
            changed.push(p.clone());
            outputs.push((p.clone(), formatted));
        }
    }
    if diags.has_errors() {
        return Err(Rejected(format!(
            "{}error: cannot format files with syntax errors\n",
            diags.render(&sources, color())
        )));
    }
    if check_only {
        if changed.is_empty() {
            outln!("ok: {} files in canonical form", paths.len());
            return Ok(());
        }
        let list: Vec<String> = changed
            .iter()
            .map(|p| format!("  {}", p.display()))
            .collect();
        return Err(Rejected(format!(
            "not in canonical form (run `tailor fmt {}`):\n{}\n",
            package.display(),
            list.join("\n")
        )));
    }
    for (p, text) in outputs {
        std::fs::write(&p, text)
            .map_err(|e| Rejected(format!("error: cannot write `{}`: {e}", p.display())))?;
        outln!("formatted {}", p.display());
    }
    Ok(())
}
