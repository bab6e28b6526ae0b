//! # rstreams-tck
//!
//! The Reactive Streams conformance suite (TCK) for Rust implementations: a port of the JVM
//! TCK's four verification classes, under their JVM test names in snake_case, plus Rust-only
//! tests for the rules the JVM TCK leaves untested.
//!
//! | suite | module | user trait | macro |
//! | --- | --- | --- | --- |
//! | PublisherVerification (38 + Rust-only) | [`publisher`] | [`publisher::PublisherVerification`] | [`publisher_verification_tests!`] |
//! | IdentityProcessorVerification (68 + Rust-only) | [`processor`] | [`processor::IdentityProcessorVerification`] | [`identity_processor_verification_tests!`] |
//! | Subscriber whitebox / blackbox | [`subscriber`] | see that module | see that module |
//!
//! Each suite names its tests once, in one list from which both its [`TestCase`]s (`cases()`)
//! and its macro's `#[test]`s are generated, so `cargo test` lists every rule by name and the
//! two cannot drift; each suite module's `run` ([`publisher::run`],
//! [`subscriber::whitebox::run`], [`subscriber::blackbox::run`], [`processor::run`]) returns a
//! report instead. A skipped test passes and prints why; a failure panics naming the
//! rule. Timeouts come from [`Settings`]: see `docs/guide/tck.md`.
//!
//! ```
//! use rstreams_protocol::reference::RangePublisher;
//! use rstreams_tck::publisher::PublisherVerification;
//!
//! struct Range;
//! impl PublisherVerification for Range {
//!     type Item = u64;
//!     type Pub = RangePublisher;
//!     fn create_publisher(&self, elements: u64) -> RangePublisher {
//!         RangePublisher::new(0, elements.min(u64::MAX - 1))
//!     }
//! }
//!
//! // In a test file: `rstreams_tck::publisher_verification_tests!(range, Range);`
//! let report = rstreams_tck::publisher::run("Range", &Range, &Default::default());
//! assert_eq!(report.counts().1, 0);
//! ```
#![forbid(unsafe_code)]

pub mod checker;
pub mod helpers;
pub mod outcome;
pub mod probe;
pub mod processor;
pub mod publisher;
pub mod report;
pub mod subscriber;

use outcome::{Outcome, Settings, TestCase};

/// Runs the case called `name` of `cases` against `implementation`: `Ok(None)` when it passed,
/// `Ok(Some(note))` when it was skipped or settled by types (the note says why), `Err(message)`
/// when it failed (the message names the rule) or when the suite has no such test.
pub fn run_named_case<I: ?Sized>(
    implementation: &I,
    cases: &[TestCase<I>],
    name: &str,
) -> Result<Option<String>, String> {
    let Some(case) = cases.iter().find(|c| c.name == name) else {
        return Err(format!("rstreams-tck: no test named {name} in this suite"));
    };
    let settings = Settings::from_env();
    match case.execute(implementation, &settings) {
        Outcome::Passed => Ok(None),
        Outcome::SettledByTypes(why) => Ok(Some(format!("{name}: settled by Rust's types: {why}"))),
        Outcome::Skipped { reason } => Ok(Some(format!("{name}: SKIPPED: {reason}"))),
        Outcome::Failed {
            rule: Some(rule),
            message,
        } => Err(format!("{name} failed {rule}: {message}")),
        Outcome::Failed {
            rule: None,
            message,
        } => Err(format!("{name} failed: {message}")),
    }
}

/// [`run_named_case`] for the generated `#[test]` functions: passes on success, prints the
/// note and passes on a skip, panics with the rule and message on a failure.
pub fn run_one<I: ?Sized>(cases: &[TestCase<I>], implementation: &I, name: &str) {
    match run_named_case(implementation, cases, name) {
        Ok(None) => {}
        Ok(Some(note)) => println!("{note}"),
        Err(failure) => panic!("{failure}"),
    }
}

/// Builds a suite's `Vec<TestCase<$I>>` from its name list (the callback of the
/// `__rstreams_tck_*_list!` macros): each entry's body is the function of the same name.
macro_rules! cases_vec {
    ($I:ident, [$($name:ident ($($meta:tt)*)),* $(,)?]) => {
        vec![$($crate::case_of!($I, $name, $($meta)*)),*]
    };
}
pub(crate) use cases_vec;

/// One entry of a name list as a [`TestCase`]: `name (rule)` runs the function `name`,
/// `name (rule, settled: why)` passes without running.
macro_rules! case_of {
    ($I:ident, $name:ident, $rule:expr) => {
        $crate::outcome::TestCase {
            name: stringify!($name),
            rule: $rule,
            settled_by_types: None,
            run: $name::<$I>,
        }
    };
    ($I:ident, $name:ident, $rule:expr, settled: $why:expr) => {
        $crate::outcome::TestCase {
            name: stringify!($name),
            rule: $rule,
            settled_by_types: Some($why),
            run: |_, _| Ok(()),
        }
    };
}
pub(crate) use case_of;

/// Expands to a module of `#[test]` functions, one per entry of a suite's name list (the
/// callback of the `__rstreams_tck_*_list!` macros), each running the case of that name from
/// `$cases()`. Used by the per-suite macros; not meant to be called directly.
#[doc(hidden)]
#[macro_export]
macro_rules! __tck_tests {
    ($cases:path, $module:ident, $make:expr, [$($test:ident $meta:tt),* $(,)?]) => {
        #[allow(non_snake_case)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;

            /// The tests this module generates, in suite order.
            #[allow(dead_code)]
            pub const NAMES: &[&str] = &[$(stringify!($test)),*];

            $(
                #[test]
                fn $test() {
                    let verification = $make;
                    $crate::run_one(&$cases(), &verification, stringify!($test));
                }
            )*
        }
    };
}

/// Generates one `#[test]` per [`PublisherVerification`](publisher::PublisherVerification)
/// test, in a module named `$module`, for the verification `$make` builds. The module also
/// gets `NAMES`, the list of generated tests.
///
/// ```ignore
/// struct MyVerification;
/// impl rstreams_tck::publisher::PublisherVerification for MyVerification { /* ... */ }
/// rstreams_tck::publisher_verification_tests!(my_publisher, MyVerification);
/// // cargo test lists my_publisher::required_spec101_..., my_publisher::rust_spec313_..., ...
/// ```
#[macro_export]
macro_rules! publisher_verification_tests {
    ($module:ident, $make:expr) => {
        $crate::__rstreams_tck_publisher_list!(
            $crate::__tck_tests,
            $crate::publisher::cases,
            $module,
            $make,
        );
    };
}

/// Generates one `#[test]` per
/// [`IdentityProcessorVerification`](processor::IdentityProcessorVerification) test (the
/// delegated publisher and whitebox tests under their own names, then the processor's own), in
/// a module named `$module`.
///
/// ```ignore
/// rstreams_tck::identity_processor_verification_tests!(my_processor, MyVerification);
/// ```
#[macro_export]
macro_rules! identity_processor_verification_tests {
    ($module:ident, $make:expr) => {
        // The three suites' own name lists, joined in the order of `processor::cases`.
        $crate::__rstreams_tck_publisher_list!(
            $crate::__rstreams_tck_processor_join,
            $crate::__rstreams_tck_whitebox_list,
            ($module, $make),
        );
    };
}

/// Joins the processor suite's name lists one at a time (publisher, whitebox, its own), then
/// hands the whole list to [`__tck_tests!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __rstreams_tck_processor_join {
    ($n0:tt $(:: $n:tt)*, ($module:ident, $make:expr), [$($name:ident $meta:tt),* $(,)?]) => {
        $n0 $(:: $n)* ! {
            $crate::__rstreams_tck_processor_join,
            $crate::__rstreams_tck_processor_list,
            ($module, $make) [$($name $meta,)*],
        }
    };
    ($n0:tt $(:: $n:tt)*, ($module:ident, $make:expr) [$($done:tt)*], [$($name:ident $meta:tt),* $(,)?]) => {
        $n0 $(:: $n)* ! {
            $crate::__rstreams_tck_processor_join,
            ($module, $make) [$($done)* $($name $meta,)*],
        }
    };
    (($module:ident, $make:expr) [$($done:tt)*], [$($name:ident $meta:tt),* $(,)?]) => {
        $crate::__tck_tests!(
            $crate::processor::cases,
            $module,
            $make,
            [$($done)* $($name $meta,)*]
        );
    };
}
