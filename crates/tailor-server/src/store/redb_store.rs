//! The embedded store: one redb file. Writes go through one writer thread that commits
//! the changes of every waiting caller in one durable transaction (group commit), so
//! concurrent events share an fsync while each caller's list of writes stays atomic.
//! Reply expiry goes through the same thread, in bounded batches queued among the
//! writes, so that no commit is long and none waits behind a long one.

use std::ops::Bound;
use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use redb::{
    Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle,
};

use super::{JsonMap, Records, Store, StoreError, StoredReply, Write};

/// (account, profile id) → profile JSON.
const PROFILES: TableDefinition<(&str, &str), &str> = TableDefinition::new("profiles");
/// (account, block id) → block JSON.
const BLOCKS: TableDefinition<(&str, &str), &str> = TableDefinition::new("blocks");
/// (account, user, sequence) → delivery JSON.
const HISTORY: TableDefinition<(&str, &str, u64), &str> = TableDefinition::new("history");
/// (account, recipient, dedup key) → stored reply (a format byte, then the record).
const REPLIES: TableDefinition<(&str, &str, &str), &[u8]> = TableDefinition::new("replies_v2");
/// (kept until, account, recipient, dedup key) → 0: the replies by expiry, so that
/// expiry reads only the expired ones.
const REPLY_AGES: TableDefinition<(i64, &str, &str, &str), u8> =
    TableDefinition::new("reply_ages_v2");
/// The tables of stores written before replies were keyed by recipient: dropped on
/// opening (they only serve retries within the dedup TTL).
const OLD_REPLIES: TableDefinition<(&str, &str), &str> = TableDefinition::new("replies");
const OLD_REPLY_AGES: TableDefinition<(i64, &str, &str), u8> = TableDefinition::new("reply_ages");
/// The format byte of a reply record stored as JSON (read, no longer written).
const REPLY_JSON: u8 = 0;
/// The format byte of a reply record stored compactly: the length of the record's
/// JSON without its body (4 bytes, big-endian), that JSON, then the body compressed
/// with raw deflate. A news reply's XML repeats its tags and URL prefixes: it keeps
/// about a quarter to a third of its bytes (BENCHMARKS.md, "Store: reply size and
/// recovery").
const REPLY_DEFLATE: u8 = 1;
/// Deflate's level for reply bodies (miniz's default: most of level 9's gain, faster).
const DEFLATE_LEVEL: u8 = 6;
/// The most bytes a stored body inflates to (a reply is well under WeChat's 2 MB
/// limits); a corrupted record fails instead of growing without bound.
const MAX_BODY: usize = 4 << 20;

/// A reply record without its body (stored beside the compressed body).
#[derive(serde::Serialize, serde::Deserialize)]
struct ReplyMeta {
    #[serde(default)]
    user: String,
    outcome: String,
    at: i64,
    #[serde(default)]
    until: i64,
}
/// "next_seq" → the next history sequence number.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// Most callers committed in one transaction.
const GROUP: usize = 256;

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Failed(e.to_string())
}

/// A write transaction, in quick-repair mode when `quick`: each commit then also
/// saves the allocator state (and commits in two phases), so that opening the file
/// after a crash does not walk every table to rebuild it. On a store of a million
/// deliveries that walk keeps `/healthz` down for about 14 s, quick repair for
/// 0.04 s, at the price of slower commits (about 1,000 instead of 2,500 durable
/// ENTERs a second from 16 clients): BENCHMARKS.md, "Store: reply size and recovery".
fn begin_write(db: &Database, quick: bool) -> Result<redb::WriteTransaction, StoreError> {
    let mut txn = db.begin_write().map_err(err)?;
    txn.set_quick_repair(quick);
    Ok(txn)
}

type Done<T> = SyncSender<Result<T, StoreError>>;

/// What the writer thread is asked to do.
enum Job {
    /// One caller's writes (grouped with other callers' into one commit).
    Writes(Vec<Write>, Done<()>),
    /// One bounded expiry batch, committed on its own.
    Expire {
        now: i64,
        max: usize,
        done: Done<u64>,
    },
}

/// The redb store. Dropping it finishes the pending writes and closes the file.
#[derive(Debug)]
pub struct RedbStore {
    /// Taken out by [`Store::close`], so that the file is released as soon as the last
    /// reader is done.
    db: Mutex<Option<Arc<Database>>>,
    jobs: Mutex<Option<SyncSender<Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl RedbStore {
    /// Opens (or creates) `dir/tailor.redb`, creating `dir` if needed.
    ///
    /// # Errors
    ///
    /// I/O and database errors (including another process holding the file).
    pub fn open(dir: &Path) -> Result<RedbStore, StoreError> {
        RedbStore::open_with(dir, false)
    }

    /// [`open`](Self::open), committing in redb's quick-repair mode when
    /// `quick_repair` (`store_quick_repair`): a restart after a crash is almost
    /// instant instead of a walk of the whole file, and every commit is slower.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    pub fn open_with(dir: &Path, quick_repair: bool) -> Result<RedbStore, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Failed(format!("cannot create `{}`: {e}", dir.display())))?;
        let path = dir.join("tailor.redb");
        let db = Database::create(&path)
            .map_err(|e| StoreError::Failed(format!("cannot open `{}`: {e}", path.display())))?;
        // Create every table so that readers never meet a missing one.
        let txn = begin_write(&db, quick_repair)?;
        {
            txn.open_table(PROFILES).map_err(err)?;
            txn.open_table(BLOCKS).map_err(err)?;
            txn.open_table(HISTORY).map_err(err)?;
            txn.open_table(REPLIES).map_err(err)?;
            txn.open_table(REPLY_AGES).map_err(err)?;
            txn.open_table(META).map_err(err)?;
            txn.delete_table(OLD_REPLIES).map_err(err)?;
            txn.delete_table(OLD_REPLY_AGES).map_err(err)?;
        }
        txn.commit().map_err(err)?;
        let db = Arc::new(db);
        let (tx, rx) = sync_channel::<Job>(4 * GROUP);
        let writer_db = Arc::clone(&db);
        let writer = std::thread::Builder::new()
            .name("tailor-store-writer".into())
            .spawn(move || writer_loop(&writer_db, &rx, quick_repair))
            .map_err(err)?;
        Ok(RedbStore {
            db: Mutex::new(Some(db)),
            jobs: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Stops the writer after the pending writes; later writes fail.
    pub fn stop_writer(&self) {
        if let Ok(mut db) = self.db.lock() {
            db.take();
        }
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut writer) = self.writer.lock()
            && let Some(handle) = writer.take()
        {
            let _ = handle.join();
        }
    }
}

/// What one table holds (for measurements: `examples/store_bench.rs`).
#[derive(Debug, Clone)]
pub struct TableSize {
    /// The table's name.
    pub name: String,
    /// Its entries.
    pub entries: u64,
    /// The bytes of its keys and values.
    pub stored_bytes: u64,
    /// The bytes of its tree's own bookkeeping.
    pub metadata_bytes: u64,
    /// The bytes of its pages left unused.
    pub fragmented_bytes: u64,
}

impl RedbStore {
    /// What each table holds, from one read transaction.
    ///
    /// # Errors
    ///
    /// Storage failures.
    pub fn table_sizes(&self) -> Result<Vec<TableSize>, StoreError> {
        fn size<K: redb::Key + 'static, V: redb::Value + 'static>(
            txn: &redb::ReadTransaction,
            def: TableDefinition<K, V>,
        ) -> Result<TableSize, StoreError> {
            let table = txn.open_table(def).map_err(err)?;
            let stats = table.stats().map_err(err)?;
            Ok(TableSize {
                name: def.name().to_owned(),
                entries: table.len().map_err(err)?,
                stored_bytes: stats.stored_bytes(),
                metadata_bytes: stats.metadata_bytes(),
                fragmented_bytes: stats.fragmented_bytes(),
            })
        }
        let txn = self.read()?;
        Ok(vec![
            size(&txn, PROFILES)?,
            size(&txn, BLOCKS)?,
            size(&txn, HISTORY)?,
            size(&txn, REPLIES)?,
            size(&txn, REPLY_AGES)?,
            size(&txn, META)?,
        ])
    }
}

impl Drop for RedbStore {
    fn drop(&mut self) {
        self.stop_writer();
    }
}

fn writer_loop(db: &Database, rx: &Receiver<Job>, quick: bool) {
    // A job taken out of the queue while grouping writes, run next.
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut batch = match first {
            Job::Expire { now, max, done } => {
                let _ = done.send(expire(db, now, max, quick));
                continue;
            }
            Job::Writes(writes, done) => vec![(writes, done)],
        };
        while batch.len() < GROUP {
            match rx.try_recv() {
                Ok(Job::Writes(writes, done)) => batch.push((writes, done)),
                Ok(expiry) => {
                    next = Some(expiry);
                    break;
                }
                Err(_) => break,
            }
        }
        commit_batch(db, batch, quick);
    }
}

/// Commits the writes of several callers in one transaction, answering each.
fn commit_batch(db: &Database, batch: Vec<(Vec<Write>, Done<()>)>, quick: bool) {
    let all: Vec<&[Write]> = batch.iter().map(|(w, _)| w.as_slice()).collect();
    match commit(db, &all, quick) {
        Ok(()) => {
            for (_, done) in batch {
                let _ = done.send(Ok(()));
            }
        }
        // One caller's writes failed: commit each caller alone so that the others
        // are not refused for it.
        Err(_) if batch.len() > 1 => {
            for (writes, done) in batch {
                let _ = done.send(commit(db, &[&writes], quick));
            }
        }
        Err(e) => {
            for (_, done) in batch {
                let _ = done.send(Err(e.clone()));
            }
        }
    }
}

fn commit(db: &Database, groups: &[&[Write]], quick: bool) -> Result<(), StoreError> {
    let txn = begin_write(db, quick)?;
    {
        let mut profiles = txn.open_table(PROFILES).map_err(err)?;
        let mut blocks = txn.open_table(BLOCKS).map_err(err)?;
        let mut history = txn.open_table(HISTORY).map_err(err)?;
        let mut replies = txn.open_table(REPLIES).map_err(err)?;
        let mut ages = txn.open_table(REPLY_AGES).map_err(err)?;
        let mut meta = txn.open_table(META).map_err(err)?;
        let mut seq = meta.get("next_seq").map_err(err)?.map_or(0, |v| v.value());
        let start_seq = seq;
        for write in groups.iter().flat_map(|g| g.iter()) {
            match write {
                Write::PutProfile {
                    account,
                    id,
                    profile,
                } => {
                    let json = serde_json::to_string(profile).map_err(err)?;
                    profiles
                        .insert((account.as_str(), id.as_str()), json.as_str())
                        .map_err(err)?;
                }
                Write::InsertProfile {
                    account,
                    id,
                    profile,
                } => {
                    let key = (account.as_str(), id.as_str());
                    if profiles.get(key).map_err(err)?.is_none() {
                        let json = serde_json::to_string(profile).map_err(err)?;
                        profiles.insert(key, json.as_str()).map_err(err)?;
                    }
                }
                Write::DeleteProfile { account, id } => {
                    profiles
                        .remove((account.as_str(), id.as_str()))
                        .map_err(err)?;
                    let (a, u) = (account.as_str(), id.as_str());
                    history
                        .retain_in((a, u, 0)..=(a, u, u64::MAX), |_, _| false)
                        .map_err(err)?;
                }
                Write::AppendDelivery {
                    account, delivery, ..
                } => {
                    let json = serde_json::to_string(delivery).map_err(err)?;
                    history
                        .insert(
                            (account.as_str(), delivery.user.as_str(), seq),
                            json.as_str(),
                        )
                        .map_err(err)?;
                    seq += 1;
                }
                Write::AppendOpen { account, open, .. } => {
                    let json = serde_json::to_string(open).map_err(err)?;
                    history
                        .insert((account.as_str(), open.user.as_str(), seq), json.as_str())
                        .map_err(err)?;
                    seq += 1;
                }
                Write::PruneHistory {
                    account,
                    user,
                    before,
                } => {
                    let (a, u) = (account.as_str(), user.as_str());
                    // Deliveries and opens alike; a record without a readable time stays.
                    history
                        .retain_in((a, u, 0)..=(a, u, u64::MAX), |_, json| {
                            super::record_time(json).is_none_or(|at| at >= *before)
                        })
                        .map_err(err)?;
                }
                Write::PutReply {
                    account,
                    user,
                    key,
                    reply,
                } => {
                    let (a, u, k) = (account.as_str(), user.as_str(), key.as_str());
                    // A reply replaced under the same key leaves no stale age entry.
                    if let Some(old) = replies
                        .insert((a, u, k), encode_reply(reply)?.as_slice())
                        .map_err(err)?
                    {
                        let old = decode_reply(old.value())?;
                        ages.remove((old.until, a, u, k)).map_err(err)?;
                    }
                    ages.insert((reply.until, a, u, k), 0).map_err(err)?;
                }
                Write::PutBlock { account, id, block } => {
                    let json = serde_json::to_string(block).map_err(err)?;
                    blocks
                        .insert((account.as_str(), id.as_str()), json.as_str())
                        .map_err(err)?;
                }
                Write::DeleteBlock { account, id } => {
                    blocks
                        .remove((account.as_str(), id.as_str()))
                        .map_err(err)?;
                }
                // Only shared stores hand out lock tokens.
                Write::Fence { .. } => {}
            }
        }
        if seq != start_seq {
            meta.insert("next_seq", seq).map_err(err)?;
        }
    }
    txn.commit().map_err(err)
}

pub(super) fn encode_reply(reply: &StoredReply) -> Result<Vec<u8>, StoreError> {
    let meta = serde_json::to_vec(&ReplyMeta {
        user: reply.user.clone(),
        outcome: reply.outcome.clone(),
        at: reply.at,
        until: reply.until,
    })
    .map_err(err)?;
    let body = miniz_oxide::deflate::compress_to_vec(reply.body.as_bytes(), DEFLATE_LEVEL);
    let len = u32::try_from(meta.len()).map_err(err)?;
    let mut out = Vec::with_capacity(5 + meta.len() + body.len());
    out.push(REPLY_DEFLATE);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&meta);
    out.extend_from_slice(&body);
    Ok(out)
}

pub(super) fn decode_reply(bytes: &[u8]) -> Result<StoredReply, StoreError> {
    let corrupt = || StoreError::Failed("a stored reply is truncated or corrupt".into());
    match bytes.split_first() {
        Some((&REPLY_JSON, json)) => serde_json::from_slice(json).map_err(err),
        Some((&REPLY_DEFLATE, rest)) => {
            let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(corrupt)?;
            let len = usize::try_from(u32::from_be_bytes(*len)).map_err(err)?;
            let (meta, body) = rest.split_at_checked(len).ok_or_else(corrupt)?;
            let meta: ReplyMeta = serde_json::from_slice(meta).map_err(err)?;
            let body = miniz_oxide::inflate::decompress_to_vec_with_limit(body, MAX_BODY)
                .map_err(|_| corrupt())?;
            Ok(StoredReply {
                user: meta.user,
                body: String::from_utf8(body).map_err(|_| corrupt())?,
                outcome: meta.outcome,
                at: meta.at,
                until: meta.until,
            })
        }
        _ => Err(StoreError::Failed(
            "a stored reply has an unknown format".into(),
        )),
    }
}

fn parse_object(json: &str) -> Result<JsonMap, StoreError> {
    match serde_json::from_str(json).map_err(err)? {
        serde_json::Value::Object(map) => Ok(map),
        _ => Err(StoreError::Failed(
            "a stored record is not a JSON object".into(),
        )),
    }
}

impl RedbStore {
    fn read(&self) -> Result<redb::ReadTransaction, StoreError> {
        let db = self
            .db
            .lock()
            .map_err(err)?
            .clone()
            .ok_or_else(|| StoreError::Failed("the store is closed".into()))?;
        db.begin_read().map_err(err)
    }
}

impl Store for RedbStore {
    fn profile(&self, account: &str, id: &str) -> Result<Option<JsonMap>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(PROFILES).map_err(err)?;
        match table.get((account, id)).map_err(err)? {
            Some(json) => parse_object(json.value()).map(Some),
            None => Ok(None),
        }
    }

    fn profile_count(&self, account: &str) -> Result<u64, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(PROFILES).map_err(err)?;
        if table.len().map_err(err)? == 0 {
            return Ok(0);
        }
        let mut n = 0;
        for entry in table.range((account, "")..).map_err(err)? {
            let (key, _) = entry.map_err(err)?;
            if key.value().0 != account {
                break;
            }
            n += 1;
        }
        Ok(n)
    }

    fn has_profiles(&self, account: &str) -> Result<bool, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(PROFILES).map_err(err)?;
        match table.range((account, "")..).map_err(err)?.next() {
            Some(entry) => Ok(entry.map_err(err)?.0.value().0 == account),
            None => Ok(false),
        }
    }

    fn profile_ids(
        &self,
        account: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let txn = self.read()?;
        let table = txn.open_table(PROFILES).map_err(err)?;
        // The keys sort by account, then id: the account's profiles are one run of keys,
        // from `(account, "")` (or just after `(account, after)`) to the next account.
        let from = match after {
            Some(id) => Bound::Excluded((account, id)),
            None => Bound::Included((account, "")),
        };
        for entry in table.range((from, Bound::Unbounded)).map_err(err)? {
            let (key, _) = entry.map_err(err)?;
            let (a, id) = key.value();
            if a != account {
                break;
            }
            out.push(id.to_owned());
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn blocks(&self, account: &str) -> Result<Vec<JsonMap>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(BLOCKS).map_err(err)?;
        let mut out = Vec::new();
        for entry in table.range((account, "")..).map_err(err)? {
            let (key, json) = entry.map_err(err)?;
            if key.value().0 != account {
                break;
            }
            out.push(parse_object(json.value())?);
        }
        Ok(out)
    }

    fn records(&self, account: &str, user: &str) -> Result<Records, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(HISTORY).map_err(err)?;
        let mut out = Records::default();
        for entry in table
            .range((account, user, 0)..=(account, user, u64::MAX))
            .map_err(err)?
        {
            let (_, json) = entry.map_err(err)?;
            out.push(super::parse_record(json.value()).map_err(err)?);
        }
        Ok(out)
    }

    fn reply(
        &self,
        account: &str,
        user: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, StoreError> {
        let txn = self.read()?;
        let table = txn.open_table(REPLIES).map_err(err)?;
        match table.get((account, user, key)).map_err(err)? {
            Some(bytes) => decode_reply(bytes.value()).map(Some),
            None => Ok(None),
        }
    }

    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        let sender = self
            .jobs
            .lock()
            .map_err(err)?
            .clone()
            .ok_or_else(|| StoreError::Failed("the store is closed".into()))?;
        let (done, wait) = sync_channel(1);
        sender
            .send(Job::Writes(writes, done))
            .map_err(|_| StoreError::Failed("the store writer stopped".into()))?;
        wait.recv()
            .map_err(|_| StoreError::Failed("the store writer stopped".into()))?
    }

    fn close(&self) {
        self.stop_writer();
    }

    fn expire_replies(&self, now: i64, max: usize) -> Result<u64, StoreError> {
        if max == 0 {
            return Ok(0);
        }
        let sender = self
            .jobs
            .lock()
            .map_err(err)?
            .clone()
            .ok_or_else(|| StoreError::Failed("the store is closed".into()))?;
        let (done, wait) = sync_channel(1);
        sender
            .send(Job::Expire { now, max, done })
            .map_err(|_| StoreError::Failed("the store writer stopped".into()))?;
        wait.recv()
            .map_err(|_| StoreError::Failed("the store writer stopped".into()))?
    }
}

/// Deletes at most `max` replies kept until before `now`, in one transaction; commits
/// nothing (no fsync) when none has expired.
fn expire(db: &Database, now: i64, max: usize, quick: bool) -> Result<u64, StoreError> {
    let txn = begin_write(db, quick)?;
    let mut n = 0;
    {
        let mut ages = txn.open_table(REPLY_AGES).map_err(err)?;
        let mut replies = txn.open_table(REPLIES).map_err(err)?;
        let mut old = Vec::new();
        for entry in ages.range(..(now, "", "", "")).map_err(err)?.take(max) {
            let (key, _) = entry.map_err(err)?;
            let (until, account, user, dedup) = key.value();
            old.push((until, account.to_owned(), user.to_owned(), dedup.to_owned()));
        }
        for (until, account, user, dedup) in old {
            let (a, u, k) = (account.as_str(), user.as_str(), dedup.as_str());
            ages.remove((until, a, u, k)).map_err(err)?;
            replies.remove((a, u, k)).map_err(err)?;
            n += 1;
        }
    }
    if n == 0 {
        txn.abort().map_err(err)?;
    } else {
        txn.commit().map_err(err)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailor_engine::Delivery;

    #[test]
    fn writes_are_read_back_and_survive_reopening() {
        for quick in [false, true] {
            read_back_and_reopen(quick);
        }
    }

    fn read_back_and_reopen(quick: bool) {
        let dir = tempfile::tempdir().unwrap();
        let delivery: Delivery = serde_json::from_str(
            r#"{"user": "u", "at": "2013-02-21T11:30:00Z", "event": "enter", "blocks": ["a"], "fired": ["r"]}"#,
        )
        .unwrap();
        {
            let store = RedbStore::open_with(dir.path(), quick).unwrap();
            let mut p = JsonMap::new();
            p.insert("id".into(), "u".into());
            store
                .apply(vec![
                    Write::PutProfile {
                        account: "a".into(),
                        id: "u".into(),
                        profile: p.clone(),
                    },
                    Write::AppendDelivery {
                        account: "a".into(),
                        delivery: delivery.clone(),
                        keep_secs: 3600,
                    },
                    Write::PutReply {
                        account: "a".into(),
                        user: "u".into(),
                        key: "k".into(),
                        reply: StoredReply {
                            user: "u".into(),
                            body: "success".into(),
                            outcome: "quiet".into(),
                            at: 10,
                            until: 15,
                        },
                    },
                ])
                .unwrap();
            assert_eq!(store.profile("a", "u").unwrap(), Some(p));
            assert_eq!(store.profile("b", "u").unwrap(), None);
            assert_eq!(store.profile_count("a").unwrap(), 1);
            assert!(store.has_profiles("a").unwrap());
            assert!(!store.has_profiles("b").unwrap());
            assert!(!store.has_profiles("").unwrap());
            assert_eq!(store.profile_ids("a", None, 10).unwrap(), ["u"]);
            assert!(store.profile_ids("a", Some("u"), 10).unwrap().is_empty());
            assert!(store.profile_ids("a", None, 0).unwrap().is_empty());
            assert!(store.profile_ids("b", None, 10).unwrap().is_empty());
            assert!(store.profile_ids("", None, 10).unwrap().is_empty());
        }
        let store = RedbStore::open_with(dir.path(), quick).unwrap();
        assert_eq!(store.history("a", "u").unwrap(), vec![delivery]);
        assert!(store.history("a", "v").unwrap().is_empty());
        assert_eq!(store.reply("a", "u", "k").unwrap().unwrap().body, "success");
        // Another user's delivery with the same key is not a retry of this one.
        assert_eq!(store.reply("a", "v", "k").unwrap(), None);
        assert_eq!(store.expire_replies(15, 100).unwrap(), 0);
        assert_eq!(store.expire_replies(16, 100).unwrap(), 1);
        assert_eq!(store.reply("a", "u", "k").unwrap(), None);
    }

    #[test]
    fn open_records_are_kept_apart_from_deliveries_and_pruned_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let delivery = |at: &str| -> Delivery {
            serde_json::from_str(&format!(
                r#"{{"user": "u", "at": "{at}", "event": "enter", "blocks": ["c-1"], "fired": ["r"],
                    "items": [{{"id": "c-1", "section": "current", "rule": "r", "url": "https://x/c-1"}}]}}"#
            ))
            .unwrap()
        };
        let open = |at: &str, delivered: &str| tailor_engine::OpenRecord {
            user: "u".into(),
            at: at.parse().unwrap(),
            block: "c-1".into(),
            rule: Some("r".into()),
            section: Some("current".into()),
            delivered: Some(delivered.parse().unwrap()),
        };
        let (d1, d2) = (
            delivery("2013-02-20T11:00:00Z"),
            delivery("2013-02-21T11:00:00Z"),
        );
        let (o1, o2) = (
            open("2013-02-20T11:05:00Z", "2013-02-20T11:00:00Z"),
            open("2013-02-21T11:05:00Z", "2013-02-21T11:00:00Z"),
        );
        let append = |d: &Delivery| Write::AppendDelivery {
            account: "a".into(),
            delivery: d.clone(),
            keep_secs: 86_400,
        };
        let append_open = |o: &tailor_engine::OpenRecord| Write::AppendOpen {
            account: "a".into(),
            open: o.clone(),
            keep_secs: 86_400,
        };
        store
            .apply(vec![
                append(&d1),
                append_open(&o1),
                append(&d2),
                append_open(&o2),
            ])
            .unwrap();
        let records = store.records("a", "u").unwrap();
        assert_eq!(records.deliveries, vec![d1, d2.clone()]);
        assert_eq!(records.opens, vec![o1, o2.clone()]);
        // `history` is the deliveries only: opens count toward no cap (language.md §12).
        assert_eq!(store.history("a", "u").unwrap().len(), 2);
        // Pruning removes old opens as well as old deliveries.
        store
            .apply(vec![Write::PruneHistory {
                account: "a".into(),
                user: "u".into(),
                before: "2013-02-21T00:00:00Z"
                    .parse::<jiff::Timestamp>()
                    .unwrap()
                    .as_second(),
            }])
            .unwrap();
        let records = store.records("a", "u").unwrap();
        assert_eq!(records.deliveries, vec![d2]);
        assert_eq!(records.opens, vec![o2]);
        // Deleting the profile deletes its opens too.
        store
            .apply(vec![Write::DeleteProfile {
                account: "a".into(),
                id: "u".into(),
            }])
            .unwrap();
        assert_eq!(store.records("a", "u").unwrap(), Records::default());
    }

    fn reply_write(user: &str, until: i64) -> Write {
        Write::PutReply {
            account: "a".into(),
            user: user.into(),
            key: "k".into(),
            reply: StoredReply {
                user: user.into(),
                body: format!("<xml>{user}</xml>"),
                outcome: "digest".into(),
                at: until - 5,
                until,
            },
        }
    }

    /// A reply record comes back byte for byte, whatever its body; a news reply is
    /// stored in a fraction of its size; records written as JSON still read; a
    /// damaged record is an error, not a wrong reply.
    #[test]
    fn reply_records_round_trip_and_are_compact() {
        let item = "<item><Title><![CDATA[元宵将至 西湖灯会今晚试灯]]></Title><Description><![CDATA[2月24日是元宵节。]]></Description><PicUrl><![CDATA[https://example.com/qjwb/img/2013/02/h-101.jpg]]></PicUrl><Url><![CDATA[https://example.com/qjwb/2013/02/21/h-101.html]]></Url></item>";
        let news = format!(
            "<xml><ToUserName><![CDATA[o0001]]></ToUserName><FromUserName><![CDATA[gh]]></FromUserName><CreateTime>1361446200</CreateTime><MsgType><![CDATA[news]]></MsgType><ArticleCount>8</ArticleCount><Articles>{}</Articles></xml>",
            item.repeat(8)
        );
        for body in [news.as_str(), "success", "", "{\"a\": \"é\u{0}\"}"] {
            let reply = StoredReply {
                user: "o0001".into(),
                body: body.into(),
                outcome: "digest".into(),
                at: 7,
                until: 12,
            };
            let bytes = encode_reply(&reply).unwrap();
            assert_eq!(decode_reply(&bytes).unwrap(), reply);
            if body == news {
                assert!(
                    bytes.len() * 3 < body.len(),
                    "{} of {}",
                    bytes.len(),
                    body.len()
                );
            }
            let mut json = vec![REPLY_JSON];
            json.extend(serde_json::to_vec(&reply).unwrap());
            assert_eq!(decode_reply(&json).unwrap(), reply);
            for cut in [1, 3, bytes.len() / 2] {
                if body == news {
                    assert!(decode_reply(&bytes[..cut]).is_err());
                }
            }
        }
        assert!(decode_reply(&[]).is_err());
        assert!(decode_reply(&[9, 0]).is_err());
    }

    /// Expiry deletes at most the batch size per commit, the replies that expired
    /// first first, and leaves those still kept alone; a reply stored again under its
    /// key is kept until its new time.
    #[test]
    fn expiry_deletes_bounded_batches_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(dir.path()).unwrap();
        let writes = (0..250)
            .map(|i| reply_write(&format!("u{i:03}"), 100 + i))
            .collect();
        store.apply(writes).unwrap();
        // u000 is stored again, kept until 1000: its old expiry entry is gone.
        store.apply(vec![reply_write("u000", 1_000)]).unwrap();
        let kept = |i: i64| {
            store
                .reply("a", &format!("u{i:03}"), "k")
                .unwrap()
                .is_some()
        };
        assert_eq!(store.expire_replies(400, 100).unwrap(), 100);
        assert!(kept(0) && !kept(1) && !kept(100) && kept(101) && kept(249));
        assert_eq!(store.expire_replies(400, 100).unwrap(), 100);
        assert!(!kept(200) && kept(201));
        assert_eq!(store.expire_replies(400, 100).unwrap(), 49);
        assert_eq!(store.expire_replies(400, 100).unwrap(), 0);
        assert!(kept(0) && !kept(249));
        assert_eq!(store.expire_replies(1_000, 100).unwrap(), 0);
        assert_eq!(store.expire_replies(1_001, 0).unwrap(), 0);
        assert_eq!(store.expire_replies(1_001, 100).unwrap(), 1);
        assert!(!kept(0));
    }

    /// The store against a plain model: random batches of writes over two accounts and
    /// three users, then every read compared.
    mod model {
        use std::collections::BTreeMap;

        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Put(usize, usize, u8),
            Delete(usize, usize),
            Deliver(usize, usize, i64),
            Prune(usize, usize, i64),
            Block(usize, usize, u8),
            Unblock(usize, usize),
        }

        const ACCOUNTS: [&str; 2] = ["a", "b"];
        const USERS: [&str; 3] = ["u", "v", "w"];

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..2usize, 0..3usize, any::<u8>()).prop_map(|(a, u, x)| Op::Put(a, u, x)),
                (0..2usize, 0..3usize).prop_map(|(a, u)| Op::Delete(a, u)),
                (0..2usize, 0..3usize, 0..100i64).prop_map(|(a, u, t)| Op::Deliver(a, u, t)),
                (0..2usize, 0..3usize, 0..100i64).prop_map(|(a, u, t)| Op::Prune(a, u, t)),
                (0..2usize, 0..3usize, any::<u8>()).prop_map(|(a, b, x)| Op::Block(a, b, x)),
                (0..2usize, 0..3usize).prop_map(|(a, b)| Op::Unblock(a, b)),
            ]
        }

        type Key = (&'static str, &'static str);

        #[derive(Default)]
        struct Model {
            profiles: BTreeMap<Key, JsonMap>,
            history: BTreeMap<Key, Vec<Delivery>>,
            blocks: BTreeMap<Key, JsonMap>,
        }

        fn object(id: &str, x: u8) -> JsonMap {
            let mut m = JsonMap::new();
            m.insert("id".into(), id.into());
            m.insert("x".into(), x.into());
            m
        }

        fn delivery(user: &str, t: i64) -> Delivery {
            Delivery {
                user: user.to_owned(),
                at: jiff::Timestamp::from_second(t).unwrap(),
                event: tailor_engine::EventKind::Enter,
                blocks: vec![format!("b{t}")],
                fired: vec![],
                items: vec![],
            }
        }

        fn apply(model: &mut Model, op: &Op) -> Write {
            match *op {
                Op::Put(a, u, x) => {
                    let (a, u) = (ACCOUNTS[a], USERS[u]);
                    model.profiles.insert((a, u), object(u, x));
                    Write::PutProfile {
                        account: a.into(),
                        id: u.into(),
                        profile: object(u, x),
                    }
                }
                Op::Delete(a, u) => {
                    let (a, u) = (ACCOUNTS[a], USERS[u]);
                    model.profiles.remove(&(a, u));
                    model.history.remove(&(a, u));
                    Write::DeleteProfile {
                        account: a.into(),
                        id: u.into(),
                    }
                }
                Op::Deliver(a, u, t) => {
                    let (a, u) = (ACCOUNTS[a], USERS[u]);
                    model
                        .history
                        .entry((a, u))
                        .or_default()
                        .push(delivery(u, t));
                    Write::AppendDelivery {
                        account: a.into(),
                        delivery: delivery(u, t),
                        keep_secs: 3600,
                    }
                }
                Op::Prune(a, u, t) => {
                    let (a, u) = (ACCOUNTS[a], USERS[u]);
                    if let Some(h) = model.history.get_mut(&(a, u)) {
                        h.retain(|d| d.at.as_second() >= t);
                    }
                    Write::PruneHistory {
                        account: a.into(),
                        user: u.into(),
                        before: t,
                    }
                }
                Op::Block(a, b, x) => {
                    let (a, b) = (ACCOUNTS[a], USERS[b]);
                    model.blocks.insert((a, b), object(b, x));
                    Write::PutBlock {
                        account: a.into(),
                        id: b.into(),
                        block: object(b, x),
                    }
                }
                Op::Unblock(a, b) => {
                    let (a, b) = (ACCOUNTS[a], USERS[b]);
                    model.blocks.remove(&(a, b));
                    Write::DeleteBlock {
                        account: a.into(),
                        id: b.into(),
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]
            #[test]
            fn the_store_agrees_with_a_model(batches in proptest::collection::vec(proptest::collection::vec(op(), 1..8), 1..6)) {
                let dir = tempfile::tempdir().unwrap();
                let store = RedbStore::open(dir.path()).unwrap();
                let mut model = Model::default();
                for batch in &batches {
                    let writes = batch.iter().map(|op| apply(&mut model, op)).collect();
                    store.apply(writes).unwrap();
                }
                for a in ACCOUNTS {
                    let count = model.profiles.keys().filter(|(ma, _)| *ma == a).count();
                    prop_assert_eq!(store.profile_count(a).unwrap(), count as u64);
                    // Every page of the listing, from the start or after any id (stored
                    // or not, before, between and after the stored ones).
                    let ids: Vec<String> = model.profiles.keys().filter(|(ma, _)| *ma == a).map(|(_, u)| (*u).to_owned()).collect();
                    for limit in [0, 1, 2, 10] {
                        for after in [None, Some(""), Some("a"), Some("u"), Some("uu"), Some("v"), Some("w"), Some("z")] {
                            let page: Vec<String> = ids.iter().filter(|u| after.is_none_or(|x| u.as_str() > x)).take(limit).cloned().collect();
                            prop_assert_eq!(store.profile_ids(a, after, limit).unwrap(), page, "after {:?}, limit {}", after, limit);
                        }
                    }
                    let blocks: Vec<JsonMap> = model.blocks.iter().filter(|((ma, _), _)| *ma == a).map(|(_, b)| b.clone()).collect();
                    prop_assert_eq!(store.blocks(a).unwrap(), blocks);
                    for u in USERS {
                        prop_assert_eq!(store.profile(a, u).unwrap(), model.profiles.get(&(a, u)).cloned());
                        prop_assert_eq!(store.history(a, u).unwrap(), model.history.get(&(a, u)).cloned().unwrap_or_default());
                    }
                }
            }
        }
    }
}
