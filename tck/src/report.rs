//! Reports over a registry of implementations, for your crate as for this project's own.
//!
//! List your implementations once, as [`Entry`]s, and hand them to [`main`] from a binary or
//! an example; it prints the table, JSON, JUnit XML or the rules index:
//!
//! ```no_run
//! // examples/tck.rs in your crate; run with `cargo run --example tck -- report --format json`
//! use rstreams_protocol::reference::RangePublisher;
//! use rstreams_tck::report::{self, publisher};
//!
//! fn main() -> std::process::ExitCode {
//!     report::main(vec![publisher("my_crate::Range", |n| RangePublisher::new(0, n))])
//! }
//! ```
//!
//! `main` runs each entry in a child process (the same binary, re-executed), so a stack
//! overflow or an abort in one implementation is reported as a failure of the test that was
//! running and the rest of the report still prints. [`test_main`] runs the same registry as a
//! test binary (`harness = false`), one line per test, so the list of `#[test]`s and the
//! report rows cannot drift.

use std::any::Any;
use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rstreams_protocol::{BoxPublisher, Publisher, Subscriber};

use crate::helpers::{FailedPublisher, SyncHelperPublisher};
use crate::outcome::{
    Outcome, Settings, SuiteReport, TestCase, TestInfo, is_required, is_rust_only,
};
use crate::processor::{self, IdentityProcessorVerification};
use crate::publisher::{self, PublisherVerification};
use crate::subscriber::{
    SubscriberBlackboxVerification, SubscriberWhiteboxVerification, blackbox, whitebox,
};

/// Makes the failed publisher of an entry, type-erased (downcast to `BoxPublisher<Item>`).
type FailedFn = Arc<dyn Fn() -> Box<dyn Any> + Send + Sync>;
type Filter<'a> = &'a mut dyn FnMut(&TestInfo) -> bool;
type Runner = Arc<dyn Fn(&Settings, Option<&FailedFn>, Filter<'_>) -> SuiteReport + Send + Sync>;

/// One implementation and the suite that verifies it: a row of the report.
#[derive(Clone)]
pub struct Entry {
    /// The implementation's name in the report.
    pub name: &'static str,
    run: Runner,
    failed: Option<FailedFn>,
}

/// The name this type had before it served users' registries too.
pub type Builtin = Entry;

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

impl Entry {
    /// Runs the entry's whole suite in this process.
    pub fn run(&self, settings: &Settings) -> SuiteReport {
        (self.run)(settings, self.failed.as_ref(), &mut |_| true)
    }

    /// Runs the tests of the entry's suite that `keep` accepts.
    pub fn run_filtered(
        &self,
        settings: &Settings,
        keep: &mut dyn FnMut(&TestInfo) -> bool,
    ) -> SuiteReport {
        (self.run)(settings, self.failed.as_ref(), keep)
    }

    /// The suite's tests, without running any.
    pub fn tests(&self) -> (&'static str, Vec<TestInfo>) {
        let mut tests = Vec::new();
        let report = (self.run)(&Settings::from_env(), None, &mut |t| {
            tests.push(*t);
            false
        });
        (report.suite, tests)
    }

    /// The same publisher entry, with `failed()` as its failed publisher (for the tests of
    /// rules 1.4, 1.6, 1.7 and 1.9 that need one). Its item type must be the entry's.
    pub fn with_failed<T: 'static>(
        self,
        failed: impl Fn() -> BoxPublisher<T> + Send + Sync + 'static,
    ) -> Self {
        Entry {
            failed: Some(Arc::new(move || Box::new(failed()) as Box<dyn Any>)),
            ..self
        }
    }
}

/// A [`PublisherVerification`] from a closure.
struct FnVerification<F> {
    make: F,
    failed: Option<FailedFn>,
}

impl<P, F> PublisherVerification for FnVerification<F>
where
    F: Fn(u64) -> P,
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + PartialEq + fmt::Debug + 'static,
{
    type Item = P::Item;
    type Pub = P;
    fn create_publisher(&self, elements: u64) -> P {
        (self.make)(elements)
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<P::Item>> {
        let any = (self.failed.as_ref()?)();
        any.downcast::<BoxPublisher<P::Item>>().ok().map(|b| *b)
    }
}

/// A publisher entry: `make(n)` builds a publisher of exactly `n` items then `on_complete`
/// (`u64::MAX`: an endless stream). For more control (a maximum length, one subscriber only),
/// implement [`PublisherVerification`] and use [`publisher_verification`].
///
/// ```
/// use rstreams_protocol::reference::RangePublisher;
/// let entry = rstreams_tck::report::publisher("Range", |n| RangePublisher::new(0, n));
/// assert_eq!(entry.tests().0, "PublisherVerification");
/// ```
pub fn publisher<P, F>(name: &'static str, make: F) -> Entry
where
    F: Fn(u64) -> P + Send + Sync + 'static,
    P: Publisher + Send + Sync + 'static,
    P::Item: Send + PartialEq + fmt::Debug + 'static,
{
    Entry {
        name,
        failed: None,
        run: Arc::new(
            move |settings: &Settings, failed: Option<&FailedFn>, keep: Filter<'_>| {
                let v = FnVerification {
                    make: &make,
                    failed: failed.cloned(),
                };
                SuiteReport::run_filtered(
                    name,
                    publisher::SUITE,
                    &v,
                    &publisher::cases(),
                    settings,
                    keep,
                )
            },
        ),
    }
}

/// An entry running `suite`'s `cases` over a verification the caller implemented (one shape for
/// every suite; the failed publisher, if any, is the verification's own).
fn suite_entry<V>(
    name: &'static str,
    suite: &'static str,
    verification: V,
    cases: Vec<TestCase<V>>,
) -> Entry
where
    V: Send + Sync + 'static,
{
    Entry {
        name,
        failed: None,
        run: Arc::new(
            move |s: &Settings, _: Option<&FailedFn>, keep: Filter<'_>| {
                SuiteReport::run_filtered(name, suite, &verification, &cases, s, keep)
            },
        ),
    }
}

/// An entry for a [`PublisherVerification`] you implemented yourself.
pub fn publisher_verification<V>(name: &'static str, verification: V) -> Entry
where
    V: PublisherVerification + Send + Sync + 'static,
{
    suite_entry(name, publisher::SUITE, verification, publisher::cases())
}

/// An entry for an [`IdentityProcessorVerification`] you implemented yourself.
pub fn processor_verification<V>(name: &'static str, verification: V) -> Entry
where
    V: IdentityProcessorVerification + Send + Sync + 'static,
{
    suite_entry(name, processor::SUITE, verification, processor::cases())
}

/// A processor entry: `make(buffer)` builds a fresh processor's (input, output), fed in the
/// publisher tests by the synchronous helper publisher. `max_subscribers`: how many
/// subscribers its output serves at once.
pub fn processor<I, O, F>(name: &'static str, max_subscribers: u64, make: F) -> Entry
where
    F: Fn(usize) -> (I, O) + Send + Sync + 'static,
    I: Subscriber<u64> + Send + 'static,
    O: Publisher<Item = u64> + Send + Sync + 'static,
{
    struct V<F> {
        make: F,
        max_subscribers: u64,
    }
    impl<I, O, F> IdentityProcessorVerification for V<F>
    where
        F: Fn(usize) -> (I, O),
        I: Subscriber<u64> + Send + 'static,
        O: Publisher<Item = u64> + Send + Sync + 'static,
    {
        type Item = u64;
        type Input = I;
        type Output = O;
        fn create_identity_processor(&self, buffer: usize) -> (I, O) {
            (self.make)(buffer)
        }
        fn create_element(&self, i: u64) -> u64 {
            i
        }
        fn create_helper_publisher(&self, elements: u64) -> BoxPublisher<u64> {
            SyncHelperPublisher::new(elements, |i| i).boxed()
        }
        fn max_supported_subscribers(&self) -> u64 {
            self.max_subscribers
        }
        fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
            // A processor whose upstream failed.
            let (input, output) = (self.make)(crate::processor::TEST_BUFFER_SIZE);
            FailedPublisher::<u64>::new("a failed upstream for the TCK").subscribe(input);
            Some(output.boxed())
        }
    }
    processor_verification(
        name,
        V {
            make,
            max_subscribers,
        },
    )
}

/// An entry running the whitebox subscriber suite over `verification`.
pub fn whitebox<V>(name: &'static str, verification: V) -> Entry
where
    V: SubscriberWhiteboxVerification + Send + Sync + 'static,
{
    suite_entry(name, whitebox::SUITE, verification, whitebox::cases())
}

/// An entry running the blackbox subscriber suite over `verification`.
pub fn blackbox<V>(name: &'static str, verification: V) -> Entry
where
    V: SubscriberBlackboxVerification + Send + Sync + 'static,
{
    suite_entry(name, blackbox::SUITE, verification, blackbox::cases())
}

/// The TCK's own reference implementations: the protocol crate's two publishers, the TCK's
/// helper publishers and identity processor, and the reference subscribers. Every one passes
/// every test; this project's report lists them first.
pub fn reference_entries() -> Vec<Entry> {
    use crate::helpers::{AsyncHelperPublisher, IdentityProcessor};
    use crate::subscriber::reference::builtin as b;
    use rstreams_protocol::reference::{IterPublisher, RangePublisher};
    fn failing() -> BoxPublisher<u64> {
        FailedPublisher::<u64>::new("a failed publisher for the TCK").boxed()
    }
    vec![
        publisher("protocol::RangePublisher", |n| RangePublisher::new(0, n)).with_failed(failing),
        publisher("protocol::IterPublisher", |n| IterPublisher::new(0..n)).with_failed(failing),
        publisher("tck::SyncHelperPublisher", |n| {
            SyncHelperPublisher::new(n, |i| i)
        })
        .with_failed(failing),
        publisher("tck::AsyncHelperPublisher", |n| {
            AsyncHelperPublisher::new(n, |i| i)
        })
        .with_failed(failing),
        processor("tck::IdentityProcessor", 1, |b| {
            let p = IdentityProcessor::<u64>::new(b);
            (p.input(), p)
        }),
        whitebox("SyncSubscriber", b::SyncWhitebox),
        whitebox("AsyncSubscriber", b::AsyncWhitebox),
        blackbox("SyncSubscriber", b::SyncBlackbox),
        blackbox("AsyncSubscriber", b::AsyncBlackbox),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running.

/// Runs every entry in this process, up to `jobs` at once; each report comes with how long it
/// took. A crash in one implementation ends the process: [`main`] isolates entries instead.
pub fn run_in_process(
    entries: &[Entry],
    settings: &Settings,
    jobs: usize,
) -> Vec<(SuiteReport, Duration)> {
    pool(entries.len(), jobs, |i| {
        let start = Instant::now();
        let report = entries[i].run(settings);
        (report, start.elapsed())
    })
}

/// Runs `work(0..n)` on up to `jobs` threads; results in index order.
fn pool<R: Send>(n: usize, jobs: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let out: parking_lot::Mutex<Vec<Option<R>>> =
        parking_lot::Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let r = work(i);
                    out.lock()[i] = Some(r);
                }
            });
        }
    });
    out.into_inner().into_iter().flatten().collect()
}

/// The argument that makes [`main`] run as a child: `CHILD <entry index> [<test name>]`.
const CHILD: &str = "__rstreams-tck-child";

fn outcome_line(name: &str, outcome: &Outcome) -> String {
    let clean = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('\n', "\\n")
            .replace('\t', "\\t")
    };
    match outcome {
        Outcome::Passed => format!("T\t{name}\tpassed\t"),
        Outcome::SettledByTypes(_) => format!("T\t{name}\tsettled\t"),
        Outcome::Failed { message, .. } => format!("T\t{name}\tfailed\t{}", clean(message)),
        Outcome::Skipped { reason } => format!("T\t{name}\tskipped\t{}", clean(reason)),
    }
}

fn unclean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The child's side: runs entry `index` (one test when `only` is given), printing one line per
/// test as soon as it finishes, so a crash loses only the test that was running.
fn child(entries: &[Entry], index: usize, only: Option<&str>) -> ExitCode {
    let Some(entry) = entries.get(index) else {
        return ExitCode::from(2);
    };
    quiet_deliberate_panics();
    let settings = Settings::from_env();
    let mut stdout = std::io::stdout();
    let (_, tests) = entry.tests();
    for t in tests {
        if only.is_some_and(|o| o != t.name) {
            continue;
        }
        let report = entry.run_filtered(&settings, &mut |i| i.name == t.name);
        for (name, _, outcome) in &report.results {
            let _ = writeln!(stdout, "{}", outcome_line(name, outcome));
            let _ = stdout.flush();
        }
    }
    ExitCode::SUCCESS
}

/// Runs `entry` (number `index` in the registry) in a child process; a test whose process
/// dies is re-run alone, and fails naming how the process ended.
fn run_isolated(entry: &Entry, index: usize, settings: &Settings) -> SuiteReport {
    let (suite, tests) = entry.tests();
    let mut results: Vec<Option<Outcome>> = vec![None; tests.len()];
    let spawn = |only: Option<&str>| {
        let exe = std::env::current_exe().ok()?;
        let mut cmd = Command::new(exe);
        cmd.arg(CHILD).arg(index.to_string());
        if let Some(o) = only {
            cmd.arg(o);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env(
                "RSTREAMS_TCK_TIMEOUT_MS",
                settings.timeout.as_millis().to_string(),
            )
            .env(
                "RSTREAMS_TCK_NO_SIGNAL_MS",
                settings.no_signal.as_millis().to_string(),
            )
            .env("RSTREAMS_TCK_CANCEL_TAIL", settings.cancel_tail.to_string())
            .env("RSTREAMS_TCK_SEED", settings.seed.to_string());
        cmd.output().ok()
    };
    let record = |out: &std::process::Output, results: &mut Vec<Option<Outcome>>| {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let mut parts = line.splitn(4, '\t');
            let (Some("T"), Some(name), Some(kind), Some(detail)) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let Some(i) = tests.iter().position(|t| t.name == name) else {
                continue;
            };
            let t = tests[i];
            let detail = unclean(detail);
            results[i] = Some(match kind {
                "passed" => Outcome::Passed,
                "settled" => Outcome::SettledByTypes(t.settled_by_types.unwrap_or("")),
                "skipped" => Outcome::Skipped { reason: detail },
                _ => Outcome::Failed {
                    rule: t.rule,
                    message: detail,
                },
            });
        }
    };
    let died = |out: &std::process::Output| -> String {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        format!(
            "the process running this test ended abnormally ({}) before the test finished{}",
            out.status,
            if last.is_empty() {
                String::new()
            } else {
                format!("; its last output: {}", last.trim())
            }
        )
    };
    match spawn(None) {
        Some(out) => {
            record(&out, &mut results);
            if !out.status.success() {
                // Re-run each test without a result alone, to name the one that kills.
                for (i, t) in tests.iter().enumerate() {
                    if results[i].is_some() {
                        continue;
                    }
                    match spawn(Some(t.name)) {
                        Some(one) => {
                            record(&one, &mut results);
                            if results[i].is_none() {
                                results[i] = Some(Outcome::Failed {
                                    rule: t.rule,
                                    message: died(&one),
                                });
                            }
                        }
                        None => break,
                    }
                }
            }
        }
        None => return entry.run(settings),
    }
    SuiteReport {
        implementation: entry.name.to_owned(),
        suite,
        results: tests
            .iter()
            .zip(results)
            .map(|(t, o)| {
                let o = o.unwrap_or_else(|| Outcome::Failed {
                    rule: t.rule,
                    message: "the test's process reported no result for it".to_owned(),
                });
                (t.name, t.rule, o)
            })
            .collect(),
    }
}

/// Runs every entry, each in a child process of the current executable (which must call
/// [`main`] or [`test_main`] with the same registry), up to `jobs` at once.
fn run_isolated_all(
    entries: &[Entry],
    settings: &Settings,
    jobs: usize,
) -> Vec<(SuiteReport, Duration)> {
    pool(entries.len(), jobs, |i| {
        let start = Instant::now();
        let report = run_isolated(&entries[i], i, settings);
        (report, start.elapsed())
    })
}

const USAGE: &str =
    "usage: <binary> report [--format text|json|junit|rules] [--jobs N] [--in-process]

Runs the Reactive Streams TCK suites over every implementation in the registry, each in a child
process (--in-process: all in this one; faster to debug, but one crash ends the report).
Exit status: 0 when every required test passed, 1 when one failed, 2 on a usage error.
Settings: RSTREAMS_TCK_TIMEOUT_MS (default 1000), RSTREAMS_TCK_NO_SIGNAL_MS (default 50),
RSTREAMS_TCK_CANCEL_TAIL (default 4096), RSTREAMS_TCK_SEED.";

/// The report's output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// A table for people.
    Text,
    /// One JSON object: every report, every test with its rule and outcome.
    Json,
    /// JUnit XML, one test suite per implementation and suite, for CI systems.
    Junit,
    /// A Markdown index of the tests per rule (the generated half of `docs/rules.md`).
    Rules,
}

/// Renders reports in `format`.
pub fn render(
    format: Format,
    reports: &[SuiteReport],
    secs: &[f64],
    settings: &Settings,
) -> String {
    match format {
        Format::Text => text(reports, secs, settings),
        Format::Json => format!("{}\n", json(reports)),
        Format::Junit => junit(reports, secs),
        Format::Rules => rules_index(reports),
    }
}

/// The report command over `entries`: call it from your `main` (see the module docs). Reads
/// the command line: `report [--format text|json|junit|rules] [--jobs N] [--in-process]`.
pub fn main(entries: Vec<Entry>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(CHILD) {
        let index = args
            .get(1)
            .and_then(|i| i.parse().ok())
            .unwrap_or(usize::MAX);
        return child(&entries, index, args.get(2).map(String::as_str));
    }
    let mut format = Format::Text;
    let mut jobs = 4;
    let mut isolate = true;
    let mut it = args.iter().peekable();
    match it.peek().map(|s| s.as_str()) {
        Some("report") => {
            it.next();
        }
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--in-process" => isolate = false,
            "--format" => match it.next().map(String::as_str) {
                Some("text") => format = Format::Text,
                Some("json") => format = Format::Json,
                Some("junit") => format = Format::Junit,
                Some("rules") => format = Format::Rules,
                _ => return usage_error(arg),
            },
            "--jobs" => match it.next().and_then(|n| n.parse::<usize>().ok()) {
                Some(n) if n > 0 => jobs = n,
                _ => return usage_error(arg),
            },
            _ => return usage_error(arg),
        }
    }
    quiet_deliberate_panics();
    let settings = Settings::from_env();
    let timed = if isolate {
        run_isolated_all(&entries, &settings, jobs)
    } else {
        run_in_process(&entries, &settings, jobs)
    };
    let secs: Vec<f64> = timed.iter().map(|(_, d)| d.as_secs_f64()).collect();
    let reports: Vec<SuiteReport> = timed.into_iter().map(|(r, _)| r).collect();
    print!("{}", render(format, &reports, &secs, &settings));
    if required_failures(&reports) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(arg: &str) -> ExitCode {
    eprintln!("unexpected argument {arg:?}\n{USAGE}");
    ExitCode::from(2)
}

/// The same registry as a test binary: put `harness = false` on a `[[test]]` whose `main`
/// calls this. Prints `test <implementation> / <suite> / <test> ... ok` per test, runs each
/// entry in a child process, and fails when a required test fails. A first argument that is
/// not a flag keeps only the tests whose full name contains it (as `cargo test NAME` does).
pub fn test_main(entries: Vec<Entry>) -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(CHILD) {
        return main(entries);
    }
    let filter = args.iter().find(|a| !a.starts_with('-')).cloned();
    if args.iter().any(|a| a == "--list") {
        for e in &entries {
            let (suite, tests) = e.tests();
            for t in tests {
                println!("{} / {suite} / {}: test", e.name, t.name);
            }
        }
        return ExitCode::SUCCESS;
    }
    quiet_deliberate_panics();
    let settings = Settings::from_env();
    let chosen: Vec<usize> = (0..entries.len())
        .filter(|&i| {
            let e = &entries[i];
            let (suite, tests) = e.tests();
            filter.as_ref().is_none_or(|f| {
                tests
                    .iter()
                    .any(|t| format!("{} / {suite} / {}", e.name, t.name).contains(f.as_str()))
            })
        })
        .collect();
    let reports = pool(chosen.len(), 2, |k| {
        run_isolated(&entries[chosen[k]], chosen[k], &settings)
    });
    let (mut passed, mut failed, mut ignored) = (0, 0, 0);
    let mut failures = Vec::new();
    for r in &reports {
        for (name, rule, outcome) in &r.results {
            let full = format!("{} / {} / {name}", r.implementation, r.suite);
            if filter.as_ref().is_some_and(|f| !full.contains(f.as_str())) {
                continue;
            }
            let verdict = match outcome {
                Outcome::Passed | Outcome::SettledByTypes(_) => {
                    passed += 1;
                    "ok"
                }
                Outcome::Skipped { .. } => {
                    ignored += 1;
                    "ignored"
                }
                Outcome::Failed { message, .. } if is_required(name) => {
                    failed += 1;
                    failures.push(format!(
                        "{full} [{}]: {message}",
                        rule.map_or("no rule".to_owned(), |r| format!("rule {}", r.number()))
                    ));
                    "FAILED"
                }
                Outcome::Failed { .. } => {
                    ignored += 1;
                    "FAILED (optional)"
                }
            };
            println!("test {full} ... {verdict}");
        }
    }
    if !failures.is_empty() {
        println!("\nfailures:");
        for f in &failures {
            println!("    {f}");
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; {ignored} ignored",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(101)
    }
}

fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// `--format junit`: JUnit XML, one `<testsuite>` per implementation and suite. Optional tests
/// that fail are reported as skipped with the failure message, so CI stays green on SHOULDs.
pub fn junit(reports: &[SuiteReport], secs: &[f64]) -> String {
    use std::fmt::Write;
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"rstreams-tck\">\n",
    );
    for (k, r) in reports.iter().enumerate() {
        let failures = r
            .results
            .iter()
            .filter(|(n, _, o)| matches!(o, Outcome::Failed { .. }) && is_required(n))
            .count();
        let skipped = r
            .results
            .iter()
            .filter(|(n, _, o)| {
                matches!(o, Outcome::Skipped { .. })
                    || (matches!(o, Outcome::Failed { .. }) && !is_required(n))
            })
            .count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{} / {}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"{skipped}\" time=\"{:.3}\">",
            xml(&r.implementation),
            xml(r.suite),
            r.results.len(),
            secs.get(k).copied().unwrap_or(0.0)
        );
        for (name, rule, outcome) in &r.results {
            let class = xml(&format!("{}.{}", r.implementation, r.suite));
            let rule = rule.map_or("no rule".to_owned(), |r| format!("rule {}", r.number()));
            match outcome {
                Outcome::Passed | Outcome::SettledByTypes(_) => {
                    let _ = writeln!(out, "    <testcase classname=\"{class}\" name=\"{name}\"/>");
                }
                Outcome::Skipped { reason } => {
                    let _ = writeln!(
                        out,
                        "    <testcase classname=\"{class}\" name=\"{name}\"><skipped message=\"{}\"/></testcase>",
                        xml(reason)
                    );
                }
                Outcome::Failed { message, .. } if !is_required(name) => {
                    let _ = writeln!(
                        out,
                        "    <testcase classname=\"{class}\" name=\"{name}\"><skipped message=\"optional test failed ({rule}): {}\"/></testcase>",
                        xml(message)
                    );
                }
                Outcome::Failed { message, .. } => {
                    let _ = writeln!(
                        out,
                        "    <testcase classname=\"{class}\" name=\"{name}\"><failure message=\"{rule}: {}\">{}</failure></testcase>",
                        xml(message),
                        xml(message)
                    );
                }
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Formats.

/// Failures of required tests (see [`is_required`]): those state MUST rules.
pub fn required_failures(reports: &[SuiteReport]) -> usize {
    reports
        .iter()
        .flat_map(|r| &r.results)
        .filter(|(name, _, o)| matches!(o, Outcome::Failed { .. }) && is_required(name))
        .count()
}

/// Distinct test names per suite: (JVM tests per suite in report order, Rust-only total).
fn coverage(reports: &[SuiteReport]) -> (Vec<(&'static str, usize)>, usize) {
    let mut suites: Vec<(&'static str, usize)> = Vec::new();
    let mut rust_only = 0;
    let mut seen = BTreeSet::new();
    for r in reports {
        if !seen.insert(r.suite) {
            continue;
        }
        let jvm = r
            .results
            .iter()
            .filter(|(n, _, _)| !is_rust_only(n))
            .count();
        rust_only += r.results.len() - jvm;
        suites.push((r.suite, jvm));
    }
    // The JVM TCK's order: publisher, whitebox, blackbox, processor.
    let order = [
        "PublisherVerification",
        "SubscriberWhiteboxVerification",
        "SubscriberBlackboxVerification",
        "IdentityProcessorVerification",
    ];
    suites.sort_by_key(|(s, _)| order.iter().position(|o| o == s).unwrap_or(order.len()));
    (suites, rust_only)
}

/// `--format text`: the table, the failing tests with their rules, and the coverage line.
pub fn text(reports: &[SuiteReport], secs: &[f64], settings: &Settings) -> String {
    let mut out = String::new();
    let name_w = reports
        .iter()
        .map(|r| r.implementation.len())
        .max()
        .unwrap_or(10)
        .max("implementation".len());
    let suite_w = reports.iter().map(|r| r.suite.len()).max().unwrap_or(10);
    out.push_str(&format!(
        "{:name_w$}  {:suite_w$}  {:>6}  {:>6}  {:>7}  {:>6}\n",
        "implementation", "suite", "passed", "failed", "skipped", "secs"
    ));
    out.push_str(&format!("{}\n", "-".repeat(name_w + suite_w + 37)));
    let (mut p, mut f, mut s) = (0, 0, 0);
    for (i, r) in reports.iter().enumerate() {
        let (rp, rf, rs) = r.counts();
        p += rp;
        f += rf;
        s += rs;
        let took = match secs.get(i) {
            Some(t) if *t > 0.0 => format!("{t:.1}"),
            _ => String::new(),
        };
        out.push_str(&format!(
            "{:name_w$}  {:suite_w$}  {rp:>6}  {rf:>6}  {rs:>7}  {took:>6}\n",
            r.implementation, r.suite
        ));
    }
    out.push_str(&format!("{}\n", "-".repeat(name_w + suite_w + 37)));
    out.push_str(&format!(
        "{:name_w$}  {:suite_w$}  {p:>6}  {f:>6}  {s:>7}\n",
        "total", ""
    ));
    let failures: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.results.iter().filter_map(move |(name, _, o)| match o {
                Outcome::Failed { rule, message } => Some(format!(
                    "  {} / {}: {name} [{}]: {message}",
                    r.implementation,
                    r.suite,
                    rule.map_or("no rule".to_owned(), |r| format!("rule {}", r.number()))
                )),
                _ => None,
            })
        })
        .collect();
    if !failures.is_empty() {
        out.push_str("\nfailing tests:\n");
        for line in failures {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let (suites, rust_only) = coverage(reports);
    let jvm: usize = suites.iter().map(|(_, n)| n).sum();
    let parts: Vec<String> = suites.iter().map(|(_, n)| n.to_string()).collect();
    out.push_str(&format!(
        "\n{jvm} JVM tests ({}) + {rust_only} Rust-only, over {} implementation/suite pairs \
         (timeout {:?}, no-signal window {:?})\n",
        parts.join(" + "),
        reports.len(),
        settings.timeout,
        settings.no_signal
    ));
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `--format json`: every report and test, with `required_failures`.
pub fn json(reports: &[SuiteReport]) -> String {
    let mut items = Vec::new();
    for r in reports {
        let (p, f, s) = r.counts();
        let tests: Vec<String> = r
            .results
            .iter()
            .map(|(name, rule, o)| {
                let rule = rule.map_or("null".to_owned(), |r| escape(r.number()));
                let (outcome, detail) = match o {
                    Outcome::Passed => ("passed", None),
                    Outcome::SettledByTypes(why) => ("settled_by_types", Some((*why).to_owned())),
                    Outcome::Failed { message, .. } => ("failed", Some(message.clone())),
                    Outcome::Skipped { reason } => ("skipped", Some(reason.clone())),
                };
                let detail = detail.map_or("null".to_owned(), |d| escape(&d));
                format!(
                    "{{\"name\":{},\"rule\":{rule},\"outcome\":\"{outcome}\",\"detail\":{detail}}}",
                    escape(name)
                )
            })
            .collect();
        items.push(format!(
            "{{\"implementation\":{},\"suite\":{},\"passed\":{p},\"failed\":{f},\"skipped\":{s},\"tests\":[{}]}}",
            escape(&r.implementation),
            escape(r.suite),
            tests.join(",")
        ));
    }
    let (suites, rust_only) = coverage(reports);
    let jvm: Vec<String> = suites
        .iter()
        .map(|(s, n)| format!("{}:{n}", escape(s)))
        .collect();
    format!(
        "{{\"reports\":[{}],\"jvm_tests\":{{{}}},\"rust_only_tests\":{rust_only},\"required_failures\":{}}}",
        items.join(","),
        jvm.join(","),
        required_failures(reports)
    )
}

/// `--format rules`: a Markdown index: for each rule, the tests that check it (by suite) and how the built-ins fared.
pub fn rules_index(reports: &[SuiteReport]) -> String {
    use std::collections::BTreeMap;
    use std::fmt::Write;

    // rule -> suite -> test -> (passed, failed, skipped, settled reason)
    type Tally = (usize, usize, usize, Option<&'static str>);
    let mut by_rule: BTreeMap<
        rstreams_protocol::Rule,
        BTreeMap<&'static str, BTreeMap<&'static str, Tally>>,
    > = BTreeMap::new();
    for r in reports {
        for (name, rule, outcome) in &r.results {
            let Some(rule) = rule else { continue };
            let t = by_rule
                .entry(*rule)
                .or_default()
                .entry(r.suite)
                .or_default()
                .entry(name)
                .or_default();
            match outcome {
                Outcome::Passed => t.0 += 1,
                Outcome::SettledByTypes(why) => t.3 = Some(why),
                Outcome::Failed { .. } => t.1 += 1,
                Outcome::Skipped { .. } => t.2 += 1,
            }
        }
    }
    let mut out = String::new();
    for rule in rstreams_protocol::Rule::ALL {
        let _ = writeln!(out, "### Rule {}\n", rule.number());
        let _ = writeln!(out, "{}\n", rule.summary());
        match by_rule.get(&rule) {
            None => {
                let _ = writeln!(out, "No TCK test names this rule; see the table above.\n");
            }
            Some(suites) => {
                for (suite, tests) in suites {
                    for (name, (passed, failed, skipped, settled)) in tests {
                        let verdict = match settled {
                            Some(why) => format!("settled by the type system: {why}"),
                            None => format!("{passed} passed, {failed} failed, {skipped} skipped"),
                        };
                        let _ = writeln!(out, "- {suite}: `{name}` ({verdict})");
                    }
                }
                out.push('\n');
            }
        }
    }
    out
}

/// Installs a panic hook for report runs. Some tests make a subscriber panic on purpose (rule 2.13); their expected panics would bury
/// the report under backtraces. Those are silenced; every other panic prints as usual.
pub fn quiet_deliberate_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
            .unwrap_or("");
        if !message.starts_with("rstreams-tck: a deliberately") {
            default(info);
        }
    }));
}
