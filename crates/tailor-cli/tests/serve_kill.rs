//! `tailor serve` as a real process, killed with SIGKILL in the middle of a stream of
//! WeChat events: after a restart on the same store, every event that had been answered
//! is in the history, and none twice (retries of the unanswered ones included).

// A harness: failing loudly is what it should do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "tok";
const ADMIN: &str = "kill-test";
/// 2013-02-21T19:30:00+08:00.
const EVENING: u64 = 1_361_446_200;

fn start(config: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tailor"))
        .args(["serve", "--config"])
        .arg(config)
        .env("TAILOR_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .rsplit("http://")
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{first}: {e}"));
    // Keep draining stdout so that the server never blocks on it.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

/// One request; `None` when the connection failed or was cut before a full answer.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: bool,
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let auth = if auth {
        format!("Authorization: Bearer {ADMIN}\r\n")
    } else {
        String::new()
    };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let status = raw.split(' ').nth(1)?.parse().ok()?;
    let (headers, body) = raw.split_once("\r\n\r\n")?;
    let length: usize = headers.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .map(|v| v.trim().parse().unwrap_or(0))
    })?;
    (body.len() == length).then(|| (status, body.to_owned()))
}

fn push(addr: SocketAddr, user: &str, create_time: u64) -> Option<(u16, String)> {
    // The server's clock starts at EVENING and advances with real time.
    let ts = EVENING.to_string();
    let sig = tailor_wechat::signature::sign(&[TOKEN, &ts, "1"]);
    let xml = format!(
        "<xml><ToUserName>gh</ToUserName><FromUserName>{user}</FromUserName><CreateTime>{create_time}</CreateTime><MsgType>event</MsgType><Event>ENTER</Event></xml>"
    );
    request(
        addr,
        "POST",
        &format!("/wechat/q?signature={sig}&timestamp={ts}&nonce=1"),
        false,
        &xml,
    )
}

fn history(addr: SocketAddr, user: &str) -> usize {
    let (status, body) = request(
        addr,
        "GET",
        &format!("/v1/q/users/{user}/history"),
        true,
        "",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    v["deliveries"].as_array().unwrap().len()
}

/// What `kill_mid_stream` saw: every (reader, create time) sent, and every one answered
/// with its body.
type Stream = (Vec<(String, u64)>, Vec<(String, u64, String)>);

/// Four clients send first ENTERs of new readers (`{prefix}{client}-{i}`, each one a
/// digest) to `addr`; once 60 are answered (or 20 s passed) `child` is killed with
/// SIGKILL and the clients stop at their first failed request.
fn kill_mid_stream(addr: SocketAddr, child: &mut Child, prefix: &'static str) -> Stream {
    let answered = Arc::new(Mutex::new(Vec::new()));
    let sent = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (answered, sent, stop) = (answered.clone(), sent.clone(), stop.clone());
        clients.push(std::thread::spawn(move || {
            for i in 0..2_000u64 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let user = format!("{prefix}{c}-{i}");
                sent.lock().unwrap().push((user.clone(), i));
                match push(addr, &user, 1_000 + i) {
                    Some((200, body)) => {
                        assert!(body.contains("<Articles>"), "a first enter is a digest");
                        answered.lock().unwrap().push((user, i, body));
                    }
                    Some((status, body)) => panic!("{status}: {body}"),
                    None => break,
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while answered.lock().unwrap().len() < 60 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().unwrap();
    }
    let sent = sent.lock().unwrap().clone();
    let answered = answered.lock().unwrap().clone();
    (sent, answered)
}

#[test]
fn sigkill_mid_stream_loses_no_answered_event_and_records_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = dir.path().join("tailor.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndata_dir = \"data\"\nadmin_token = \"{ADMIN}\"\nwatch = false\nclock = \"2013-02-21T19:30:00+08:00\"\n[accounts.q]\npackage = \"{}\"\ncatalog = \"{}\"\ntoken = \"{TOKEN}\"\n",
            repo.join("rules/qianjiang").display(),
            repo.join("rules/qianjiang/catalog.jsonl").display()
        ),
    )
    .unwrap();
    let (mut child, addr) = start(&config);

    let (sent, answered) = kill_mid_stream(addr, &mut child, "k");
    assert!(
        answered.len() >= 20,
        "only {} events were answered",
        answered.len()
    );
    eprintln!(
        "{} events sent, {} answered before SIGKILL",
        sent.len(),
        answered.len()
    );

    let (mut child, addr) = start(&config);
    for (user, _, _) in &answered {
        assert_eq!(
            history(addr, user),
            1,
            "answered event of `{user}` lost or doubled"
        );
    }
    // WeChat retries what got no answer: recorded at most once, and a retry of an
    // answered delivery gets exactly its first reply.
    for (user, i) in sent
        .iter()
        .filter(|(u, _)| !answered.iter().any(|(a, _, _)| a == u))
    {
        let (status, _) = push(addr, user, 1_000 + i).unwrap();
        assert_eq!(status, 200);
        assert_eq!(history(addr, user), 1, "`{user}`");
    }
    for (user, i, body) in answered.iter().take(5) {
        let (_, again) = push(addr, user, 1_000 + i).unwrap();
        assert_eq!(&again, body);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[path = "../../tailor-server/tests/redis_support/mod.rs"]
mod redis_support;

/// Two nodes on one Redis (`appendfsync always`): node A is killed with SIGKILL in the
/// middle of a stream of first ENTERs; node B, on the same Redis, finds every delivery A
/// answered with a news reply, once, and answers A's retried deliveries with A's bytes.
#[test]
fn sigkill_of_a_node_on_redis_loses_no_answered_delivery() {
    if !redis_support::available("sigkill_of_a_node_on_redis_loses_no_answered_delivery") {
        return;
    }
    let redis = redis_support::Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = dir.path().join("tailor.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\nstore = \"{}\"\nadmin_token = \"{ADMIN}\"\nwatch = false\nclock = \"2013-02-21T19:30:00+08:00\"\n[accounts.q]\npackage = \"{}\"\ncatalog = \"{}\"\ntoken = \"{TOKEN}\"\n",
            redis.url(),
            repo.join("rules/qianjiang").display(),
            repo.join("rules/qianjiang/catalog.jsonl").display()
        ),
    )
    .unwrap();
    let (mut a, a_addr) = start(&config);
    let (mut b, b_addr) = start(&config);

    let (_, answered) = kill_mid_stream(a_addr, &mut a, "r");
    assert!(answered.len() >= 20, "only {} answered", answered.len());
    for (user, _, _) in &answered {
        assert_eq!(
            history(b_addr, user),
            1,
            "A's answered delivery to `{user}`"
        );
    }
    for (user, i, body) in answered.iter().take(5) {
        let (_, again) = push(b_addr, user, 1_000 + i).unwrap();
        assert_eq!(
            &again, body,
            "B answers A's retried delivery with A's reply"
        );
        assert_eq!(history(b_addr, user), 1);
    }
    b.kill().unwrap();
    b.wait().unwrap();
}
