//! A broadcast identity processor with coordinated emission, for the TCK's processor
//! self-tests: correct without a fault (so the two-subscriber tests X01/X03 and the rule 1.11
//! tests have a passing implementation), and broken in one way per fault.
//!
//! Each downstream subscriber is served by the pull kit from its own bounded queue. One item is
//! asked from upstream at a time, and only when every subscriber has demand, so a queue never
//! holds more than one item; an item goes to every subscriber attached when it arrives.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use rstreams_protocol::pull::{self, PullHandle, Source, Step};
use rstreams_protocol::{Error, Publisher, Subscriber, Subscription};

/// How the processor is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProcFault {
    /// Correct.
    None,
    /// An upstream error waits for downstream demand (4.2).
    ErrorWaitsForDemand,
    /// An upstream error reaches only the first subscriber; the others are completed (1.4).
    ErrorToFirstSubscriberOnly,
    /// Downstream cancel is not passed upstream (the whitebox cancel tests).
    NoUpstreamCancel,
}

struct Slot<T> {
    id: u64,
    queue: VecDeque<T>,
    handle: Option<PullHandle>,
}

struct State<T> {
    upstream: Option<Arc<dyn Subscription>>,
    in_flight: bool,
    slots: Vec<Slot<T>>,
    next_id: u64,
    end: Option<Result<(), Error>>,
    ever_subscribed: bool,
}

struct Shared<T> {
    fault: ProcFault,
    /// Coordinated: ask upstream only when every subscriber has demand. Otherwise whenever one
    /// asks, holding items for the others (at most `HOLD` each).
    coordinated: bool,
    state: Mutex<State<T>>,
}

/// The publisher side; [`input`](Broadcast::input) is the subscriber side.
pub(crate) struct Broadcast<T> {
    shared: Arc<Shared<T>>,
}

impl<T> Clone for Broadcast<T> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The subscriber side.
pub(crate) struct BroadcastInput<T> {
    shared: Arc<Shared<T>>,
    subscribed: bool,
}

/// Most items held for one subscriber without demand (uncoordinated emission).
const HOLD: usize = 16;

impl<T: Clone + Send + 'static> Broadcast<T> {
    pub(crate) fn new(fault: ProcFault, coordinated: bool) -> Self {
        Self {
            shared: Arc::new(Shared {
                fault,
                coordinated,
                state: Mutex::new(State {
                    upstream: None,
                    in_flight: false,
                    slots: Vec::new(),
                    next_id: 0,
                    end: None,
                    ever_subscribed: false,
                }),
            }),
        }
    }

    pub(crate) fn input(&self) -> BroadcastInput<T> {
        BroadcastInput {
            shared: Arc::clone(&self.shared),
            subscribed: false,
        }
    }
}

impl<T> Shared<T> {
    fn wake_all(&self) {
        let handles: Vec<PullHandle> = self
            .state
            .lock()
            .slots
            .iter()
            .filter_map(|s| s.handle.clone())
            .collect();
        for h in handles {
            h.wake();
        }
    }

    /// Asks upstream for one item if none is in flight and every subscriber but `me` (who is
    /// pulling, so has demand) has demand beyond what it has queued.
    fn maybe_request(&self, me: u64) {
        let up = {
            let mut st = self.state.lock();
            if st.in_flight || st.end.is_some() || st.slots.is_empty() {
                return;
            }
            let has_demand = |s: &Slot<T>| {
                s.id == me
                    || s.handle
                        .as_ref()
                        .is_some_and(|h| h.requested() > s.queue.len() as u64)
            };
            let go = if self.coordinated {
                st.slots.iter().all(has_demand)
            } else {
                st.slots.iter().all(|s| s.queue.len() < HOLD)
            };
            if !go {
                return;
            }
            let Some(up) = st.upstream.clone() else {
                return;
            };
            st.in_flight = true;
            up
        };
        up.request(1);
    }
}

impl<T: Clone + Send + 'static> Subscriber<T> for BroadcastInput<T> {
    fn on_subscribe(&mut self, subscription: Box<dyn Subscription>) {
        let mut st = self.shared.state.lock();
        if st.upstream.is_some() || st.end.is_some() || self.subscribed {
            drop(st);
            subscription.cancel();
            return;
        }
        st.upstream = Some(Arc::from(subscription));
        self.subscribed = true;
        drop(st);
        self.shared.wake_all();
    }

    fn on_next(&mut self, item: T) {
        {
            let mut st = self.shared.state.lock();
            st.in_flight = false;
            for slot in &mut st.slots {
                slot.queue.push_back(item.clone());
            }
        }
        self.shared.wake_all();
    }

    fn on_error(&mut self, error: Error) {
        {
            let mut st = self.shared.state.lock();
            st.end.get_or_insert(Err(error));
            st.upstream = None;
        }
        self.shared.wake_all();
    }

    fn on_complete(&mut self) {
        {
            let mut st = self.shared.state.lock();
            st.end.get_or_insert(Ok(()));
            st.upstream = None;
        }
        self.shared.wake_all();
    }
}

impl<T> Drop for BroadcastInput<T> {
    fn drop(&mut self) {
        if self.subscribed
            && let Some(up) = self.shared.state.lock().upstream.take()
        {
            up.cancel();
        }
    }
}

struct SlotSource<T> {
    shared: Arc<Shared<T>>,
    id: u64,
    first: bool,
}

impl<T: Clone + Send + 'static> SlotSource<T> {
    fn end(&self, st: &State<T>) -> Option<Step<T>> {
        match &st.end {
            Some(Err(e)) => {
                if self.shared.fault == ProcFault::ErrorToFirstSubscriberOnly && !self.first {
                    Some(Step::Complete)
                } else {
                    Some(Step::Error(e.clone()))
                }
            }
            Some(Ok(())) => Some(Step::Complete),
            None => None,
        }
    }

    fn take(&self) -> Option<Step<T>> {
        let mut st = self.shared.state.lock();
        let slot = st.slots.iter_mut().find(|s| s.id == self.id)?;
        if let Some(item) = slot.queue.pop_front() {
            return Some(Step::Next(item));
        }
        self.end(&st)
    }
}

impl<T: Clone + Send + 'static> Source for SlotSource<T> {
    type Item = T;
    fn pull(&mut self) -> Step<T> {
        if let Some(step) = self.take() {
            return step;
        }
        self.shared.maybe_request(self.id);
        self.take().unwrap_or(Step::Pending)
    }

    fn is_exhausted(&mut self) -> bool {
        let mut st = self.shared.state.lock();
        let failed = matches!(st.end, Some(Err(_)));
        let completed = matches!(st.end, Some(Ok(())));
        let slot = st.slots.iter_mut().find(|s| s.id == self.id);
        if failed {
            if self.shared.fault == ProcFault::ErrorWaitsForDemand {
                return false;
            }
            // 4.2: the error goes now; what is queued for this subscriber is dropped.
            if let Some(s) = slot {
                s.queue.clear();
            }
            return true;
        }
        completed && slot.is_none_or(|s| s.queue.is_empty())
    }
}

impl<T> Drop for SlotSource<T> {
    fn drop(&mut self) {
        let up = {
            let mut st = self.shared.state.lock();
            st.slots.retain(|s| s.id != self.id);
            if st.slots.is_empty() && self.shared.fault != ProcFault::NoUpstreamCancel {
                st.upstream.take()
            } else {
                None
            }
        };
        if let Some(up) = up {
            up.cancel();
        }
        // A subscriber leaving may let the others' demand through.
        self.shared.wake_all();
    }
}

impl<T: Clone + Send + 'static> Publisher for Broadcast<T> {
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let (id, first) = {
            let mut st = self.shared.state.lock();
            let id = st.next_id;
            st.next_id += 1;
            let first = !std::mem::replace(&mut st.ever_subscribed, true);
            st.slots.push(Slot {
                id,
                queue: VecDeque::new(),
                handle: None,
            });
            (id, first)
        };
        let shared = Arc::clone(&self.shared);
        pull::serve_with(
            move |handle| {
                if let Some(slot) = shared.state.lock().slots.iter_mut().find(|s| s.id == id) {
                    slot.handle = Some(handle);
                }
                SlotSource { shared, id, first }
            },
            subscriber,
        );
    }
}
