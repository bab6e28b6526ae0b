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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Longest wait for an expected signal.
    pub timeout: Duration,
    /// How long "expect nothing" watches.
    pub no_signal: Duration,
}

impl Settings {
    /// Defaults, overridden by the environment variables above.
    pub fn from_env() -> Self {
        fn ms(var: &str, default: u64) -> Duration {
            let v = std::env::var(var)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .unwrap_or(default);
            Duration::from_millis(v)
        }
        Settings {
            timeout: ms("RSTREAMS_TCK_TIMEOUT_MS", 1000),
            no_signal: ms("RSTREAMS_TCK_NO_SIGNAL_MS", 50),
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
        let results = cases
            .iter()
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
