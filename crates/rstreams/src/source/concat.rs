use std::panic::Location;
use std::sync::Arc;

use rstreams_protocol::{Publisher, Subscriber};

use crate::ops::sequence::{self, Ended, Next, Successor};
use crate::stage::Loc;

/// The publisher made by [`concat()`].
pub struct Concat<P> {
    publishers: Arc<[P]>,
    loc: Loc,
}

impl<P> Clone for Concat<P> {
    fn clone(&self) -> Self {
        Concat {
            publishers: Arc::clone(&self.publishers),
            loc: self.loc,
        }
    }
}

impl<P> std::fmt::Debug for Concat<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Concat")
            .field("publishers", &self.publishers.len())
            .field("loc", &self.loc)
            .finish()
    }
}

/// Emits every item of the first publisher, then of the second, and so on; completes after the
/// last, fails at the first error.
///
/// Demand: the downstream's outstanding demand is carried over. Each publisher is subscribed only
/// when the previous one completes and is asked for exactly what the downstream still wants; a
/// cancel goes to the running one and the rest are never subscribed. Publishers of different
/// types can be mixed with [`boxed`](Publisher::boxed).
///
/// ```
/// use rstreams::prelude::*;
/// let all = rstreams::concat([rstreams::range(0, 2).boxed(), rstreams::just(7).boxed()]);
/// assert_eq!(all.to_vec().blocking_first().unwrap(), Some(vec![0, 1, 7]));
/// ```
#[track_caller]
pub fn concat<P, I>(publishers: I) -> Concat<P>
where
    I: IntoIterator<Item = P>,
{
    Concat {
        publishers: publishers.into_iter().collect(),
        loc: Location::caller(),
    }
}

struct ConcatNext<P> {
    publishers: Arc<[P]>,
    index: usize,
}

/// A shared, cheap handle on one element of the list.
struct Nth<P>(Arc<[P]>, usize);

impl<P: Publisher> Publisher for Nth<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        self.0[self.1].subscribe(subscriber)
    }
}

impl<P> Successor for ConcatNext<P>
where
    P: Publisher + Send + Sync + 'static,
{
    type Item = P::Item;
    type Pub = Nth<P>;
    fn next(&mut self, ended: Ended) -> Next<Nth<P>> {
        match ended {
            Ended::Error(e) => Next::Error(e),
            Ended::Start | Ended::Complete if self.index < self.publishers.len() => {
                self.index += 1;
                Next::Subscribe(Nth(Arc::clone(&self.publishers), self.index - 1))
            }
            _ => Next::Complete,
        }
    }
}

impl<P> Publisher for Concat<P>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
{
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let _ = self.loc;
        sequence::start(
            subscriber,
            ConcatNext {
                publishers: Arc::clone(&self.publishers),
                index: 0,
            },
        );
    }
}

// ---- buffer bill (issue 12) ----
impl<P: crate::diag::bill::BufferBill> crate::diag::bill::BufferBill for Concat<P> {
    fn bill_rows(&self, rows: &mut Vec<crate::diag::bill::Row>) {
        use crate::diag::bill::{Bound, Row};
        rows.push(Row::new("concat", Some(self.loc), Bound::Zero).note("one input at a time"));
        for p in self.publishers.iter().rev() {
            p.bill_rows(rows);
        }
    }
}
