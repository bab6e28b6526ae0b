//! A subscriber may request everything in `on_subscribe` and drop its `Subscription` (it never
//! needs it again): the stream still runs to its terminal signal. Before the pull kit kept the
//! live subscription itself, stages served by the kit with items arriving later from other
//! threads (`flat_map` with hopped inners, `merge_with`) dropped such a subscriber after the
//! first pass, without a terminal signal.

mod support;
use rstreams::prelude::*;
use rstreams::{Error, Subscriber, Subscription};
use std::sync::mpsc;
use std::time::Duration;

/// Requests everything, keeps no handle, reports how many items it saw.
struct Forget {
    tx: mpsc::Sender<Option<u64>>,
    n: u64,
}
impl Subscriber<u64> for Forget {
    fn on_subscribe(&mut self, s: Box<dyn Subscription>) {
        s.request(u64::MAX);
    }
    fn on_next(&mut self, _: u64) {
        self.n += 1;
    }
    fn on_error(&mut self, _: Error) {
        let _ = self.tx.send(None);
    }
    fn on_complete(&mut self) {
        let _ = self.tx.send(Some(self.n));
    }
}

fn go<P: Publisher<Item = u64>>(p: P) -> Result<Option<u64>, mpsc::RecvTimeoutError> {
    let (tx, rx) = mpsc::channel();
    p.subscribe(Forget { tx, n: 0 });
    rx.recv_timeout(Duration::from_secs(5))
}

#[test]
fn publish_on() {
    assert_eq!(
        go(rstreams::range(0, 1000).publish_on(support::pool())),
        Ok(Some(1000))
    );
}

#[test]
fn flat_map_pool_inners() {
    assert_eq!(
        go(rstreams::range(0, 100)
            .flat_map(|_| rstreams::range(0, 10).subscribe_on(support::pool()))),
        Ok(Some(1000))
    );
}

#[test]
fn merge_with_hopped() {
    assert_eq!(
        go(rstreams::range(0, 500)
            .subscribe_on(support::pool())
            .merge_with(rstreams::range(0, 500).subscribe_on(support::pool()), 64)),
        Ok(Some(1000))
    );
}
