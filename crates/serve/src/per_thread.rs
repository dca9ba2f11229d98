//! One value per connection thread: what a client keeps when its connections are driven by
//! tasks on the runtime that opened them (a pooled HTTP client, a gRPC channel). Shared
//! between connection threads, every call on another thread's connection would wake that
//! thread; so each connection thread makes its own on first use, and code elsewhere (the
//! work-stealing runtime, where tasks move between threads anyway) shares one.
//!
//! A thread's values live in a thread-local list, found without a lock. They are dropped
//! with their [`PerThread`]: each thread lets go of a dropped one's value at its next call
//! (and when it ends), so that a client for a server that left closes its connections.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use crate::on_connection_thread;

struct Entry {
    id: u64,
    /// Dead once the `PerThread` that made the value is dropped.
    owner: Weak<()>,
    value: Box<dyn Any>,
}

thread_local! {
    /// This thread's values, of every `PerThread` used on it.
    static VALUES: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
}

/// A value made once per connection thread by `make`, and one shared elsewhere.
pub struct PerThread<T> {
    id: u64,
    alive: Arc<()>,
    shared: T,
    make: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> std::fmt::Debug for PerThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerThread").field("id", &self.id).finish()
    }
}

impl<T: Clone + 'static> PerThread<T> {
    /// Values made by `make`: the shared one now, each thread's on its first use.
    pub fn new(make: impl Fn() -> T + Send + Sync + 'static) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
            shared: make(),
            make: Box::new(make),
        }
    }

    /// The shared value, whichever thread asks.
    pub fn shared(&self) -> &T {
        &self.shared
    }

    /// The value to use from this thread.
    pub fn get(&self) -> T {
        if !on_connection_thread() {
            return self.shared.clone();
        }
        VALUES.with(|values| {
            let mut values = values.borrow_mut();
            values.retain(|entry| entry.owner.strong_count() > 0);
            let found = values
                .iter()
                .find(|entry| entry.id == self.id)
                .and_then(|entry| entry.value.downcast_ref::<T>());
            if let Some(value) = found {
                return value.clone();
            }
            let value = (self.make)();
            values.push(Entry {
                id: self.id,
                owner: Arc::downgrade(&self.alive),
                value: Box::new(value.clone()),
            });
            value
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use super::*;

    /// Counts the values alive (made and not yet dropped).
    #[derive(Debug)]
    struct Counted(Arc<Mutex<usize>>);

    impl Counted {
        fn new(alive: &Arc<Mutex<usize>>) -> Arc<Self> {
            *alive.lock().unwrap() += 1;
            Arc::new(Self(alive.clone()))
        }
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            *self.0.lock().unwrap() -= 1;
        }
    }

    fn on_a_connection_thread<R: Send + 'static>(work: impl FnOnce() -> R + Send + 'static) -> R {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap()
                .block_on(async move { work() })
        })
        .join()
        .unwrap()
    }

    #[test]
    fn each_connection_thread_makes_its_own_and_others_share_one() {
        let alive = Arc::new(Mutex::new(0));
        let made = alive.clone();
        let values = Arc::new(PerThread::new(move || Counted::new(&made)));
        assert_eq!(*alive.lock().unwrap(), 1, "the shared one");
        assert!(Arc::ptr_eq(&values.get(), values.shared()));

        let address = |value: Arc<Counted>| Arc::as_ptr(&value) as usize;
        let (first, again) = on_a_connection_thread({
            let values = values.clone();
            move || (address(values.get()), address(values.get()))
        });
        assert_eq!(first, again, "kept for the thread");
        assert_ne!(first, address(values.shared().clone()));
        assert_eq!(*alive.lock().unwrap(), 1, "dropped when its thread ended");
    }

    #[test]
    fn a_dropped_ones_values_go_at_the_threads_next_call() {
        let alive = Arc::new(Mutex::new(0));
        let (made, gone) = (alive.clone(), alive.clone());
        on_a_connection_thread(move || {
            let leaving = PerThread::new(move || Counted::new(&made));
            let staying = PerThread::new(|| 0_u32);
            drop(leaving.get());
            assert_eq!(*gone.lock().unwrap(), 2, "shared and this thread's");
            drop(leaving);
            assert_eq!(*gone.lock().unwrap(), 1, "this thread's still kept");
            staying.get();
            assert_eq!(*gone.lock().unwrap(), 0);
        });
    }
}
