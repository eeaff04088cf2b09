//! A fixed clock and seeded ids for one thread, so that a sequence of operations run on
//! that thread answers the same bytes every time (the golden tests of the API crates).
//! Without a [`Fixed`] in force, [`crate::now`] reads the system clock and ids come
//! from the thread's OS-seeded generator.

use std::cell::RefCell;

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

struct State {
    clock: f64,
    rng: StdRng,
}

thread_local! {
    static FIXED: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// While alive, this thread's clock reads a fixed time (moved by [`Fixed::advance`]) and
/// its ids come from a generator seeded with a fixed seed. Dropping it restores both.
#[must_use = "the fixed clock lasts as long as the guard"]
pub struct Fixed(());

impl Fixed {
    /// Fixes this thread's clock at `start` (seconds since the epoch) and seeds its ids.
    pub fn start(start: f64, seed: u64) -> Fixed {
        FIXED.with(|f| {
            *f.borrow_mut() = Some(State {
                clock: start,
                rng: StdRng::seed_from_u64(seed),
            })
        });
        Fixed(())
    }

    /// Moves the fixed clock forward by `secs`.
    pub fn advance(&self, secs: f64) {
        FIXED.with(|f| {
            if let Some(s) = f.borrow_mut().as_mut() {
                s.clock += secs;
            }
        });
    }
}

impl Drop for Fixed {
    fn drop(&mut self) {
        FIXED.with(|f| *f.borrow_mut() = None);
    }
}

/// The fixed time, if this thread has one.
pub(crate) fn clock() -> Option<f64> {
    FIXED.with(|f| f.borrow().as_ref().map(|s| s.clock))
}

/// Runs `f` with this thread's generator: the seeded one under [`Fixed`], else the OS-seeded one.
pub(crate) fn with_rng<T>(f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
    FIXED.with(|cell| match cell.borrow_mut().as_mut() {
        Some(s) => f(&mut s.rng),
        None => f(&mut rand::thread_rng()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_and_ids_repeat() {
        let run = || {
            let g = Fixed::start(1_700_000_000.0, 7);
            let a = (
                crate::now(),
                crate::uuid_v4(),
                crate::random_string(8, crate::HEX),
            );
            g.advance(1.5);
            (a, crate::now())
        };
        let first = run();
        assert_eq!(first, run());
        assert_eq!(first.1, 1_700_000_001.5);
        assert_ne!(crate::now(), 1_700_000_001.5, "the guard is gone");
    }
}
