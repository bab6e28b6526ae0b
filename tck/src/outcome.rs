//! What one TCK test reports, and the settings every test reads.

use std::fmt;
use std::time::Duration;

use rstreams_protocol::Rule;

/// Why a test did not pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TestFailure {
    /// The implementation broke `rule` (or the test's setup expectation when `None`).
    Failed {
        /// The rule that was broken, if the failure maps to one.
        rule: Option<Rule>,
        /// What happened, for a human.
        message: String,
    },
    /// The test does not apply (e.g. the publisher cannot produce enough elements).
    Skipped {
        /// Why.
        reason: String,
    },
}

impl TestFailure {
    /// A failure of `rule`.
    pub fn rule(rule: Rule, message: impl Into<String>) -> Self {
        TestFailure::Failed {
            rule: Some(rule),
            message: message.into(),
        }
    }

    /// A skip.
    pub fn skip(reason: impl Into<String>) -> Self {
        TestFailure::Skipped {
            reason: reason.into(),
        }
    }
}

impl fmt::Display for TestFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestFailure::Failed {
                rule: Some(rule),
                message,
            } => write!(f, "failed {}: {message}", rule),
            TestFailure::Failed {
                rule: None,
                message,
            } => write!(f, "failed: {message}"),
            TestFailure::Skipped { reason } => write!(f, "skipped: {reason}"),
        }
    }
}

/// The result of one test: `Ok(())` passed.
pub type TestResult = Result<(), TestFailure>;

/// The outcome of one test in a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Passed,
    /// It passed without running anything because Rust's type system rules the violation out;
    /// the string says why.
    SettledByTypes(&'static str),
    /// It failed.
    Failed {
        /// The rule broken, if known.
        rule: Option<Rule>,
        /// What happened.
        message: String,
    },
    /// It did not apply.
    Skipped {
        /// Why.
        reason: String,
    },
}

impl From<TestResult> for Outcome {
    fn from(r: TestResult) -> Self {
        match r {
            Ok(()) => Outcome::Passed,
            Err(TestFailure::Failed { rule, message }) => Outcome::Failed { rule, message },
            Err(TestFailure::Skipped { reason }) => Outcome::Skipped { reason },
        }
    }
}

/// How long tests wait, read from the environment.
///
/// * `RSTREAMS_TCK_TIMEOUT_MS`: the longest wait for a signal that is expected (default 1000 ms;
///   a wait returns as soon as the signal arrives, so a generous limit costs nothing when the
///   implementation is right).
/// * `RSTREAMS_TCK_NO_SIGNAL_MS`: how long to watch when asserting that nothing arrives
///   (default 50 ms).
/// * `RSTREAMS_TCK_CANCEL_TAIL`: how many items may still arrive after `cancel` under unbounded
///   demand before the publisher counts as not stopping (rules 1.8 and 3.12 say "eventually";
///   default [`DEFAULT_CANCEL_TAIL`]).
/// * `RSTREAMS_TCK_SEED`: the seed of the randomised request schedules (default
///   [`DEFAULT_SEED`]; decimal or `0x` hex). A failure message always names the seed it ran with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Longest wait for an expected signal.
    pub timeout: Duration,
    /// How long "expect nothing" watches.
    pub no_signal: Duration,
    /// Most items that may arrive after `cancel` returned (or after the `on_next` that called it
    /// returned) while unbounded demand was outstanding.
    pub cancel_tail: u64,
    /// Seed of the randomised request schedules.
    pub seed: u64,
}

/// Default of [`Settings::cancel_tail`]: large enough for a publisher that finishes an
/// in-flight batch of a few thousand items before it sees a queued cancel, small enough that a
/// publisher looking at its cancelled flag once every 10 000 items fails.
pub const DEFAULT_CANCEL_TAIL: u64 = 4096;

/// Default of [`Settings::seed`].
pub const DEFAULT_SEED: u64 = 0x5eed_1234_abcd_0001;

/// Whether a failure of the test called `name` makes a report fail: every test except the
/// `optional_` ones (JVM) and the `rust_optional_` ones (Rust-only), which check SHOULD rules.
pub fn is_required(name: &str) -> bool {
    !(name.starts_with("optional_") || name.starts_with("rust_optional_"))
}

/// Whether the test called `name` is Rust-only (not a port of a JVM test).
pub fn is_rust_only(name: &str) -> bool {
    name.starts_with("rust_")
}

impl Settings {
    /// Defaults, overridden by the environment variables above.
    pub fn from_env() -> Self {
        fn ms(var: &str, default: u64) -> Duration {
            Duration::from_millis(number(var, default))
        }
        fn number(var: &str, default: u64) -> u64 {
            let Ok(v) = std::env::var(var) else {
                return default;
            };
            let v = v.trim();
            let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => v.parse::<u64>().ok(),
            };
            parsed.unwrap_or(default)
        }
        Settings {
            timeout: ms("RSTREAMS_TCK_TIMEOUT_MS", 1000),
            no_signal: ms("RSTREAMS_TCK_NO_SIGNAL_MS", 50),
            cancel_tail: number("RSTREAMS_TCK_CANCEL_TAIL", DEFAULT_CANCEL_TAIL),
            seed: number("RSTREAMS_TCK_SEED", DEFAULT_SEED),
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_env()
    }
}

/// One test of a suite, runnable against any implementation `I` of that suite's trait.
pub struct TestCase<I: ?Sized> {
    /// The JVM TCK's method name in snake_case (e.g.
    /// `required_spec109_must_issue_on_subscribe_for_non_null_subscriber`), or a Rust-only name
    /// starting with `rust_`.
    pub name: &'static str,
    /// The rule the test checks, if it checks one.
    pub rule: Option<Rule>,
    /// `Some(reason)` when Rust's type system rules the violation out; the test then passes
    /// without running and the report says why.
    pub settled_by_types: Option<&'static str>,
    /// The test body.
    pub run: fn(&I, &Settings) -> TestResult,
}

impl<I: ?Sized> Clone for TestCase<I> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<I: ?Sized> Copy for TestCase<I> {}

impl<I: ?Sized> TestCase<I> {
    /// Runs the test, turning a panic inside it (or inside the implementation, on the test's
    /// thread) into a failure rather than unwinding into the runner.
    pub fn execute(&self, implementation: &I, settings: &Settings) -> Outcome {
        if let Some(reason) = self.settled_by_types {
            return Outcome::SettledByTypes(reason);
        }
        let run = self.run;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run(implementation, settings)
        })) {
            Ok(result) => result.into(),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".to_owned());
                Outcome::Failed {
                    rule: self.rule,
                    message: format!("panicked: {message}"),
                }
            }
        }
    }
}

/// What a report needs to know about a test without running it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestInfo {
    /// The test's name.
    pub name: &'static str,
    /// The rule it checks.
    pub rule: Option<Rule>,
    /// Why the type system settles it, if it does.
    pub settled_by_types: Option<&'static str>,
}

/// The results of one suite over one implementation.
#[derive(Clone, Debug)]
pub struct SuiteReport {
    /// The implementation's name (e.g. `RangePublisher`).
    pub implementation: String,
    /// The suite's name (e.g. `PublisherVerification`).
    pub suite: &'static str,
    /// Per test: its name, its rule and what happened.
    pub results: Vec<(&'static str, Option<Rule>, Outcome)>,
}

impl SuiteReport {
    /// Runs every case of a suite against `implementation`.
    pub fn run<I: ?Sized>(
        implementation_name: impl Into<String>,
        suite: &'static str,
        implementation: &I,
        cases: &[TestCase<I>],
        settings: &Settings,
    ) -> Self {
        Self::run_filtered(
            implementation_name,
            suite,
            implementation,
            cases,
            settings,
            &mut |_| true,
        )
    }

    /// [`run`](Self::run) over the cases `keep` accepts (it sees every case, in order).
    pub fn run_filtered<I: ?Sized>(
        implementation_name: impl Into<String>,
        suite: &'static str,
        implementation: &I,
        cases: &[TestCase<I>],
        settings: &Settings,
        keep: &mut dyn FnMut(&TestInfo) -> bool,
    ) -> Self {
        let results = cases
            .iter()
            .filter(|case| {
                keep(&TestInfo {
                    name: case.name,
                    rule: case.rule,
                    settled_by_types: case.settled_by_types,
                })
            })
            .map(|case| (case.name, case.rule, case.execute(implementation, settings)))
            .collect();
        SuiteReport {
            implementation: implementation_name.into(),
            suite,
            results,
        }
    }

    /// Names of the failed tests.
    pub fn failed(&self) -> Vec<&'static str> {
        self.results
            .iter()
            .filter(|(_, _, o)| matches!(o, Outcome::Failed { .. }))
            .map(|(n, _, _)| *n)
            .collect()
    }

    /// Counts of (passed incl. settled-by-types, failed, skipped).
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for (_, _, o) in &self.results {
            match o {
                Outcome::Passed | Outcome::SettledByTypes(_) => c.0 += 1,
                Outcome::Failed { .. } => c.1 += 1,
                Outcome::Skipped { .. } => c.2 += 1,
            }
        }
        c
    }
}

impl<I: ?Sized> std::fmt::Debug for TestCase<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCase").finish_non_exhaustive()
    }
}
