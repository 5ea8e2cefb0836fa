//! Where the `tailor` binary writes: a standard output closed early ends every printing
//! command quietly (exit 141, as a Unix tool a broken pipe ends; never a panic), and
//! `batch --out` replaces only regular files — a named pipe or a link to a device is
//! written in place and stays what it was; `--out -` is standard output.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;
use common::workspace;

const AT: &str = "2013-02-21T19:30:00+08:00";

/// The exit status for a standard output closed before everything was written.
const BROKEN_PIPE: i32 = 141;

fn tailor() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tailor"));
    c.current_dir(workspace()).env("NO_COLOR", "1");
    c
}

/// Runs `tailor ARGS` with a standard output whose reader is already gone: the first
/// write fails with a broken pipe whatever the timing.
fn with_closed_stdout(args: &[&str]) -> (Option<i32>, String) {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = tailor()
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn every_printing_command_ends_quietly_when_stdout_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let previews = dir.path().join("previews");
    let previews = previews.to_str().unwrap();
    let commands: &[&[&str]] = &[
        &["check", "rules/qianjiang"],
        &["check", "rules/airline"],
        &["digest", "rules/qianjiang", "--user", "li-daye", "--at", AT],
        &[
            "digest",
            "rules/qianjiang",
            "--user",
            "li-daye",
            "--at",
            AT,
            "--format",
            "json",
        ],
        &[
            "explain",
            "rules/qianjiang",
            "--user",
            "li-daye",
            "--at",
            AT,
        ],
        &["test", "rules/qianjiang"],
        &["fmt", "--check", "rules/airline"],
        &[
            "preview",
            "rules/qianjiang",
            "--users",
            "li-daye",
            "--at",
            AT,
            "--out",
            previews,
        ],
        &["batch", "rules/qianjiang", "--at", AT, "--out", "-"],
    ];
    for args in commands {
        let (code, stderr) = with_closed_stdout(args);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(
            !stderr.contains("Broken pipe"),
            "{args:?} was not quiet: {stderr}"
        );
        assert_eq!(code, Some(BROKEN_PIPE), "{args:?}: {stderr}");
    }
}

/// Profiles enough for `batch` to print far more than a pipe holds (the example's
/// readers under new ids).
fn many_profiles(dir: &Path, n: usize) -> std::path::PathBuf {
    let example =
        std::fs::read_to_string(workspace().join("rules/qianjiang/profiles.jsonl")).unwrap();
    let originals: Vec<serde_json::Value> = example
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut text = String::new();
    for i in 0..n {
        let mut p = originals[i % originals.len()].clone();
        p["id"] = format!("reader-{i}").into();
        text.push_str(&p.to_string());
        text.push('\n');
    }
    let path = dir.join("profiles.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_reader_that_stops_after_one_line_ends_batch_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let profiles = many_profiles(dir.path(), 3000);
    let mut child = tailor()
        .args(["batch", "rules/qianjiang", "--at", AT, "--out", "-"])
        .arg("--profiles")
        .arg(&profiles)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here, like `| head -1`; the rest cannot fit in the pipe.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["user"], "reader-0");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("error"), "not quiet: {stderr}");
    assert_eq!(out.status.code(), Some(BROKEN_PIPE), "{stderr}");
}

#[test]
fn batch_to_stdout_prints_the_lines_it_writes_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.jsonl");
    let to_file = tailor()
        .args(["batch", "rules/qianjiang", "--at", AT, "--out"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(to_file.status.success());
    let to_stdout = tailor()
        .args(["batch", "rules/qianjiang", "--at", AT, "--out", "-"])
        .output()
        .unwrap();
    assert!(to_stdout.status.success());
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(String::from_utf8_lossy(&to_stdout.stdout), written);
    assert_eq!(written.lines().count(), 7);
}

#[test]
fn batch_writes_into_a_named_pipe_and_leaves_it_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("outcomes");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success(), "mkfifo");
    let child = tailor()
        .args(["batch", "rules/qianjiang", "--at", AT, "--out"])
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Opening the pipe for reading meets the writer. A thread reads, with a timeout, so
    // that a `batch` that never opens the pipe fails the test instead of hanging it.
    let (send, receive) = std::sync::mpsc::channel();
    let path = fifo.clone();
    std::thread::spawn(move || {
        let _ = send.send(std::fs::read_to_string(path));
    });
    let text = receive
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("batch wrote into the pipe")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(text.lines().count(), 7);
    let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
    assert!(kind.is_fifo(), "the pipe was replaced: {kind:?}");
}

#[test]
fn batch_through_a_link_to_a_device_writes_the_device_and_keeps_the_link() {
    // `/dev/stdout` is such a link (to `/proc/self/fd/1`); a link of our own to
    // `/dev/null` tests the same without risking a device: before the fix the rename
    // replaced the link (here, in a temporary directory) with a regular file.
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("null");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let out = tailor()
        .args(["batch", "rules/qianjiang", "--at", AT, "--out"])
        .arg(&link)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert!(
        std::fs::metadata(&link)
            .unwrap()
            .file_type()
            .is_char_device(),
        "the link no longer leads to the device"
    );
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "a partial file was left: {names:?}");
}

#[test]
fn batch_replaces_a_regular_file_through_a_link_and_keeps_the_link() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("real.jsonl");
    std::fs::write(&file, "old\n").unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let out = tailor()
        .args(["batch", "rules/qianjiang", "--at", AT, "--out"])
        .arg(&link)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap().lines().count(), 7);
}

/// `tailor serve` prints a banner, but a closed standard output (a detached process, a
/// pipe whose reader left) must not stop it: it keeps serving.
#[test]
fn serve_keeps_serving_when_stdout_is_closed() {
    use std::io::{Read, Write};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tailor.toml");
    let repo = workspace();
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"data\"\nwatch = false\n[accounts.q]\npackage = \"{}\"\ntoken = \"t\"\n",
            repo.join("rules/qianjiang").display()
        ),
    )
    .unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = tailor()
        .args(["serve", "--config"])
        .arg(&config)
        .env("TAILOR_LOG", "warn")
        .stdout(writer)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let healthz = || -> Option<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut answer = String::new();
        s.read_to_string(&mut answer).ok()?;
        Some(answer)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let answer = loop {
        if let Some(a) = healthz() {
            break a;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the server exited with a closed stdout"
        );
        assert!(std::time::Instant::now() < deadline, "no answer in 30 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    // Give a failing banner write time to take the process down, then ask again.
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(healthz().is_some_and(|a| a.starts_with("HTTP/1.1 200")));
    child.kill().unwrap();
    child.wait().unwrap();
}
