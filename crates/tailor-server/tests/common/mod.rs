//! Shared helpers: a server on an ephemeral loopback port with its own store, a minimal
//! HTTP client, and WeChat pushes signed as WeChat signs them.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tailor_server::{Config, ManualClock, Running};
use tailor_wechat::{Callback, Mode, Reply};

pub const TOKEN: &str = "tok";
pub const APP_ID: &str = "wx0123456789abcdef";
pub const AES_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
pub const ADMIN: &str = "test-admin";
/// 2013-02-21T19:30:00+08:00, the evening of the example catalog.
pub const EVENING: &str = "2013-02-21T19:30:00+08:00";

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn evening() -> jiff::Timestamp {
    EVENING.parse().unwrap()
}

pub struct Options {
    pub mode: &'static str,
    pub package: PathBuf,
    pub budget_ms: u64,
    pub watch: bool,
    pub extra: String,
    /// Keys added to the account's table (e.g. `track_base`).
    pub account_extra: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: "plain",
            package: repo().join("rules/qianjiang"),
            budget_ms: 3000,
            watch: false,
            extra: String::new(),
            account_extra: String::new(),
        }
    }
}

pub fn config(data: &Path, o: &Options) -> Config {
    let q = repo().join("rules/qianjiang");
    let text = format!(
        r#"
listen = "127.0.0.1:0"
data_dir = "{data}"
admin_token = "{ADMIN}"
budget_ms = {budget}
watch = {watch}
{extra}
[accounts.qianjiang]
package = "{package}"
profiles = "{profiles}"
catalog = "{catalog}"
token = "{TOKEN}"
app_id = "{APP_ID}"
encoding_aes_key = "{AES_KEY}"
mode = "{mode}"
{account_extra}
"#,
        data = data.display(),
        budget = o.budget_ms,
        watch = o.watch,
        extra = o.extra,
        package = o.package.display(),
        profiles = q.join("profiles.jsonl").display(),
        catalog = q.join("catalog.jsonl").display(),
        mode = o.mode,
        account_extra = o.account_extra,
    );
    Config::from_toml(&text, Path::new("/")).unwrap()
}

pub struct Server {
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub clock: Arc<ManualClock>,
    pub callback: Callback,
    pub dir: tempfile::TempDir,
}

pub fn callback(mode: &str) -> Callback {
    let mode = match mode {
        "safe" => Mode::Safe,
        "compatible" => Mode::Compatible,
        _ => Mode::Plain,
    };
    Callback::new(
        tailor_wechat::Config::new(TOKEN, APP_ID)
            .with_encoding_aes_key(AES_KEY)
            .unwrap()
            .with_mode(mode),
    )
    .unwrap()
}

impl Server {
    pub async fn start(o: Options) -> Server {
        Server::start_with(o, |store| store).await
    }

    /// A server whose store is wrapped (e.g. slowed down).
    pub async fn start_with(
        o: Options,
        wrap: impl FnOnce(Arc<dyn tailor_server::Store>) -> Arc<dyn tailor_server::Store>,
    ) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(evening()));
        let store = Arc::new(tailor_server::RedbStore::open(dir.path()).unwrap());
        let running = tailor_server::start_with_store(
            config(dir.path(), &o),
            Some(clock.clone()),
            Some(wrap(store)),
        )
        .await
        .unwrap();
        Server {
            addr: running.addr(),
            running: Some(running),
            clock,
            callback: callback(o.mode),
            dir,
        }
    }

    /// Stops the server and starts a new one on the same store.
    pub async fn restart(&mut self, o: Options) {
        self.running.take().unwrap().shutdown().await;
        let running = tailor_server::start(config(self.dir.path(), &o), Some(self.clock.clone()))
            .await
            .unwrap();
        self.addr = running.addr();
        self.running = Some(running);
    }

    pub fn now(&self) -> u64 {
        use tailor_server::Clock;
        self.clock.unix_secs()
    }

    pub async fn get(&self, path: &str) -> (u16, String) {
        request(self.addr, "GET", path, &[], Vec::new()).await
    }

    pub async fn admin(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let auth = format!("Bearer {ADMIN}");
        let (status, text) = request(
            self.addr,
            method,
            path,
            &[
                ("authorization", auth.as_str()),
                ("content-type", "application/json"),
            ],
            body.as_bytes().to_vec(),
        )
        .await;
        let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, value)
    }

    /// Pushes a WeChat message as WeChat would (signed, encrypted in safe mode) at the
    /// server's clock; returns the status and the raw body.
    pub async fn push(&self, xml: &str) -> (u16, String) {
        let ts = self.now();
        let push = self.callback.simulate_push(xml, ts, "n0nce").unwrap();
        let path = format!("/wechat/qianjiang?{}", push.query.to_query_string());
        request(self.addr, "POST", &path, &[], push.body.into_bytes()).await
    }

    /// The reply as WeChat reads it.
    pub fn read_reply(&self, body: &str) -> Reply {
        self.callback.open_reply(body).unwrap().reply
    }

    pub async fn history(&self, user: &str) -> Vec<serde_json::Value> {
        let (status, v) = self
            .admin("GET", &format!("/v1/qianjiang/users/{user}/history"), "")
            .await;
        assert_eq!(status, 200, "{v}");
        v["deliveries"].as_array().unwrap().clone()
    }

    /// `GET path` with the admin token: the status, the `content-type` and the body.
    pub async fn page(&self, path: &str) -> (u16, String, String) {
        let auth = format!("Bearer {ADMIN}");
        let (status, headers, body) = request_with_headers(
            self.addr,
            "GET",
            path,
            &[("authorization", auth.as_str())],
            Vec::new(),
        )
        .await;
        let content_type = headers
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, content_type, body)
    }

    /// `GET path` as a browser sends it once the editor has typed the admin token as the
    /// password: HTTP Basic auth. The status, the answer's headers and the body.
    pub async fn browse(&self, path: &str) -> (u16, hyper::HeaderMap, String) {
        let auth = basic("editor", ADMIN);
        request_with_headers(
            self.addr,
            "GET",
            path,
            &[("authorization", auth.as_str())],
            Vec::new(),
        )
        .await
    }

    pub async fn profile(&self, user: &str) -> serde_json::Value {
        let (status, v) = self
            .admin("GET", &format!("/v1/qianjiang/profiles/{user}"), "")
            .await;
        assert_eq!(status, 200, "{v}");
        v
    }
}

/// An `Authorization` header of HTTP Basic auth (RFC 7617).
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// One HTTP/1.1 request on a fresh loopback connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, String) {
    let (status, _, body) = request_with_headers(addr, method, path, headers, body).await;
    (status, body)
}

/// [`request`], with the answer's headers.
pub async fn request_with_headers(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, hyper::HeaderMap, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = sender
        .send_request(req.body(Full::new(Bytes::from(body))).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

pub fn enter(user: &str, create_time: u64) -> String {
    event(user, create_time, "ENTER", "")
}

pub fn event(user: &str, create_time: u64, event: &str, extra: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_qianjiang]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>{extra}</xml>"
    )
}

pub fn text(user: &str, create_time: u64, msg_id: u64, content: &str) -> String {
    format!(
        "<xml><ToUserName><![CDATA[gh_qianjiang]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName><CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
}

/// The titles of a news reply.
pub fn titles(reply: &Reply) -> Vec<String> {
    match reply {
        Reply::News { articles } => articles.iter().map(|a| a.title.clone()).collect(),
        other => panic!("expected a news reply, got {other:?}"),
    }
}

/// The server clock's time, as events take it.
pub fn now(s: &Server) -> jiff::Timestamp {
    jiff::Timestamp::from_second(i64::try_from(s.now()).unwrap()).unwrap()
}

/// The ids of a digest's items, in order.
pub fn item_ids(items: &serde_json::Value) -> Vec<String> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A reader's stored delivery records, as the engine's `History`.
pub async fn stored_history(s: &Server, user: &str) -> tailor_engine::History {
    tailor_engine::History::new(
        s.history(user)
            .await
            .into_iter()
            .map(|d| serde_json::from_value::<tailor_engine::Delivery>(d).unwrap()),
    )
}

/// A store that counts the write batches applied to it (`applied`) and fails them while
/// `failing` is set: wraps the server's real store, for tests that must show that a
/// refused request stored nothing, or what a failing store does to an answer.
#[derive(Debug)]
pub struct Recording {
    pub inner: Arc<dyn tailor_server::Store>,
    pub applied: Arc<std::sync::atomic::AtomicUsize>,
    pub failing: Arc<std::sync::atomic::AtomicBool>,
}

impl tailor_server::Store for Recording {
    fn profile(
        &self,
        a: &str,
        id: &str,
    ) -> Result<Option<tailor_server::store::JsonMap>, tailor_server::store::StoreError> {
        self.inner.profile(a, id)
    }
    fn profile_count(&self, a: &str) -> Result<u64, tailor_server::store::StoreError> {
        self.inner.profile_count(a)
    }
    fn profile_ids(
        &self,
        a: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, tailor_server::store::StoreError> {
        self.inner.profile_ids(a, after, limit)
    }
    fn blocks(
        &self,
        a: &str,
    ) -> Result<Vec<tailor_server::store::JsonMap>, tailor_server::store::StoreError> {
        self.inner.blocks(a)
    }
    fn history(
        &self,
        a: &str,
        u: &str,
    ) -> Result<Vec<tailor_engine::Delivery>, tailor_server::store::StoreError> {
        self.inner.history(a, u)
    }
    fn records(
        &self,
        a: &str,
        u: &str,
    ) -> Result<tailor_server::store::Records, tailor_server::store::StoreError> {
        self.inner.records(a, u)
    }
    fn reply(
        &self,
        a: &str,
        u: &str,
        k: &str,
    ) -> Result<Option<tailor_server::store::StoredReply>, tailor_server::store::StoreError> {
        self.inner.reply(a, u, k)
    }
    fn apply(
        &self,
        writes: Vec<tailor_server::store::Write>,
    ) -> Result<(), tailor_server::store::StoreError> {
        use std::sync::atomic::Ordering;
        if self.failing.load(Ordering::SeqCst) {
            return Err(tailor_server::store::StoreError::Failed(
                "the test's failing store".into(),
            ));
        }
        self.applied.fetch_add(1, Ordering::SeqCst);
        self.inner.apply(writes)
    }
    fn expire_replies(
        &self,
        now: i64,
        max: usize,
    ) -> Result<u64, tailor_server::store::StoreError> {
        self.inner.expire_replies(now, max)
    }
}
