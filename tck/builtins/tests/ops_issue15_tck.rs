//! The publisher suite over every operator of issue 15 (the `// issue 15: operators` block of
//! the built-in registry): each must pass every required test.

use std::time::Duration;

use rstreams_tck::outcome::{Outcome, Settings};

/// The registry names of the issue-15 entries.
const ENTRIES: &[&str] = &[
    "rstreams::on_error_return",
    "rstreams::empty.switch_if_empty",
    "rstreams::empty.default_if_empty",
    "rstreams::range.start_with",
    "rstreams::timer",
    "rstreams::range.take_until",
    "rstreams::range.skip_until",
    "rstreams::range.distinct_by",
    "rstreams::range.distinct_until_changed",
    "rstreams::using",
    "rstreams::combine_latest",
    "rstreams::range.with_latest_from",
    "rstreams::zip3",
    "rstreams::just.debounce",
    "rstreams::just.throttle_first",
    "rstreams::just.sample",
    "rstreams::range.group_by.flat_map",
    "rstreams::range.window.concat_map",
    "rstreams::range.window_timeout.concat_map",
];

#[test]
fn every_issue_15_operator_passes_the_publisher_suite() {
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
