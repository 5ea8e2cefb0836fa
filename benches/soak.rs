//! Soak harness for `tailor serve`: mixed traffic for a long time, reported a window at a
//! time, to show that nothing grows or slows down while the server runs.
//!
//! Every client loops over a weighted mix on its own kept-alive connection:
//!
//! | share | request |
//! |---:|---|
//! | 35% | WeChat ENTER of a reader drawn from 20,000 (a digest, or `success` under the cap) |
//! | 5% | the same ENTER delivered again (a retry: answered from the kept reply) |
//! | 10% | WeChat text `天气` |
//! | 10% | WeChat LOCATION event (learned into the profile) |
//! | 15% | `GET /v1/…/users/{id}/digest` (a dry run) |
//! | 10% | `GET /v1/…/profiles/{id}` or `…/history` |
//! | 10% | `PATCH /v1/…/profiles/{id}` |
//! | 5% | `POST /v1/…/catalog` (one block out of a pool of 50, so the catalog stays bounded) |
//!
//! and one `POST /v1/…/reload` a window. The server's clock advances from the example
//! catalog's evening with real time, and replies are kept `SOAK_DEDUP_TTL` seconds
//! (default 60), so reply expiry runs throughout.
//!
//! For each window: requests, errors (a status other than the expected one), p50, p99 and
//! max latency, the process's RSS and the store's size on disk. At the end: the events
//! answered over budget, from `/metrics`.
//!
//! `cargo bench --bench soak` runs `SOAK_SECS` (default 600) in windows of
//! `SOAK_WINDOW_SECS` (default 60) with `SOAK_CLIENTS` connections (default 8); under
//! `cargo test --benches` it runs 6 s in 2 s windows as a smoke test and fails on any
//! error.

// A harness: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[path = "support/http_client.rs"]
mod http_client;
use http_client::Client;

const TOKEN: &str = "soak";
const ADMIN: &str = "soak-admin";
/// 2013-02-21T19:30:00+08:00: the example catalog's evening.
const EVENING: &str = "2013-02-21T19:30:00+08:00";
const READERS: u64 = 20_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// xorshift64*: deterministic per client, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Latencies of one window: a log-linear histogram (64 sub-buckets per power of two, so
/// a percentile is within 1.6%), so that the harness's own memory stays a few
/// megabytes however long it runs — the RSS it reports is the server's growth.
#[derive(Clone)]
struct Window {
    counts: Vec<u64>,
    max: u64,
    errors: u64,
}

const BUCKETS: usize = 128 + 57 * 64;

fn bucket(v: u64) -> usize {
    if v < 128 {
        v as usize
    } else {
        let e = 63 - u64::from(v.leading_zeros());
        let sub = (v >> (e - 6)) & 63;
        (128 + (e - 7) * 64 + sub) as usize
    }
}

fn bucket_value(b: usize) -> u64 {
    if b < 128 {
        b as u64
    } else {
        let e = ((b - 128) / 64 + 7) as u64;
        let sub = ((b - 128) % 64) as u64;
        (1 << e) | (sub << (e - 6))
    }
}

impl Window {
    fn new() -> Window {
        Window {
            counts: vec![0; BUCKETS],
            max: 0,
            errors: 0,
        }
    }
    fn add(&mut self, micros: u64, error: bool) {
        self.counts[bucket(micros).min(BUCKETS - 1)] += 1;
        self.max = self.max.max(micros);
        self.errors += u64::from(error);
    }
    fn merge(&mut self, other: &Window) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max = self.max.max(other.max);
        self.errors += other.errors;
    }
    fn len(&self) -> u64 {
        self.counts.iter().sum()
    }
    /// The `p` quantile in microseconds (a bucket's lower bound).
    fn quantile(&self, p: f64) -> u64 {
        let n = self.len();
        let rank = ((n.saturating_sub(1)) as f64 * p).round() as u64;
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if *c > 0 && seen > rank {
                return bucket_value(b);
            }
        }
        0
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| e.metadata().ok())
                .filter(std::fs::Metadata::is_file)
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn signed_path(now: u64, nonce: u64) -> String {
    let ts = now.to_string();
    let nonce = nonce.to_string();
    let sig = tailor_wechat::signature::sign(&[TOKEN, &ts, &nonce]);
    format!("/wechat/qianjiang?signature={sig}&timestamp={ts}&nonce={nonce}")
}

fn wechat_xml(user: &str, create_time: u64, body: &str) -> String {
    format!(
        "<xml><ToUserName>gh_qianjiang</ToUserName><FromUserName>{user}</FromUserName><CreateTime>{create_time}</CreateTime>{body}</xml>"
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (secs, window_secs, clients) = if full {
        (
            env_or("SOAK_SECS", 600),
            env_or("SOAK_WINDOW_SECS", 60).max(1),
            env_or("SOAK_CLIENTS", 8).max(1),
        )
    } else {
        (6, 2, 2)
    };
    let windows = usize::try_from(secs.div_ceil(window_secs)).expect("windows");
    // The histogram's buckets: a value's bucket starts at most 1.6% below it.
    for v in [0, 1, 127, 128, 129, 1_000, 65_432, 1_000_000, 987_654_321] {
        let low = bucket_value(bucket(v));
        assert!(
            low <= v && (v - low) as f64 <= v as f64 * 0.016,
            "{v}: {low}"
        );
    }
    let dedup_ttl = env_or("SOAK_DEDUP_TTL", 60);

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = tempfile::tempdir().expect("tempdir");
    let config = tailor_server::Config::from_toml(
        &format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nwatch = false\nclock = \"{EVENING}\"\nadmin_token = \"{ADMIN}\"\ndedup_ttl_secs = {dedup_ttl}\n[accounts.qianjiang]\npackage = \"{}\"\nprofiles = \"{}\"\ncatalog = \"{}\"\ntoken = \"{TOKEN}\"\n",
            data.path().display(),
            repo.join("rules/qianjiang").display(),
            repo.join("rules/qianjiang/profiles.jsonl").display(),
            repo.join("rules/qianjiang/catalog.jsonl").display(),
        ),
        repo,
    )
    .expect("config");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let running = runtime
        .block_on(tailor_server::start(config, None))
        .expect("start");
    let addr = running.addr();
    let clock = Arc::clone(&running.state().clock);
    let now = move || clock.unix_secs();

    let start = Instant::now();
    let duration = Duration::from_secs(secs);
    let window_of = move |at: Instant| -> usize {
        usize::try_from(at.duration_since(start).as_secs() / window_secs).unwrap_or(usize::MAX)
    };
    // ENTERs use ever-increasing CreateTimes, so each is a new delivery; a retry resends one.
    let create_times = Arc::new(AtomicU64::new(1));
    let samples: Arc<Mutex<Vec<Window>>> = Arc::new(Mutex::new(vec![Window::new(); windows]));
    let failures: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));

    let auth = format!("Bearer {ADMIN}");
    let mut threads = Vec::new();
    for c in 0..clients {
        let (samples, failures, create_times, auth) = (
            Arc::clone(&samples),
            Arc::clone(&failures),
            Arc::clone(&create_times),
            auth.clone(),
        );
        let now = now.clone();
        threads.push(std::thread::spawn(move || {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (c + 1));
            let mut client = Client::connect(addr);
            let mut mine = vec![Window::new(); windows];
            let mut last_enter: Option<(String, String)> = None;
            let mut nonce = c * 1_000_000_000;
            while start.elapsed() < duration {
                let reader = format!("soak-{}", rng.below(READERS));
                let headers = [
                    ("authorization", auth.as_str()),
                    ("content-type", "application/json"),
                ];
                nonce += 1;
                let roll = rng.below(100);
                let t = Instant::now();
                let (what, status, expected, body) = match roll {
                    0..35 => {
                        let ct = create_times.fetch_add(1, Ordering::Relaxed);
                        let xml = wechat_xml(
                            &reader,
                            ct,
                            "<MsgType>event</MsgType><Event>ENTER</Event>",
                        );
                        let path = signed_path(now(), nonce);
                        let (status, body) = client.post(&path, &xml);
                        last_enter = Some((xml, body.clone()));
                        ("enter", status, 200, body)
                    }
                    35..40 => match &last_enter {
                        Some((xml, first)) => {
                            let path = signed_path(now(), nonce);
                            let (status, body) = client.post(&path, xml);
                            let same = body == *first;
                            let status = if same { status } else { 0 };
                            ("retry", status, 200, body)
                        }
                        None => continue,
                    },
                    40..50 => {
                        let ct = create_times.fetch_add(1, Ordering::Relaxed);
                        let xml = wechat_xml(
                            &reader,
                            ct,
                            &format!(
                                "<MsgType>text</MsgType><Content>天气</Content><MsgId>{ct}</MsgId>"
                            ),
                        );
                        let (status, body) = client.post(&signed_path(now(), nonce), &xml);
                        ("text", status, 200, body)
                    }
                    50..60 => {
                        let ct = create_times.fetch_add(1, Ordering::Relaxed);
                        let xml = wechat_xml(
                            &reader,
                            ct,
                            "<MsgType>event</MsgType><Event>LOCATION</Event><Latitude>30.27</Latitude><Longitude>120.15</Longitude><Precision>65.0</Precision>",
                        );
                        let (status, body) = client.post(&signed_path(now(), nonce), &xml);
                        ("location", status, 200, body)
                    }
                    60..75 => {
                        let path = format!("/v1/qianjiang/users/{reader}/digest");
                        let (status, body) = client.send("GET", &path, &headers, "");
                        ("digest", status, 200, body)
                    }
                    75..85 => {
                        let path = if roll.is_multiple_of(2) {
                            format!("/v1/qianjiang/users/{reader}/history")
                        } else {
                            "/v1/qianjiang/profiles/li-daye".to_owned()
                        };
                        let (status, body) = client.send("GET", &path, &headers, "");
                        ("read", status, 200, body)
                    }
                    85..95 => {
                        let path = format!("/v1/qianjiang/profiles/{reader}");
                        let body = format!(
                            "{{\"age\": {}, \"city\": \"杭州\", \"interests\": [\"taiwan\"]}}",
                            20 + rng.below(60)
                        );
                        let (status, body) = client.send("PATCH", &path, &headers, &body);
                        ("patch", status, 200, body)
                    }
                    _ => {
                        let id = format!("soak-block-{}", rng.below(50));
                        let line = format!(
                            "{{\"id\": \"{id}\", \"section\": \"current\", \"title\": \"soak {nonce}\", \"summary\": \"s\", \"url\": \"https://example.com/{id}\", \"tags\": [\"taiwan\"], \"published\": \"2013-02-21T18:00:00+08:00\"}}\n"
                        );
                        let (status, body) =
                            client.send("POST", "/v1/qianjiang/catalog", &headers, &line);
                        ("upsert", status, 200, body)
                    }
                };
                let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
                let error = status != expected;
                if error {
                    failures
                        .lock()
                        .unwrap()
                        .push(format!("{what}: {status}: {}", body.chars().take(200).collect::<String>()));
                }
                if let Some(w) = mine.get_mut(window_of(t)) {
                    w.add(micros, error);
                }
            }
            let mut all = samples.lock().unwrap();
            for (total, w) in all.iter_mut().zip(&mine) {
                total.merge(w);
            }
        }));
    }

    // The monitor: a reload and a measurement at the end of every window.
    let mut measured = Vec::new();
    let mut reloads_failed = 0usize;
    for w in 0..windows {
        let end = start + Duration::from_secs(window_secs * (w as u64 + 1)).min(duration);
        std::thread::sleep(end.saturating_duration_since(Instant::now()));
        // A connection per reload: the server closes a keep-alive connection left idle
        // for `header_read_timeout_ms` (10 s), shorter than a window.
        let mut admin = Client::connect(addr);
        let (status, body) = admin.send(
            "POST",
            "/v1/qianjiang/reload",
            &[("authorization", auth.as_str())],
            "",
        );
        if status != 200 {
            reloads_failed += 1;
            failures
                .lock()
                .unwrap()
                .push(format!("reload: {status}: {body}"));
        }
        measured.push((rss_bytes(), dir_bytes(data.path())));
    }
    for t in threads {
        t.join().expect("client");
    }
    let (_, metrics) = Client::connect(addr).send("GET", "/metrics", &[], "");
    let over_budget: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("tailor_events_total") && l.contains("outcome=\"over_budget\""))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // What the readers' histories hold at the end (the history cache and the store keep
    // every delivery within the package's window, 3 days in the example).
    let mut sampled = 0u64;
    let mut records = 0u64;
    let mut reader_client = Client::connect(addr);
    for r in (0..READERS).step_by(100) {
        let (status, body) = reader_client.send(
            "GET",
            &format!("/v1/qianjiang/users/soak-{r}/history"),
            &[("authorization", auth.as_str())],
            "",
        );
        if status == 200 {
            sampled += 1;
            records += body.matches("\"event\":").count() as u64;
        }
    }
    runtime.block_on(running.shutdown());

    let samples = samples.lock().unwrap();
    println!(
        "### Soak: {secs} s of mixed traffic, {clients} clients, a reload every {window_secs} s, replies kept {dedup_ttl} s\n"
    );
    println!(
        "| window (s) | requests | errors | p50 ms | p99 ms | max ms | RSS MB | store MB |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut total = 0usize;
    let mut errors = 0usize;
    for (w, (rss, store)) in measured.iter().enumerate() {
        let win = &samples[w];
        let n = usize::try_from(win.len()).unwrap_or(usize::MAX);
        let errs = usize::try_from(win.errors).unwrap_or(usize::MAX);
        let pct = |p: f64| win.quantile(p) as f64 / 1e3;
        total += n;
        errors += errs;
        println!(
            "| {}–{} | {} | {} | {:.2} | {:.2} | {:.1} | {:.1} | {:.1} |",
            w as u64 * window_secs,
            (w as u64 + 1) * window_secs,
            n,
            errs,
            pct(0.5),
            pct(0.99),
            win.max as f64 / 1e3,
            *rss as f64 / 1e6,
            *store as f64 / 1e6,
        );
    }
    println!(
        "\n{total} requests, {errors} errors, {reloads_failed} failed reloads, {over_budget} events over budget"
    );
    println!(
        "history at the end: {:.1} delivery records a reader (mean of {sampled} readers)",
        records as f64 / sampled.max(1) as f64
    );
    let failures = failures.lock().unwrap();
    for f in failures.iter().take(10) {
        println!("  {f}");
    }
    assert!(
        full || (errors == 0 && reloads_failed == 0 && over_budget == 0 && total > 0),
        "the smoke run saw errors"
    );
}
