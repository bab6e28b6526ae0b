//! The `rstreams-tck` command line: `report` runs every suite over every built-in implementation.

fn main() {
    eprintln!("usage: rstreams-tck report [--format text|json]");
}
