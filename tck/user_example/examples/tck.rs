//! `cargo run --example tck -- report [--format text|json|junit|rules]`: the TCK report over
//! this crate's publishers.

use rstreams_tck::report::{self, publisher};
use rstreams_tck_user_example::Counter;

fn main() -> std::process::ExitCode {
    report::main(vec![publisher("user_example::Counter", Counter::new)])
}
