//! Each synchronous operator against the equivalent `Iterator` chain, on random inputs and random
//! request schedules.

mod support;

use proptest::prelude::*;
use rstreams::prelude::*;
use support::recorder;

/// Subscribes, requests per `schedule`, then without bound; returns items and completion.
fn drive<P: Publisher>(p: P, schedule: &[u64]) -> (Vec<P::Item>, bool)
where
    P::Item: Clone + Send + 'static,
{
    let (r, probe) = recorder(0);
    p.subscribe(r);
    for n in schedule {
        probe.request(*n);
    }
    probe.request(u64::MAX);
    (probe.items(), probe.completed())
}

fn input() -> impl Strategy<Value = Vec<u32>> {
    proptest::collection::vec(0u32..100, 0..60)
}

fn schedule() -> impl Strategy<Value = Vec<u64>> {
    proptest::collection::vec(1u64..7, 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn map_matches(v in input(), s in schedule()) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).map(|x| x * 2 + 1), &s);
        prop_assert_eq!(got, v.iter().map(|x| x * 2 + 1).collect::<Vec<_>>());
        prop_assert!(done);
    }

    #[test]
    fn filter_matches(v in input(), s in schedule(), m in 1u32..5) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).filter(move |x| x % m == 0), &s);
        prop_assert_eq!(got, v.iter().copied().filter(|x| x % m == 0).collect::<Vec<_>>());
        prop_assert!(done);
    }

    #[test]
    fn filter_map_matches(v in input(), s in schedule()) {
        let f = |x: u32| (!x.is_multiple_of(3)).then_some(x + 7);
        let (got, done) = drive(rstreams::from_iter(v.clone()).filter_map(f), &s);
        prop_assert_eq!(got, v.iter().copied().filter_map(f).collect::<Vec<_>>());
        prop_assert!(done);
    }

    #[test]
    fn take_matches(v in input(), s in schedule(), n in 0u64..70) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).take(n), &s);
        prop_assert_eq!(got, v.iter().copied().take(n as usize).collect::<Vec<_>>());
        prop_assert!(done);
    }

    #[test]
    fn take_while_matches(v in input(), s in schedule(), k in 0u32..100) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).take_while(move |x| *x < k), &s);
        prop_assert_eq!(got, v.iter().copied().take_while(|x| *x < k).collect::<Vec<_>>());
        prop_assert!(done);
    }

    #[test]
    fn skip_matches(v in input(), s in schedule(), n in 0u64..70) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).skip(n), &s);
        prop_assert_eq!(got, v.iter().copied().skip(n as usize).collect::<Vec<_>>());
        prop_assert!(done);
    }

    #[test]
    fn skip_while_matches(v in input(), s in schedule(), k in 0u32..100) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).skip_while(move |x| *x < k), &s);
        prop_assert_eq!(got, v.iter().copied().skip_while(|x| *x < k).collect::<Vec<_>>());
        prop_assert!(done);
    }

    #[test]
    fn scan_matches(v in input(), s in schedule()) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).scan(0u64, |a, x| a + u64::from(x)), &s);
        let want: Vec<u64> = v.iter().scan(0u64, |a, x| { *a += u64::from(*x); Some(*a) }).collect();
        prop_assert_eq!(got, want);
        prop_assert!(done);
    }

    #[test]
    fn reduce_and_to_vec_match(v in input(), s in schedule()) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).reduce(|a, b| a.max(b)), &s);
        prop_assert_eq!(got, v.iter().copied().reduce(|a, b| a.max(b)).into_iter().collect::<Vec<_>>());
        prop_assert!(done);
        let (got, done) = drive(rstreams::from_iter(v.clone()).to_vec(), &s);
        prop_assert_eq!(got, vec![v]);
        prop_assert!(done);
    }

    #[test]
    fn buffer_matches(v in input(), s in schedule(), n in 1usize..8) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).buffer(n), &s);
        prop_assert_eq!(got, v.chunks(n).map(<[u32]>::to_vec).collect::<Vec<_>>());
        prop_assert!(done);
    }

    #[test]
    fn limit_rate_matches(v in input(), s in schedule(), high in 1u64..10, low in 0u64..12) {
        let (got, done) = drive(rstreams::from_iter(v.clone()).limit_rate(high, low), &s);
        prop_assert_eq!(got, v);
        prop_assert!(done);
    }

    #[test]
    fn concat_matches(v in input(), s in schedule(), cut in 0usize..60) {
        let cut = cut.min(v.len());
        let (a, b) = (v[..cut].to_vec(), v[cut..].to_vec());
        let (got, done) = drive(rstreams::concat([rstreams::from_iter(a), rstreams::from_iter(b)]), &s);
        prop_assert_eq!(got, v);
        prop_assert!(done);
    }

    #[test]
    fn chain_matches(v in input(), s in schedule(), n in 0u64..40) {
        let p = rstreams::from_iter(v.clone())
            .map(|x| x + 1)
            .filter(|x| x % 2 == 1)
            .skip(2)
            .take(n)
            .buffer(3);
        let want: Vec<Vec<u32>> = v.iter().map(|x| x + 1).filter(|x| x % 2 == 1).skip(2)
            .take(n as usize).collect::<Vec<_>>().chunks(3).map(<[u32]>::to_vec).collect();
        let (got, done) = drive(p, &s);
        prop_assert_eq!(got, want);
        prop_assert!(done);
    }
}
