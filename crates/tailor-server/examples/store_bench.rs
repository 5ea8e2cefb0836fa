//! Store size and crash recovery (BENCHMARKS.md, "Store: reply size and recovery").
//!
//! * `store_bench fill DIR N [plain|safe]`: builds `DIR/tailor.redb` as N ENTERs from N
//!   new readers leave it: N profiles, N delivery records and N kept replies (the
//!   example catalog's 8-article news digest, addressed to each reader, sealed in the
//!   given mode), committed 1,000 deliveries a transaction through the `Store` API;
//!   then prints the file size and what each table holds.
//! * `store_bench stats DIR`: the same figures for an existing store.
//! * `store_bench recover DIR TAILOR`: starts `TAILOR serve` on the store, times until
//!   `/healthz` answers, sends 200 signed ENTERs one at a time and 4,000 from 16
//!   clients (each on a new connection), kills the process with SIGKILL, starts
//!   it again and times until `/healthz` answers; then the same after a clean stop
//!   (SIGTERM).
//! * `store_bench load DIR TAILOR SECS TTL`: 16 clients send ENTERs from new readers for
//!   SECS seconds to `TAILOR serve` with `dedup_ttl_secs = TTL` (replies expire all
//!   along); the slowest answer, answers without a digest, events over budget.
//!
//! `cargo run --release -p tailor-server --example store_bench -- fill /tmp/s 1000000`

// A harness: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{Read, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use tailor_server::store::{JsonMap, StoredReply, Write};
use tailor_server::{RedbStore, Store};
use tailor_wechat::{Article, Callback, Mode, Reply};

const TOKEN: &str = "bench";
const APP_ID: &str = "wx0123456789abcdef";
const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
/// 2013-02-21T19:30:00+08:00: the example catalog's evening.
const EVENING: &str = "2013-02-21T19:30:00+08:00";
const ACCOUNT: &str = "qianjiang";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn callback(mode: &str) -> Callback {
    let mode = if mode == "safe" {
        Mode::Safe
    } else {
        Mode::Plain
    };
    Callback::new(
        tailor_wechat::Config::new(TOKEN, APP_ID)
            .with_encoding_aes_key(AES_KEY)
            .unwrap()
            .with_mode(mode),
    )
    .unwrap()
}

/// The catalog's blocks as news articles.
fn articles() -> Vec<(String, Article)> {
    let text = std::fs::read_to_string(repo().join("rules/qianjiang/catalog.jsonl")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let b: serde_json::Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| b[k].as_str().unwrap_or_default().to_owned();
            let a = Article::new(s("title"), s("url"))
                .with_description(s("summary"))
                .with_pic_url(s("image"));
            (s("id"), a)
        })
        .collect()
}

fn fill(dir: &Path, n: u64, mode: &str) {
    let store = RedbStore::open(dir).unwrap();
    let callback = callback(mode);
    let catalog = articles();
    let evening: jiff::Timestamp = EVENING.parse().unwrap();
    let started = Instant::now();
    let mut body_bytes = 0u64;
    let mut i = 0u64;
    while i < n {
        let mut writes = Vec::new();
        for _ in 0..1_000.min(n - i) {
            let user = format!("o{i:027}");
            let at = evening.as_second() + i64::try_from(i / 1_000).unwrap();
            let first = usize::try_from(i).unwrap() % catalog.len();
            let picked: Vec<&(String, Article)> =
                catalog.iter().cycle().skip(first).take(8).collect();
            let xml = format!(
                "<xml><ToUserName><![CDATA[gh_qianjiang]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[ENTER]]></Event></xml>"
            );
            let inbound = tailor_wechat::parse_inbound(&xml).unwrap();
            let reply = Reply::news(picked.iter().map(|(_, a)| a.clone()));
            let now = u64::try_from(at).unwrap();
            let body = callback
                .seal(
                    &inbound,
                    &reply,
                    now,
                    &tailor_wechat::random_nonce().unwrap(),
                )
                .unwrap();
            body_bytes += body.len() as u64;
            let mut profile = JsonMap::new();
            profile.insert("id".into(), user.clone().into());
            profile.insert("last_seen".into(), EVENING.into());
            let delivery = tailor_engine::Delivery {
                user: user.clone(),
                at: jiff::Timestamp::from_second(at).unwrap(),
                event: tailor_engine::EventKind::Enter,
                blocks: picked.iter().map(|(id, _)| id.clone()).collect(),
                fired: vec!["evening-edition".into()],
                items: vec![],
            };
            writes.push(Write::PutProfile {
                account: ACCOUNT.into(),
                id: user.clone(),
                profile,
            });
            writes.push(Write::AppendDelivery {
                account: ACCOUNT.into(),
                delivery,
                keep_secs: 12 * 3600,
            });
            writes.push(Write::PutReply {
                account: ACCOUNT.into(),
                user: user.clone(),
                key: format!("wechat|{}", inbound.dedup_key()),
                reply: StoredReply {
                    user,
                    body,
                    outcome: "digest".into(),
                    at,
                    until: at + 3_600,
                },
            });
            i += 1;
        }
        store.apply(writes).unwrap();
    }
    store.close();
    println!(
        "fill: {n} deliveries ({mode}) in {:.1} s; reply bodies as sent: {:.0} bytes each on average",
        started.elapsed().as_secs_f64(),
        body_bytes as f64 / n as f64
    );
    stats(dir);
}

fn stats(dir: &Path) {
    let file = std::fs::metadata(dir.join("tailor.redb")).unwrap().len();
    let store = RedbStore::open(dir).unwrap();
    let tables = store.table_sizes().unwrap();
    let replies = tables
        .iter()
        .find(|t| t.name.starts_with("replies"))
        .map_or(0, |t| t.entries);
    println!(
        "file: {file} bytes ({:.2} GB); {replies} kept replies",
        file as f64 / 1e9
    );
    for t in &tables {
        println!(
            "  {:16} {:>9} entries {:>13} bytes stored ({:>7.1} a record) {:>12} metadata {:>12} fragmented",
            t.name,
            t.entries,
            t.stored_bytes,
            t.stored_bytes as f64 / t.entries.max(1) as f64,
            t.metadata_bytes,
            t.fragmented_bytes,
        );
    }
    let reply_tables: u64 = tables
        .iter()
        .filter(|t| t.name.starts_with("repl"))
        .map(|t| t.stored_bytes + t.metadata_bytes + t.fragmented_bytes)
        .sum();
    if replies > 0 {
        println!(
            "replies and their expiry index: {reply_tables} bytes, {:.0} bytes a kept reply",
            reply_tables as f64 / replies as f64
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.1 request on a fresh connection; the status, or `None` when nothing answers.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<u16> {
    http_body(addr, method, path, body).map(|(status, _)| status)
}

/// [`http`], with the answer's body (headers included).
fn http_body(addr: SocketAddr, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    Some((status, out))
}

/// Starts `tailor serve` and waits for `/healthz`; the process (the caller waits for
/// it) and the time it took.
#[allow(clippy::zombie_processes)]
fn start(tailor: &Path, config: &Path, addr: SocketAddr) -> (Child, Duration) {
    let started = Instant::now();
    let mut child = Command::new(tailor)
        .args(["serve", "--config"])
        .arg(config)
        .env("TAILOR_LOG", "warn")
        .spawn()
        .unwrap();
    loop {
        if http(addr, "GET", "/healthz", "") == Some(200) {
            return (child, started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no /healthz in 10 min");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Writes `DIR/bench.toml` for a server on the store in `dir`, with `extra` keys; its
/// path and address.
fn write_config(dir: &Path, extra: &str) -> (PathBuf, SocketAddr) {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let q = repo().join("rules/qianjiang");
    let config = dir.join("bench.toml");
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        &config,
        format!(
            "listen = \"{addr}\"\ndata_dir = \"{}\"\nwatch = false\nclock = \"{EVENING}\"\n{extra}\n[accounts.{ACCOUNT}]\npackage = \"{}\"\ncatalog = \"{}\"\ntoken = \"{TOKEN}\"\n",
            dir.display(),
            q.display(),
            q.join("catalog.jsonl").display()
        ),
    )
    .unwrap();
    (config, addr)
}

/// The signed path of a WeChat push at the evening.
fn signed_path() -> String {
    let ts: jiff::Timestamp = EVENING.parse().unwrap();
    let ts = ts.as_second().to_string();
    let sig = tailor_wechat::signature::sign(&[TOKEN, &ts, "1"]);
    format!("/wechat/{ACCOUNT}?signature={sig}&timestamp={ts}&nonce=1")
}

/// `load DIR TAILOR SECS TTL`: 16 clients send ENTERs from new readers for SECS
/// seconds to `tailor serve` with `dedup_ttl_secs = TTL`, so that replies expire all
/// along; reports the slowest answer, the answers without a digest and the events
/// over budget.
fn load(dir: &Path, tailor: &Path, secs: u64, ttl: u64) {
    let (config, addr) = write_config(dir, &format!("dedup_ttl_secs = {ttl}"));
    let (child, _) = start(tailor, &config, addr);
    let path = signed_path();
    let started = Instant::now();
    let duration = Duration::from_secs(secs);
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                let mut misses = 0u64;
                let mut i = 0u64;
                while started.elapsed() < duration {
                    let xml = format!(
                        "<xml><ToUserName>gh</ToUserName><FromUserName>load-{c}-{i}</FromUserName><CreateTime>{i}</CreateTime><MsgType>event</MsgType><Event>ENTER</Event></xml>"
                    );
                    let t = Instant::now();
                    let answer = http_body(addr, "POST", &path, &xml);
                    latencies.push(t.elapsed());
                    if !answer.is_some_and(|(status, body)| status == 200 && body.contains("<Articles>")) {
                        misses += 1;
                    }
                    i += 1;
                }
                (latencies, misses)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut misses = 0;
    for c in clients {
        let (l, m) = c.join().unwrap();
        latencies.extend(l);
        misses += m;
    }
    let elapsed = started.elapsed();
    let (_, metrics) = http_body(addr, "GET", "/metrics", "").unwrap();
    stop(child);
    latencies.sort();
    let n = latencies.len();
    let over_budget: Vec<&str> = metrics
        .lines()
        .filter(|l| l.contains("outcome=\"over_budget\""))
        .collect();
    println!(
        "{n} ENTERs from 16 clients in {:.1} s with dedup_ttl_secs = {ttl}: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {misses} without a digest; over budget: {over_budget:?}",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        latencies[n / 2].as_secs_f64() * 1e3,
        latencies[n * 99 / 100].as_secs_f64() * 1e3,
        latencies[n - 1].as_secs_f64() * 1e3,
    );
}

fn recover(dir: &Path, tailor: &Path) {
    let (config, addr) = write_config(dir, "");
    let file = std::fs::metadata(dir.join("tailor.redb")).unwrap().len();
    println!("store: {file} bytes ({:.2} GB)", file as f64 / 1e9);
    let (mut child, first) = start(tailor, &config, addr);
    println!("start: /healthz after {:.2} s", first.as_secs_f64());
    let path = signed_path();
    // One at a time: each is its own durable commit, so this is the commit's latency.
    // New readers on every run, so that no ENTER is a retry of an earlier run's.
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut latencies = Vec::new();
    for i in 0..200 {
        let xml = format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>recover-{run}-{i}</FromUserName><CreateTime>{i}</CreateTime><MsgType>event</MsgType><Event>ENTER</Event></xml>"
        );
        let t = Instant::now();
        assert_eq!(http(addr, "POST", &path, &xml), Some(200));
        latencies.push(t.elapsed());
    }
    latencies.sort();
    println!(
        "200 ENTERs one at a time: p50 {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        latencies[100].as_secs_f64() * 1e3,
        latencies[180].as_secs_f64() * 1e3,
        latencies[199].as_secs_f64() * 1e3
    );
    // 16 clients at once: commits are grouped.
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|c| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                for i in 0..250 {
                    let xml = format!(
                        "<xml><ToUserName>gh</ToUserName><FromUserName>load-{run}-{c}-{i}</FromUserName><CreateTime>{i}</CreateTime><MsgType>event</MsgType><Event>ENTER</Event></xml>"
                    );
                    let t = Instant::now();
                    assert_eq!(http(addr, "POST", &path, &xml), Some(200));
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let elapsed = started.elapsed();
    latencies.sort();
    let n = latencies.len();
    println!(
        "{n} ENTERs from 16 clients: {:.0}/s, p50 {:.2} ms, p99 {:.2} ms",
        n as f64 / elapsed.as_secs_f64(),
        latencies[n / 2].as_secs_f64() * 1e3,
        latencies[n * 99 / 100].as_secs_f64() * 1e3
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let (child, after_kill) = start(tailor, &config, addr);
    println!(
        "restart after SIGKILL: /healthz after {:.2} s",
        after_kill.as_secs_f64()
    );
    stop(child);
    let (child, after_stop) = start(tailor, &config, addr);
    println!(
        "restart after a clean stop: /healthz after {:.2} s",
        after_stop.as_secs_f64()
    );
    // Leaves the store closed cleanly for the next run.
    stop(child);
}

/// Stops the server cleanly (SIGTERM) and waits for it.
fn stop(mut child: Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["fill", dir, n, rest @ ..] => fill(
            Path::new(dir),
            n.parse().unwrap(),
            rest.first().copied().unwrap_or("plain"),
        ),
        ["stats", dir] => stats(Path::new(dir)),
        ["recover", dir, tailor] => recover(Path::new(dir), Path::new(tailor)),
        ["load", dir, tailor, secs, ttl] => load(
            Path::new(dir),
            Path::new(tailor),
            secs.parse().unwrap(),
            ttl.parse().unwrap(),
        ),
        _ => {
            eprintln!(
                "usage: store_bench fill DIR N [plain|safe] | stats DIR | recover DIR TAILOR | load DIR TAILOR SECS TTL"
            );
            std::process::exit(2);
        }
    }
}
