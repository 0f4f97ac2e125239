//! Time, behind a trait: what "now" is, and waiting until a time. The executor never reads the
//! system clock or sleeps until a durable deadline directly, so that tests move time by hand: a
//! [`ManualClock`] wakes the tasks that sleep on it when it is moved, and a test of a 30-day
//! timer, a retry's back-off or a lease costs no real time.
//!
//! What goes through the clock: the times written in history and the store (episode times, timer
//! and retry due times, lease ends), the wait for the next due timer or retry, and lease
//! renewals. What does not: the host's pacing of its own work (the poll for work other processes
//! wrote, the back-off after an episode that could not run, retries of a failing store write)
//! and the watchdogs on guest code (episode and activity timeouts); those are real time, since
//! they measure the host, not an instance's logical time.

use reprise_core::Timestamp;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

/// A future that [`Clock::sleep_until`] returns.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The source of the current time, and of waits until a time.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now(&self) -> Timestamp;

    /// Resolves once the clock reads `at` or later (at once if it already does).
    fn sleep_until(&self, at: Timestamp) -> Sleep;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// The longest a system clock sleeps before it reads the time again: the wall clock may be set
/// forward or back meanwhile.
const SYSTEM_RECHECK: Duration = Duration::from_secs(30);

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as Timestamp).unwrap_or(0)
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        Box::pin(async move {
            loop {
                let now = SystemClock.now();
                if now >= at {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(at - now).min(SYSTEM_RECHECK)).await;
            }
        })
    }
}

/// A clock that moves only when told to, and wakes the tasks sleeping on it when it does.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<Manual>);

#[derive(Debug, Default)]
struct Manual {
    now: AtomicU64,
    /// Who sleeps until when. Registering and moving the clock both hold this lock, so no
    /// sleeper can register just after a move that should have woken it.
    sleepers: Mutex<Vec<(Timestamp, oneshot::Sender<()>)>>,
}

impl ManualClock {
    /// A clock reading `start`.
    pub fn new(start: Timestamp) -> Self {
        let clock = ManualClock::default();
        clock.0.now.store(start, Ordering::SeqCst);
        clock
    }

    /// Moves the clock forward by `millis`.
    pub fn advance(&self, millis: u64) {
        self.moved(|now| now.saturating_add(millis));
    }

    /// Sets the clock.
    pub fn set(&self, now: Timestamp) {
        self.moved(|_| now);
    }

    fn moved(&self, to: impl Fn(Timestamp) -> Timestamp) {
        let mut sleepers = self.0.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        let now = to(self.0.now.load(Ordering::SeqCst));
        self.0.now.store(now, Ordering::SeqCst);
        let (due, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut *sleepers).into_iter().partition(|(at, _)| *at <= now);
        *sleepers = waiting;
        for (_, wake) in due {
            // A sleeper that gave up waiting has dropped its end: nothing to wake.
            let _ = wake.send(());
        }
    }

    /// How many tasks sleep on the clock (for tests of the clock's users).
    pub fn sleepers(&self) -> usize {
        let mut sleepers = self.0.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        sleepers.retain(|(_, wake)| !wake.is_closed());
        sleepers.len()
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.now.load(Ordering::SeqCst)
    }

    fn sleep_until(&self, at: Timestamp) -> Sleep {
        let mut sleepers = self.0.sleepers.lock().unwrap_or_else(|e| e.into_inner());
        if self.0.now.load(Ordering::SeqCst) >= at {
            return Box::pin(std::future::ready(()));
        }
        let (wake, woken) = oneshot::channel();
        sleepers.push((at, wake));
        Box::pin(async move {
            // The clock was dropped with its sleepers: nothing can move it any more.
            if woken.await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Poll};

    fn poll(sleep: &mut Sleep) -> Poll<()> {
        sleep.as_mut().poll(&mut Context::from_waker(std::task::Waker::noop()))
    }

    #[test]
    fn a_manual_clock_wakes_its_sleepers_when_it_reaches_their_time() {
        let clock = ManualClock::new(100);
        let mut past = clock.sleep_until(100);
        assert_eq!(poll(&mut past), Poll::Ready(()), "a time already reached does not wait");
        let mut soon = clock.sleep_until(150);
        let mut later = clock.sleep_until(10_000);
        assert!(poll(&mut soon).is_pending() && poll(&mut later).is_pending());
        assert_eq!(clock.sleepers(), 2);
        clock.advance(49);
        assert!(poll(&mut soon).is_pending(), "not before its time");
        clock.advance(1);
        assert_eq!(poll(&mut soon), Poll::Ready(()));
        assert!(poll(&mut later).is_pending());
        clock.set(10_000);
        assert_eq!(poll(&mut later), Poll::Ready(()));
        assert_eq!(clock.sleepers(), 0);
    }

    #[test]
    fn a_sleeper_that_gives_up_is_forgotten() {
        let clock = ManualClock::new(0);
        drop(clock.sleep_until(5));
        assert_eq!(clock.sleepers(), 0);
    }

    #[tokio::test]
    async fn the_system_clock_sleeps_until_its_time() {
        let start = SystemClock.now();
        SystemClock.sleep_until(start + 20).await;
        assert!(SystemClock.now() >= start + 20);
    }
}
