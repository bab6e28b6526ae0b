//! `rstreams-tck report [--format text|json|rules] [--jobs N]`: runs every suite over every
//! built-in implementation (see `rstreams_tck::builtins`) and prints a table of passed / failed /
//! skipped counts with the failing tests and their rules (`rules`: a Markdown index of the tests
//! per specification rule, the generated part of `docs/rules.md`). Exits with status 1 when a test that is not
//! `optional_` failed, 2 on a usage error.

use std::collections::BTreeSet;
use std::process::ExitCode;

use rstreams_tck::builtins;
use rstreams_tck::outcome::{Outcome, Settings, SuiteReport};

const USAGE: &str = "usage: rstreams-tck report [--format text|json|rules] [--jobs N]

Runs the Reactive Streams TCK suites over every built-in implementation.
Timeouts: RSTREAMS_TCK_TIMEOUT_MS (default 1000), RSTREAMS_TCK_NO_SIGNAL_MS (default 50).";

enum Format {
    Text,
    Json,
    Rules,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut format = Format::Text;
    let mut jobs = 4;
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("report") => {}
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    }
    while let Some(arg) = it.next() {
        match (arg.as_str(), it.next().map(String::as_str)) {
            ("--format", Some("text")) => format = Format::Text,
            ("--format", Some("json")) => format = Format::Json,
            ("--format", Some("rules")) => format = Format::Rules,
            ("--jobs", Some(n)) if n.parse::<usize>().is_ok_and(|n| n > 0) => {
                jobs = n.parse().unwrap_or(4);
            }
            _ => {
                eprintln!("unexpected argument {arg:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    quiet_deliberate_panics();
    let settings = Settings::from_env();
    let timed = builtins::timed_reports(&settings, jobs);
    let secs: Vec<f64> = timed.iter().map(|(_, d)| d.as_secs_f64()).collect();
    let reports: Vec<SuiteReport> = timed.into_iter().map(|(r, _)| r).collect();
    match format {
        Format::Text => print!("{}", text(&reports, &secs, &settings)),
        Format::Json => println!("{}", json(&reports)),
        Format::Rules => print!("{}", rules_index(&reports)),
    }
    if required_failures(&reports) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Failures of tests that are not `optional_` (those state MUST rules).
fn required_failures(reports: &[SuiteReport]) -> usize {
    reports
        .iter()
        .flat_map(|r| &r.results)
        .filter(|(name, _, o)| {
            matches!(o, Outcome::Failed { .. }) && !name.starts_with("optional_")
        })
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
            .filter(|(n, _, _)| !n.starts_with("rust_"))
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

fn text(reports: &[SuiteReport], secs: &[f64], settings: &Settings) -> String {
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

fn json(reports: &[SuiteReport]) -> String {
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

/// A Markdown index: for each rule, the tests that check it (by suite) and how the built-ins fared.
fn rules_index(reports: &[SuiteReport]) -> String {
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

/// Some tests make a subscriber panic on purpose (rule 2.13); their expected panics would bury
/// the report under backtraces. Those are silenced; every other panic prints as usual.
fn quiet_deliberate_panics() {
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
