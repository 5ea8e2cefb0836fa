//! Durable state behind a trait: profiles, catalog blocks, delivery history and the first
//! reply to each WeChat delivery. [`RedbStore`] is the embedded default; a shared store
//! (for several server processes) implements the same trait.
//!
//! Every key starts with the account's name, so one store serves many accounts.

mod redb_store;
mod redis_store;

use serde::{Deserialize, Serialize};
use tailor_engine::{Delivery, OpenRecord};

pub use redb_store::{RedbStore, TableSize};
pub use redis_store::{RedisStore, RedisTarget};

/// A JSON object: a profile or a block as stored.
pub type JsonMap = serde_json::Map<String, serde_json::Value>;

/// A storage failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// I/O, corruption, a record that no longer parses.
    #[error("store: {0}")]
    Failed(String),
    /// A shared store that cannot be reached now (the node answers 503 and retries
    /// later; nothing was written).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A commit fenced by a reader's lock ([`Write::Fence`]) found the lock taken over:
    /// nothing was written.
    #[error("store: the reader's lock was lost before the commit")]
    LockLost,
}

/// The first reply given to one delivery, kept so that retries get exactly it.
///
/// Replies are keyed by account, recipient and dedup key: a retry is recognised only
/// when it comes from the same user, and a stored reply is only ever replayed to the
/// user it was sent to (`user`, checked again on replay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReply {
    /// The user the reply was sent to (the delivery's sender).
    #[serde(default)]
    pub user: String,
    /// The response body as sent.
    pub body: String,
    /// The outcome it came from (`digest`, `quiet`, `empty`, `skipped`, `over_budget`).
    pub outcome: String,
    /// Unix seconds (server clock) when it was stored.
    pub at: i64,
    /// Unix seconds (server clock) until which it is kept: the stored time plus the
    /// dedup TTL. A store with native expiry (Redis) makes it the record's TTL; the
    /// embedded store deletes it in [`Store::expire_replies`]. A reply read after this
    /// time is not a retry's answer.
    #[serde(default)]
    pub until: i64,
}

/// A reader's history as stored: delivery records and open records (language.md §12),
/// each oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Records {
    pub deliveries: Vec<Delivery>,
    pub opens: Vec<OpenRecord>,
}

/// One stored history record, a delivery or an open.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Record {
    Delivery(Delivery),
    Open(OpenRecord),
}

impl Records {
    pub(crate) fn push(&mut self, record: Record) {
        match record {
            Record::Delivery(d) => self.deliveries.push(d),
            Record::Open(o) => self.opens.push(o),
        }
    }
}

/// Parses a stored history record. An open record is the one whose top-level `event` is
/// `"open"`: the compact JSON the stores write has `"event":"open"` only there (inside a
/// string every `"` is escaped), and no delivery answers an `open` (language.md §12).
pub(crate) fn parse_record(json: &str) -> Result<Record, serde_json::Error> {
    if json.contains(r#""event":"open""#) {
        serde_json::from_str(json).map(Record::Open)
    } else {
        serde_json::from_str(json).map(Record::Delivery)
    }
}

/// The time (Unix seconds) of a stored history record of either kind, for pruning.
pub(crate) fn record_time(json: &str) -> Option<i64> {
    #[derive(Deserialize)]
    struct At {
        at: jiff::Timestamp,
    }
    serde_json::from_str::<At>(json)
        .ok()
        .map(|a| a.at.as_second())
}

/// One change. A [`Store::apply`] call applies a list of them atomically.
#[derive(Debug, Clone)]
pub enum Write {
    /// Creates or replaces a profile.
    PutProfile {
        account: String,
        id: String,
        profile: JsonMap,
    },
    /// Creates a profile unless one with that id exists (the start-up import: several
    /// nodes starting at once on an empty shared store import the same file, and none
    /// overwrites what a reader's first event already learned).
    InsertProfile {
        account: String,
        id: String,
        profile: JsonMap,
    },
    /// Deletes a profile and its history.
    DeleteProfile { account: String, id: String },
    /// Appends a delivery record to its user's history. `keep_secs` is how long the
    /// package looks back in history: a store with native expiry (Redis) lets the
    /// history expire that long after its last record.
    AppendDelivery {
        account: String,
        delivery: Delivery,
        keep_secs: i64,
    },
    /// Appends an open record (language.md §12) to its user's history, with the
    /// delivery records (`keep_secs` as for [`Write::AppendDelivery`]).
    AppendOpen {
        account: String,
        open: OpenRecord,
        keep_secs: i64,
    },
    /// Deletes a user's history records (deliveries and opens) older than `before`
    /// (Unix seconds).
    PruneHistory {
        account: String,
        user: String,
        before: i64,
    },
    /// Keeps the reply to a user's delivery under its dedup key.
    PutReply {
        account: String,
        user: String,
        key: String,
        reply: StoredReply,
    },
    /// Creates or replaces a block (keyed by its `id`).
    PutBlock {
        account: String,
        id: String,
        block: JsonMap,
    },
    /// Deletes a block.
    DeleteBlock { account: String, id: String },
    /// Applies the batch only while the reader's lock across processes
    /// ([`Store::try_lock_user`]) still holds `token`; otherwise nothing of the batch is
    /// written and [`Store::apply`] fails with [`StoreError::LockLost`]. Stores that are
    /// not shared never hand out tokens, so never see it.
    Fence {
        account: String,
        user: String,
        token: String,
    },
}

/// Durable state. Reads see committed writes; [`Store::apply`] is atomic and durable when
/// it returns (an acknowledged write survives a crash).
///
/// Methods block; async callers run them on a blocking thread.
pub trait Store: Send + Sync + std::fmt::Debug {
    /// A profile by id.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn profile(&self, account: &str, id: &str) -> Result<Option<JsonMap>, StoreError>;

    /// How many profiles the account has.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn profile_count(&self, account: &str) -> Result<u64, StoreError>;

    /// Whether the account has any profile (cheaper than counting them).
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn has_profiles(&self, account: &str) -> Result<bool, StoreError> {
        Ok(self.profile_count(account)? > 0)
    }

    /// The ids of the account's profiles in id order (byte-wise), at most `limit` of
    /// them, starting after `after` when given (which need not be a stored id): one page
    /// of a listing, the next page starting after its last id.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn profile_ids(
        &self,
        account: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError>;

    /// Every block of the account's catalog.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn blocks(&self, account: &str) -> Result<Vec<JsonMap>, StoreError>;

    /// A user's delivery records, oldest first.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn history(&self, account: &str, user: &str) -> Result<Vec<Delivery>, StoreError> {
        Ok(self.records(account, user)?.deliveries)
    }

    /// A user's delivery and open records, each oldest first.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn records(&self, account: &str, user: &str) -> Result<Records, StoreError>;

    /// The reply kept for `user`'s delivery under a dedup key (never another user's).
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn reply(
        &self,
        account: &str,
        user: &str,
        key: &str,
    ) -> Result<Option<StoredReply>, StoreError>;

    /// Applies `writes` atomically and durably.
    ///
    /// # Errors
    ///
    /// Storage failures; then nothing was written.
    fn apply(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Deletes at most `max` of the replies kept until before `now` (Unix seconds),
    /// those that expired first first, in one short commit; returns how many. Callers
    /// repeat while it returns `max`, so that a large backlog is deleted in small steps
    /// between other writes rather than in one long transaction that stalls them. A
    /// store whose records expire by themselves (e.g. Redis TTLs) returns 0.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn expire_replies(&self, now: i64, max: usize) -> Result<u64, StoreError>;

    /// Finishes pending writes and releases the store (shutdown). Later writes fail.
    fn close(&self) {}

    /// Whether other processes share this store (then nothing read may be cached, and a
    /// reader's events are serialized across processes by [`Store::try_lock_user`]).
    fn shared(&self) -> bool {
        false
    }

    /// Whether the store answers now (`/healthz`).
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when it does not.
    fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// A shared store: takes the reader's lock across processes for at most `ttl`,
    /// answering its fencing token, or `None` while another holder has it. A store that
    /// is not shared answers `None` and is never asked (the in-process lock suffices).
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn try_lock_user(
        &self,
        _account: &str,
        _user: &str,
        _ttl: std::time::Duration,
    ) -> Result<Option<String>, StoreError> {
        Ok(None)
    }

    /// Releases a lock taken by [`Store::try_lock_user`], if it still holds `token`.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn unlock_user(&self, _account: &str, _user: &str, _token: &str) -> Result<(), StoreError> {
        Ok(())
    }

    /// A counter that every catalog change of the account increases (a shared store:
    /// other processes notice changes by it). 0 for a store that is not shared.
    ///
    /// # Errors
    ///
    /// Storage failures.
    fn catalog_version(&self, _account: &str) -> Result<u64, StoreError> {
        Ok(0)
    }
}
