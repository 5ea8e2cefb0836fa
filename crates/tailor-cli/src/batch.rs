//! `tailor batch`: everyone's digest at one moment (the morning edition), and the way to
//! measure the engine from outside. Writes one outcome per profile, in the profile file's
//! order, each line the JSON object `tailor digest --format json` prints (compact).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tailor_engine::{Event, EventKind, Index, Outcome, OutcomeKind, Profile};

use crate::{Engine, Rejected, load};

#[derive(clap::Args)]
pub struct Args {
    /// The package directory.
    package: PathBuf,
    #[command(flatten)]
    data: crate::explain::DataArgs,
    /// The event kind.
    #[arg(long, default_value = "enter", value_parser = crate::parse_kind)]
    event: EventKind,
    /// The moment of the edition (RFC 3339). Default: now.
    #[arg(long, value_parser = crate::parse_time)]
    at: Option<jiff::Timestamp>,
    /// Worker threads. Default: the machine's available parallelism.
    #[arg(long)]
    threads: Option<usize>,
    /// The evaluator: `indexed` (default) or `reference`; both give identical lines.
    #[arg(long, value_enum, default_value_t = Engine::Indexed)]
    engine: Engine,
    /// Where to write the outcomes (JSON lines).
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: Args) -> Result<(), Rejected> {
    let pkg = load(&a.package)?;
    let loading = Instant::now();
    let crate::explain::Data {
        profiles,
        catalog,
        history,
        ..
    } = crate::explain::load_data(&pkg, &a.package, &a.data)?;
    let index = Index::new(&pkg, catalog);
    let load_secs = loading.elapsed().as_secs_f64();
    let event = Event::new(a.event, a.at.unwrap_or_else(jiff::Timestamp::now));
    let threads = a
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .clamp(1, 256);

    let bar = if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(profiles.len() as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} readers {per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    } else {
        indicatif::ProgressBar::hidden()
    };
    let done = AtomicUsize::new(0);
    let evaluate = |p: &Profile| -> Outcome<'_> {
        match a.engine {
            Engine::Indexed => index.evaluate(&event, p, &history),
            Engine::Reference => pkg.evaluate(&event, p, index.catalog(), &history),
        }
    };
    let started = Instant::now();
    // The threads take the profiles in chunks from a shared counter, so that a thread the
    // machine slows down does less of the work instead of leaving the others idle at the
    // end; the chunks are put back in the profile file's order before writing.
    const CHUNK: usize = 256;
    let next = AtomicUsize::new(0);
    let results: Option<Vec<Vec<Chunk>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (evaluate, bar, done, next, profiles) =
                    (&evaluate, &bar, &done, &next, &profiles);
                s.spawn(move || {
                    let mut mine = Vec::new();
                    loop {
                        let start = next.fetch_add(CHUNK, Ordering::Relaxed);
                        let Some(part) = profiles.get(start..(start + CHUNK).min(profiles.len()))
                        else {
                            break;
                        };
                        if part.is_empty() {
                            break;
                        }
                        let lines = part
                            .iter()
                            .map(|p| {
                                let o = evaluate(p);
                                let n = done.fetch_add(1, Ordering::Relaxed);
                                if n % 256 == 0 {
                                    bar.set_position(n as u64);
                                }
                                (o.to_json().to_string(), Summary1::of(&o))
                            })
                            .collect::<Vec<_>>();
                        mine.push((start, lines));
                    }
                    mine
                })
            })
            .collect();
        // Join every worker (one left unjoined and panicked would make `scope` panic).
        let joined: Vec<Option<Vec<Chunk>>> = handles.into_iter().map(|h| h.join().ok()).collect();
        joined.into_iter().collect()
    });
    // A worker that panicked would leave its readers out of the file: refuse instead.
    let mut results: Vec<Chunk> = results
        .ok_or_else(|| Rejected("error: a worker thread failed; nothing was written".into()))?
        .into_iter()
        .flatten()
        .collect();
    results.sort_unstable_by_key(|(start, _)| *start);
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let file = std::fs::File::create(&a.out)
        .map_err(|e| Rejected(format!("error: cannot write `{}`: {e}", a.out.display())))?;
    let mut w = std::io::BufWriter::new(file);
    let mut summary = Summary::default();
    for (line, s) in results.into_iter().flat_map(|(_, lines)| lines) {
        writeln!(w, "{line}")
            .map_err(|e| Rejected(format!("error: cannot write `{}`: {e}", a.out.display())))?;
        summary.add(s);
    }
    w.flush()
        .map_err(|e| Rejected(format!("error: cannot write `{}`: {e}", a.out.display())))?;
    eprint!(
        "{}",
        summary.render(
            profiles.len(),
            elapsed,
            load_secs,
            threads,
            a.engine,
            &index
        )
    );
    Ok(())
}

/// A chunk of readers done by one thread: where it starts in the profile file, and each
/// reader's line and summary.
type Chunk<'a> = (usize, Vec<(String, Summary1<'a>)>);

/// What the summary needs of one outcome.
#[derive(Default)]
struct Summary1<'a> {
    kind: Option<OutcomeKind>,
    items: usize,
    fired: Vec<&'a str>,
    user: String,
}

impl<'a> Summary1<'a> {
    fn of(o: &Outcome<'a>) -> Summary1<'a> {
        Summary1 {
            kind: Some(o.kind),
            items: o.items.len(),
            fired: o.fired.clone(),
            user: o.user.clone(),
        }
    }
}

#[derive(Default)]
struct Summary<'a> {
    digests: usize,
    quiet: usize,
    empty: Vec<String>,
    items: usize,
    fired: std::collections::HashMap<&'a str, usize>,
}

impl<'a> Summary<'a> {
    fn add(&mut self, s: Summary1<'a>) {
        match s.kind {
            Some(OutcomeKind::Digest) => {
                self.digests += 1;
                self.items += s.items;
            }
            Some(OutcomeKind::Quiet) => self.quiet += 1,
            _ => self.empty.push(s.user),
        }
        for f in s.fired {
            *self.fired.entry(f).or_default() += 1;
        }
    }

    fn render(
        &self,
        n: usize,
        secs: f64,
        load_secs: f64,
        threads: usize,
        engine: Engine,
        index: &Index,
    ) -> String {
        let mut top: Vec<(&&str, &usize)> = self.fired.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let top: Vec<String> = top
            .iter()
            .take(5)
            .map(|(r, c)| format!("{r} ({c})"))
            .collect();
        let per_digest = if self.digests == 0 {
            0.0
        } else {
            self.items as f64 / self.digests as f64
        };
        let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let mut empty: Vec<&str> = self.empty.iter().map(String::as_str).take(5).collect();
        if self.empty.len() > 5 {
            empty.push("…");
        }
        let stats = index.stats();
        format!(
            "outcomes: {n} ({} digest, {} quiet, {} empty)\n\
             items per digest: {per_digest:.2}\n\
             rules that fired most: {}\n\
             readers left empty: {}{}\n\
             engine: {} ({} rules indexed, {} checked for every event; {} blocks), {threads} thread{}\n\
             loaded and indexed in {load_secs:.2} s; evaluated in {secs:.3} s: {rate:.0} digests per second\n",
            self.digests,
            self.quiet,
            self.empty.len(),
            if top.is_empty() {
                "none".to_owned()
            } else {
                top.join(", ")
            },
            self.empty.len(),
            if empty.is_empty() {
                String::new()
            } else {
                format!(" ({})", empty.join(", "))
            },
            match engine {
                Engine::Indexed => "indexed",
                Engine::Reference => "reference",
            },
            stats.rules_indexed,
            stats.rules_always_checked,
            stats.blocks,
            if threads == 1 { "" } else { "s" },
        )
    }
}
