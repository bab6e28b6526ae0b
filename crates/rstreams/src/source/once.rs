use std::panic::Location;

use parking_lot::Mutex;
use rstreams_protocol::pull::{self, Source as _};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber};

use super::simple::JustSource;
use crate::stage::{Loc, reject};

/// The publisher made by [`once`].
#[derive(Debug)]
pub struct Once<T> {
    item: Mutex<Option<T>>,
    loc: Loc,
}

/// Emits one item, moved (never cloned) to the first subscriber once it requests, then completes:
/// [`just`](crate::just) for values that are not `Clone + Sync` (a file handle, a channel end, a
/// large buffer).
///
/// Single-use, like [`from_iter_once`](crate::from_iter_once): every later subscriber gets
/// `on_subscribe` then `on_error` with an error whose [`rule`](Error::rule) is 1.11 (a publisher
/// may refuse further subscribers) and whose message says the value was already taken. The value
/// moves at `subscribe`, so a first subscriber that cancels before requesting drops it unsent.
///
/// ```
/// use rstreams::prelude::*;
/// #[derive(Debug)]
/// struct Handle(u32); // neither Clone nor Sync is needed
/// let p = rstreams::once(Handle(7));
/// assert_eq!(p.blocking_first().unwrap().map(|h| h.0), Some(7));
/// let again = p.blocking_first().unwrap_err();
/// assert_eq!(again.rule(), Some(rstreams::Rule::R1_11));
/// ```
#[track_caller]
pub fn once<T: Send + 'static>(item: T) -> Once<T> {
    Once {
        item: Mutex::new(Some(item)),
        loc: Location::caller(),
    }
}

impl<T> Once<T> {
    /// Moves the value out, as the first subscriber would receive it (`None` once taken): for
    /// the scalar fast path of `flat_map`/`merge`, which recognise a `Once` by type.
    pub(crate) fn take_scalar(&self) -> Option<T> {
        self.item.lock().take()
    }
}

impl<T: Send + 'static> Publisher for Once<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let taken = self.item.lock().take();
        match taken {
            Some(item) => {
                pull::serve(JustSource(Some(item)).at(self.loc), subscriber);
            }
            None => reject(
                subscriber,
                Error::violation(
                    Rule::R1_11,
                    "once is single-use: its value was already moved to an earlier subscriber",
                )
                .at_stage(self.loc),
            ),
        }
    }
}

// ---- buffer bill (issue 12) ----
crate::diag::bill::leaf_bill!(Once<T> => "once");
