//! Per-test environment: settings, the failures raised on other threads, and guarded calls into
//! user code.

use std::any::Any;
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use rstreams_protocol::Rule;

use crate::outcome::{Settings, TestFailure, TestResult};

/// Failures kept per test; anything beyond is counted, not stored (bounded).
const MAX_FAILURES: usize = 64;

thread_local! {
    /// Set while the TCK calls the whitebox puppet: such calls are the TCK's instrumentation and
    /// are not held to rule 2.7 (serial calls) against the subscriber's own calls.
    static IN_PUPPET: Cell<bool> = const { Cell::new(false) };
}

/// Whether the current thread is running a puppet call for the TCK.
pub(crate) fn in_puppet() -> bool {
    IN_PUPPET.with(Cell::get)
}

/// The message of a panic payload.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_owned())
}

/// One test's environment, shared with the stage, the probe and every thread they call from.
pub(crate) struct Env {
    pub(crate) settings: Settings,
    failures: Mutex<(Vec<TestFailure>, usize)>,
    raised: Condvar,
}

impl Env {
    pub(crate) fn new(settings: &Settings) -> Arc<Self> {
        Arc::new(Env {
            settings: *settings,
            failures: Mutex::new((Vec::new(), 0)),
            raised: Condvar::new(),
        })
    }

    /// Records a failure without unwinding: safe from any thread, inside any callback.
    pub(crate) fn flop(&self, rule: Option<Rule>, message: impl Into<String>) {
        let message = message.into();
        tracing::debug!(rule = rule.map(Rule::number), %message, "TCK failure recorded");
        let mut f = self.failures.lock();
        if f.0.len() < MAX_FAILURES {
            f.0.push(TestFailure::Failed { rule, message });
        } else {
            f.1 += 1;
        }
        self.raised.notify_all();
    }

    /// The first failure recorded so far, if any.
    pub(crate) fn first_failure(&self) -> Option<TestFailure> {
        self.failures.lock().0.first().cloned()
    }

    /// Fails with the first recorded failure, if any.
    pub(crate) fn verify(&self) -> TestResult {
        match self.first_failure() {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// Watches for `no_signal` for a failure to be raised (returning as soon as one is), then
    /// fails with the first one.
    pub(crate) fn verify_after_quiet(&self) -> TestResult {
        let deadline = Instant::now() + self.settings.no_signal;
        let mut f = self.failures.lock();
        while f.0.is_empty() {
            if self.raised.wait_until(&mut f, deadline).timed_out() {
                break;
            }
        }
        drop(f);
        self.verify()
    }

    /// A wait timed out: report the first recorded failure if there is one (it usually explains
    /// the timeout), else the timeout itself.
    pub(crate) fn timeout(&self, rule: Option<Rule>, message: impl Into<String>) -> TestFailure {
        self.first_failure().unwrap_or_else(|| TestFailure::Failed {
            rule,
            message: message.into(),
        })
    }

    /// Runs `f` (which calls user code) on a watchdog thread: a panic becomes a failure of
    /// `rule`, and a call that does not return within the timeout (a deadlock, typically a lock
    /// held across a re-entrant call) becomes a failure of `rule` instead of hanging the suite.
    /// `puppet` marks the thread as running the whitebox puppet.
    pub(crate) fn call_guarded(
        &self,
        rule: Option<Rule>,
        what: &str,
        puppet: bool,
        f: impl FnOnce() + Send + 'static,
    ) -> TestResult {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let spawned = std::thread::Builder::new()
            .name("rstreams-tck-call".into())
            .spawn(move || {
                IN_PUPPET.with(|p| p.set(puppet));
                let r = catch_unwind(AssertUnwindSafe(f)).map_err(|p| panic_text(&*p));
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            return Err(TestFailure::Failed {
                rule: None,
                message: format!("could not start a TCK thread: {e}"),
            });
        }
        match rx.recv_timeout(self.settings.timeout) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(TestFailure::Failed {
                rule,
                message: format!("{what} panicked: {msg}"),
            }),
            Err(_) => Err(TestFailure::Failed {
                rule,
                message: format!(
                    "{what} did not return within {:?} (deadlock? a lock held across a \
                     re-entrant call?)",
                    self.settings.timeout
                ),
            }),
        }
    }
}
