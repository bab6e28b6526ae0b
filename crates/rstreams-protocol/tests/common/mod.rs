//! A recording subscriber for the protocol crate's own tests.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rstreams_protocol::{Error, Subscriber, Subscription};

/// One observed signal.
#[derive(Debug, Clone)]
pub(crate) enum Signal {
    Next(u64),
    Error(Error),
    Complete,
}

/// What the recorder saw, shared with the test.
#[derive(Default)]
pub(crate) struct Log {
    pub signals: Mutex<Vec<Signal>>,
    pub subscription: Mutex<Option<Arc<dyn Subscription>>>,
    pub dropped: AtomicUsize,
}

impl Log {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub(crate) fn items(&self) -> Vec<u64> {
        self.signals
            .lock()
            .unwrap()
            .iter()
            .filter_map(|s| match s {
                Signal::Next(x) => Some(*x),
                _ => None,
            })
            .collect()
    }
    pub(crate) fn completed(&self) -> usize {
        self.signals
            .lock()
            .unwrap()
            .iter()
            .filter(|s| matches!(s, Signal::Complete))
            .count()
    }
    pub(crate) fn errors(&self) -> Vec<Error> {
        self.signals
            .lock()
            .unwrap()
            .iter()
            .filter_map(|s| match s {
                Signal::Error(e) => Some(e.clone()),
                _ => None,
            })
            .collect()
    }
    pub(crate) fn subscription(&self) -> Arc<dyn Subscription> {
        self.subscription
            .lock()
            .unwrap()
            .clone()
            .expect("subscribed")
    }
    pub(crate) fn is_dropped(&self) -> bool {
        self.dropped.load(Ordering::SeqCst) > 0
    }
    /// Everything after the first terminal signal (must be empty: rule 1.7).
    pub(crate) fn after_terminal(&self) -> usize {
        let s = self.signals.lock().unwrap();
        match s
            .iter()
            .position(|x| matches!(x, Signal::Error(_) | Signal::Complete))
        {
            Some(i) => s.len() - i - 1,
            None => 0,
        }
    }
}

/// What the recorder does inside `on_next`.
pub(crate) type OnNext = Box<dyn FnMut(u64, &dyn Subscription) + Send>;

/// Records every signal; requests `initial` in `on_subscribe`; runs `on_next_hook` per item.
pub(crate) struct Recorder {
    log: Arc<Log>,
    initial: u64,
    sub: Option<Arc<dyn Subscription>>,
    hook: Option<OnNext>,
}

impl Recorder {
    pub(crate) fn new(log: &Arc<Log>, initial: u64) -> Self {
        Recorder {
            log: Arc::clone(log),
            initial,
            sub: None,
            hook: None,
        }
    }
    pub(crate) fn with_hook(
        mut self,
        hook: impl FnMut(u64, &dyn Subscription) + Send + 'static,
    ) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }
}

impl Subscriber<u64> for Recorder {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        let s: Arc<dyn Subscription> = Arc::from(s);
        // The log keeps a second handle for the test; `Recorder::drop` releases it so that the
        // subscription's cycle back to this subscriber is broken when the publisher drops us.
        *self.log.subscription.lock().unwrap() = Some(Arc::clone(&s));
        self.sub = Some(Arc::clone(&s));
        if self.initial > 0 {
            s.request(self.initial);
        }
    }
    fn on_next(&mut self, item: u64) {
        self.log.signals.lock().unwrap().push(Signal::Next(item));
        if let (Some(hook), Some(sub)) = (self.hook.as_mut(), self.sub.as_ref()) {
            hook(item, &**sub);
        }
    }
    fn on_error(&mut self, e: Error) {
        self.log.signals.lock().unwrap().push(Signal::Error(e));
    }
    fn on_complete(&mut self) {
        self.log.signals.lock().unwrap().push(Signal::Complete);
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.log.dropped.fetch_add(1, Ordering::SeqCst);
    }
}
