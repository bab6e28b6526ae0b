//! The hand-written publisher template of `docs/guide/tck.md` ("A publisher by hand"), kept
//! here word for word so the guide's code is known to pass every test of the suite.

// --- the template (copied into the guide) ---
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex};

use rstreams_protocol::{Error, Publisher, Rule, Subscriber, Subscription};

/// Emits `0..n`, then `on_complete`, to each subscriber, on the thread that calls `request`.
pub struct Counter {
    n: u64,
}

struct State {
    /// `None` once the subscription ended: dropped on cancel and terminal signals (1.6, 3.13).
    subscriber: Option<Box<dyn Subscriber<u64> + Send>>,
    /// Outstanding demand; saturating, `u64::MAX` means unbounded (3.17).
    demand: u64,
    next: u64,
    /// A drain loop is running: a re-entrant `request` only records its demand (3.2, 3.3).
    draining: bool,
    cancelled: bool,
    /// `request(0)` was called: the loop ends the stream with `on_error` (3.9).
    bad_request: bool,
}

#[derive(Clone)]
struct Handle(Arc<(u64, Mutex<State>)>);

enum Next {
    Item(u64),
    Complete,
    Error,
}

impl Handle {
    /// The drain loop: delivers one signal at a time, never holding the lock while the
    /// subscriber runs, so `request` and `cancel` from inside `on_next` (or from another
    /// thread) return at once (3.2, 3.4, 3.5).
    fn drain(&self) {
        let (n, state) = &*self.0;
        let mut st = state.lock().unwrap();
        if st.draining {
            return; // the loop already running (maybe below us on this stack) will see it
        }
        st.draining = true;
        loop {
            if st.cancelled {
                st.subscriber = None;
                break;
            }
            let next = if st.bad_request {
                Next::Error
            } else if st.next == *n {
                Next::Complete
            } else if st.demand > 0 {
                if st.demand != u64::MAX {
                    st.demand -= 1;
                }
                st.next += 1;
                Next::Item(st.next - 1)
            } else {
                break; // no demand: the next request drains again
            };
            let Some(mut subscriber) = st.subscriber.take() else {
                break;
            };
            drop(st);
            // A panicking subscriber breaks rule 2.13; treat it as a cancel (and drop it).
            let survived = catch_unwind(AssertUnwindSafe(|| match next {
                Next::Item(i) => subscriber.on_next(i),
                Next::Complete => subscriber.on_complete(),
                Next::Error => subscriber.on_error(Error::violation(Rule::R3_9, "request(0)")),
            }))
            .is_ok();
            st = state.lock().unwrap();
            if !survived {
                st.cancelled = true;
            }
            match next {
                Next::Item(_) if survived && !st.cancelled => st.subscriber = Some(subscriber),
                // Terminal signal, cancel or panic: `subscriber` is dropped here.
                _ => st.cancelled = true,
            }
        }
        st.draining = false;
    }
}

impl Subscription for Handle {
    fn request(&self, k: u64) {
        {
            let mut st = self.0.1.lock().unwrap();
            if st.cancelled {
                return; // 3.6
            }
            if k == 0 {
                st.bad_request = true;
            } else {
                st.demand = st.demand.saturating_add(k);
            }
        }
        self.drain();
    }

    fn cancel(&self) {
        let dropped = {
            let mut st = self.0.1.lock().unwrap();
            st.cancelled = true; // idempotent (3.7)
            // A running drain loop drops the subscriber itself when it next looks.
            if st.draining {
                None
            } else {
                st.subscriber.take()
            }
        };
        drop(dropped); // outside the lock: the subscriber's Drop may call back
    }
}

impl Publisher for Counter {
    type Item = u64;
    fn subscribe<S: Subscriber<u64> + Send + 'static>(&self, subscriber: S) {
        let handle = Handle(Arc::new((
            self.n,
            Mutex::new(State {
                subscriber: None,
                demand: 0,
                next: 0,
                draining: true, // nothing is delivered before on_subscribe has returned
                cancelled: false,
                bad_request: false,
            }),
        )));
        let mut subscriber: Box<dyn Subscriber<u64> + Send> = Box::new(subscriber);
        let subscription = Box::new(handle.clone());
        if catch_unwind(AssertUnwindSafe(|| subscriber.on_subscribe(subscription))).is_err() {
            return; // 2.13: the subscriber is dropped
        }
        {
            let mut st = handle.0.1.lock().unwrap();
            if !st.cancelled {
                st.subscriber = Some(subscriber);
            }
            st.draining = false;
        }
        // Delivers what on_subscribe requested, or completes an empty stream at once.
        handle.drain();
    }
}
// --- end of the template ---

use rstreams_tck::outcome::{Outcome, Settings};
use rstreams_tck::publisher::{self, PublisherVerification};

struct Template;

impl PublisherVerification for Template {
    type Item = u64;
    type Pub = Counter;
    fn create_publisher(&self, n: u64) -> Counter {
        Counter { n }
    }
}

#[test]
fn the_guides_hand_written_publisher_passes_every_test() {
    let report = publisher::run("guide template", &Template, &Settings::from_env());
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|(_, _, o)| matches!(o, Outcome::Failed { .. }))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter").finish_non_exhaustive()
    }
}
