//! `tailor batch`: everyone's digest at one moment (the morning edition), and the way to
//! measure the engine from outside. Writes one outcome per profile, in the profile file's
//! order, each line the JSON object `tailor digest --format json` prints (compact).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tailor_engine::{Event, EventKind, Index, Outcome, OutcomeKind, Profile};

use crate::out::Destination;
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
    /// Worker threads. Default: the machine's available parallelism. Every worker after
    /// the first evaluates with its own copy of the index (about 600 bytes per rule and
    /// 290 per block; the package and the blocks are shared).
    #[arg(long)]
    threads: Option<usize>,
    /// The evaluator: `indexed` (default) or `reference`; both give identical lines.
    #[arg(long, value_enum, default_value_t = Engine::Indexed)]
    engine: Engine,
    /// Where to write the outcomes (JSON lines); `-` for standard output. A regular file
    /// (or a new one) is written to a hidden file beside it and renamed onto it when
    /// complete, so a failed run leaves it as it was; anything else (a device such as
    /// `/dev/null`, a named pipe) is written in place and never replaced.
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
    // One reader: the line, what the summary needs, and the fired rules counted into the
    // worker's own tally (owned names: a worker's copy of the index ends with it).
    let evaluate = |index: &Index, p: &Profile, fired: &mut Fired| -> (String, Summary1) {
        let o = match a.engine {
            Engine::Indexed => index.evaluate(&event, p, &history),
            Engine::Reference => pkg.evaluate(&event, p, index.catalog(), &history),
        };
        for f in &o.fired {
            match fired.get_mut(*f) {
                Some(n) => *n += 1,
                None => {
                    fired.insert((*f).to_owned(), 1);
                }
            }
        }
        (o.to_json_string(), Summary1::of(&o))
    };
    // A regular file is written beside its final place and renamed there when complete,
    // so a failed run leaves whatever was at `--out` before untouched; a device or a pipe
    // is written in place (renaming over it would replace it with a regular file).
    let destination = Destination::of(&a.out);
    let cannot_write = |e: std::io::Error| {
        if destination == Destination::Stdout && e.kind() == std::io::ErrorKind::BrokenPipe {
            crate::out::stdout_failed(&e);
        }
        Rejected(format!("error: cannot write `{}`: {e}", a.out.display()))
    };
    let file = destination.open().map_err(cannot_write)?;
    let started = Instant::now();
    // The threads take the profiles in chunks from a shared counter, so that a thread the
    // machine slows down does less of the work instead of leaving the others idle at the
    // end. A worker done with a chunk writes, under a lock, every chunk whose turn has
    // come in the profile file's order (keeping the few that came early), so the
    // outcomes are not all held in memory and `--threads N` is N threads in all. Every
    // worker after the first evaluates with its own copy of the index: two cores reading
    // one index went at about 1.6× one core, with a copy each about 1.8–1.9×
    // (BENCHMARKS.md, "Threads"). A copy is the derived indexes only, about 600 bytes per
    // rule and 290 per block; the package and the blocks stay shared.
    const CHUNK: usize = 256;
    let next = AtomicUsize::new(0);
    let out = std::sync::Mutex::new(InOrder::new(std::io::BufWriter::new(file)));
    let fired: Option<Vec<Fired>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (evaluate, bar, done, next, profiles, index, out) =
                    (&evaluate, &bar, &done, &next, &profiles, &index, &out);
                s.spawn(move || {
                    let copy;
                    let index = if k == 0 || matches!(a.engine, Engine::Reference) {
                        index
                    } else {
                        copy = index.clone();
                        &copy
                    };
                    let mut fired = Fired::new();
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
                            .map(|p| evaluate(index, p, &mut fired))
                            .collect::<Vec<_>>();
                        let n = done.fetch_add(part.len(), Ordering::Relaxed) + part.len();
                        bar.set_position(n as u64);
                        // A poisoned lock or a failed write: the run has failed, stop.
                        match out.lock() {
                            Ok(mut out) if out.failed.is_none() => out.accept(start, lines),
                            _ => break,
                        }
                    }
                    fired
                })
            })
            .collect();
        // Join every worker (one left unjoined and panicked would make `scope` panic).
        handles.into_iter().map(|h| h.join().ok()).collect()
    });
    let finished = match (out.into_inner(), fired) {
        (
            Ok(InOrder {
                failed: Some(e), ..
            }),
            _,
        ) => Err(cannot_write(e)),
        // A worker that panicked would leave its readers out of the file: refuse instead.
        (Err(_), _) | (_, None) => Err(Rejected(
            "error: a worker thread failed; nothing was written".into(),
        )),
        (Ok(o), Some(_)) if o.written != profiles.len() => Err(Rejected(format!(
            "error: {} of {} readers evaluated; nothing was written",
            o.written,
            profiles.len()
        ))),
        (Ok(mut o), Some(fired)) => {
            o.w.flush()
                .and_then(|()| destination.commit())
                .map(|()| (o.summary, fired))
                .map_err(cannot_write)
        }
    };
    let (mut summary, fired) = match finished {
        Ok(done) => done,
        Err(e) => {
            destination.abandon();
            return Err(e);
        }
    };
    for (rule, n) in fired.into_iter().flatten() {
        *summary.fired.entry(rule).or_default() += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
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

/// How often each rule fired, by name.
type Fired = std::collections::HashMap<String, usize>;

/// What the summary needs of one outcome (the fired rules are counted by each worker).
#[derive(Default)]
struct Summary1 {
    kind: Option<OutcomeKind>,
    items: usize,
    /// The reader, when left empty.
    user: Option<String>,
}

impl Summary1 {
    fn of(o: &Outcome<'_>) -> Summary1 {
        Summary1 {
            kind: Some(o.kind),
            items: o.items.len(),
            user: (o.kind == OutcomeKind::Empty).then(|| o.user.clone()),
        }
    }
}

#[derive(Default)]
struct Summary {
    digests: usize,
    quiet: usize,
    empty: Vec<String>,
    items: usize,
    fired: Fired,
}

impl Summary {
    fn add(&mut self, s: Summary1) {
        match s.kind {
            Some(OutcomeKind::Digest) => {
                self.digests += 1;
                self.items += s.items;
            }
            Some(OutcomeKind::Quiet) => self.quiet += 1,
            _ => self.empty.extend(s.user),
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
        let mut top: Vec<(&String, &usize)> = self.fired.iter().collect();
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
             engine: {}, {threads} thread{}\n\
             loaded and indexed in {load_secs:.2} s; evaluated and written in {secs:.3} s: {rate:.0} digests per second\n",
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
            // The reference evaluator uses no index: its figures would not describe it.
            match engine {
                Engine::Indexed => format!(
                    "indexed ({} rules indexed, {} checked for every event; {} blocks)",
                    stats.rules_indexed, stats.rules_always_checked, stats.blocks
                ),
                Engine::Reference => format!("reference (no index; {} blocks)", stats.blocks),
            },
            if threads == 1 { "" } else { "s" },
        )
    }
}

/// The output, written in the profile file's order: a chunk that comes before its turn
/// waits until the chunks before it have been written.
struct InOrder<W> {
    w: W,
    early: std::collections::BTreeMap<usize, Vec<(String, Summary1)>>,
    /// Lines written (and the position of the next chunk to write).
    written: usize,
    /// The write error that stopped the output.
    failed: Option<std::io::Error>,
    summary: Summary,
}

impl<W: Write> InOrder<W> {
    fn new(w: W) -> InOrder<W> {
        InOrder {
            w,
            early: Default::default(),
            written: 0,
            failed: None,
            summary: Summary::default(),
        }
    }

    /// Takes the chunk starting at reader `start`, and writes every chunk whose turn
    /// has come.
    fn accept(&mut self, start: usize, lines: Vec<(String, Summary1)>) {
        self.early.insert(start, lines);
        while let Some(lines) = self.early.remove(&self.written) {
            for (line, one) in lines {
                if let Err(e) = writeln!(self.w, "{line}") {
                    self.failed = Some(e);
                    return;
                }
                self.written += 1;
                self.summary.add(one);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn lines(start: usize, n: usize) -> Vec<(String, Summary1)> {
        (start..start + n)
            .map(|i| (format!("{i}"), Summary1::default()))
            .collect()
    }

    #[test]
    fn chunks_are_written_in_file_order_whatever_order_they_come_in() {
        let mut out = InOrder::new(Vec::new());
        for (start, n) in [(4, 2), (0, 2), (6, 1), (2, 2)] {
            out.accept(start, lines(start, n));
        }
        assert!(out.failed.is_none());
        assert_eq!(out.written, 7);
        assert!(out.early.is_empty());
        assert_eq!(String::from_utf8(out.w).unwrap(), "0\n1\n2\n3\n4\n5\n6\n");
    }

    #[test]
    fn a_missing_chunk_holds_back_the_chunks_after_it() {
        let mut out = InOrder::new(Vec::new());
        for (start, n) in [(0, 2), (4, 2)] {
            out.accept(start, lines(start, n));
        }
        // `run` compares `written` with the number of readers and writes nothing.
        assert_eq!(out.written, 2);
        assert_eq!(String::from_utf8(out.w).unwrap(), "0\n1\n");
    }

    /// A writer that fails once `room` bytes are written.
    struct Full {
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if buf.len() > self.room {
                return Err(std::io::Error::other("no space left"));
            }
            self.room -= buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_write_error_stops_the_output_and_is_kept() {
        let mut out = InOrder::new(Full { room: 5 });
        out.accept(0, lines(0, 3));
        out.accept(3, lines(3, 3));
        assert_eq!(out.failed.unwrap().to_string(), "no space left");
        assert!(out.written < 6);
    }
}
