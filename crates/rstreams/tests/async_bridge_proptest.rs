//! Property: random request/poll/cancel schedules across the async bridges never violate the
//! protocol, as judged by the TCK's protocol checker (`rstreams_tck::checker`):
//!
//! * `from_stream` on the deterministic executor, driven by a checked recording subscriber:
//!   items in order, never beyond demand, nothing after cancel, completion exactly when
//!   everything was requested (the stream's `size_hint` reports its end);
//! * `into_stream` over a checked publisher, polled at random and cancelled at random: the
//!   stream's subscriber never asks for zero (3.9), never calls its subscription from a terminal
//!   signal (2.3), and the stream yields the items in order, then ends.
//!
//! Cases: `RSTREAMS_PROPTEST_CASES` (default 256 for CI; run 10^4 or more by hand).
#![cfg(feature = "futures")]

mod support;

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use futures_util::Stream;
use proptest::prelude::*;
use rstreams::bridge;
use rstreams::prelude::*;
use rstreams_tck::checker::checked;

#[derive(Debug, Clone)]
enum PollOp {
    Poll,
    Cancel,
}

fn poll_op() -> impl Strategy<Value = PollOp> {
    prop_oneof![12 => Just(PollOp::Poll), 1 => Just(PollOp::Cancel)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: support::cases(256), ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_through_from_stream_break_no_rule(
        len in 0u64..100,
        ops in proptest::collection::vec(support::op(20), 1..40),
    ) {
        let (run, checked) = support::schedule::<u64>();
        bridge::from_stream(futures_util::stream::iter(0..len), run.scheduler())
            .subscribe(checked);
        let out = run.play(&ops)?;
        prop_assert_eq!(&out.items, &(0..out.items.len() as u64).collect::<Vec<_>>());
        out.check_len(len as usize)?;
    }

    #[test]
    fn random_polls_and_cancels_through_into_stream_break_no_rule(
        len in 0u64..200,
        prefetch in 1usize..20,
        ops in proptest::collection::vec(poll_op(), 1..120),
    ) {
        let publisher = checked(rstreams::range(0, len));
        let mut stream = (&publisher).into_stream(prefetch);
        let mut cx = Context::from_waker(Waker::noop());
        let mut items = Vec::new();
        let mut done = false;
        for op in ops {
            match op {
                PollOp::Poll => match Pin::new(&mut stream).poll_next(&mut cx) {
                    Poll::Ready(Some(Ok(x))) => {
                        prop_assert!(!done, "item after the end");
                        items.push(x);
                    }
                    Poll::Ready(Some(Err(e))) => prop_assert!(false, "unexpected error {e}"),
                    Poll::Ready(None) => done = true,
                    // A synchronous publisher fills the buffer inside `request`: pending only
                    // after a cancel.
                    Poll::Pending => prop_assert!(false, "pending on a synchronous range"),
                },
                PollOp::Cancel => {
                    stream.cancel();
                }
            }
            prop_assert!(stream.buffered_len() <= prefetch, "buffer beyond prefetch");
        }
        drop(stream);
        publisher.report().assert_clean();
        prop_assert_eq!(&items, &(0..items.len() as u64).collect::<Vec<_>>());
    }
}
