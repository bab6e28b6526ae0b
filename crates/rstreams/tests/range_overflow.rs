//! `rstreams::range` shares the protocol crate's range: same overflow error, fused or not.

use rstreams::prelude::*;
use rstreams::protocol::reference::RangeOverflow;

#[test]
fn overflow_is_the_same_error_on_every_path() {
    let want = RangeOverflow {
        start: u64::MAX,
        count: 1,
    };
    let subscribed = rstreams::range(u64::MAX, 1)
        .to_vec()
        .blocking_first()
        .unwrap_err();
    assert_eq!(subscribed.downcast_ref::<RangeOverflow>(), Some(&want));
    let fused = rstreams::range(u64::MAX, 1)
        .blocking_iter()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(fused.downcast_ref::<RangeOverflow>(), Some(&want));
    assert!(fused.stage().unwrap().file().ends_with("range_overflow.rs"));
}
