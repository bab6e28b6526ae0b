use std::sync::Arc;

use rstreams_protocol::{Publisher, Subscriber};

use super::core::{MergeCore, Mode};
use crate::diag::bill::{BufferBill, Row};
use crate::stage::{Loc, reject};

/// The default inner prefetch of [`merge`] and of the `merge_with` operator: how many items
/// each source is asked for ahead of the downstream (then 75% batches as they are consumed).
pub const DEFAULT_MERGE_PREFETCH: usize = 256;

/// Merges `sources` fairly (in turn, a run of at most `prefetch` items from each) into one stream, all subscribed at once, each asked
/// for at most `prefetch` items ahead of the downstream. Completes when every source has;
/// fails at once on the first error, cancelling the others. A downstream cancel cancels every
/// source. See [`Merge`].
///
/// ```
/// use rstreams::prelude::*;
/// let mut v: Vec<u64> = rstreams::merge(vec![rstreams::range(0, 3), rstreams::range(10, 3)], 16)
///     .to_vec()
///     .blocking_first()?
///     .unwrap();
/// v.sort();
/// assert_eq!(v, vec![0, 1, 2, 10, 11, 12]);
/// # Ok::<(), rstreams::Error>(())
/// ```
#[track_caller]
pub fn merge<P>(sources: impl IntoIterator<Item = P>, prefetch: usize) -> Merge<P>
where
    P: Publisher,
{
    Merge {
        sources: sources.into_iter().collect(),
        prefetch,
        loc: std::panic::Location::caller(),
    }
}

/// The publisher made by [`merge`] and [`PublisherExt::merge_with`](crate::PublisherExt::merge_with).
#[derive(Clone, Debug)]
pub struct Merge<P> {
    pub(crate) sources: Vec<P>,
    pub(crate) prefetch: usize,
    pub(crate) loc: Loc,
}

impl<P> Publisher for Merge<P>
where
    P: Publisher + 'static,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        let n = self.sources.len().max(1);
        if let Err(e) = MergeCore::<P::Item>::validate("merge", n, self.prefetch) {
            reject(subscriber, e.at_stage(self.loc));
            return;
        }
        let core: Arc<MergeCore<P::Item>> = MergeCore::new(Mode::Merge, n, self.prefetch, self.loc);
        core.serve(subscriber);
        let mut lane = core.scalar_lane();
        for source in &self.sources {
            if core.is_finished() {
                return;
            }
            core.add_inner(source, &mut lane);
        }
        core.outer_complete();
    }
}

/// One input of [`PublisherExt::merge_with`](crate::PublisherExt::merge_with): this publisher
/// or the other, so that two publishers of different types merge without boxing (which would
/// hide their buffer bill, and their type from `merge`'s scalar fast path).
#[derive(Clone, Debug)]
pub enum MergeInput<A, B> {
    /// The publisher `merge_with` was called on.
    First(A),
    /// The publisher given to `merge_with`.
    Second(B),
}

impl<A, B> Publisher for MergeInput<A, B>
where
    A: Publisher,
    B: Publisher<Item = A::Item>,
{
    type Item = A::Item;

    fn subscribe<S: Subscriber<A::Item> + Send + 'static>(&self, subscriber: S) {
        match self {
            MergeInput::First(a) => a.subscribe(subscriber),
            MergeInput::Second(b) => b.subscribe(subscriber),
        }
    }
}

// ---- buffer bill (issue 12) ----
impl<A: BufferBill, B: BufferBill> BufferBill for MergeInput<A, B> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        match self {
            MergeInput::First(a) => a.bill_rows(rows),
            MergeInput::Second(b) => b.bill_rows(rows),
        }
    }
}
