//! Synchronous operators: one file per operator or small family. Each is a generic struct
//! implementing [`Publisher`](rstreams_protocol::Publisher), built by a method of
//! [`PublisherExt`](crate::PublisherExt); no boxing per stage.

mod aggregate;
mod buffer;
mod combine;
mod distinct;
mod enumerate;
mod fallback;
mod filter;
mod fold;
mod group;
mod limit_rate;
mod map;
pub(crate) mod relay;
pub(crate) mod replenish;
mod resume;
mod scan;
pub(crate) mod sequence;
mod skip;
mod take;
mod tap;
mod until;
mod using;

pub use aggregate::{Collect, Reduce};
pub use buffer::Buffer;
pub use combine::{
    CombineLatest, DEFAULT_COMBINE_PREFETCH, WithLatestFrom, Zip3, combine_latest, zip3,
};
pub use distinct::{DistinctBy, DistinctUntilChanged, Itself, KeyFn, KeyOf};
pub use enumerate::Enumerate;
pub use fallback::{OnErrorReturn, StartWith, SwitchIfEmpty};
pub use filter::{Filter, FilterMap};
pub use fold::Fold;
pub use group::{GroupBy, GroupedPublisher, Window, WindowPub};
pub use limit_rate::LimitRate;
pub use map::Map;
pub use relay::RELAY_BATCH;
pub use resume::{OnErrorMap, OnErrorResume};
pub use scan::Scan;
pub use skip::{Skip, SkipWhile};
pub use take::{Take, TakeWhile};
pub use tap::{DoOnCancel, DoOnComplete, DoOnError, DoOnNext, DoOnRequest};
pub use until::{SkipUntil, TakeUntil};
pub use using::{Using, using};
