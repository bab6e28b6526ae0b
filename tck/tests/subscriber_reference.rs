//! The reference subscribers pass both subscriber suites, one `#[test]` per suite test.

use rstreams_tck::subscriber::reference::builtin::{
    AsyncBlackbox, AsyncWhitebox, SyncBlackbox, SyncWhitebox,
};
use rstreams_tck::{subscriber_blackbox_tests, subscriber_whitebox_tests};

subscriber_whitebox_tests!(sync_whitebox, SyncWhitebox);
subscriber_whitebox_tests!(async_whitebox, AsyncWhitebox);
subscriber_blackbox_tests!(sync_blackbox, SyncBlackbox);
subscriber_blackbox_tests!(async_blackbox, AsyncBlackbox);

/// The macros generate exactly the suites' tests, in order, so they cannot drift apart.
#[test]
fn macro_lists_match_the_suites() {
    use rstreams_tck::subscriber::{blackbox, whitebox};
    let wb: Vec<&str> = whitebox::cases::<SyncWhitebox>()
        .iter()
        .map(|c| c.name)
        .collect();
    let bb: Vec<&str> = blackbox::cases::<SyncBlackbox>()
        .iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(sync_whitebox::NAMES, wb.as_slice());
    assert_eq!(sync_blackbox::NAMES, bb.as_slice());
    // 27 JVM whitebox tests + 3 Rust-only; 26 JVM blackbox tests + 2 Rust-only.
    assert_eq!(wb.iter().filter(|n| !n.starts_with("rust_")).count(), 27);
    assert_eq!(bb.iter().filter(|n| !n.starts_with("rust_")).count(), 26);
}

/// What the report CLI shows for subscribers: no failures, and the only skips are the
/// documented ones (2.2 is advisory).
#[test]
fn builtin_reports_pass() {
    let settings = rstreams_tck::outcome::Settings::from_env();
    for report in rstreams_tck::subscriber::builtin_reports(&settings) {
        assert!(
            report.failed().is_empty(),
            "{} / {}: {:#?}",
            report.implementation,
            report.suite,
            report.results
        );
        let skipped: Vec<&str> = report
            .results
            .iter()
            .filter(|(_, _, o)| matches!(o, rstreams_tck::outcome::Outcome::Skipped { .. }))
            .map(|(n, _, _)| *n)
            .collect();
        assert!(
            skipped.iter().all(|n| n.contains("spec202")),
            "{} / {}: unexpected skips {skipped:?}",
            report.implementation,
            report.suite
        );
    }
}
