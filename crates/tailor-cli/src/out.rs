//! Where the commands' output goes: standard output that a reader closing it early (`|
//! head`) ends quietly instead of with a panic, and `--out` paths that only ever replace a
//! regular file (a device or a pipe is written directly, `-` is standard output).

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The exit status when standard output was closed before everything was written: the
/// status a shell reports for a process that a broken pipe ended (128 + `SIGPIPE`), as
/// `cat` or `grep` would give; nothing is printed.
pub(crate) const BROKEN_PIPE_EXIT: i32 = 141;

/// Prints to standard output like `print!`, but a closed standard output ends the
/// process quietly ([`BROKEN_PIPE_EXIT`]) and another write error ends it with a
/// message and exit 1, never with a panic.
macro_rules! out {
    ($($t:tt)*) => { $crate::out::print(format_args!($($t)*)) };
}

/// [`out!`] with a newline, like `println!`.
macro_rules! outln {
    () => { $crate::out::print(format_args!("\n")) };
    ($($t:tt)*) => { $crate::out::print(format_args!("{}\n", format_args!($($t)*))) };
}

pub(crate) use {out, outln};

/// Writes `args` to standard output and flushes it (see [`out!`]).
pub(crate) fn print(args: std::fmt::Arguments<'_>) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        stdout_failed(&e);
    }
}

/// Ends the process after a failed write to standard output: quietly for a closed pipe.
pub(crate) fn stdout_failed(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(BROKEN_PIPE_EXIT);
    }
    // Standard error may be gone as well: ignore a failure to say so.
    let _ = writeln!(io::stderr(), "error: cannot write to standard output: {e}");
    std::process::exit(1);
}

/// Where `--out PATH` sends a command's output.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Destination {
    /// `--out -`.
    Stdout,
    /// Something that is not a regular file (a device such as `/dev/null`, a named pipe,
    /// `/dev/stdout`), or a link that leads nowhere yet: opened and written in place, never
    /// replaced.
    Direct(PathBuf),
    /// A regular file, or nothing yet: written to a hidden file beside `target` and renamed
    /// onto it when complete, so that a failed run leaves it as it was. A symbolic link to
    /// a regular file is followed: the file it leads to is replaced, the link stays.
    Replace { target: PathBuf, partial: PathBuf },
}

impl Destination {
    /// Decides how to write `out` from what is at that path now.
    pub(crate) fn of(out: &Path) -> Destination {
        if out.as_os_str() == "-" {
            return Destination::Stdout;
        }
        let target = match std::fs::symlink_metadata(out) {
            // Nothing there: a new regular file.
            Err(_) => out.to_path_buf(),
            Ok(m) if m.file_type().is_symlink() => match std::fs::canonicalize(out) {
                Ok(t) => t,
                Err(_) => return Destination::Direct(out.to_path_buf()),
            },
            Ok(_) => out.to_path_buf(),
        };
        match std::fs::metadata(&target) {
            Ok(m) if !m.is_file() => Destination::Direct(target),
            _ => Destination::Replace {
                partial: partial_path(&target),
                target,
            },
        }
    }

    /// Opens the writer: standard output, the path itself, or the hidden partial file.
    pub(crate) fn open(&self) -> io::Result<Box<dyn Write + Send>> {
        Ok(match self {
            Destination::Stdout => Box::new(io::stdout()),
            Destination::Direct(p) => Box::new(File::create(p)?),
            Destination::Replace { partial, .. } => Box::new(File::create(partial)?),
        })
    }

    /// After everything was written and flushed: puts a replacement in place.
    pub(crate) fn commit(&self) -> io::Result<()> {
        match self {
            Destination::Replace { target, partial } => std::fs::rename(partial, target),
            Destination::Stdout | Destination::Direct(_) => Ok(()),
        }
    }

    /// After a failure: removes the partial file, if any (the target is untouched).
    pub(crate) fn abandon(&self) {
        if let Destination::Replace { partial, .. } = self {
            let _ = std::fs::remove_file(partial);
        }
    }
}

/// Where the output is written until it is complete: beside `out`, hidden, named after
/// it and this process.
fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly")]

    use super::*;

    #[test]
    fn a_dash_is_standard_output() {
        assert_eq!(Destination::of(Path::new("-")), Destination::Stdout);
    }

    #[test]
    fn a_device_is_written_in_place() {
        assert_eq!(
            Destination::of(Path::new("/dev/null")),
            Destination::Direct("/dev/null".into())
        );
    }

    #[test]
    fn a_new_or_regular_file_is_replaced_and_a_link_to_one_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("new.jsonl");
        assert!(
            matches!(Destination::of(&new), Destination::Replace { target, .. } if target == new)
        );
        std::fs::write(&new, "old").unwrap();
        assert!(
            matches!(Destination::of(&new), Destination::Replace { target, .. } if target == new)
        );
        let link = dir.path().join("link.jsonl");
        std::os::unix::fs::symlink(&new, &link).unwrap();
        let real = std::fs::canonicalize(&new).unwrap();
        assert!(
            matches!(Destination::of(&link), Destination::Replace { target, .. } if target == real)
        );
    }
}
