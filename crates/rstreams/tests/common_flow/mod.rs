//! Test helpers shared by the hop, overflow and time tests: a strict recording subscriber.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, unbounded};
use parking_lot::Mutex;
use rstreams::{Error, Subscriber, Subscription};

/// A signal as the recorder saw it.
#[derive(Debug, Clone)]
pub enum Sig<T> {
    Next(T),
    Error(Error),
    Complete,
}

/// A subscriber that records every signal, checks the grammar strictly (panicking the test
/// thread through a flag rather than the caller), and exposes its subscription.
pub struct Recorder<T> {
    tx: Sender<Sig<T>>,
    shared: Arc<RecShared>,
    initial: u64,
}

#[derive(Default)]
pub struct RecShared {
    pub sub: Mutex<Option<Arc<dyn Subscription>>>,
    pub violations: Mutex<Vec<String>>,
    pub state: Mutex<RecState>,
    pub thread_names: Mutex<Vec<Option<String>>>,
}

#[derive(Default)]
pub struct RecState {
    pub subscribed: bool,
    pub terminated: bool,
    pub received: u64,
    pub requested: u64,
}

/// The test's side of a [`Recorder`].
pub struct Probe<T> {
    pub rx: Receiver<Sig<T>>,
    pub shared: Arc<RecShared>,
}

pub fn recorder<T>(initial: u64) -> (Recorder<T>, Probe<T>) {
    let (tx, rx) = unbounded();
    let shared = Arc::new(RecShared::default());
    (
        Recorder {
            tx,
            shared: Arc::clone(&shared),
            initial,
        },
        Probe { rx, shared },
    )
}

impl<T> Recorder<T> {
    fn violation(&self, what: String) {
        self.shared.violations.lock().push(what);
    }
}

impl<T: Send> Subscriber<T> for Recorder<T> {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        {
            let mut st = self.shared.state.lock();
            if st.subscribed {
                drop(st);
                self.violation("second on_subscribe".into());
                s.cancel();
                return;
            }
            st.subscribed = true;
            st.requested = st.requested.saturating_add(self.initial);
        }
        let s: Arc<dyn Subscription> = Arc::from(s);
        *self.shared.sub.lock() = Some(Arc::clone(&s));
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, item: T) {
        {
            let mut st = self.shared.state.lock();
            if !st.subscribed || st.terminated {
                drop(st);
                self.violation("on_next outside subscribed/unterminated".into());
                return;
            }
            st.received += 1;
            if st.requested != u64::MAX && st.received > st.requested {
                let msg = format!(
                    "rule 1.1: {} received, {} requested",
                    st.received, st.requested
                );
                drop(st);
                self.violation(msg);
            }
        }
        self.shared
            .thread_names
            .lock()
            .push(std::thread::current().name().map(str::to_owned));
        let _ = self.tx.send(Sig::Next(item));
    }
    fn on_error(&mut self, error: Error) {
        self.terminal();
        let _ = self.tx.send(Sig::Error(error));
    }
    fn on_complete(&mut self) {
        self.terminal();
        let _ = self.tx.send(Sig::Complete);
    }
}

impl<T> Recorder<T> {
    fn terminal(&self) {
        let mut st = self.shared.state.lock();
        if !st.subscribed || st.terminated {
            drop(st);
            self.violation("second terminal or terminal before on_subscribe".into());
            return;
        }
        st.terminated = true;
        drop(st);
        self.shared.sub.lock().take();
    }
}

/// One pool for every test of a binary, never dropped: tests do not depend on pool shutdown, and
/// the machine's two cores are not oversubscribed.
pub fn pool() -> Arc<dyn rstreams::executor::Scheduler> {
    static POOL: std::sync::OnceLock<Arc<dyn rstreams::executor::Scheduler>> =
        std::sync::OnceLock::new();
    Arc::clone(POOL.get_or_init(|| {
        Arc::new(
            rstreams::executor::ThreadPool::builder()
                .workers(2)
                .thread_name_prefix("flow-test")
                .build()
                .expect("test pool"),
        )
    }))
}

pub const WAIT: Duration = Duration::from_secs(10);

impl<T> Probe<T> {
    pub fn request(&self, n: u64) {
        {
            let mut st = self.shared.state.lock();
            st.requested = st.requested.saturating_add(n);
        }
        // After a terminal signal the recorder has dropped its subscription: nothing to do.
        let sub = self.shared.sub.lock().clone();
        if let Some(sub) = sub {
            sub.request(n);
        }
    }

    pub fn cancel(&self) {
        let sub = self.shared.sub.lock().clone();
        if let Some(s) = sub {
            s.cancel();
        }
    }

    /// Waits (up to [`WAIT`]) until `on_subscribe` arrived.
    pub fn wait_subscribed(&self) {
        let deadline = std::time::Instant::now() + WAIT;
        while self.shared.sub.lock().is_none() && !self.shared.state.lock().terminated {
            assert!(std::time::Instant::now() < deadline, "no on_subscribe");
            std::thread::yield_now();
        }
    }

    /// The next signal, failing the test after [`WAIT`].
    pub fn next_signal(&self) -> Sig<T> {
        self.rx.recv_timeout(WAIT).expect("expected a signal")
    }

    /// Collects `n` items, failing on anything else.
    pub fn expect_items(&self, n: usize) -> Vec<T>
    where
        T: std::fmt::Debug,
    {
        (0..n)
            .map(|_| match self.next_signal() {
                Sig::Next(x) => x,
                other => panic!("expected an item, got {other:?}"),
            })
            .collect()
    }

    /// Items until the terminal signal, which is returned.
    pub fn until_end(&self) -> (Vec<T>, Result<(), Error>) {
        let mut items = Vec::new();
        loop {
            match self.next_signal() {
                Sig::Next(x) => items.push(x),
                Sig::Complete => return (items, Ok(())),
                Sig::Error(e) => return (items, Err(e)),
            }
        }
    }

    /// Signals that are already there, without waiting.
    pub fn drain_ready(&self) -> Vec<Sig<T>> {
        self.rx.try_iter().collect()
    }

    pub fn assert_clean(&self) {
        let v = self.shared.violations.lock();
        assert!(v.is_empty(), "protocol violations: {v:?}");
    }
}
