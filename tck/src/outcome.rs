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
            TestFailure::Failed { rule: None, message } => write!(f, "failed: {message}"),
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
