//! Load harness for `tailor serve`: WeChat ENTER callbacks over loopback HTTP/1.1
//! (keep-alive), each from a new reader (so each is a digest, a learned profile and a
//! delivery record committed durably before the answer). Reports callbacks per second
//! and p50/p99 latency.
//!
//! `cargo bench --bench serve` runs for `SERVE_BENCH_SECS` (default 10) with
//! `SERVE_BENCH_CLIENTS` connections (default 16); under `cargo test --benches` it sends a
//! few requests as a smoke test.
//!
//! `SERVE_BENCH_STORE=redis` puts the state in a `redis-server` the harness starts on a
//! free loopback port (`appendonly yes`, `appendfsync always`: every answered digest is
//! durable), and `SERVE_BENCH_NODES=2` runs two server nodes on it, the clients split
//! between them. With Redis it also reports Redis's memory per reader (profile, history
//! and the kept reply) as `used_memory` after the run less before, over the readers.

// A harness: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../crates/tailor-server/tests/redis_support/mod.rs"]
mod redis_support;

const TOKEN: &str = "bench";
/// 2013-02-21T19:30:00+08:00: the example catalog's evening.
const EVENING: &str = "2013-02-21T19:30:00+08:00";

#[path = "support/http_client.rs"]
mod http_client;
use http_client::Client;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let secs: u64 = std::env::var("SERVE_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let clients: usize = std::env::var("SERVE_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let (duration, clients, max_per_client) = if full {
        (Duration::from_secs(secs), clients, usize::MAX)
    } else {
        (Duration::from_secs(5), 2, 20)
    };

    let redis = std::env::var("SERVE_BENCH_STORE").is_ok_and(|s| s == "redis");
    let nodes: usize = std::env::var("SERVE_BENCH_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    assert!(
        redis || nodes == 1,
        "SERVE_BENCH_NODES=2 needs SERVE_BENCH_STORE=redis"
    );
    let server = if redis {
        assert!(
            redis_support::available("serve bench"),
            "redis-server is needed"
        );
        Some(redis_support::Redis::start())
    } else {
        None
    };
    let used_memory = |r: &redis_support::Redis| -> u64 {
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query(&mut r.connection())
            .expect("INFO");
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory")
    };

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let data = tempfile::tempdir().expect("tempdir");
    let store = server
        .as_ref()
        .map(|r| format!("store = \"{}\"\n", r.url()))
        .unwrap_or_default();
    let config = tailor_server::Config::from_toml(
        &format!(
            "listen = \"127.0.0.1:0\"\n{store}data_dir = \"{}\"\nwatch = false\nclock = \"{EVENING}\"\nclock_frozen = true\n[accounts.qianjiang]\npackage = \"{}\"\ncatalog = \"{}\"\ntoken = \"{TOKEN}\"\n",
            data.path().display(),
            repo.join("rules/qianjiang").display(),
            repo.join("rules/qianjiang/catalog.jsonl").display(),
        ),
        repo,
    )
    .expect("config");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let running: Vec<_> = (0..nodes)
        .map(|_| {
            runtime
                .block_on(tailor_server::start(config.clone(), None))
                .expect("start")
        })
        .collect();
    let addrs: Vec<_> = running.iter().map(tailor_server::Running::addr).collect();
    let memory_before = server.as_ref().map(used_memory);

    let ts: jiff::Timestamp = EVENING.parse().expect("time");
    let ts = ts.as_second().to_string();
    let sig = tailor_wechat::signature::sign(&[TOKEN, &ts, "1"]);
    let path = Arc::new(format!(
        "/wechat/qianjiang?signature={sig}&timestamp={ts}&nonce=1"
    ));
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let path = Arc::clone(&path);
            let addr = addrs[c % addrs.len()];
            std::thread::spawn(move || {
                let mut client = Client::connect(addr);
                let mut latencies = Vec::new();
                let mut digests = 0usize;
                let mut i = 0usize;
                while start.elapsed() < duration && i < max_per_client {
                    let xml = format!(
                        "<xml><ToUserName>gh</ToUserName><FromUserName>bench-{c}-{i}</FromUserName><CreateTime>{i}</CreateTime><MsgType>event</MsgType><Event>ENTER</Event></xml>"
                    );
                    let t = Instant::now();
                    let (status, body) = client.post(&path, &xml);
                    latencies.push(t.elapsed());
                    assert_eq!(status, 200, "{body}");
                    if body.contains("<Articles>") {
                        digests += 1;
                    }
                    i += 1;
                }
                (latencies, digests)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut digests = 0;
    for w in workers {
        let (l, d) = w.join().expect("client");
        latencies.extend(l);
        digests += d;
    }
    let elapsed = start.elapsed();
    for node in running {
        runtime.block_on(node.shutdown());
    }
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(i).copied().unwrap_or_default()
    };
    let n = latencies.len();
    assert_eq!(digests, n, "every first enter is a digest");
    let store = match (redis, nodes) {
        (false, _) => "one node on redb".to_owned(),
        (true, 1) => "one node on Redis".to_owned(),
        (true, k) => format!("{k} nodes on one Redis"),
    };
    println!(
        "serve/enter ({store}): {n} callbacks from {clients} keep-alive clients in {:.2} s: {:.0} callbacks/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        pct(1.0).as_secs_f64() * 1e3,
    );
    if let (Some(r), Some(before)) = (&server, memory_before) {
        let after = used_memory(r);
        println!(
            "redis: used_memory {:.1} MB after {n} readers ({:.0} bytes a reader: profile, history, kept reply)",
            after as f64 / 1e6,
            after.saturating_sub(before) as f64 / n.max(1) as f64
        );
    }
}
