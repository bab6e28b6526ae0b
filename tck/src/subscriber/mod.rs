//! The subscriber suites: [`whitebox`] (SubscriberWhiteboxVerification, 27 JVM tests) and
//! [`blackbox`] (SubscriberBlackboxVerification, 26 JVM tests), plus Rust-only tests, the
//! reference subscribers that pass them ([`mod@reference`]) and the macros that turn a suite into one
//! `#[test]` per test.
//!
//! The subscriber under test is driven by a TCK-controlled *stage* (a fake upstream publisher).
//! Beyond what the JVM TCK checks, the stage's subscriptions detect, naming the rule:
//! `request(0)` (3.9), `request`/`cancel` from inside `on_complete`/`on_error` (2.3), calls after
//! the subscriber saw a terminal signal (2.4), overlapping calls from two threads (2.7) and
//! requests on a second subscription (2.5); every callback is wrapped in `catch_unwind` (2.13);
//! and some tests run against a *synchronous* stage that delivers items and terminal signals
//! from inside `request` (3.10, 3.11, 3.16). Failures raised on other threads are collected and
//! reported by the test that was running.
//!
//! Of the JVM's 28 subscriber-side `untested_` placeholders (13 whitebox, 15 blackbox), 22 run
//! real checks here (2.4, 2.6, 2.7, 2.13, 3.10, 3.11, 3.14, 3.15, 3.16 in both suites, 2.8 and
//! 3.8 in the blackbox one, and 2.2 in both for subscribers that declare asynchronous
//! processing; synchronous ones skip it, as the rule only recommends hand-off), and 6 are
//! settled by Rust's types (2.11, 2.12, 3.1) and say why in the report.
//! The Rust-only tests (`rust_` prefix) check that no `request(0)` is ever made (3.9), a whole
//! stream from a synchronous source (3.10) and seeded random legal signal sequences (2.13).
//!
//! Waits come from [`Settings`]: a wait for an expected signal returns as soon as it arrives;
//! only "nothing more happens" checks watch for the full no-signal time.
//!
//! ```
//! use rstreams_tck::subscriber::blackbox::{self, SubscriberBlackboxVerification};
//! use rstreams_tck::subscriber::reference::SyncSubscriber;
//! use rstreams_tck::outcome::Settings;
//!
//! struct Verify;
//! impl SubscriberBlackboxVerification for Verify {
//!     type Item = u64;
//!     type Subscriber = SyncSubscriber<u64, fn(u64) -> bool>;
//!     fn create_subscriber(&self) -> Self::Subscriber {
//!         SyncSubscriber::new(8, |_x: u64| true)
//!     }
//!     fn create_element(&self, i: u64) -> u64 { i }
//! }
//! let report = blackbox::run("SyncSubscriber", &Verify, &Settings::from_env());
//! assert!(report.failed().is_empty(), "{:?}", report.results);
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use rstreams_protocol::Error;

use crate::outcome::{Settings, SuiteReport};

pub mod blackbox;
mod env;
mod probe;
pub mod reference;
mod stage;
pub mod whitebox;

pub use blackbox::SubscriberBlackboxVerification;
pub use probe::{ProbedSubscriber, SubscriberPuppet, WhiteboxProbe};
pub use whitebox::SubscriberWhiteboxVerification;

pub(crate) const SETTLED_2_11: &str = "safe Rust has no data races: signals and the items they carry \
     cross threads only as Send values through synchronised hand-offs, so whatever the caller did \
     before a signal is visible to the code that processes it";
pub(crate) const SETTLED_2_12: &str = "Publisher::subscribe takes the subscriber by value: one \
     subscriber value cannot be subscribed twice, so on_subscribe reaches it at most once";
pub(crate) const SETTLED_3_1: &str = "on_subscribe moves a Box<dyn Subscription> into the \
     subscriber, and it is not Clone: only its owner can call request or cancel";
pub(crate) const SETTLED_NULL: &str = "Rust values cannot be null: on_subscribe takes a \
     Box<dyn Subscription>, on_next an owned item, on_error an Error";

/// A small deterministic generator (xorshift64*) for the random-sequence tests: the same
/// sequences every run, so a failure reproduces.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed | 1)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Rounds of the random-sequence tests, and the most steps in one.
pub(crate) const RANDOM_ROUNDS: u64 = 6;
pub(crate) const RANDOM_STEPS: u64 = 12;

/// An error with a unique message, so the test can recognise the very error it sent.
pub(crate) fn test_error(tag: &str) -> Error {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    Error::msg(format!("TCK test error #{id} ({tag})"))
}

/// Lets requests already in flight land (an asynchronous subscriber may still be working
/// through earlier signals): returns once no request arrived for a quiet period (the no-signal
/// time, but at least a fifth of the timeout, so that a loaded machine does not turn a late
/// request into a false rule 2.4 failure), after at most a few rounds.
pub(crate) fn settle_requests<T: Send + 'static>(stage: &stage::Stage<T>, settings: &Settings) {
    let quiet = settings.no_signal.max(settings.timeout / 5);
    for _ in 0..8 {
        if stage.maybe_request(quiet).is_none() {
            break;
        }
    }
    stage.clear_requests();
}

/// Both suites over the reference subscribers (what the report CLI shows for subscribers). The
/// four runs go side by side: they spend their time waiting, not computing.
pub fn builtin_reports(settings: &Settings) -> Vec<SuiteReport> {
    use reference::builtin as b;
    std::thread::scope(|scope| {
        let runs = [
            scope.spawn(|| whitebox::run("SyncSubscriber", &b::SyncWhitebox, settings)),
            scope.spawn(|| whitebox::run("AsyncSubscriber", &b::AsyncWhitebox, settings)),
            scope.spawn(|| blackbox::run("SyncSubscriber", &b::SyncBlackbox, settings)),
            scope.spawn(|| blackbox::run("AsyncSubscriber", &b::AsyncBlackbox, settings)),
        ];
        // A suite run catches every test's panic, so a join error is a TCK bug worth surfacing.
        runs.into_iter()
            .map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Generates one `#[test]` per SubscriberWhiteboxVerification test (JVM names in snake_case,
/// plus the `rust_` ones) in a module `$mod_name`, running against `$implementation` (an
/// expression evaluated once per test, whose type implements
/// [`SubscriberWhiteboxVerification`]). A failure panics with the rule and message; a skip
/// passes and prints its reason. The module also gets `NAMES`, the list of generated tests.
///
/// ```
/// use rstreams_tck::subscriber::reference::builtin::SyncWhitebox;
///
/// // In a test file: one #[test] per whitebox test, e.g.
/// // `sync_subscriber_whitebox::required_spec201_must_signal_demand_via_subscription_request`.
/// rstreams_tck::subscriber_whitebox_tests!(sync_subscriber_whitebox, SyncWhitebox);
/// # fn main() { assert_eq!(sync_subscriber_whitebox::NAMES.len(), 30); }
/// ```
#[macro_export]
macro_rules! subscriber_whitebox_tests {
    ($mod_name:ident, $implementation:expr) => {
        $crate::__rstreams_tck_whitebox_list!(
            $crate::__tck_tests,
            $crate::subscriber::whitebox::cases,
            $mod_name,
            $implementation,
        );
    };
}

/// Generates one `#[test]` per SubscriberBlackboxVerification test in a module `$mod_name`,
/// running against `$implementation` (its type implements [`SubscriberBlackboxVerification`]).
/// Same conventions as [`subscriber_whitebox_tests!`].
///
/// ```
/// use rstreams_tck::subscriber::reference::builtin::AsyncBlackbox;
///
/// rstreams_tck::subscriber_blackbox_tests!(async_subscriber_blackbox, AsyncBlackbox);
/// # fn main() { assert_eq!(async_subscriber_blackbox::NAMES.len(), 28); }
/// ```
#[macro_export]
macro_rules! subscriber_blackbox_tests {
    ($mod_name:ident, $implementation:expr) => {
        $crate::__rstreams_tck_blackbox_list!(
            $crate::__tck_tests,
            $crate::subscriber::blackbox::cases,
            $mod_name,
            $implementation,
        );
    };
}
