//! Runs `cargo run --example tck -- report` as a user would, and checks the JSON and JUnit
//! outputs name this crate's publisher and the suite's tests.

use std::process::Command;

fn report(format: &str) -> (bool, String) {
    let out = Command::new(env!("CARGO"))
        .args([
            "run",
            "--quiet",
            "--example",
            "tck",
            "--",
            "report",
            "--format",
            format,
        ])
        .args(["--jobs", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_user_crate_gets_the_json_report_for_its_own_publisher() {
    let (ok, json) = report("json");
    assert!(ok, "the report failed:\n{json}");
    assert!(
        json.contains("\"implementation\":\"user_example::Counter\""),
        "{json}"
    );
    assert!(json.contains("rust_spec312_cancel_from_another_thread_stops_unbounded_emission"));
    assert!(json.contains("\"required_failures\":0"), "{json}");
}

#[test]
fn a_user_crate_gets_junit_xml() {
    let (ok, xml) = report("junit");
    assert!(ok, "the report failed:\n{xml}");
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(xml.contains("<testsuite name=\"user_example::Counter / PublisherVerification\""));
    assert!(!xml.contains("<failure"), "{xml}");
}

#[test]
fn a_test_that_aborts_its_process_is_reported_by_name_and_the_rest_still_prints() {
    let out = Command::new(env!("CARGO"))
        .args(["run", "--quiet", "--example", "crashing", "--", "report"])
        .args(["--format", "json", "--jobs", "2"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    let json = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{json}");
    // The two request(0) tests abort: each fails, named, with how its process ended.
    for test in [
        "required_spec309_request_zero_must_signal_illegal_argument_exception",
        "optional_spec309_request_negative_number_may_signal_illegal_argument_exception_with_specific_message",
    ] {
        let at = json.find(&format!("\"name\":\"{test}\"")).expect(test);
        let entry = &json[at..at + json[at..].find('}').unwrap()];
        assert!(entry.contains("\"outcome\":\"failed\""), "{entry}");
        assert!(entry.contains("ended abnormally"), "{entry}");
    }
    // Everything else ran: the other publisher's report is complete and clean.
    assert!(json.contains("\"implementation\":\"Counter\",\"suite\":\"PublisherVerification\",\"passed\":48,\"failed\":0,\"skipped\":3"), "{json}");
    assert!(json.contains("\"required_failures\":1"), "{json}");
}
