//! The buffer bill (issue 12, item 1): every operator's row (name, bound, site = the line that
//! built it), totals of composed pipelines, unbounded and unknown stages named, the budget
//! (check and wrapper), and one Display snapshot.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rstreams::diag::bill::{Bill, Bound, BudgetExceeded, BufferBill, Row};
use rstreams::executor::{ManualExecutor, Scheduler};
use rstreams::multicast::{Multicast, SlowConsumer};
use rstreams::overflow::OverflowPolicy as O;
use rstreams::prelude::*;
use rstreams::source::GenerateSink;
use rstreams::source::fuse::Fused;
use rstreams::{ErrorKind, Publisher};

const D: Duration = Duration::from_secs(1);

fn sched() -> Arc<dyn Scheduler> {
    Arc::new(ManualExecutor::new())
}

/// The outermost stage's row (the last in pipeline order).
fn last(p: &impl BufferBill) -> Row {
    Bill::of(p)
        .rows()
        .last()
        .cloned()
        .expect("at least one row")
}

/// Asserts a row's name, bound and site (this file, `line`).
#[track_caller]
fn is(row: &Row, name: &str, bound: Bound, line: u32) {
    assert_eq!(row.name(), name, "{row:?}");
    assert_eq!(row.bound(), bound, "{row:?}");
    let site = row.site().expect("a site");
    assert!(site.file().ends_with("diag_bill.rs"), "{row:?}");
    assert_eq!(site.line(), line, "{row:?}");
}

/// Asserts the outermost row of `p`.
#[track_caller]
fn top(p: &impl BufferBill, name: &str, bound: Bound, line: u32) {
    is(&last(p), name, bound, line);
}

fn up() -> rstreams::source::Range {
    rstreams::range(0, 10)
}

#[test]
fn sources() {
    let (p, l) = (rstreams::range(0, 3), line!());
    top(&p, "range", Bound::Zero, l);
    let (p, l) = (rstreams::from_iter(vec![1, 2]), line!());
    top(&p, "from_iter", Bound::Zero, l);
    let (p, l) = (rstreams::from_iter_once(vec![1, 2]), line!());
    top(&p, "from_iter_once", Bound::Zero, l);
    let (p, l) = (rstreams::just(1), line!());
    top(&p, "just", Bound::Zero, l);
    let (p, l) = (rstreams::empty::<u8>(), line!());
    top(&p, "empty", Bound::Zero, l);
    let (p, l) = (rstreams::error::<u8>(Error::msg("x")), line!());
    top(&p, "error", Bound::Zero, l);
    let (p, l) = (rstreams::never::<u8>(), line!());
    top(&p, "never", Bound::Zero, l);
    let (p, l) = (rstreams::once(1), line!());
    top(&p, "once", Bound::Zero, l);
    let (p, l) = (rstreams::timer(D, sched()), line!());
    top(&p, "timer", Bound::Zero, l);
    let (p, l) = (rstreams::defer(|| rstreams::just(1)), line!());
    top(&p, "defer", Bound::Zero, l);
    assert!(last(&p).note_text().unwrap().contains("not included"));
    let step = |_: &mut u32, sink: &mut GenerateSink<u8>| sink.complete();
    let (p, l) = (rstreams::generate(|| 0u32, step), line!());
    top(&p, "generate", Bound::Zero, l);
    let (p, l) = (rstreams::using(|| 1, |_| rstreams::just(1), drop), line!());
    top(&p, "using", Bound::Zero, l);
    let (_tx, p) = rstreams::emitter::<u8>(16);
    let l = line!() - 1;
    top(&p, "emitter", Bound::Bounded(16), l);
    // Fusion runs the same stages: the bill is theirs.
    let (p, l) = (Fused(rstreams::range(0, 3)), line!());
    top(&p, "range", Bound::Zero, l);
}

#[test]
fn concat_lists_every_input_in_order() {
    let (a, la) = (rstreams::range(0, 3).buffer(2), line!());
    let (b, lb) = (rstreams::range(0, 3).buffer(5), line!());
    let (p, l) = (rstreams::concat(vec![a, b]), line!());
    let bill = p.buffer_bill();
    let names: Vec<_> = bill.rows().iter().map(Row::name).collect();
    assert_eq!(names, ["range", "buffer", "range", "buffer", "concat"]);
    is(&bill.rows()[1], "buffer", Bound::Bounded(2), la);
    is(&bill.rows()[3], "buffer", Bound::Bounded(5), lb);
    is(&bill.rows()[4], "concat", Bound::Zero, l);
    assert_eq!(bill.total(), Some(7));
}

#[test]
fn pass_through_operators() {
    let (p, l) = (up().map(|x| x), line!());
    top(&p, "map", Bound::Zero, l);
    let (p, l) = (up().filter(|_| true), line!());
    top(&p, "filter", Bound::Zero, l);
    let (p, l) = (up().filter_map(Some), line!());
    top(&p, "filter_map", Bound::Zero, l);
    let (p, l) = (up().take(3), line!());
    top(&p, "take", Bound::Zero, l);
    let (p, l) = (up().take_while(|_| true), line!());
    top(&p, "take_while", Bound::Zero, l);
    let (p, l) = (up().skip(3), line!());
    top(&p, "skip", Bound::Zero, l);
    let (p, l) = (up().skip_while(|_| true), line!());
    top(&p, "skip_while", Bound::Zero, l);
    let (p, l) = (up().scan(0, |a, x| *a + x), line!());
    top(&p, "scan", Bound::Zero, l);
    let (p, l) = (up().enumerate(), line!());
    top(&p, "enumerate", Bound::Zero, l);
    let (p, l) = (up().do_on_next(|_| {}), line!());
    top(&p, "do_on_next", Bound::Zero, l);
    let (p, l) = (up().do_on_request(|_| {}), line!());
    top(&p, "do_on_request", Bound::Zero, l);
    let (p, l) = (up().do_on_cancel(|| {}), line!());
    top(&p, "do_on_cancel", Bound::Zero, l);
    let (p, l) = (up().do_on_complete(|| {}), line!());
    top(&p, "do_on_complete", Bound::Zero, l);
    let (p, l) = (up().do_on_error(|_| {}), line!());
    top(&p, "do_on_error", Bound::Zero, l);
    let (p, l) = (up().on_error_map(|e| e), line!());
    top(&p, "on_error_map", Bound::Zero, l);
    let (p, l) = (up().on_error_return(7), line!());
    top(&p, "on_error_return", Bound::Zero, l);
    let (p, l) = (up().on_error_resume(|_| rstreams::just(1)), line!());
    top(&p, "on_error_resume", Bound::Zero, l);
    let (p, l) = (up().limit_rate(64, 48), line!());
    top(&p, "limit_rate", Bound::Zero, l);
    let (p, l) = (up().distinct_by(|x| *x, 100), line!());
    top(&p, "distinct_by", Bound::Zero, l);
    assert!(last(&p).note_text().unwrap().contains("100 keys"));
    let (p, l) = (up().distinct_until_changed(), line!());
    top(&p, "distinct_until_changed", Bound::Zero, l);
    let (p, l) = (up().fold(0, |a, x| a + x), line!());
    top(&p, "fold", Bound::Zero, l);
    let (p, l) = (up().start_with([1, 2, 3]), line!());
    top(&p, "start_with", Bound::Zero, l);
    let (p, l) = (up().timeout(D, sched()), line!());
    top(&p, "timeout", Bound::Zero, l);
    let (p, l) = (up().retry(3), line!());
    top(&p, "retry", Bound::Zero, l);
    let (p, l) = (up().retry_backoff(3, D, D, sched()), line!());
    top(&p, "retry", Bound::Zero, l);
    let (p, l) = (up().delay(D, sched()), line!());
    top(&p, "delay", Bound::Zero, l);
    let (p, l) = (up().subscribe_on(sched()), line!());
    top(&p, "subscribe_on", Bound::Zero, l);
    // Every row above sits on the range's: two rows each.
    assert_eq!(p.buffer_bill().rows().len(), 2);
    assert_eq!(p.buffer_bill().rows()[0].name(), "range");
}

#[test]
fn buffering_operators() {
    let (p, l) = (up().reduce(|a, b| a + b), line!());
    top(&p, "reduce", Bound::Bounded(1), l);
    let (p, l) = (up().buffer(10), line!());
    top(&p, "buffer", Bound::Bounded(10), l);
    let (p, l) = (up().buffer_timeout(7, D, sched()), line!());
    top(&p, "buffer_timeout", Bound::Bounded(7), l);
    let (p, l) = (up().publish_on_with(sched(), 256), line!());
    top(&p, "publish_on", Bound::Bounded(256), l);
    let (p, l) = (up().debounce(D, sched()), line!());
    top(&p, "debounce", Bound::Bounded(2), l);
    let (p, l) = (up().throttle_first(D, sched()), line!());
    top(&p, "throttle_first", Bound::Bounded(1), l);
    let (p, l) = (up().sample(D, sched()), line!());
    top(&p, "sample", Bound::Bounded(2), l);
    let (p, l) = (up().group_by(|x| x % 3, 8, 32), line!());
    top(&p, "group_by", Bound::Bounded(32), l);
    let (p, l) = (up().window(5), line!());
    top(&p, "window", Bound::Bounded(5), l);
    let (p, l) = (up().window_timeout(6, D, sched()), line!());
    top(&p, "window_timeout", Bound::Bounded(6), l);
    let (p, l) = (up().share(16), line!());
    top(&p, "share", Bound::Bounded(16), l);
    assert_eq!(last(&p).note_text(), Some("per subscriber"));
}

#[test]
fn overflow_policies() {
    let (p, l) = (up().on_backpressure_buffer(40, O::DropOldest), line!());
    top(&p, "on_backpressure_buffer", Bound::Bounded(40), l);
    let (p, l) = (up().on_backpressure_drop(), line!());
    top(&p, "on_backpressure_drop", Bound::Zero, l);
    let (p, l) = (up().on_backpressure_latest(), line!());
    top(&p, "on_backpressure_latest", Bound::Bounded(1), l);
    let (p, l) = (up().on_backpressure_error(), line!());
    top(&p, "on_backpressure_error", Bound::Zero, l);
    let (p, l) = (up().on_backpressure_buffer_unbounded(), line!());
    top(&p, "on_backpressure_buffer_unbounded", Bound::Unbounded, l);

    let (tx, hot) = rstreams::overflow::hot_emitter::<u8>();
    let l0 = line!() - 1;
    let (p, l) = (hot.on_backpressure_buffer(12, O::Error), line!());
    let bill = p.buffer_bill();
    is(&bill.rows()[0], "hot_emitter", Bound::Zero, l0);
    is(
        &bill.rows()[1],
        "on_backpressure_buffer",
        Bound::Bounded(12),
        l,
    );
    drop(tx);
    let (hot, l0) = (rstreams::overflow::interval(D, sched()), line!());
    let (p, l) = (hot.on_backpressure_latest(), line!());
    let bill = p.buffer_bill();
    is(&bill.rows()[0], "interval", Bound::Zero, l0);
    is(
        &bill.rows()[1],
        "on_backpressure_latest",
        Bound::Bounded(1),
        l,
    );
}

#[test]
fn concurrency_operators() {
    let p = up().flat_map_with(|x| rstreams::range(x, 2), 16, 32);
    let l = line!() - 1;
    top(&p, "flat_map", Bound::Bounded(512), l);
    assert!(
        last(&p)
            .note_text()
            .unwrap()
            .contains("inner stages not included")
    );
    let (p, l) = (up().concat_map(|x| rstreams::range(x, 2), 8), line!());
    top(&p, "concat_map", Bound::Bounded(8), l);
    let (p, l) = (up().flat_map_sequential(rstreams::just, 4, 8), line!());
    top(&p, "flat_map_sequential", Bound::Bounded(32), l);
    let (p, l) = (up().switch_map(rstreams::just), line!());
    let max = rstreams::flat::SWITCH_MAP_MAX_IN_FLIGHT as u64;
    top(&p, "switch_map", Bound::Bounded(max), l);

    let (p, l) = (up().zip(up().buffer(3), 16), line!());
    top(&p, "zip", Bound::Bounded(32), l);
    let names: Vec<_> = p
        .buffer_bill()
        .rows()
        .iter()
        .map(|r| r.name().to_owned())
        .collect();
    assert_eq!(names, ["range", "range", "buffer", "zip"]);
    assert_eq!(p.buffer_bill().total(), Some(35));

    let (p, l) = (rstreams::merge(vec![up(), up(), up()], 8), line!());
    top(&p, "merge", Bound::Bounded(24), l);
    assert_eq!(p.buffer_bill().rows().len(), 4);

    let (p, l) = (rstreams::combine_latest(up(), up(), |a, b| a + b), line!());
    let prefetch = rstreams::ops::DEFAULT_COMBINE_PREFETCH as u64;
    top(&p, "combine_latest", Bound::Bounded(2 * prefetch + 2), l);
    let (p, l) = (up().with_latest_from(up(), |a, b| a + b), line!());
    let batch = rstreams::ops::RELAY_BATCH;
    top(&p, "with_latest_from", Bound::Bounded(batch + 1), l);
    let (p, l) = (rstreams::zip3(up(), up(), up(), 4), line!());
    let bill = p.buffer_bill();
    assert_eq!(bill.rows().len(), 4, "three sources and one zip3:\n{bill}");
    // a and b: prefetch queued at the first zip and prefetch in pairs at the second; c: prefetch.
    is(&bill.rows()[3], "zip3", Bound::Bounded(20), l);
    assert_eq!(bill.total(), Some(20));

    let (p, l) = (up().take_until(rstreams::never::<u8>()), line!());
    top(&p, "take_until", Bound::Bounded(batch), l);
    let (p, l) = (up().skip_until(rstreams::never::<u8>()), line!());
    top(&p, "skip_until", Bound::Bounded(batch), l);
    let p = up().switch_if_empty(up().publish_on_with(sched(), 4));
    let l = line!() - 1;
    top(&p, "switch_if_empty", Bound::Zero, l);
    assert_eq!(
        p.buffer_bill().total(),
        Some(4),
        "the fallback's stages count"
    );
    let (p, l) = (up().default_if_empty(9), line!());
    let bill = p.buffer_bill();
    let names: Vec<_> = bill.rows().iter().map(Row::name).collect();
    assert_eq!(names, ["range", "just", "switch_if_empty"]);
    is(&bill.rows()[1], "just", Bound::Zero, l);
}

#[test]
fn parallel_rails() {
    let (p, l) = (up().parallel_with(4, 8), line!());
    let (p, lj) = (p.map(|x| x + 1).ordered(), line!());
    let bill = p.buffer_bill();
    is(&bill.rows()[1], "parallel", Bound::Bounded(32), l);
    is(&bill.rows()[2], "ordered", Bound::Zero, lj);
    assert!(
        bill.rows()[2]
            .note_text()
            .unwrap()
            .contains("reorder buffer")
    );
    let (p, lj) = (up().parallel_with(2, 3).sequential(), line!());
    top(&p, "sequential", Bound::Zero, lj);
    assert_eq!(p.buffer_bill().total(), Some(6));
    // par_map_with is parallel_with(rails, DEFAULT_RAIL_PREFETCH).run_on(s).map(f).ordered().
    let (p, l) = (up().par_map_with(2, sched(), |x| x + 1), line!());
    let bill = p.buffer_bill();
    let per_rail = rstreams::parallel::DEFAULT_RAIL_PREFETCH as u64;
    is(&bill.rows()[1], "parallel", Bound::Bounded(2 * per_rail), l);
    is(&bill.rows()[2], "ordered", Bound::Zero, l);
}

#[test]
fn multicast_counts_its_subscribers() {
    let (hub, l) = (up().multicast(8, SlowConsumer::Hold), line!());
    top(&hub, "multicast", Bound::Bounded(8), l);
    let (hub, l) = (Multicast::<u64>::new(8), line!());
    let (r1, _p1) = support::recorder::<u64>(0);
    let (r2, _p2) = support::recorder::<u64>(0);
    hub.subscribe(r1);
    hub.subscribe(r2);
    top(&hub, "multicast", Bound::Bounded(16), l);
    assert!(last(&hub).note_text().unwrap().contains("2 subscribed now"));
}

#[test]
fn groups_and_windows_point_at_their_operator() {
    let w = up().window(3).blocking_first().unwrap().unwrap();
    let row = last(&w);
    assert_eq!((row.name(), row.bound()), ("group", Bound::Zero));
}

#[test]
fn composed_pipeline_total() {
    let pool = sched();
    let p = rstreams::range(0, 1000)
        .map(|x| x * 2)
        .publish_on_with(pool, 256)
        .flat_map_with(|x| rstreams::range(x, 3), 16, 32)
        .buffer(10);
    let bill = p.buffer_bill();
    let names: Vec<_> = bill.rows().iter().map(Row::name).collect();
    assert_eq!(names, ["range", "map", "publish_on", "flat_map", "buffer"]);
    assert_eq!(bill.total(), Some(256 + 16 * 32 + 10));
    assert!(p.check_buffer_budget(778).is_ok());
    assert!(p.check_buffer_budget(777).is_err());
}

#[test]
fn unbounded_stages_are_named_with_their_site() {
    let (p, l) = (up().on_backpressure_buffer_unbounded(), line!());
    let (p, l2) = (p.buffer(4).to_vec(), line!());
    let bill = p.buffer_bill();
    assert_eq!(bill.total(), None);
    assert_eq!(bill.counted(), 4);
    let named: Vec<_> = bill
        .unbounded()
        .map(|r| (r.name(), r.site().unwrap().line()))
        .collect();
    assert_eq!(
        named,
        [("on_backpressure_buffer_unbounded", l), ("collect", l2)]
    );
    let text = bill.to_string();
    let total = text.lines().last().unwrap();
    assert!(
        total.starts_with("total: unbounded: on_backpressure_buffer_unbounded at "),
        "{total}"
    );
    assert!(total.contains(&format!("diag_bill.rs:{l}")), "{total}");
    assert!(
        total.contains(&format!("collect at {}:{l2}", file!())),
        "{total}"
    );
}

#[test]
fn boxed_publishers_are_unknown_unless_billed_or_declared() {
    let p = up().buffer(5).boxed().map(|x| x);
    let bill = p.buffer_bill();
    assert_eq!(bill.total(), None);
    assert_eq!(bill.unknown().map(Row::name).collect::<Vec<_>>(), ["boxed"]);
    assert!(
        bill.to_string()
            .ends_with("total: at least 0 items; unknown: boxed at (no site)")
    );
    assert!(
        p.check_buffer_budget(1_000_000).is_err(),
        "unknown fails any budget"
    );

    let p = up().buffer(5).boxed_billed().map(|x| x);
    assert_eq!(p.buffer_bill().total(), Some(5));
    assert_eq!(p.buffer_bill().rows().len(), 3);

    let b = Bound::Bounded(9);
    let (p, l) = (up().boxed().declare_buffer("vendor", b), line!());
    top(&p, "vendor", Bound::Bounded(9), l);
    assert_eq!(
        p.buffer_bill().rows().len(),
        1,
        "the upstream is not walked"
    );
    // Items pass through unchanged.
    assert_eq!(p.to_vec().blocking_first().unwrap().unwrap().len(), 10);
}

#[test]
fn budget_check_names_the_culprits() {
    let (p, l) = (up().publish_on_with(sched(), 256), line!());
    let p = p.buffer(10);
    let (result, lc) = (p.check_buffer_budget(100), line!());
    let e = result.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::User);
    assert_eq!(e.stage().unwrap().line(), lc);
    let over = e.downcast_ref::<BudgetExceeded>().unwrap();
    assert_eq!(over.budget(), 100);
    assert_eq!(over.bill().total(), Some(266));
    let culprits: Vec<_> = over
        .culprits()
        .iter()
        .map(|r| r.name().to_owned())
        .collect();
    assert_eq!(culprits, ["publish_on", "buffer"], "largest first");
    let text = e.to_string();
    assert!(
        text.contains("buffer budget of 100 items exceeded"),
        "{text}"
    );
    assert!(
        text.contains(&format!("publish_on at {}:{l} (256)", file!())),
        "{text}"
    );
    assert!(text.contains("total: 266 items"), "{text}");
    assert!(p.check_buffer_budget(266).is_ok());
}

#[test]
fn budget_wrapper_rejects_subscribers_without_subscribing_upstream() {
    let subscribed = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s = Arc::clone(&subscribed);
    let src = rstreams::defer(move || {
        s.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        rstreams::range(0, 3)
    });
    let (p, l) = (src.buffer(50).with_buffer_budget(10), line!());
    assert!(p.verdict().is_err());
    top(&p, "with_buffer_budget", Bound::Zero, l);
    let (r, probe) = support::recorder::<Vec<u64>>(5);
    p.subscribe(r);
    let seen = probe.shared.seen.lock();
    assert_eq!(seen.subscribes, 1, "on_subscribe first (rule 1.9)");
    assert!(seen.items.is_empty());
    assert_eq!(seen.errors.len(), 1);
    let e = &seen.errors[0];
    assert!(e.downcast_ref::<BudgetExceeded>().is_some());
    assert_eq!(e.stage().unwrap().line(), l);
    assert_eq!(subscribed.load(std::sync::atomic::Ordering::SeqCst), 0);
    drop(seen);

    let ok = rstreams::range(0, 3).buffer(2).with_buffer_budget(2);
    assert!(ok.verdict().is_ok());
    assert_eq!(ok.to_vec().blocking_first().unwrap().unwrap().len(), 2);
}

#[test]
fn display_snapshot() {
    let p = rstreams::range(0, 100);
    let p = p.publish_on_with(sched(), 64);
    let p = p.on_backpressure_buffer_unbounded();
    let text = p.buffer_bill().to_string();
    let l = line!() - 4;
    // The site column is as wide as this file's path and a 3-digit line.
    let f = file!();
    let w = f.len() + 4;
    let site = |line: u32| format!("{f}:{line}");
    let expected = [
        format!(
            "stage                             {:<w$}      bound  note",
            "site"
        ),
        format!(
            "range                             {:<w$}          0",
            site(l)
        ),
        format!(
            "publish_on                        {:<w$}         64  ring of prefetch",
            site(l + 1)
        ),
        format!(
            "on_backpressure_buffer_unbounded  {:<w$}  unbounded",
            site(l + 2)
        ),
        format!(
            "total: unbounded: on_backpressure_buffer_unbounded at {}",
            site(l + 2)
        ),
    ]
    .join("\n");
    assert_eq!(text, expected);
}

#[cfg(feature = "futures")]
#[test]
fn async_bridge_sources() {
    use rstreams::bridge::{Spawner, from_future, from_future_fn};
    let spawner = Spawner::scheduler(sched());
    let (p, l) = (from_future(async { 1 }, spawner.clone()), line!());
    top(&p, "from_future", Bound::Bounded(1), l);
    let (p, l) = (from_future_fn(|| async { 2 }, spawner), line!());
    top(&p, "from_stream_fn", Bound::Bounded(1), l);
}

#[test]
fn shared_and_borrowed_publishers_forward_their_bill() {
    let (p, l) = (up().buffer(3), line!());
    let shared = Arc::new(p);
    top(&shared, "buffer", Bound::Bounded(3), l);
    top(&&*shared, "buffer", Bound::Bounded(3), l);
    assert_eq!(shared.buffer_bill().total(), Some(3));
}
