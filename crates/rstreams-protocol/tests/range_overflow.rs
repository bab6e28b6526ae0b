//! One range, one behaviour: an overflowing range fails each subscriber (never panics), and the
//! error carries a `RangeOverflow` and the stage where the range was built (issue 13.4).

mod common;

use common::{Log, Recorder};
use rstreams_protocol::Publisher;
use rstreams_protocol::reference::{RangeOverflow, RangePublisher};

#[test]
fn an_overflowing_range_fails_without_demand_and_without_panicking() {
    let log = Log::new();
    let range = RangePublisher::new(u64::MAX - 1, 3); // built here: no panic
    range.subscribe(Recorder::new(&log, 0)); // no request: the error still arrives (1.9-style)
    assert!(log.items().is_empty());
    assert_eq!(log.completed(), 0);
    let errors = log.errors();
    assert_eq!(errors.len(), 1);
    let e = &errors[0];
    assert_eq!(
        e.downcast_ref::<RangeOverflow>(),
        Some(&RangeOverflow {
            start: u64::MAX - 1,
            count: 3
        })
    );
    assert!(e.stage().unwrap().file().ends_with("range_overflow.rs"));
    assert_eq!(log.after_terminal(), 0);
}

#[test]
fn the_largest_range_that_fits_is_not_an_error() {
    let log = Log::new();
    RangePublisher::new(u64::MAX - 2, 2).subscribe(Recorder::new(&log, 10));
    assert_eq!(log.items(), [u64::MAX - 2, u64::MAX - 1]);
    assert_eq!(log.completed(), 1);
    assert!(log.errors().is_empty());
}
