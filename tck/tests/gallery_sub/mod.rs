//! Deliberately broken subscribers: each breaks one subscriber rule (or the whitebox contract)
//! and is otherwise correct, so that the suites must fail exactly where the flaw is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};

use parking_lot::Mutex;
use rstreams_protocol::{Error, Subscriber, Subscription};
use rstreams_tck::subscriber::{
    SubscriberBlackboxVerification, SubscriberPuppet, SubscriberWhiteboxVerification, WhiteboxProbe,
};

/// What is wrong with the subscriber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flaw {
    /// Nothing: a correct subscriber (the control).
    None,
    /// Never requests (its puppet ignores `trigger_request` too): 2.1.
    NeverRequests,
    /// Calls `request(1)` from inside `on_complete`: 2.3.
    RequestsInOnComplete,
    /// Calls `cancel()` from inside `on_error`: 2.3.
    CancelsInOnError,
    /// Requests again from another thread after it received a terminal signal: 2.4.
    RequestsAfterTerminal,
    /// Ignores (drops without cancelling) a second subscription: 2.5.
    KeepsSecondSubscription,
    /// Requests on a second subscription before cancelling it: 2.5 (blackbox is strict).
    RequestsOnSecondSubscription,
    /// Does not cancel when dropped while subscribed: 2.6.
    NoCancelOnDrop,
    /// Requests from two threads at once for every item: 2.7.
    OverlappingRequests,
    /// Panics on an item that arrives after it cancelled: 2.8 (reported as a panic, 2.13).
    PanicsOnItemAfterCancel,
    /// Panics on `on_complete` when no item came first: 2.9 (reported as a panic, 2.13).
    PanicsOnEmptyCompletion,
    /// Panics in `on_next`: 2.13.
    PanicsInOnNext,
    /// Panics in `on_error`: 2.10 (reported as a panic, 2.13).
    PanicsInOnError,
    /// Requests 0 once: 3.9.
    RequestsZero,
    /// Whitebox: holds a lock across `request` that `on_next` also takes, so a synchronous
    /// publisher deadlocks it: 3.10.
    LockAcrossRequest,
    /// Whitebox: the puppet ignores `signal_cancel`.
    IgnoresCancelSignal,
    /// Whitebox: never calls `register_on_subscribe` (the JVM's "did not registerOnSubscribe").
    ForgetsToRegister,
}

struct Shared {
    subscription: Arc<dyn Subscription>,
    cancelled: AtomicBool,
    lock: Mutex<()>,
    flaw: Flaw,
}

struct Puppet(Arc<Shared>);

impl SubscriberPuppet for Puppet {
    fn trigger_request(&self, n: u64) {
        match self.0.flaw {
            Flaw::NeverRequests => {}
            Flaw::LockAcrossRequest => {
                let _held = self.0.lock.lock();
                self.0.subscription.request(n);
            }
            _ => self.0.subscription.request(n),
        }
    }
    fn signal_cancel(&self) {
        if self.0.flaw != Flaw::IgnoresCancelSignal {
            self.0.cancelled.store(true, Ordering::SeqCst);
            self.0.subscription.cancel();
        }
    }
}

/// The subscriber: requests 2 up front and 1 per item; optionally stops after some items.
pub(crate) struct Broken {
    flaw: Flaw,
    probe: Option<WhiteboxProbe<u64>>,
    shared: Option<Arc<Shared>>,
    stop_after: Option<u64>,
    received: u64,
    done: bool,
}

impl Broken {
    pub(crate) fn new(
        flaw: Flaw,
        probe: Option<WhiteboxProbe<u64>>,
        stop_after: Option<u64>,
    ) -> Self {
        Broken {
            flaw,
            probe,
            shared: None,
            stop_after,
            received: 0,
            done: false,
        }
    }

    fn request(&self, n: u64) {
        let Some(sh) = &self.shared else { return };
        // LockAcrossRequest leaves all requesting to the puppet, so that a synchronous publisher
        // delivers from inside the puppet's locked request.
        if matches!(self.flaw, Flaw::NeverRequests | Flaw::LockAcrossRequest) {
            return;
        }
        if self.flaw == Flaw::OverlappingRequests {
            // Two threads call request at the same moment: unserialised calls (2.7).
            let barrier = Arc::new(Barrier::new(2));
            let (b, s) = (Arc::clone(&barrier), Arc::clone(&sh.subscription));
            let other = std::thread::spawn(move || {
                b.wait();
                s.request(n);
            });
            barrier.wait();
            sh.subscription.request(n);
            let _ = other.join();
            return;
        }
        sh.subscription.request(n);
    }

    fn after_terminal(&mut self) {
        self.done = true;
        if let Some(sh) = self.shared.take()
            && self.flaw == Flaw::RequestsAfterTerminal
        {
            std::thread::spawn(move || sh.subscription.request(1));
        }
    }
}

impl Subscriber<u64> for Broken {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if self.shared.is_some() {
            match self.flaw {
                Flaw::KeepsSecondSubscription => {}
                Flaw::RequestsOnSecondSubscription => {
                    s.request(1);
                    s.cancel();
                }
                _ => s.cancel(),
            }
            return;
        }
        let sh = Arc::new(Shared {
            subscription: Arc::from(s),
            cancelled: AtomicBool::new(false),
            lock: Mutex::new(()),
            flaw: self.flaw,
        });
        self.shared = Some(Arc::clone(&sh));
        if let Some(p) = &self.probe
            && self.flaw != Flaw::ForgetsToRegister
        {
            p.register_on_subscribe(Puppet(Arc::clone(&sh)));
        }
        if self.flaw == Flaw::RequestsZero {
            sh.subscription.request(0);
        }
        self.request(2);
    }

    fn on_next(&mut self, item: u64) {
        if self.flaw == Flaw::PanicsInOnNext {
            panic!("broken subscriber: on_next always panics");
        }
        let cancelled = self.done
            || self
                .shared
                .as_ref()
                .is_some_and(|s| s.cancelled.load(Ordering::SeqCst));
        if cancelled {
            if self.flaw == Flaw::PanicsOnItemAfterCancel {
                panic!("broken subscriber: an item after cancel");
            }
            return;
        }
        let _held = match (&self.shared, self.flaw) {
            (Some(sh), Flaw::LockAcrossRequest) => Some(Arc::clone(sh)),
            _ => None,
        };
        let _guard = _held.as_ref().map(|sh| sh.lock.lock());
        if let Some(p) = &self.probe {
            p.register_on_next(item);
        }
        self.received += 1;
        if self.stop_after.is_some_and(|n| self.received >= n) {
            self.done = true;
            if let Some(sh) = self.shared.take() {
                sh.cancelled.store(true, Ordering::SeqCst);
                sh.subscription.cancel();
            }
            return;
        }
        self.request(1);
    }

    fn on_error(&mut self, error: Error) {
        if let Some(p) = &self.probe {
            p.register_on_error(error);
        }
        if self.flaw == Flaw::PanicsInOnError {
            panic!("broken subscriber: on_error always panics");
        }
        if self.flaw == Flaw::CancelsInOnError
            && let Some(sh) = &self.shared
        {
            sh.subscription.cancel();
        }
        self.after_terminal();
    }

    fn on_complete(&mut self) {
        if let Some(p) = &self.probe {
            p.register_on_complete();
        }
        if self.flaw == Flaw::PanicsOnEmptyCompletion && self.received == 0 {
            panic!("broken subscriber: completed before any item");
        }
        if self.flaw == Flaw::RequestsInOnComplete
            && let Some(sh) = &self.shared
        {
            sh.subscription.request(1);
        }
        self.after_terminal();
    }
}

impl Drop for Broken {
    fn drop(&mut self) {
        if self.flaw != Flaw::NoCancelOnDrop
            && !self.done
            && let Some(sh) = self.shared.take()
        {
            sh.subscription.cancel();
        }
    }
}

/// `Broken` under the whitebox suite.
pub(crate) struct Whitebox(pub Flaw);

impl SubscriberWhiteboxVerification for Whitebox {
    type Item = u64;
    fn create_subscriber(&self, probe: WhiteboxProbe<u64>) -> Box<dyn Subscriber<u64> + Send> {
        Box::new(Broken::new(self.0, Some(probe), None))
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
}

/// A correct synchronous subscriber whose verification claims it processes asynchronously
/// (rule 2.2): it registers items on the delivering thread.
pub(crate) struct ClaimsAsync;

impl SubscriberWhiteboxVerification for ClaimsAsync {
    type Item = u64;
    fn create_subscriber(&self, probe: WhiteboxProbe<u64>) -> Box<dyn Subscriber<u64> + Send> {
        Box::new(Broken::new(Flaw::None, Some(probe), None))
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
    fn processes_asynchronously(&self) -> bool {
        true
    }
}

/// `Broken` under the blackbox suite; it stops (cancels) after 5 items so that the tests of
/// what follows a cancel have one.
pub(crate) struct Blackbox(pub Flaw);

impl SubscriberBlackboxVerification for Blackbox {
    type Item = u64;
    type Subscriber = Broken;
    fn create_subscriber(&self) -> Broken {
        Broken::new(self.0, None, Some(5))
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
}

/// A subscriber that requests only when told to from outside (JVM issue #233): it passes the
/// blackbox suite only through the `trigger_request` hook.
pub(crate) struct Triggered {
    subscription: Option<Box<dyn Subscription>>,
    done: bool,
}

impl Triggered {
    /// Starts the flow: one item at a time from now on.
    pub(crate) fn start(&mut self) {
        if let Some(s) = &self.subscription {
            s.request(1);
        }
    }
}

impl Subscriber<u64> for Triggered {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        if self.subscription.is_some() || self.done {
            s.cancel();
        } else {
            self.subscription = Some(s);
        }
    }
    fn on_next(&mut self, _: u64) {
        if !self.done {
            self.start();
        }
    }
    fn on_error(&mut self, _: Error) {
        self.done = true;
        self.subscription = None;
    }
    fn on_complete(&mut self) {
        self.done = true;
        self.subscription = None;
    }
}

impl Drop for Triggered {
    fn drop(&mut self) {
        if let Some(s) = self.subscription.take() {
            s.cancel();
        }
    }
}

/// `Triggered` under the blackbox suite, with (`true`) or without the hook.
pub(crate) struct TriggeredBlackbox(pub bool);

impl SubscriberBlackboxVerification for TriggeredBlackbox {
    type Item = u64;
    type Subscriber = Triggered;
    fn create_subscriber(&self) -> Triggered {
        Triggered {
            subscription: None,
            done: false,
        }
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
    fn trigger_request(&self, subscriber: &mut Triggered) {
        if self.0 {
            subscriber.start();
        }
    }
}

/// A correct synchronous subscriber whose blackbox verification claims it processes
/// asynchronously (rule 2.2): it requests from inside `on_next`.
pub(crate) struct BlackboxClaimsAsync;

impl SubscriberBlackboxVerification for BlackboxClaimsAsync {
    type Item = u64;
    type Subscriber = Broken;
    fn create_subscriber(&self) -> Broken {
        Broken::new(Flaw::None, None, Some(5))
    }
    fn create_element(&self, i: u64) -> u64 {
        i
    }
    fn processes_asynchronously(&self) -> bool {
        true
    }
}
