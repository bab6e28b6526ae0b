//! A custom publisher written with the pull kit, under backpressure.
//!
//! `Lines` emits numbered log lines from an in-memory "file". The subscriber is deliberately
//! slow and asks for 4 lines at a time; the publisher never produces a line before it is asked
//! for, so however large the file, at most 4 lines exist at once.
//!
//! Run: `cargo run -p rstreams-protocol --example custom_publisher`

use std::sync::Arc;

use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

/// The publisher: cheap to clone, subscribed any number of times.
#[derive(Clone)]
pub(crate) struct Lines {
    text: Arc<str>,
}

impl Lines {
    /// Lines of `text`, numbered from 1.
    pub(crate) fn new(text: &str) -> Self {
        Lines { text: text.into() }
    }
}

/// Per-subscriber state: where we are in the text.
struct LinesSource {
    text: Arc<str>,
    offset: usize,
    number: usize,
}

impl Source for LinesSource {
    type Item = String;

    // Called once per unit of demand, never concurrently: no atomics here.
    fn pull(&mut self) -> Step<String> {
        let rest = &self.text[self.offset..];
        if rest.is_empty() {
            return Step::Complete;
        }
        let line = rest.split_inclusive('\n').next().unwrap_or(rest);
        self.offset += line.len();
        self.number += 1;
        Step::Next(format!("{:>3}: {}", self.number, line.trim_end()))
    }

    // Lets the kit send on_complete right after the last line.
    fn is_exhausted(&mut self) -> bool {
        self.offset == self.text.len()
    }
}

impl Publisher for Lines {
    type Item = String;

    fn subscribe<S: Subscriber<String> + Send + 'static>(&self, subscriber: S) {
        let source = LinesSource {
            text: Arc::clone(&self.text),
            offset: 0,
            number: 0,
        };
        pull::serve(source, subscriber);
    }
}

/// Asks for `batch` lines, processes them, then asks for the next batch.
struct SlowReader {
    batch: u64,
    left: u64,
    subscription: Option<Box<dyn Subscription>>,
}

impl Subscriber<String> for SlowReader {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        println!("subscribed; requesting {}", self.batch);
        self.left = self.batch;
        s.request(self.batch);
        self.subscription = Some(s);
    }

    fn on_next(&mut self, line: String) {
        println!("{line}");
        self.left -= 1;
        if self.left == 0 {
            println!("-- batch done; requesting {} more", self.batch);
            self.left = self.batch;
            // Re-entrant: the kit only records the demand; its loop emits after we return.
            self.subscription.as_ref().unwrap().request(self.batch);
        }
    }

    fn on_error(&mut self, error: Error) {
        eprintln!("failed: {error}");
    }

    fn on_complete(&mut self) {
        println!("done");
    }
}

fn main() {
    let text = (1..=10).map(|i| format!("event {i}\n")).collect::<String>();
    Lines::new(&text).subscribe(SlowReader {
        batch: 4,
        left: 0,
        subscription: None,
    });
}
