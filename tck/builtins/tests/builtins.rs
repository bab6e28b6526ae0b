//! Every test of every suite over every registry entry, from the same registry as the report
//! (`cargo test -p rstreams-tck-builtins [FILTER]`; each entry runs in a child process).

fn main() -> std::process::ExitCode {
    rstreams_tck::report::test_main(rstreams_tck_builtins::entries())
}
