use std::panic::Location;
use std::sync::Arc;

use rstreams_protocol::{Error, Publisher, Rule, Subscriber};

use crate::stage::{Loc, guard, reject};

/// The publisher made by [`defer`].
pub struct Defer<F> {
    make: Arc<F>,
    loc: Loc,
}

impl<F> Clone for Defer<F> {
    fn clone(&self) -> Self {
        Defer {
            make: Arc::clone(&self.make),
            loc: self.loc,
        }
    }
}

impl<F> std::fmt::Debug for Defer<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Defer").field("loc", &self.loc).finish()
    }
}

/// Calls `make` at each subscribe and subscribes to the publisher it returns, so that each
/// subscriber sees fresh state. A panic in `make` reaches the subscriber as `on_subscribe` then
/// `on_error` (rule 1.4, naming this stage).
///
/// ```
/// use rstreams::prelude::*;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// static RUNS: AtomicU64 = AtomicU64::new(0);
/// let p = rstreams::defer(|| rstreams::just(RUNS.fetch_add(1, Ordering::SeqCst)));
/// assert_eq!(p.blocking_first().unwrap(), Some(0));
/// assert_eq!(p.blocking_first().unwrap(), Some(1));
/// ```
#[track_caller]
pub fn defer<P, F>(make: F) -> Defer<F>
where
    F: Fn() -> P + Send + Sync + 'static,
    P: Publisher,
{
    Defer {
        make: Arc::new(make),
        loc: Location::caller(),
    }
}

impl<P, F> Publisher for Defer<F>
where
    F: Fn() -> P + Send + Sync + 'static,
    P: Publisher,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        match guard(|| (self.make)()) {
            Ok(publisher) => publisher.subscribe(subscriber),
            Err(payload) => reject(
                subscriber,
                Error::from_panic(Rule::R1_4, payload).at_stage(self.loc),
            ),
        }
    }
}

// ---- buffer bill (issue 12) ----
crate::diag::bill::leaf_bill!(Defer<F> => "defer", "the publisher is built per subscription: not included");
