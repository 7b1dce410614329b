//! Time as the datapath sees it: a monotonic clock in production, a clock that
//! tests advance by hand, so that idle expiry can be tested without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A source of monotonic time, as a duration since some fixed origin.
///
/// Thread-safety: implementations are called from every poll thread at once.
/// `now` must not block.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> Duration;
}

/// The system's monotonic clock.
#[derive(Debug)]
pub struct MonotonicClock {
    origin: Instant,
}

impl MonotonicClock {
    /// A clock whose zero is now.
    pub fn new() -> Arc<Self> {
        Arc::new(MonotonicClock { origin: Instant::now() })
    }
}

impl Clock for MonotonicClock {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos: AtomicU64,
}

impl ManualClock {
    /// A clock at time zero... plus one second, so that "never used" (0) and
    /// "used at start" differ.
    pub fn new() -> Arc<Self> {
        Arc::new(ManualClock { nanos: AtomicU64::new(1_000_000_000) })
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}
