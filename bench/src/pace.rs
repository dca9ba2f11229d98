//! The open-loop schedule of `keyroute-load`, kept by a thread of its own, and the stalls
//! that thread suffers. It sleeps until shortly before each instant and spins the rest, so it
//! is never more than microseconds late unless the machine did not run it: its virtual CPU
//! was descheduled by the host (then every process on it stopped as long), or every CPU was
//! busy with other threads (the target's among them, on a shared machine). Either way the
//! requests due meanwhile leave late. Those stalls are counted, so that a run's tail can be
//! read against them; direct's count is the machine's baseline.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Later than this, the pacer counts itself stalled.
pub const STALL: Duration = Duration::from_millis(2);

/// One stall: the first instant handed over late, and how late the worst one was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stall {
    pub at: Instant,
    pub late: Duration,
}

/// The stalls so far; cheap to clone (shared).
#[derive(Debug, Clone, Default)]
pub struct Stalls(Arc<Mutex<Vec<Stall>>>);

impl Stalls {
    fn lock(&self) -> MutexGuard<'_, Vec<Stall>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records that the instant `at` was handed over `late`: a new stall, or the one going
    /// on if `ongoing`.
    pub fn record(&self, at: Instant, late: Duration, ongoing: bool) {
        let mut stalls = self.lock();
        match stalls.last_mut() {
            Some(last) if ongoing => last.late = last.late.max(late),
            _ => stalls.push(Stall { at, late }),
        }
    }

    /// How many stalls began in `from..until`, and the worst one's lateness.
    pub fn within(&self, from: Instant, until: Instant) -> (usize, Duration) {
        let stalls = self.lock();
        let inside = stalls.iter().filter(|s| s.at >= from && s.at < until);
        inside.fold((0, Duration::ZERO), |(count, worst), s| {
            (count + 1, worst.max(s.late))
        })
    }
}

/// Keeps the schedule: `count` instants at `rate` per second from `begin`, each handed to
/// `jobs` as it comes (late ones at once, keeping their scheduled time), sleeping until
/// `spin` before each and spinning the rest; stops early when `overloaded` is set.
pub fn pace(
    begin: Instant,
    rate: u32,
    count: u64,
    spin: Duration,
    jobs: tokio::sync::mpsc::UnboundedSender<Instant>,
    overloaded: Arc<AtomicBool>,
    stalls: Stalls,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let rate = u128::from(rate.max(1));
        let mut stalled = false;
        for i in 0..count {
            if overloaded.load(Ordering::Relaxed) {
                return;
            }
            let offset = u128::from(i) * 1_000_000_000 / rate;
            let at = begin + Duration::from_nanos(u64::try_from(offset).unwrap_or(u64::MAX));
            loop {
                let now = Instant::now();
                if now >= at {
                    break;
                }
                let left = at - now;
                if left > spin {
                    std::thread::sleep(left - spin);
                } else {
                    std::hint::spin_loop();
                }
            }
            let late = at.elapsed();
            if late > STALL {
                stalls.record(at, late, stalled);
            }
            stalled = late > STALL;
            if jobs.send(at).is_err() {
                return;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_instants_in_a_row_are_one_stall_with_the_worst_lateness() {
        let stalls = Stalls::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        stalls.record(t0, ms(30), false);
        stalls.record(t0 + ms(1), ms(29), true);
        stalls.record(t0 + ms(100), ms(5), false);
        assert_eq!(stalls.within(t0, t0 + ms(200)), (2, ms(30)));
        assert_eq!(stalls.within(t0 + ms(1), t0 + ms(200)), (1, ms(5)));
        assert_eq!(
            stalls.within(t0 + ms(200), t0 + ms(300)),
            (0, Duration::ZERO)
        );
    }

    #[test]
    fn every_instant_is_handed_over_in_order() {
        let (jobs, mut handed) = tokio::sync::mpsc::unbounded_channel();
        let begin = Instant::now();
        let count = 50;
        pace(
            begin,
            10_000,
            count,
            Duration::from_micros(200),
            jobs,
            Arc::new(AtomicBool::new(false)),
            Stalls::default(),
        )
        .join()
        .unwrap_or_else(|_| panic!("the pacer failed"));
        let step = Duration::from_micros(100);
        for i in 0..count {
            let at = handed.try_recv().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(at, begin + step * u32::try_from(i).unwrap_or(u32::MAX));
        }
        assert!(handed.try_recv().is_err());
    }
}
