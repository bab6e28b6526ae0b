//! The publisher suite over every source and operator of the `rstreams` crate (issue 5): each
//! must pass every test, like the protocol crate's reference publishers.
//!
//! Each entry builds, for `n`, a pipeline of exactly `n` items followed by `on_complete`
//! (`u64::MAX`: endless), and a failed form of the same pipeline for the 1.4/1.9 tests.
//! `never()` is not listed: it never produces the `n` items the suite asks for.

use rstreams::prelude::*;
use rstreams::{BoxPublisher, Error};
use rstreams_tck::publisher::PublisherVerification;

/// One pipeline under test.
struct Op {
    make: fn(u64) -> BoxPublisher<u64>,
    failed: fn() -> BoxPublisher<u64>,
    max: u64,
    subscribers: u64,
}

impl PublisherVerification for Op {
    type Item = u64;
    type Pub = BoxPublisher<u64>;
    fn create_publisher(&self, elements: u64) -> BoxPublisher<u64> {
        (self.make)(elements)
    }
    fn create_failed_publisher(&self) -> Option<BoxPublisher<u64>> {
        Some((self.failed)())
    }
    fn max_elements_from_publisher(&self) -> u64 {
        self.max
    }
    fn max_supported_subscribers(&self) -> u64 {
        self.subscribers
    }
}

const ANY: u64 = u64::MAX - 1;

const fn op(make: fn(u64) -> BoxPublisher<u64>, failed: fn() -> BoxPublisher<u64>) -> Op {
    Op {
        make,
        failed,
        max: ANY,
        subscribers: u64::MAX,
    }
}

fn failed() -> BoxPublisher<u64> {
    rstreams::error(Error::msg("a failed rstreams publisher")).boxed()
}

/// `n` items then `on_complete`, from two halves joined by `concat`.
fn halves(n: u64) -> BoxPublisher<u64> {
    rstreams::concat([rstreams::range(0, n / 2), rstreams::range(n / 2, n - n / 2)]).boxed()
}

/// An emitter with a producer thread that sends `n` items (or until cancelled).
fn emitted(n: u64) -> BoxPublisher<u64> {
    let (tx, rx) = rstreams::emitter::<u64>(64);
    std::thread::spawn(move || {
        let mut i = 0;
        while i < n {
            if tx.send(i).is_err() {
                return;
            }
            i += 1;
        }
    });
    rx.boxed()
}

fn failed_emitter() -> BoxPublisher<u64> {
    let (tx, rx) = rstreams::emitter::<u64>(1);
    tx.fail(Error::msg("a failed emitter"));
    rx.boxed()
}

mod cases {
    use super::*;

    pub(super) fn range() -> Op {
        op(|n| rstreams::range(0, n).boxed(), failed)
    }
    pub(super) fn from_iter() -> Op {
        op(|n| rstreams::from_iter(0..n).boxed(), failed)
    }
    pub(super) fn from_iter_once() -> Op {
        Op {
            subscribers: 1,
            ..op(|n| rstreams::from_iter_once(0..n).boxed(), failed)
        }
    }
    pub(super) fn just() -> Op {
        Op {
            max: 1,
            ..op(
                |n| {
                    if n == 0 {
                        rstreams::empty().boxed()
                    } else {
                        rstreams::just(42).boxed()
                    }
                },
                failed,
            )
        }
    }
    pub(super) fn empty() -> Op {
        Op {
            max: 0,
            ..op(|_| rstreams::empty().boxed(), failed)
        }
    }
    pub(super) fn defer() -> Op {
        op(
            |n| rstreams::defer(move || rstreams::range(0, n)).boxed(),
            || rstreams::defer(failed).boxed(),
        )
    }
    pub(super) fn generate() -> Op {
        op(
            |n| {
                rstreams::generate(
                    || 0u64,
                    move |i, sink| {
                        if *i == n {
                            sink.complete();
                        } else {
                            sink.next(*i);
                            *i += 1;
                        }
                    },
                )
                .boxed()
            },
            // A generate step only runs on demand, so it cannot fail before a request: the
            // failed-publisher tests (which do not request) use `error`.
            failed,
        )
    }
    pub(super) fn concat() -> Op {
        op(halves, || {
            rstreams::concat([rstreams::range(0, 0).boxed(), failed()]).boxed()
        })
    }
    pub(super) fn emitter() -> Op {
        Op {
            subscribers: 1,
            ..op(emitted, failed_emitter)
        }
    }
    pub(super) fn map() -> Op {
        op(
            |n| rstreams::range(0, n).map(|x| x * 2).boxed(),
            || failed().map(|x| x * 2).boxed(),
        )
    }
    pub(super) fn filter() -> Op {
        op(
            |n| {
                rstreams::range(0, n.saturating_mul(2))
                    .filter(|x| x % 2 == 0)
                    .boxed()
            },
            || failed().filter(|_| true).boxed(),
        )
    }
    pub(super) fn filter_map() -> Op {
        op(
            |n| {
                rstreams::range(0, n.saturating_mul(3))
                    .filter_map(|x| (x % 3 == 1).then_some(x / 3))
                    .boxed()
            },
            || failed().filter_map(Some).boxed(),
        )
    }
    pub(super) fn take() -> Op {
        op(
            |n| rstreams::range(0, u64::MAX).take(n).boxed(),
            || failed().take(5).boxed(),
        )
    }
    pub(super) fn take_while() -> Op {
        op(
            |n| {
                rstreams::range(0, u64::MAX)
                    .take_while(move |x| *x < n)
                    .boxed()
            },
            || failed().take_while(|_| true).boxed(),
        )
    }
    pub(super) fn skip() -> Op {
        op(
            |n| rstreams::range(0, n.saturating_add(5)).skip(5).boxed(),
            || failed().skip(1).boxed(),
        )
    }
    pub(super) fn skip_while() -> Op {
        op(
            |n| {
                rstreams::range(0, n.saturating_add(7))
                    .skip_while(|x| *x < 7)
                    .boxed()
            },
            || failed().skip_while(|_| true).boxed(),
        )
    }
    pub(super) fn scan() -> Op {
        op(
            |n| rstreams::range(0, n).scan(0, |a, x| a + x).boxed(),
            || failed().scan(0, |a, x| a + x).boxed(),
        )
    }
    pub(super) fn reduce() -> Op {
        Op {
            max: 1,
            ..op(
                |n| {
                    rstreams::range(1, n.min(1) * 4)
                        .reduce(|a, b| a + b)
                        .boxed()
                },
                || failed().reduce(|a, b| a + b).boxed(),
            )
        }
    }
    pub(super) fn to_vec() -> Op {
        Op {
            max: 1,
            ..op(
                |n| {
                    rstreams::range(0, 3)
                        .to_vec()
                        .take(n)
                        .map(|v| v.len() as u64)
                        .boxed()
                },
                || failed().to_vec().map(|v| v.len() as u64).boxed(),
            )
        }
    }
    pub(super) fn buffer() -> Op {
        op(
            |n| {
                rstreams::range(0, n.saturating_mul(3))
                    .buffer(3)
                    .map(|v| v[0])
                    .boxed()
            },
            || failed().buffer(3).map(|v| v[0]).boxed(),
        )
    }
    pub(super) fn limit_rate() -> Op {
        op(
            |n| rstreams::range(0, n).limit_rate(8, 2).boxed(),
            || failed().limit_rate(8, 2).boxed(),
        )
    }
    pub(super) fn on_error_resume() -> Op {
        op(
            |n| {
                let half = n / 2;
                rstreams::concat([rstreams::range(0, half).boxed(), failed()])
                    .on_error_resume(move |_| rstreams::range(half, n - half))
                    .boxed()
            },
            || failed().on_error_resume(|e| rstreams::error(e)).boxed(),
        )
    }
    pub(super) fn on_error_map() -> Op {
        op(
            |n| rstreams::range(0, n).on_error_map(|e| e).boxed(),
            || failed().on_error_map(|e| e).boxed(),
        )
    }
    pub(super) fn taps() -> Op {
        op(
            |n| {
                rstreams::range(0, n)
                    .do_on_next(|_| {})
                    .do_on_request(|_| {})
                    .do_on_cancel(|| {})
                    .do_on_complete(|| {})
                    .do_on_error(|_| {})
                    .boxed()
            },
            || failed().do_on_next(|_| {}).do_on_error(|_| {}).boxed(),
        )
    }
    pub(super) fn chain() -> Op {
        op(
            |n| {
                rstreams::range(0, n.saturating_mul(2))
                    .map(|x| x + 1)
                    .filter(|x| x % 2 == 0)
                    .limit_rate(16, 4)
                    .take(n)
                    .boxed()
            },
            || failed().map(|x| x + 1).filter(|_| true).take(3).boxed(),
        )
    }
}

rstreams_tck::publisher_verification_tests!(range, super::cases::range());
rstreams_tck::publisher_verification_tests!(from_iter, super::cases::from_iter());
rstreams_tck::publisher_verification_tests!(from_iter_once, super::cases::from_iter_once());
rstreams_tck::publisher_verification_tests!(just, super::cases::just());
rstreams_tck::publisher_verification_tests!(empty, super::cases::empty());
rstreams_tck::publisher_verification_tests!(defer, super::cases::defer());
rstreams_tck::publisher_verification_tests!(generate, super::cases::generate());
rstreams_tck::publisher_verification_tests!(concat, super::cases::concat());
rstreams_tck::publisher_verification_tests!(emitter, super::cases::emitter());
rstreams_tck::publisher_verification_tests!(map, super::cases::map());
rstreams_tck::publisher_verification_tests!(filter, super::cases::filter());
rstreams_tck::publisher_verification_tests!(filter_map, super::cases::filter_map());
rstreams_tck::publisher_verification_tests!(take, super::cases::take());
rstreams_tck::publisher_verification_tests!(take_while, super::cases::take_while());
rstreams_tck::publisher_verification_tests!(skip, super::cases::skip());
rstreams_tck::publisher_verification_tests!(skip_while, super::cases::skip_while());
rstreams_tck::publisher_verification_tests!(scan, super::cases::scan());
rstreams_tck::publisher_verification_tests!(reduce, super::cases::reduce());
rstreams_tck::publisher_verification_tests!(to_vec, super::cases::to_vec());
rstreams_tck::publisher_verification_tests!(buffer, super::cases::buffer());
rstreams_tck::publisher_verification_tests!(limit_rate, super::cases::limit_rate());
rstreams_tck::publisher_verification_tests!(on_error_resume, super::cases::on_error_resume());
rstreams_tck::publisher_verification_tests!(on_error_map, super::cases::on_error_map());
rstreams_tck::publisher_verification_tests!(taps, super::cases::taps());
rstreams_tck::publisher_verification_tests!(chain, super::cases::chain());
