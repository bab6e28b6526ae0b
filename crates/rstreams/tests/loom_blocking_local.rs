//! Loom model of `blocking_iter`'s lock-free local buffer (`sink/local.rs`): the iterator makes
//! a call that delivers one item synchronously on its own thread (the fast path), while another
//! thread's subscriber delivers at the same moment (an upstream on another thread); then the
//! iterator, moved to a third thread, takes what is buffered. The property: the other thread
//! never takes the fast path (its item must go to the ring), and loom's checked cell
//! sees no two unordered accesses to the buffer. The broken twin marks "inside the call" in one
//! shared atomic instead of a thread-local, so the other thread pushes while the iterator does:
//! loom's cell checker must report it.
//!
//! Run with:
//! `RUSTFLAGS="--cfg rstreams_loom" LOOM_MAX_PREEMPTIONS=3 cargo test -p rstreams --profile loom --test loom_blocking_local`
#![cfg(rstreams_loom)]

use loom::sync::Arc;
use loom::thread;
use rstreams::sink::__loom::LocalBuf;

fn model<const BROKEN: bool>() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let buf = Arc::new(LocalBuf::<BROKEN>::new());
        let b = Arc::clone(&buf);
        let other = thread::spawn(move || b.deliver(2));
        // The iterator's `request`: a synchronous upstream delivers item 1 inside it.
        let mut fast = false;
        buf.call(|| fast = buf.deliver(1));
        assert!(
            fast,
            "the iterating thread's own delivery takes the fast path"
        );
        let other_fast = other.join().unwrap();
        // (The twin is left to loom's cell checker: it must report the unordered accesses.)
        assert!(
            BROKEN || !other_fast,
            "another thread took the fast path into the iterator's buffer"
        );
        // The iterator moves to another thread (a synchronising hand-over) and takes item 1.
        let b = Arc::clone(&buf);
        let taken = thread::spawn(move || b.take()).join().unwrap();
        assert_eq!(taken, Some(1));
    });
}

#[test]
fn only_the_iterating_thread_uses_the_buffer() {
    model::<false>();
}

#[test]
#[should_panic(expected = "Causality violation")]
fn broken_shared_mark_is_caught() {
    model::<true>();
}
