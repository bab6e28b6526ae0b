//! The publisher suite over every operator of issue 16 (the `// issue 16: ...` block of
//! the built-in registry): each must pass every required test.

use std::time::Duration;

use rstreams_tck::outcome::{Outcome, Settings};

/// The registry names of the issue-16 entries.
const ENTRIES: &[&str] = &[
    "rstreams::range.enumerate",
    "rstreams::range.fold",
    "rstreams::once",
    "rstreams::range.parallel.ordered",
    "rstreams::range.parallel.sequential",
];

#[test]
fn every_issue_16_operator_passes_the_publisher_suite() {
    let env = Settings::from_env();
    let settings = Settings {
        timeout: env.timeout,
        no_signal: env.no_signal.min(Duration::from_millis(20)),
    };
    let entries: Vec<_> = rstreams_tck::builtins::entries()
        .into_iter()
        .filter(|e| ENTRIES.contains(&e.name))
        .collect();
    assert_eq!(
        entries.len(),
        ENTRIES.len(),
        "every listed entry is registered"
    );
    let mut failed = Vec::new();
    for entry in &entries {
        let report = entry.run(&settings);
        for (name, _, outcome) in &report.results {
            if let Outcome::Failed { rule, message } = outcome {
                failed.push(format!("{}: {name} ({rule:?}): {message}", entry.name));
            }
        }
    }
    assert!(failed.is_empty(), "{failed:#?}");
}
