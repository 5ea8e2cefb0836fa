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
    /// Worker threads. Default: the machine's available parallelism. Every worker after
    /// the first evaluates with its own copy of the index (about 600 bytes per rule and
    /// 230 per block; the package and the blocks are shared).
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
    // The file is written beside its final place and renamed there when complete, so a
    // failed run leaves whatever was at `--out` before untouched.
    let cannot_write =
        |e: std::io::Error| Rejected(format!("error: cannot write `{}`: {e}", a.out.display()));
    let partial = partial_path(&a.out);
    let file = std::fs::File::create(&partial).map_err(cannot_write)?;
    let mut w = std::io::BufWriter::new(file);
    let started = Instant::now();
    // The threads take the profiles in chunks from a shared counter, so that a thread the
    // machine slows down does less of the work instead of leaving the others idle at the
    // end. They send each chunk to this thread, which writes the chunks in the profile
    // file's order as soon as they are next (keeping the few that came early), so the
    // outcomes are not all held in memory. Every worker after the first evaluates with
    // its own copy of the index: two cores reading one index went at about 1.6× one
    // core, with a copy each about 1.8–1.9× (BENCHMARKS.md, "Threads"). A copy is the
    // derived indexes only, about 600 bytes per rule and 230 per block; the package and
    // the blocks stay shared.
    const CHUNK: usize = 256;
    let next = AtomicUsize::new(0);
    let mut summary = Summary::default();
    let (written, failed, fired) = std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(threads * 2);
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let (evaluate, bar, done, next, profiles, index) =
                    (&evaluate, &bar, &done, &next, &profiles, &index);
                let tx = tx.clone();
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
                        // The writer is gone only after a write failed: stop.
                        if tx.send((start, lines)).is_err() {
                            break;
                        }
                    }
                    fired
                })
            })
            .collect();
        // The workers hold the only senders left: the loop below ends when they are done.
        drop(tx);
        let (written, failed) = write_in_order(&rx, &mut w, &mut summary);
        // After a failed write, workers blocked on a full channel must see it closed.
        drop(rx);
        // Join every worker (one left unjoined and panicked would make `scope` panic).
        let fired: Option<Vec<Fired>> = handles.into_iter().map(|h| h.join().ok()).collect();
        (written, failed, fired)
    });
    let finished = match (failed, fired) {
        (Some(e), _) => Err(cannot_write(e)),
        // A worker that panicked would leave its readers out of the file: refuse instead.
        (None, None) => Err(Rejected(
            "error: a worker thread failed; nothing was written".into(),
        )),
        (None, Some(_)) if written != profiles.len() => Err(Rejected(format!(
            "error: {written} of {} readers evaluated; nothing was written",
            profiles.len()
        ))),
        (None, Some(fired)) => w
            .flush()
            .and_then(|()| std::fs::rename(&partial, &a.out))
            .map(|()| fired)
            .map_err(cannot_write),
    };
    let fired = match finished {
        Ok(fired) => fired,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
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

/// A chunk of readers done by one thread: where it starts in the profile file, and each
/// reader's line and summary.
type Chunk = (usize, Vec<(String, Summary1)>);

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
             engine: {} ({} rules indexed, {} checked for every event; {} blocks), {threads} thread{}\n\
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

/// Where the output is written until it is complete: beside `out`, hidden, named after
/// it and this process.
fn partial_path(out: &std::path::Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "batch".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

/// Writes the chunks received, in the profile file's order: a chunk that comes before
/// its turn waits until the chunks before it have been written. Returns how many lines
/// were written, and the write error that stopped it, if one did.
fn write_in_order(
    rx: &std::sync::mpsc::Receiver<Chunk>,
    w: &mut impl Write,
    summary: &mut Summary,
) -> (usize, Option<std::io::Error>) {
    let mut early: std::collections::BTreeMap<usize, Vec<(String, Summary1)>> = Default::default();
    let mut written = 0;
    for (start, lines) in rx.iter() {
        early.insert(start, lines);
        while let Some(lines) = early.remove(&written) {
            written += lines.len();
            for (line, one) in lines {
                if let Err(e) = writeln!(w, "{line}") {
                    return (written, Some(e));
                }
                summary.add(one);
            }
        }
    }
    (written, None)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    fn chunk(start: usize, n: usize) -> Chunk {
        let lines = (start..start + n)
            .map(|i| (format!("{i}"), Summary1::default()))
            .collect();
        (start, lines)
    }

    #[test]
    fn chunks_are_written_in_file_order_whatever_order_they_come_in() {
        let (tx, rx) = std::sync::mpsc::channel();
        for (start, n) in [(4, 2), (0, 2), (6, 1), (2, 2)] {
            tx.send(chunk(start, n)).unwrap();
        }
        drop(tx);
        let mut out = Vec::new();
        let (written, failed) = write_in_order(&rx, &mut out, &mut Summary::default());
        assert!(failed.is_none());
        assert_eq!(written, 7);
        assert_eq!(String::from_utf8(out).unwrap(), "0\n1\n2\n3\n4\n5\n6\n");
    }

    #[test]
    fn a_missing_chunk_stops_the_lines_before_it() {
        let (tx, rx) = std::sync::mpsc::channel();
        for (start, n) in [(0, 2), (4, 2)] {
            tx.send(chunk(start, n)).unwrap();
        }
        drop(tx);
        let mut out = Vec::new();
        let (written, _) = write_in_order(&rx, &mut out, &mut Summary::default());
        // `run` compares this with the number of readers and writes nothing.
        assert_eq!(written, 2);
        assert_eq!(String::from_utf8(out).unwrap(), "0\n1\n");
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
    fn a_write_error_stops_the_writer_and_is_returned() {
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(chunk(0, 3)).unwrap();
        tx.send(chunk(3, 3)).unwrap();
        drop(tx);
        let (_, failed) = write_in_order(&rx, &mut Full { room: 5 }, &mut Summary::default());
        assert_eq!(failed.unwrap().to_string(), "no space left");
    }
}
