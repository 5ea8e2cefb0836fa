//! The shared store: Redis (one server, the primary a Sentinel names, or a Cluster), so
//! that several `tailor serve` processes behind a load balancer behave as one server.
//!
//! Keys (every key of one reader shares the hash tag `{ACCOUNT/USER}`, so that a reader's
//! commit is one slot of a Cluster):
//!
//! | key | type | holds |
//! |---|---|---|
//! | `tailor:{A/U}:profile` | string | the profile JSON |
//! | `tailor:{A/U}:history` | sorted set | delivery and open records, scored by their time; expires with the package's history window |
//! | `tailor:{A/U}:reply:KEY` | string | the first reply to a delivery; expires after `dedup_ttl_secs` |
//! | `tailor:{A/U}:lock` | string | the reader's lock across processes: a fencing token, with a TTL |
//! | `tailor:{A}:profiles` | sorted set | the account's profile ids (counting and paging) |
//! | `tailor:{A}:catalog` | hash | block id → block JSON |
//! | `tailor:{A}:catalog:version` | string | a counter bumped by every catalog change |
//!
//! A write batch ([`Store::apply`]) runs as one Lua script — atomic, and one AOF entry —
//! on one Redis. On a Cluster a script can only touch one slot, so a batch is split by
//! hash tag: each reader's writes stay atomic (an event's commit is one reader's), but a
//! batch spanning readers (a bulk import) is applied reader by reader, and the account's
//! profile index is updated after the reader's own keys.
//!
//! Failures of the connection are [`StoreError::Unavailable`]; the connection is dropped
//! and the next call connects again, so a node resumes by itself when Redis is back.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::ConnectionLike;

use super::{JsonMap, Records, Store, StoreError, StoredReply, Write};

/// Applies a batch: `ARGV[1]` is the index in `KEYS` of a lock that must hold the token
/// `ARGV[2]` (0: none); then each operation is `command, key index, argument count,
/// arguments…`. Nothing is written when the lock is not held.
const APPLY: &str = r"
local fence = tonumber(ARGV[1])
if fence > 0 and redis.call('GET', KEYS[fence]) ~= ARGV[2] then
  return redis.error_reply('TAILOR_LOCK_LOST the reader lock was lost before the commit')
end
local i = 3
while i <= #ARGV do
  local cmd = ARGV[i]
  local key = KEYS[tonumber(ARGV[i + 1])]
  local n = tonumber(ARGV[i + 2])
  local args = {}
  for j = 1, n do args[j] = ARGV[i + 2 + j] end
  redis.call(cmd, key, unpack(args))
  i = i + 3 + n
end
return 1
";

/// Takes a lock for `ARGV[1]` (a token) for `ARGV[2]` ms; also answers 1 when the lock
/// already holds that token (a retried call whose first answer was lost).
const LOCK: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 0
";

/// Releases a lock only if it still holds the caller's token.
const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// How long a call waits for Redis before the node treats it as unreachable.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Where the store lives. Its `Debug` leaves out a password the URLs may carry.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisTarget {
    /// One Redis server (`redis://host:port/db`; the primary, under Sentinel).
    Single(String),
    /// A Redis Cluster, given by some of its nodes (`redis://host:port` each).
    Cluster(Vec<String>),
}

/// A URL without its `user:password@` part.
fn without_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) => format!("{scheme}://<redacted>@{host}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

impl std::fmt::Debug for RedisTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RedisTarget::Single(url) => f
                .debug_tuple("Single")
                .field(&without_credentials(url))
                .finish(),
            RedisTarget::Cluster(nodes) => f
                .debug_tuple("Cluster")
                .field(
                    &nodes
                        .iter()
                        .map(|n| without_credentials(n))
                        .collect::<Vec<_>>(),
                )
                .finish(),
        }
    }
}

impl RedisTarget {
    /// Parses the `store` configuration value: `redis://…` (or `rediss://…`) or
    /// `redis-cluster://host:port,host:port,…`.
    ///
    /// # Errors
    ///
    /// Anything else, or a cluster URL without nodes.
    pub fn parse(url: &str) -> Result<RedisTarget, String> {
        if let Some(nodes) = url.strip_prefix("redis-cluster://") {
            let nodes: Vec<String> = nodes
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| format!("redis://{n}"))
                .collect();
            if nodes.is_empty() {
                return Err(format!(
                    "`{url}` names no node: write redis-cluster://HOST:PORT,HOST:PORT,…"
                ));
            }
            Ok(RedisTarget::Cluster(nodes))
        } else if url.starts_with("redis://") || url.starts_with("rediss://") {
            Ok(RedisTarget::Single(url.to_owned()))
        } else {
            Err(format!(
                "`{url}` is not a store: write \"redb\", \"redis://HOST:PORT/DB\" or \"redis-cluster://HOST:PORT,…\""
            ))
        }
    }
}

enum Client {
    Single(redis::Client),
    Cluster(redis::cluster::ClusterClient),
}

type Conn = Box<dyn ConnectionLike + Send>;

/// The Redis store. Connections are pooled; each call takes one.
pub struct RedisStore {
    client: Client,
    target: RedisTarget,
    pool: Mutex<Vec<Conn>>,
    apply: redis::Script,
    lock: redis::Script,
    unlock: redis::Script,
    /// Makes history members unique across processes.
    node: String,
    counter: AtomicU64,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

/// Whether the connection is unusable after this error.
fn broken(e: &redis::RedisError) -> bool {
    e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal()
}

fn classify(e: &redis::RedisError) -> StoreError {
    if e.to_string().contains("TAILOR_LOCK_LOST") {
        StoreError::LockLost
    } else if broken(e) || e.is_cluster_error() {
        unavailable(e)
    } else {
        failed(e)
    }
}

fn unavailable(e: &redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn failed(e: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(e.to_string())
}

/// The hash tag of a reader's keys.
fn reader(account: &str, user: &str) -> String {
    format!("tailor:{{{account}/{user}}}")
}

/// The hash tag of an account's shared keys.
fn shared(account: &str) -> String {
    format!("tailor:{{{account}}}")
}

fn object(json: &str) -> Result<JsonMap, StoreError> {
    match serde_json::from_str(json).map_err(failed)? {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(StoreError::Failed(
            "a stored record is not a JSON object".into(),
        )),
    }
}

/// The slot-defining part of a key: what its first `{…}` holds.
fn tag(key: &str) -> &str {
    key.split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map_or(key, |(t, _)| t)
}

/// The batch a key's write goes to: by slot tag on a Cluster (in order of first
/// appearance), the one batch on a single Redis.
fn batch_for<'a>(
    batches: &'a mut Vec<(String, Batch)>,
    cluster: bool,
    key: &str,
) -> Result<&'a mut Batch, StoreError> {
    let t = if cluster { tag(key) } else { "" };
    if !batches.iter().any(|(bt, _)| bt == t) {
        batches.push((t.to_owned(), Batch::default()));
    }
    batches
        .iter_mut()
        .find(|(bt, _)| bt == t)
        .map(|(_, b)| b)
        .ok_or_else(|| StoreError::Failed("internal: a batch went missing".into()))
}

/// One batch being built: keys and the script's arguments.
#[derive(Default)]
struct Batch {
    keys: Vec<String>,
    ops: Vec<Vec<u8>>,
    fence: Option<(usize, String)>,
}

impl Batch {
    fn key(&mut self, key: String) -> usize {
        match self.keys.iter().position(|k| *k == key) {
            Some(i) => i + 1,
            None => {
                self.keys.push(key);
                self.keys.len()
            }
        }
    }

    fn op(&mut self, cmd: &str, key: String, args: &[Vec<u8>]) {
        let k = self.key(key);
        self.ops.push(cmd.as_bytes().to_vec());
        self.ops.push(k.to_string().into_bytes());
        self.ops.push(args.len().to_string().into_bytes());
        self.ops.extend(args.iter().cloned());
    }
}

impl RedisStore {
    /// Connects (and checks the connection with a `PING`).
    ///
    /// # Errors
    ///
    /// A bad URL, or Redis unreachable.
    pub fn open(target: RedisTarget) -> Result<RedisStore, StoreError> {
        let client = match &target {
            RedisTarget::Single(url) => {
                Client::Single(redis::Client::open(url.as_str()).map_err(failed)?)
            }
            RedisTarget::Cluster(nodes) => Client::Cluster(
                redis::cluster::ClusterClientBuilder::new(nodes.clone())
                    .connection_timeout(IO_TIMEOUT)
                    .response_timeout(IO_TIMEOUT)
                    .build()
                    .map_err(failed)?,
            ),
        };
        let node = tailor_wechat::random_nonce().map_err(failed)?;
        let store = RedisStore {
            client,
            target,
            pool: Mutex::new(Vec::new()),
            apply: redis::Script::new(APPLY),
            lock: redis::Script::new(LOCK),
            unlock: redis::Script::new(UNLOCK),
            node,
            counter: AtomicU64::new(0),
        };
        store.ping()?;
        Ok(store)
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        match &self.client {
            Client::Single(c) => {
                let conn = c
                    .get_connection_with_timeout(IO_TIMEOUT)
                    .map_err(|e| unavailable(&e))?;
                conn.set_read_timeout(Some(IO_TIMEOUT))
                    .map_err(|e| unavailable(&e))?;
                conn.set_write_timeout(Some(IO_TIMEOUT))
                    .map_err(|e| unavailable(&e))?;
                Ok(Box::new(conn))
            }
            Client::Cluster(c) => {
                let conn = c.get_connection().map_err(|e| unavailable(&e))?;
                Ok(Box::new(conn))
            }
        }
    }

    /// Runs `f` on a pooled connection. When the connection fails (Redis restarted, or
    /// a connection went stale), every pooled connection is dropped and `f` runs once
    /// more on a new one. Every call here may run twice without harm: a batch's history
    /// members and a lock's token are chosen before the first try, so writing them again
    /// changes nothing; only a catalog change's version counter may advance twice, which
    /// makes the other nodes index the same catalog once more.
    fn with<T>(
        &self,
        mut f: impl FnMut(&mut dyn ConnectionLike) -> redis::RedisResult<T>,
    ) -> Result<T, StoreError> {
        let pooled = self.pool.lock().ok().and_then(|mut p| p.pop());
        let fresh = pooled.is_none();
        let mut conn = match pooled {
            Some(c) => c,
            None => self.connect()?,
        };
        let mut result = f(&mut *conn);
        if let Err(e) = &result
            && broken(e)
        {
            if let Ok(mut p) = self.pool.lock() {
                p.clear();
            }
            if fresh {
                return Err(classify(e));
            }
            conn = self.connect()?;
            result = f(&mut *conn);
        }
        match result {
            Ok(v) => {
                if let Ok(mut p) = self.pool.lock()
                    && p.len() < 64
                {
                    p.push(conn);
                }
                Ok(v)
            }
            Err(e) => {
                if !broken(&e)
                    && let Ok(mut p) = self.pool.lock()
                {
                    p.push(conn);
                }
                Err(classify(&e))
            }
        }
    }

    /// A history member: unique across processes, ordered by commit time within a second.
    /// The operations that add one history record (a delivery or an open), scored by its
    /// time, to a reader's history key. The record is needed for the package's history
    /// window after its own time; a reader who comes back later starts afresh.
    fn append_history(
        &self,
        ops: &mut Vec<(String, &'static str, Vec<Vec<u8>>)>,
        reader: String,
        at: jiff::Timestamp,
        json: &str,
        keep_secs: i64,
    ) {
        let key = format!("{reader}:history");
        ops.push((
            key.clone(),
            "ZADD",
            vec![
                at.as_second().to_string().into_bytes(),
                self.member(json).into_bytes(),
            ],
        ));
        ops.push((
            key,
            "EXPIRE",
            vec![keep_secs.max(1).to_string().into_bytes()],
        ));
    }

    fn member(&self, json: &str) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{nanos:020}-{}-{n}|{json}", self.node)
    }

    fn run(&self, batch: Batch) -> Result<(), StoreError> {
        if batch.ops.is_empty() && batch.fence.is_none() {
            return Ok(());
        }
        let mut inv = self.apply.prepare_invoke();
        for k in &batch.keys {
            inv.key(k);
        }
        match &batch.fence {
            Some((i, token)) => inv.arg(*i).arg(token),
            None => inv.arg(0).arg(""),
        };
        for a in &batch.ops {
            inv.arg(a);
        }
        self.with(|c| inv.invoke::<i64>(c)).map(|_| ())
    }
}

impl Store for RedisStore {
    fn profile(&self, account: &str, id: &str) -> Result<Option<JsonMap>, StoreError> {
        let key = format!("{}:profile", reader(account, id));
        let json: Option<String> = self.with(|c| redis::cmd("GET").arg(&key).query(c))?;
        json.as_deref().map(object).transpose()
    }

    fn profile_count(&self, account: &str) -> Result<u64, StoreError> {
        let key = format!("{}:profiles", shared(account));
        self.with(|c| redis::cmd("ZCARD").arg(&key).query(c))
    }

    fn profile_ids(
        &self,
        account: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let key = format!("{}:profiles", shared(account));
        let min = after.map_or_else(|| "-".to_owned(), |a| format!("({a}"));
        self.with(|c| {
            redis::cmd("ZRANGE")
                .arg(&key)
                .arg(&min)
                .arg("+")
                .arg("BYLEX")
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query(c)
        })
    }

    fn blocks(&self, account: &str) -> Result<Vec<JsonMap>, StoreError> {
        let key = format!("{}:catalog", shared(account));
        let all: Vec<(String, String)> = self.with(|c| redis::cmd("HGETALL").arg(&key).query(c))?;
        let mut all = all;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all.iter().map(|(_, json)| object(json)).collect()
    }

    fn records(&self, account: &str, user: &str) -> Result<Records, StoreError> {
        let key = format!("{}:history", reader(account, user));
        let members: Vec<String> =
            self.with(|c| redis::cmd("ZRANGE").arg(&key).arg(0).arg(-1).query(c))?;
        let mut out = Records::default();
        for m in &members {
            let json = m.split_once('|').map_or(m.as_str(), |(_, j)| j);
            out.push(super::parse_record(json).map_err(failed)?);
        }
        Ok(out)
    }

    fn reply(
        &self,
        account: &str,
        user: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, StoreError> {
        let key = format!("{}:reply:{key}", reader(account, user));
        let record: Option<Vec<u8>> = self.with(|c| redis::cmd("GET").arg(&key).query(c))?;
        record
            .as_deref()
            .map(super::redb_store::decode_reply)
            .transpose()
    }

    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let cluster = matches!(self.target, RedisTarget::Cluster(_));
        // Batches by slot tag on a Cluster (readers first, in order of appearance, then
        // the accounts' shared keys); one batch on a single Redis.
        let mut batches: Vec<(String, Batch)> = Vec::new();
        let mut ops: Vec<(String, &'static str, Vec<Vec<u8>>)> = Vec::new();
        let mut fences: Vec<(String, String)> = Vec::new();
        for w in &writes {
            match w {
                Write::PutProfile {
                    account,
                    id,
                    profile,
                } => {
                    let json = serde_json::to_string(profile).map_err(failed)?;
                    ops.push((
                        format!("{}:profile", reader(account, id)),
                        "SET",
                        vec![json.into_bytes()],
                    ));
                    ops.push((
                        format!("{}:profiles", shared(account)),
                        "ZADD",
                        vec![b"0".to_vec(), id.clone().into_bytes()],
                    ));
                }
                Write::InsertProfile {
                    account,
                    id,
                    profile,
                } => {
                    let json = serde_json::to_string(profile).map_err(failed)?;
                    ops.push((
                        format!("{}:profile", reader(account, id)),
                        "SET",
                        vec![json.into_bytes(), b"NX".to_vec()],
                    ));
                    ops.push((
                        format!("{}:profiles", shared(account)),
                        "ZADD",
                        vec![b"0".to_vec(), id.clone().into_bytes()],
                    ));
                }
                Write::DeleteProfile { account, id } => {
                    ops.push((format!("{}:profile", reader(account, id)), "DEL", vec![]));
                    ops.push((format!("{}:history", reader(account, id)), "DEL", vec![]));
                    ops.push((
                        format!("{}:profiles", shared(account)),
                        "ZREM",
                        vec![id.clone().into_bytes()],
                    ));
                }
                Write::AppendDelivery {
                    account,
                    delivery,
                    keep_secs,
                } => {
                    let json = serde_json::to_string(delivery).map_err(failed)?;
                    self.append_history(
                        &mut ops,
                        reader(account, &delivery.user),
                        delivery.at,
                        &json,
                        *keep_secs,
                    );
                }
                Write::AppendOpen {
                    account,
                    open,
                    keep_secs,
                } => {
                    let json = serde_json::to_string(open).map_err(failed)?;
                    self.append_history(
                        &mut ops,
                        reader(account, &open.user),
                        open.at,
                        &json,
                        *keep_secs,
                    );
                }
                Write::PruneHistory {
                    account,
                    user,
                    before,
                } => {
                    ops.push((
                        format!("{}:history", reader(account, user)),
                        "ZREMRANGEBYSCORE",
                        vec![b"-inf".to_vec(), format!("({before}").into_bytes()],
                    ));
                }
                Write::PutReply {
                    account,
                    user,
                    key,
                    reply,
                } => {
                    // The embedded store's record: the body compressed.
                    let record = super::redb_store::encode_reply(reply)?;
                    let ttl = (reply.until - reply.at).max(1);
                    ops.push((
                        format!("{}:reply:{key}", reader(account, user)),
                        "SET",
                        vec![record, b"EX".to_vec(), ttl.to_string().into_bytes()],
                    ));
                }
                Write::PutBlock { account, id, block } => {
                    let json = serde_json::to_string(block).map_err(failed)?;
                    let base = shared(account);
                    ops.push((
                        format!("{base}:catalog"),
                        "HSET",
                        vec![id.clone().into_bytes(), json.into_bytes()],
                    ));
                    ops.push((format!("{base}:catalog:version"), "INCR", vec![]));
                }
                Write::DeleteBlock { account, id } => {
                    let base = shared(account);
                    ops.push((
                        format!("{base}:catalog"),
                        "HDEL",
                        vec![id.clone().into_bytes()],
                    ));
                    ops.push((format!("{base}:catalog:version"), "INCR", vec![]));
                }
                Write::Fence {
                    account,
                    user,
                    token,
                } => fences.push((format!("{}:lock", reader(account, user)), token.clone())),
            }
        }
        for (lock, token) in fences {
            let batch = batch_for(&mut batches, cluster, &lock)?;
            let i = batch.key(lock);
            batch.fence = Some((i, token));
        }
        for (key, cmd, args) in ops {
            batch_for(&mut batches, cluster, &key)?.op(cmd, key, &args);
        }
        for (_, batch) in batches {
            self.run(batch)?;
        }
        Ok(())
    }

    fn expire_replies(&self, _now: i64, _max: usize) -> Result<u64, StoreError> {
        // Replies carry their own TTL.
        Ok(0)
    }

    fn shared(&self) -> bool {
        true
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| redis::cmd("PING").query::<String>(c))
            .map(|_| ())
    }

    fn try_lock_user(
        &self,
        account: &str,
        user: &str,
        ttl: Duration,
    ) -> Result<Option<String>, StoreError> {
        let key = format!("{}:lock", reader(account, user));
        let token = format!(
            "{}-{}",
            self.node,
            self.counter.fetch_add(1, Ordering::Relaxed)
        );
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut inv = self.lock.prepare_invoke();
        inv.key(&key).arg(&token).arg(ms);
        let taken: i64 = self.with(|c| inv.invoke(c))?;
        Ok((taken == 1).then_some(token))
    }

    fn unlock_user(&self, account: &str, user: &str, token: &str) -> Result<(), StoreError> {
        let key = format!("{}:lock", reader(account, user));
        let mut inv = self.unlock.prepare_invoke();
        inv.key(&key).arg(token);
        self.with(|c| inv.invoke::<i64>(c)).map(|_| ())
    }

    fn catalog_version(&self, account: &str) -> Result<u64, StoreError> {
        let key = format!("{}:catalog:version", shared(account));
        let v: Option<u64> = self.with(|c| redis::cmd("GET").arg(&key).query(c))?;
        Ok(v.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        assert_eq!(
            RedisTarget::parse("redis://127.0.0.1:6379/0"),
            Ok(RedisTarget::Single("redis://127.0.0.1:6379/0".into()))
        );
        assert_eq!(
            RedisTarget::parse("redis-cluster://127.0.0.1:7000, 127.0.0.1:7001"),
            Ok(RedisTarget::Cluster(vec![
                "redis://127.0.0.1:7000".into(),
                "redis://127.0.0.1:7001".into()
            ]))
        );
        assert!(RedisTarget::parse("redis-cluster://").is_err());
        assert!(RedisTarget::parse("memcached://x").is_err());
    }

    #[test]
    fn a_password_in_the_url_is_not_shown() {
        let t = RedisTarget::parse("redis://:s3cret@10.0.0.5:6379/0").unwrap();
        let shown = format!("{t:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("10.0.0.5:6379"), "{shown}");
    }

    #[test]
    fn a_readers_keys_share_one_tag() {
        let r = reader("qianjiang", "li-daye");
        assert_eq!(tag(&format!("{r}:profile")), "qianjiang/li-daye");
        assert_eq!(tag(&format!("{r}:reply:m:1")), "qianjiang/li-daye");
        assert_eq!(
            tag(&format!("{}:catalog", shared("qianjiang"))),
            "qianjiang"
        );
    }
}
