//! Shared test helpers (included with `mod common;`).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Counts how many payloads were dropped (run or not).
#[derive(Clone, Default)]
pub(crate) struct DropCounter(pub Arc<AtomicUsize>);

impl DropCounter {
    pub(crate) fn payload(&self) -> Payload {
        Payload(Arc::clone(&self.0))
    }
    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) struct Payload(Arc<AtomicUsize>);

impl Drop for Payload {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A one-shot gate (a latch): `GateWaiter::wait` blocks until `GateOpener::open`.
pub(crate) fn gate() -> (GateOpener, GateWaiter) {
    let (tx, rx) = mpsc::sync_channel(1);
    (GateOpener(tx), GateWaiter(rx))
}

pub(crate) struct GateOpener(mpsc::SyncSender<()>);
impl GateOpener {
    pub(crate) fn open(self) {
        let _ = self.0.send(());
    }
}

pub(crate) struct GateWaiter(mpsc::Receiver<()>);
impl GateWaiter {
    pub(crate) fn wait(self) {
        let _ = self.0.recv();
    }
}
