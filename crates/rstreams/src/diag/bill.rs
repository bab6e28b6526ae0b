//! The buffer bill (issue 12): the most items each stage of a pipeline can hold in flight, read
//! at assembly time from the stages' own parameters, before anything is subscribed.
//!
//! * [`BufferBill`] is implemented by every publisher of this crate: it appends its own row(s)
//!   and then its upstream's (for a fan-in stage, each input's in turn).
//! * [`PublisherExt::buffer_bill`](crate::PublisherExt::buffer_bill) collects them into a
//!   [`Bill`]: one [`Row`] per stage in pipeline order (sources first), a total, and a
//!   [`Display`](fmt::Display) table.
//! * [`PublisherExt::check_buffer_budget`](crate::PublisherExt::check_buffer_budget) and
//!   [`PublisherExt::with_buffer_budget`](crate::PublisherExt::with_buffer_budget) turn the
//!   total into a rule: an over-budget pipeline fails with [`BudgetExceeded`].
//!
//! A type-erased [`BoxPublisher`] cannot be walked: its row says [`Bound::Unknown`]. Box with
//! [`PublisherExt::boxed_billed`](crate::PublisherExt::boxed_billed) to keep the bill, or state
//! the bound of a publisher you wrote (or received boxed) with
//! [`PublisherExt::declare_buffer`](crate::PublisherExt::declare_buffer) — or implement
//! [`BufferBill`] for your own publisher type.

use std::borrow::Cow;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

use rstreams_protocol::{BoxPublisher, Error, Publisher, Subscriber};

use crate::stage::{Loc, reject};

/// How many items one stage can hold at worst, by its own accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// A pass-through stage: every item it receives goes on at once (or is dropped).
    Zero,
    /// At most this many items (prefetch, ring capacity, batch size, …).
    Bounded(u64),
    /// No limit: the user chose an unbounded buffer by name (for example
    /// `on_backpressure_buffer_unbounded`, or `collect`, which keeps every item).
    Unbounded,
    /// The stage cannot say: a type-erased ([`BoxPublisher`]) or user publisher. Counted as
    /// nothing in the number, named in the total, and it fails any budget.
    Unknown,
}

impl Bound {
    /// `Bounded(n)`, or `Zero` when `n` is 0.
    pub fn items(n: u64) -> Self {
        if n == 0 {
            Bound::Zero
        } else {
            Bound::Bounded(n)
        }
    }

    /// The number of items, if the bound is a number (`Zero` is 0).
    pub fn count(self) -> Option<u64> {
        match self {
            Bound::Zero => Some(0),
            Bound::Bounded(n) => Some(n),
            Bound::Unbounded | Bound::Unknown => None,
        }
    }
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Zero => f.write_str("0"),
            Bound::Bounded(n) => write!(f, "{n}"),
            Bound::Unbounded => f.write_str("unbounded"),
            Bound::Unknown => f.write_str("unknown"),
        }
    }
}

/// One stage's line of a [`Bill`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    name: Cow<'static, str>,
    site: Option<&'static Location<'static>>,
    bound: Bound,
    note: Option<Cow<'static, str>>,
}

impl Row {
    /// A row for the stage `name` built at `site`.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        site: Option<&'static Location<'static>>,
        bound: Bound,
    ) -> Self {
        Row {
            name: name.into(),
            site,
            bound,
            note: None,
        }
    }

    /// This row with `note` (what the bound counts, or what it leaves out).
    pub fn note(mut self, note: impl Into<Cow<'static, str>>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The stage's operator name (`"publish_on"`, `"flat_map"`, …).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where the stage was built (`#[track_caller]`), if known: sources made without a call
    /// site and internal helpers have none.
    pub fn site(&self) -> Option<&'static Location<'static>> {
        self.site
    }

    /// The most items the stage can hold.
    pub fn bound(&self) -> Bound {
        self.bound
    }

    /// What the bound counts or leaves out, if the stage says.
    pub fn note_text(&self) -> Option<&str> {
        self.note.as_deref()
    }

    fn site_text(&self) -> String {
        match self.site {
            Some(l) => format!("{}:{}", l.file(), l.line()),
            None => "(no site)".to_owned(),
        }
    }

    fn describe(&self) -> String {
        format!("{} at {} ({})", self.name, self.site_text(), self.bound)
    }
}

/// A publisher that can state its buffer bill: implemented by every publisher of this crate;
/// implement it for your own publisher types to make them walkable.
///
/// ```
/// use rstreams::diag::bill::{Bound, BufferBill, Row};
/// use rstreams::prelude::*;
///
/// /// A user publisher holding up to 64 items in its own queue.
/// struct MyQueue;
/// impl Publisher for MyQueue {
///     type Item = u32;
///     fn subscribe<S: Subscriber<u32> + Send + 'static>(&self, s: S) {
///         rstreams::empty().subscribe(s)
///     }
/// }
/// impl BufferBill for MyQueue {
///     fn bill_rows(&self, rows: &mut Vec<Row>) {
///         rows.push(Row::new("my_queue", None, Bound::Bounded(64)));
///     }
/// }
/// assert_eq!(MyQueue.map(|x| x + 1).buffer_bill().total(), Some(64));
/// ```
pub trait BufferBill {
    /// Appends this stage's row(s), then its upstream's (each input's in turn for a fan-in
    /// stage). [`Bill`] reverses the list so that sources come first.
    fn bill_rows(&self, rows: &mut Vec<Row>);
}

/// The buffer bill of a pipeline: per-stage rows in pipeline order (sources first) and the
/// total. Made by [`PublisherExt::buffer_bill`](crate::PublisherExt::buffer_bill).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bill {
    rows: Vec<Row>,
}

impl Bill {
    /// The bill of `publisher`.
    pub fn of<P: BufferBill + ?Sized>(publisher: &P) -> Self {
        let mut rows = Vec::new();
        publisher.bill_rows(&mut rows);
        rows.reverse();
        Bill { rows }
    }

    /// The rows, sources first.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The total number of items the pipeline can hold, or `None` when some stage is
    /// [`Unbounded`](Bound::Unbounded) or [`Unknown`](Bound::Unknown) (see
    /// [`unbounded`](Self::unbounded) and [`unknown`](Self::unknown)).
    pub fn total(&self) -> Option<u64> {
        self.rows.iter().try_fold(0u64, |sum, r| {
            r.bound.count().map(|n| sum.saturating_add(n))
        })
    }

    /// The sum of the stages that state a number (the total when nothing is unbounded or
    /// unknown; a lower bound otherwise).
    pub fn counted(&self) -> u64 {
        self.rows
            .iter()
            .filter_map(|r| r.bound.count())
            .fold(0u64, u64::saturating_add)
    }

    /// The stages with no limit.
    pub fn unbounded(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.bound == Bound::Unbounded)
    }

    /// The stages that cannot state their bound.
    pub fn unknown(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.bound == Bound::Unknown)
    }

    /// `Ok` if the pipeline holds at most `budget` items at worst; otherwise the error
    /// [`PublisherExt::check_buffer_budget`](crate::PublisherExt::check_buffer_budget)
    /// describes.
    pub fn check(&self, budget: u64) -> Result<(), BudgetExceeded> {
        match self.total() {
            Some(total) if total <= budget => Ok(()),
            _ => Err(BudgetExceeded {
                budget,
                bill: self.clone(),
            }),
        }
    }

    fn total_text(&self) -> String {
        let named = |rows: Vec<&Row>| {
            rows.iter()
                .map(|r| format!("{} at {}", r.name, r.site_text()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let unbounded: Vec<&Row> = self.unbounded().collect();
        let unknown: Vec<&Row> = self.unknown().collect();
        let mut text = if !unbounded.is_empty() {
            format!("unbounded: {}", named(unbounded))
        } else if !unknown.is_empty() {
            format!("at least {} items", self.counted())
        } else {
            format!("{} items", self.counted())
        };
        if !unknown.is_empty() {
            text.push_str(&format!("; unknown: {}", named(unknown)));
        }
        text
    }
}

impl fmt::Display for Bill {
    /// An aligned table: stage, site (`file:line`), bound and note, then the total line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sites: Vec<String> = self.rows.iter().map(Row::site_text).collect();
        let bounds: Vec<String> = self.rows.iter().map(|r| r.bound.to_string()).collect();
        let w_name = self.rows.iter().map(|r| r.name.len()).fold(5, usize::max);
        let w_site = sites.iter().map(String::len).fold(4, usize::max);
        let w_bound = bounds.iter().map(String::len).fold(5, usize::max);
        let line = |f: &mut fmt::Formatter<'_>, a: &str, b: &str, c: &str, d: &str| {
            let text = format!("{a:<w_name$}  {b:<w_site$}  {c:>w_bound$}  {d}");
            writeln!(f, "{}", text.trim_end())
        };
        line(f, "stage", "site", "bound", "note")?;
        for ((row, site), bound) in self.rows.iter().zip(&sites).zip(&bounds) {
            line(f, &row.name, site, bound, row.note.as_deref().unwrap_or(""))?;
        }
        write!(f, "total: {}", self.total_text())
    }
}

/// The error of an over-budget pipeline: its kind is [`ErrorKind::User`](crate::ErrorKind::User)
/// (a configuration choice, not a protocol violation); match it with
/// [`Error::downcast_ref`](crate::Error::downcast_ref).
///
/// It names the stages that break the budget (each with its site and bound: every unbounded
/// or unknown stage, else every stage that holds items, largest first) and the total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetExceeded {
    budget: u64,
    bill: Bill,
}

impl BudgetExceeded {
    /// The budget that was exceeded.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// The whole bill.
    pub fn bill(&self) -> &Bill {
        &self.bill
    }

    /// The stages named as breaking the budget.
    pub fn culprits(&self) -> Vec<&Row> {
        let open: Vec<&Row> = self
            .bill
            .rows
            .iter()
            .filter(|r| r.bound.count().is_none())
            .collect();
        if !open.is_empty() {
            return open;
        }
        let mut holding: Vec<&Row> = self
            .bill
            .rows
            .iter()
            .filter(|r| r.bound.count().unwrap_or(0) > 0)
            .collect();
        holding.sort_by_key(|r| std::cmp::Reverse(r.bound.count()));
        holding
    }
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let culprits: Vec<String> = self.culprits().iter().map(|r| r.describe()).collect();
        write!(
            f,
            "buffer budget of {} items exceeded by {}; total: {}",
            self.budget,
            culprits.join(", "),
            self.bill.total_text()
        )
    }
}

impl std::error::Error for BudgetExceeded {}

/// The publisher made by
/// [`PublisherExt::with_buffer_budget`](crate::PublisherExt::with_buffer_budget): its upstream,
/// checked against a budget when it was built. Over budget, every subscriber receives
/// `on_subscribe` then `on_error` with the [`BudgetExceeded`] error; the upstream is never
/// subscribed.
#[derive(Clone, Debug)]
pub struct Budgeted<P> {
    pub(crate) upstream: P,
    pub(crate) verdict: Result<(), Error>,
    pub(crate) loc: Loc,
}

impl<P: BufferBill> Budgeted<P> {
    pub(crate) fn new(upstream: P, budget: u64, loc: Loc) -> Self {
        let verdict = check(&upstream, budget, loc);
        Budgeted {
            upstream,
            verdict,
            loc,
        }
    }

    /// The assembly-time verdict: `Err` holds the error every subscriber will receive.
    pub fn verdict(&self) -> Result<(), &Error> {
        self.verdict.as_ref().map(|_| ())
    }
}

/// The budget check shared by `check_buffer_budget` and `with_buffer_budget`.
pub(crate) fn check<P: BufferBill + ?Sized>(p: &P, budget: u64, loc: Loc) -> Result<(), Error> {
    Bill::of(p).check(budget).map_err(|e| {
        let error = Error::new(e).at_stage(loc);
        tracing::debug!(%error, "buffer budget exceeded");
        error
    })
}

impl<P: Publisher> Publisher for Budgeted<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        match &self.verdict {
            Ok(()) => self.upstream.subscribe(subscriber),
            Err(e) => reject(subscriber, e.clone()),
        }
    }
}

impl<P: BufferBill> BufferBill for Budgeted<P> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        rows.push(Row::new("with_buffer_budget", Some(self.loc), Bound::Zero));
        self.upstream.bill_rows(rows);
    }
}

/// The publisher made by [`PublisherExt::boxed_billed`](crate::PublisherExt::boxed_billed): a
/// [`BoxPublisher`] that keeps the bill its publisher had when it was boxed.
pub struct BilledBox<T> {
    inner: BoxPublisher<T>,
    /// In [`BufferBill::bill_rows`] order (own stage first).
    rows: Arc<[Row]>,
}

impl<T> BilledBox<T> {
    pub(crate) fn new<P>(publisher: P) -> Self
    where
        P: Publisher<Item = T> + BufferBill + Send + Sync + 'static,
        T: 'static,
    {
        let mut rows = Vec::new();
        publisher.bill_rows(&mut rows);
        BilledBox {
            inner: publisher.boxed(),
            rows: rows.into(),
        }
    }

    /// The type-erased publisher (its bill is lost).
    pub fn into_inner(self) -> BoxPublisher<T> {
        self.inner
    }
}

impl<T> Clone for BilledBox<T> {
    fn clone(&self) -> Self {
        BilledBox {
            inner: self.inner.clone(),
            rows: Arc::clone(&self.rows),
        }
    }
}

impl<T> fmt::Debug for BilledBox<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BilledBox")
            .field("stages", &self.rows.len())
            .finish()
    }
}

impl<T: 'static> Publisher for BilledBox<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        self.inner.subscribe(subscriber)
    }
}

impl<T> BufferBill for BilledBox<T> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        rows.extend(self.rows.iter().cloned());
    }
}

/// The publisher made by [`PublisherExt::declare_buffer`](crate::PublisherExt::declare_buffer):
/// its upstream, unchanged, with a bill row the user stated for it (and everything above it).
#[derive(Clone, Debug)]
pub struct Declared<P> {
    pub(crate) upstream: P,
    pub(crate) name: &'static str,
    pub(crate) bound: Bound,
    pub(crate) loc: Loc,
}

impl<P: Publisher> Publisher for Declared<P> {
    type Item = P::Item;
    fn subscribe<S: Subscriber<P::Item> + Send + 'static>(&self, subscriber: S) {
        self.upstream.subscribe(subscriber)
    }
}

impl<P> BufferBill for Declared<P> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        rows.push(
            Row::new(self.name, Some(self.loc), self.bound)
                .note("declared by the user (its upstream is not walked)"),
        );
    }
}

// ---------------------------------------------------------------- impls for this crate

/// The bill of a stage that holds no items and walks no upstream (a source, mostly), with a
/// `loc` field: `leaf_bill!(Range => "range")`, `leaf_bill!(Defer<F> => "defer", "note")`.
macro_rules! leaf_bill {
    ($ty:ident $(<$($g:ident),*>)? => $name:expr $(, $note:expr)?) => {
        impl$(<$($g),*>)? $crate::diag::bill::BufferBill for $ty$(<$($g),*>)? {
            fn bill_rows(&self, rows: &mut Vec<$crate::diag::bill::Row>) {
                let row = $crate::diag::bill::Row::new(
                    $name,
                    Some(self.loc),
                    $crate::diag::bill::Bound::Zero,
                );
                $(let row = row.note($note);)?
                rows.push(row);
            }
        }
    };
}
pub(crate) use leaf_bill;

impl<T> BufferBill for BoxPublisher<T> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        rows.push(
            Row::new("boxed", None, Bound::Unknown)
                .note("type-erased: use boxed_billed() or declare_buffer()"),
        );
    }
}

impl<P: BufferBill + ?Sized> BufferBill for Arc<P> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        (**self).bill_rows(rows)
    }
}

impl<P: BufferBill + ?Sized> BufferBill for &P {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        (**self).bill_rows(rows)
    }
}

/// Stages with `upstream` and `loc` fields whose row is a fixed name and a bound computed from
/// `self` (`$bound` and `$note` are expressions over `$s`).
macro_rules! bill {
    ($ty:ident<$($g:ident),*> => $name:expr, |$s:ident| $bound:expr $(, $note:expr)?) => {
        impl<$($g),*> BufferBill for $ty<$($g),*>
        where
            P: BufferBill,
        {
            fn bill_rows(&self, rows: &mut Vec<Row>) {
                let $s = self;
                let row = Row::new($name, Some($s.loc), $bound);
                $(let row = row.note($note);)?
                rows.push(row);
                $s.upstream.bill_rows(rows);
            }
        }
    };
}

use super::metrics::Metered;
use crate::flat::{FlatMap, Merge, Zip};
use crate::hop::{PublishOn, SubscribeOn};
use crate::multicast::Share;
use crate::ops::*;
use crate::overflow::OnBackpressure;
use crate::source::fuse::Fused;
use crate::time::{BufferTimeout, Debounce, Delay, Retry, Sample, ThrottleFirst, Timeout};

// Pass-through stages: each item goes on at once, or is dropped.
bill!(Map<P, F> => "map", |s| Bound::Zero);
bill!(Filter<P, F> => "filter", |s| Bound::Zero);
bill!(FilterMap<P, F> => "filter_map", |s| Bound::Zero);
bill!(Take<P> => "take", |s| Bound::Zero);
bill!(TakeWhile<P, F> => "take_while", |s| Bound::Zero);
bill!(Skip<P> => "skip", |s| Bound::Zero);
bill!(SkipWhile<P, F> => "skip_while", |s| Bound::Zero);
bill!(Scan<P, A, F> => "scan", |s| Bound::Zero, "+ its accumulator");
bill!(Enumerate<P> => "enumerate", |s| Bound::Zero);
bill!(DoOnNext<P, F> => "do_on_next", |s| Bound::Zero);
bill!(Metered<P> => "metered", |s| Bound::Zero);
bill!(DoOnRequest<P, F> => "do_on_request", |s| Bound::Zero);
bill!(DoOnCancel<P, F> => "do_on_cancel", |s| Bound::Zero);
bill!(DoOnComplete<P, F> => "do_on_complete", |s| Bound::Zero);
bill!(DoOnError<P, F> => "do_on_error", |s| Bound::Zero);
bill!(OnErrorMap<P, F> => "on_error_map", |s| Bound::Zero);
bill!(OnErrorReturn<P, T> => "on_error_return", |s| Bound::Zero, "+ its fallback item");
bill!(OnErrorResume<P, F> => "on_error_resume", |s| Bound::Zero,
    "the fallback publisher is built on error: not included");
bill!(LimitRate<P> => "limit_rate", |s| Bound::Zero,
    format!("passes items through; asks upstream for at most {} ahead", s.high));
bill!(DistinctBy<P, F> => "distinct_by", |s| Bound::Zero,
    format!("+ up to {} keys", s.max_keys));
bill!(DistinctUntilChanged<P, F> => "distinct_until_changed", |s| Bound::Zero, "+ the last key");
bill!(Fold<P, A, F> => "fold", |s| Bound::Zero, "+ its accumulator");
bill!(StartWith<P, T> => "start_with", |s| Bound::Zero,
    format!("+ its {} prefix items", s.prefix.len()));
bill!(Timeout<P> => "timeout", |s| Bound::Zero);
bill!(Retry<P> => "retry", |s| Bound::Zero);
bill!(Delay<P> => "delay", |s| Bound::Zero,
    "+ items waiting their delay: at most the downstream's outstanding demand");
bill!(SubscribeOn<P> => "subscribe_on", |s| Bound::Zero);
// Buffering stages.
bill!(Reduce<P, F> => "reduce", |s| Bound::Bounded(1), "its accumulator");
bill!(Collect<P, C> => "collect", |s| Bound::Unbounded, "keeps every item until completion");
bill!(Buffer<P> => "buffer", |s| Bound::items(s.size as u64), "one batch");
bill!(BufferTimeout<P> => "buffer_timeout", |s| Bound::items(s.n as u64), "one batch");
bill!(PublishOn<P> => "publish_on", |s| Bound::items(s.prefetch as u64), "ring of prefetch");
bill!(Debounce<P> => "debounce", |s| Bound::Bounded(2), "candidate + one due");
bill!(ThrottleFirst<P> => "throttle_first", |s| Bound::Bounded(1), "one item due downstream");
bill!(Sample<P> => "sample", |s| Bound::Bounded(2), "candidate + one due");
bill!(GroupBy<P, F> => "group_by", |s| Bound::items(s.group_prefetch as u64),
    format!("requested + queued over all groups (up to {} groups)", s.max_groups));
bill!(WindowPub<P> => if s.timeout.is_some() { "window_timeout" } else { "window" },
    |s| Bound::items(s.n as u64), "requested + queued in the open window");

impl<P, F> BufferBill for FlatMap<P, F>
where
    P: BufferBill,
{
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        let (n, prefetch) = (self.max_concurrency as u64, self.prefetch as u64);
        let note = if self.name == "switch_map" {
            "the current inner's items in flight; inner stages not included".to_owned()
        } else {
            format!("{n} inner(s) x prefetch {prefetch}; inner stages not included")
        };
        rows.push(
            Row::new(
                self.name,
                Some(self.loc),
                Bound::items(n.saturating_mul(prefetch)),
            )
            .note(note),
        );
        self.upstream.bill_rows(rows);
    }
}

impl<P> BufferBill for Share<P>
where
    P: Publisher + BufferBill,
{
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        let row = Row::new(
            "share",
            Some(self.loc),
            Bound::items(self.capacity.max(1) as u64),
        );
        rows.push(row.note("per subscriber"));
        self.upstream.bill_rows(rows);
    }
}

impl<P> BufferBill for OnBackpressure<P>
where
    P: Publisher + BufferBill,
{
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        use crate::overflow::OverflowPolicy as O;
        let (name, bound) = match (self.mode.capacity, self.mode.policy) {
            (None, _) => ("on_backpressure_buffer_unbounded", Bound::Unbounded),
            (Some(0), O::DropNewest) => ("on_backpressure_drop", Bound::Zero),
            (Some(0), O::Error) => ("on_backpressure_error", Bound::Zero),
            (Some(1), O::DropOldest) => ("on_backpressure_latest", Bound::Bounded(1)),
            (Some(n), _) => ("on_backpressure_buffer", Bound::items(n as u64)),
        };
        rows.push(Row::new(name, Some(self.loc), bound));
        self.upstream.bill_rows(rows);
    }
}

/// A stage with a main upstream and a second input `other`, holding `bound`.
fn with_other(
    rows: &mut Vec<Row>,
    row: Row,
    upstream: &(impl BufferBill + ?Sized),
    other: &(impl BufferBill + ?Sized),
) {
    rows.push(row);
    // Pushed in reverse, so that after the final reversal the main upstream comes first.
    other.bill_rows(rows);
    upstream.bill_rows(rows);
}

impl<P: BufferBill, Q: BufferBill> BufferBill for TakeUntil<P, Q> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        let row = Row::new(
            "take_until",
            Some(self.loc),
            Bound::Bounded(crate::ops::RELAY_BATCH),
        )
        .note("min(outstanding demand, one request batch) upstream items");
        with_other(rows, row, &self.upstream, &self.other);
    }
}

impl<P: BufferBill, Q: BufferBill> BufferBill for SkipUntil<P, Q> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        let row = Row::new(
            "skip_until",
            Some(self.loc),
            Bound::Bounded(crate::ops::RELAY_BATCH),
        )
        .note("min(outstanding demand, one request batch) upstream items");
        with_other(rows, row, &self.upstream, &self.other);
    }
}

impl<P: BufferBill, Q: BufferBill> BufferBill for SwitchIfEmpty<P, Q> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        let row = Row::new("switch_if_empty", Some(self.loc), Bound::Zero);
        with_other(rows, row, &self.upstream, &self.other);
    }
}

impl<P: BufferBill, Q: BufferBill, F> BufferBill for WithLatestFrom<P, Q, F> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        let batch = crate::ops::RELAY_BATCH;
        let row = Row::new(
            "with_latest_from",
            Some(self.loc),
            Bound::Bounded(batch + 1),
        )
        .note("upstream items up to one request batch + other's latest value");
        with_other(rows, row, &self.upstream, &self.other);
    }
}

impl<A: BufferBill, B: BufferBill> BufferBill for Zip<A, B> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        let prefetch = self.prefetch as u64;
        let row = Row::new(
            "zip",
            Some(self.loc),
            Bound::items(prefetch.saturating_mul(2)),
        )
        .note(format!("2 inputs x prefetch {prefetch}"));
        with_other(rows, row, &self.a, &self.b);
    }
}

impl<P: BufferBill> BufferBill for Merge<P> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        let (n, prefetch) = (self.sources.len() as u64, self.prefetch as u64);
        rows.push(
            Row::new(
                "merge",
                Some(self.loc),
                Bound::items(n.saturating_mul(prefetch)),
            )
            .note(format!("{n} inputs x prefetch {prefetch}")),
        );
        for source in self.sources.iter().rev() {
            source.bill_rows(rows);
        }
    }
}

impl<P: BufferBill> BufferBill for Fused<P> {
    fn bill_rows(&self, rows: &mut Vec<Row>) {
        // Fusion runs the same stages as one loop: the bill is theirs.
        self.0.bill_rows(rows);
    }
}
