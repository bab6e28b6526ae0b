//! `rstreams-tck-report report [--format text|json|junit|rules] [--jobs N] [--in-process]`: the
//! TCK report over every rstreams implementation (see [`rstreams_tck_builtins::entries`]).
//! Exits with status 1 when a required test failed, 2 on a usage error.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    rstreams_tck::report::main(rstreams_tck_builtins::entries())
}
