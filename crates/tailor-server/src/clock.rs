//! The server's clock. Events are evaluated at the clock's time and WeChat timestamps are
//! checked against it, so a test (or a demo of a dated catalog) can run the whole server
//! at another instant.

use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

use jiff::{SignedDuration, Timestamp};

/// Where the server reads the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;

    /// The current instant in whole Unix seconds (what WeChat timestamps are).
    fn unix_secs(&self) -> u64 {
        u64::try_from(self.now().as_second()).unwrap_or(0)
    }

    /// The current instant truncated to the second: the time of an event (WeChat's
    /// times are whole seconds).
    fn event_time(&self) -> Timestamp {
        let now = self.now();
        Timestamp::from_second(now.as_second()).unwrap_or(now)
    }
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that starts at a given instant and then advances with real time (or stays
/// there, when frozen). Configured by the `clock` and `clock_frozen` keys.
#[derive(Debug, Clone, Copy)]
pub struct ShiftedClock {
    start: Timestamp,
    origin: Instant,
    frozen: bool,
}

impl ShiftedClock {
    /// A clock showing `start` now.
    #[must_use]
    pub fn new(start: Timestamp, frozen: bool) -> ShiftedClock {
        ShiftedClock {
            start,
            origin: Instant::now(),
            frozen,
        }
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        if self.frozen {
            return self.start;
        }
        let elapsed = SignedDuration::try_from(self.origin.elapsed()).unwrap_or_default();
        self.start.checked_add(elapsed).unwrap_or(self.start)
    }
}

/// A clock moved by hand (tests).
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    /// A clock showing `at`.
    #[must_use]
    pub fn new(at: Timestamp) -> ManualClock {
        ManualClock {
            now: Mutex::new(at),
        }
    }

    /// Sets the time.
    pub fn set(&self, at: Timestamp) {
        if let Ok(mut now) = self.now.lock() {
            *now = at;
        }
    }

    /// Moves the time forward (or back, for a negative duration).
    pub fn advance(&self, by: SignedDuration) {
        if let Ok(mut now) = self.now.lock() {
            *now = now.checked_add(by).unwrap_or(*now);
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.now.lock().map_or(Timestamp::UNIX_EPOCH, |now| *now)
    }
}
