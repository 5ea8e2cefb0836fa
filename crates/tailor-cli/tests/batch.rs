//! `tailor batch` through the binary: one line per profile in the profile file's order,
//! each the outcome `tailor digest --format json` gives, the same whatever the number of
//! threads and whichever evaluator.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers fail the test loudly on bad fixtures"
)]

use std::path::{Path, PathBuf};

mod common;
use common::{tailor, workspace};

use serde_json::Value as J;

const AT: &str = "2013-02-21T19:30:00+08:00";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tailor-batch-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// Runs `tailor batch` on the example package and returns the output file's lines and
/// the summary's lines that do not depend on threads, engine or time.
fn batch(profiles: &Path, out: &Path, extra: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut args = vec![
        "batch",
        "rules/qianjiang",
        "--profiles",
        profiles.to_str().unwrap(),
        "--at",
        AT,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = tailor(&args);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "batch failed: {stderr}");
    assert!(stderr.contains("outcomes:"), "no summary: {stderr}");
    let lines = std::fs::read_to_string(out)
        .expect("the output file")
        .lines()
        .map(str::to_owned)
        .collect();
    let summary = stderr
        .lines()
        .filter(|l| !l.starts_with("engine:") && !l.starts_with("loaded and indexed"))
        .map(str::to_owned)
        .collect();
    (lines, summary)
}

fn user(line: &str) -> String {
    let v: J = serde_json::from_str(line).expect("a JSON line");
    v["user"].as_str().expect("user").to_owned()
}

#[test]
fn batch_lines_are_the_digests_in_profile_order_whatever_the_threads() {
    let dir = scratch("order");
    // The example's seven readers, a hundred times over under new ids, shuffled by a
    // fixed stride: 700 profiles, several chunks for each thread.
    let example = std::fs::read_to_string(workspace().join("rules/qianjiang/profiles.jsonl"))
        .expect("example profiles");
    let originals: Vec<J> = example
        .lines()
        .map(|l| serde_json::from_str(l).expect("profile"))
        .collect();
    let mut ids = Vec::new();
    let mut text = String::new();
    for i in 0..700usize {
        let k = (i * 37) % 700;
        let mut p = originals[k % originals.len()].clone();
        let id = format!("r{k:03}-{}", p["id"].as_str().unwrap());
        p["id"] = J::from(id.clone());
        text.push_str(&p.to_string());
        text.push('\n');
        ids.push(id);
    }
    let profiles = dir.join("profiles.jsonl");
    std::fs::write(&profiles, text).unwrap();

    let (one, summary) = batch(&profiles, &dir.join("one.jsonl"), &["--threads", "1"]);
    assert_eq!(one.iter().map(|l| user(l)).collect::<Vec<_>>(), ids);
    // The rules that fired most, counted from the lines: each worker counts its own
    // readers, and the counts must add up whatever the threads.
    let mut fired: std::collections::HashMap<String, usize> = Default::default();
    for line in &one {
        let v: J = serde_json::from_str(line).unwrap();
        for r in v["fired"].as_array().expect("fired") {
            *fired.entry(r.as_str().unwrap().to_owned()).or_default() += 1;
        }
    }
    let mut top: Vec<(String, usize)> = fired.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let top: Vec<String> = top
        .iter()
        .take(5)
        .map(|(r, n)| format!("{r} ({n})"))
        .collect();
    let expected = format!("rules that fired most: {}", top.join(", "));
    assert!(
        summary.contains(&expected),
        "{summary:?} lacks {expected:?}"
    );
    for threads in ["2", "3"] {
        let many = batch(&profiles, &dir.join("many.jsonl"), &["--threads", threads]);
        assert!(many.0 == one, "--threads {threads} wrote other lines");
        assert_eq!(many.1, summary, "--threads {threads} summed up otherwise");
    }
    let reference = batch(
        &profiles,
        &dir.join("reference.jsonl"),
        &["--threads", "2", "--engine", "reference"],
    );
    assert!(reference.0 == one, "--engine reference wrote other lines");
    assert_eq!(
        reference.1, summary,
        "--engine reference summed up otherwise"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn each_batch_line_is_what_digest_prints() {
    let dir = scratch("digest");
    let profiles = workspace().join("rules/qianjiang/profiles.jsonl");
    let (lines, _) = batch(&profiles, &dir.join("out.jsonl"), &[]);
    assert_eq!(lines.len(), 7);
    for line in &lines {
        let id = user(line);
        let o = tailor(&[
            "digest",
            "rules/qianjiang",
            "--user",
            &id,
            "--at",
            AT,
            "--format",
            "json",
        ]);
        assert!(o.status.success(), "digest {id} failed");
        let digest: J = serde_json::from_slice(&o.stdout).expect("digest JSON");
        let batched: J = serde_json::from_str(line).unwrap();
        assert_eq!(batched, digest, "reader {id}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_replaces_the_output_whole_and_leaves_nothing_beside_it() {
    let dir = scratch("replace");
    let out = dir.join("out.jsonl");
    std::fs::write(&out, "an older edition\n").unwrap();
    let profiles = workspace().join("rules/qianjiang/profiles.jsonl");
    let (lines, _) = batch(&profiles, &out, &["--threads", "2"]);
    assert_eq!(lines.len(), 7);
    // The lines were written beside the file and renamed onto it: nothing else is left.
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["out.jsonl"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn batch_that_cannot_write_says_where_and_creates_nothing() {
    let dir = scratch("cannot");
    let out = dir.join("missing").join("out.jsonl");
    let o = tailor(&[
        "batch",
        "rules/qianjiang",
        "--at",
        AT,
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot write"), "{stderr}");
    assert!(stderr.contains("out.jsonl"), "{stderr}");
    assert!(!dir.join("missing").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_reference_engine_is_not_summed_up_as_indexed() {
    let dir = scratch("reference-summary");
    let out = dir.join("out.jsonl");
    let o = tailor(&[
        "batch",
        "rules/qianjiang",
        "--at",
        AT,
        "--engine",
        "reference",
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("engine: reference (no index"), "{stderr}");
    assert!(!stderr.contains("rules indexed"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
