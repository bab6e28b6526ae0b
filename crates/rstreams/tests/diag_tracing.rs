//! Tracing (issue 12.4): a span per metered subscription naming the edge and its site; debug
//! events for subscribe, cancel and terminal signals; per-item events at trace only; policy
//! drops and hop scheduling; one stall warning per episode. A small capturing
//! `tracing::Subscriber` (below) records what the library emits on this thread.

mod support;

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rstreams::diag::{Registry, StallDoctor};
use rstreams::executor::ManualExecutor;
use rstreams::overflow::OverflowPolicy;
use rstreams::prelude::*;
use support::recorder;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata};

type Fields = Vec<(String, String)>;

#[derive(Clone, Debug)]
struct Captured {
    level: Level,
    target: String,
    message: String,
    /// The event's span: its name and fields.
    span: Option<(String, Fields)>,
}

impl Captured {
    fn span_field(&self, name: &str) -> Option<&str> {
        let (_, fields) = self.span.as_ref()?;
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct Capture {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, (String, Fields)>>,
    events: Arc<Mutex<Vec<Captured>>>,
}

thread_local! {
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct Collect<'a>(&'a mut Fields);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let mut fields = Vec::new();
        attrs.record(&mut Collect(&mut fields));
        self.spans
            .lock()
            .insert(id, (attrs.metadata().name().to_owned(), fields));
        Id::from_u64(id)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Collect(&mut fields));
        let message = fields
            .iter()
            .find(|(k, _)| k == "message")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let span_id = match event.parent() {
            Some(id) => Some(id.into_u64()),
            None if event.is_contextual() => ENTERED.with(|e| e.borrow().last().copied()),
            None => None,
        };
        let span = span_id.and_then(|id| self.spans.lock().get(&id).cloned());
        self.events.lock().push(Captured {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            message,
            span,
        });
    }
    fn enter(&self, id: &Id) {
        ENTERED.with(|e| e.borrow_mut().push(id.into_u64()));
    }
    fn exit(&self, _: &Id) {
        ENTERED.with(|e| e.borrow_mut().pop());
    }
}

/// Runs `f` with the capture installed on this thread; returns what it recorded.
fn capture(f: impl FnOnce()) -> Vec<Captured> {
    let sub = Capture::default();
    let events = Arc::clone(&sub.events);
    tracing::subscriber::with_default(sub, f);
    events.lock().clone()
}

fn subscribe_generic<P: Publisher, S: Subscriber<P::Item> + Send + 'static>(p: &P, s: S) {
    p.subscribe(s);
}

fn edge_events<'a>(events: &'a [Captured], edge: &str) -> Vec<&'a Captured> {
    events
        .iter()
        .filter(|e| e.span_field("edge") == Some(edge))
        .collect()
}

#[test]
fn a_metered_subscription_has_a_span_and_debug_events_for_its_life() {
    let registry = Registry::new();
    let events = capture(|| {
        let (rec, probe) = recorder::<u64>(u64::MAX);
        subscribe_generic(&rstreams::range(0, 5).metered(&registry, "numbers"), rec);
        assert!(probe.completed());
    });
    let mine = edge_events(&events, "numbers");
    let span = mine[0].span.as_ref().unwrap();
    assert_eq!(span.0, "rstreams.edge");
    assert!(
        mine[0]
            .span_field("site")
            .unwrap()
            .contains("diag_tracing.rs:"),
        "{mine:?}"
    );
    let debug: Vec<&str> = mine
        .iter()
        .filter(|e| e.level <= Level::DEBUG)
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(debug, ["subscribe", "on_complete"], "{mine:?}");
    // Per item: nothing (not even at trace: the edge's per-item path stays two stores).
    assert!(mine.iter().all(|e| e.message != "on_next"), "{mine:?}");
    // Nothing in the whole run is per item above trace: a run 100 times longer logs the same
    // number of events above trace (the edge's and the kit's lifecycle events).
    let above_trace = |n: u64| {
        let events = capture(|| {
            let (rec, _probe) = recorder::<u64>(u64::MAX);
            subscribe_generic(&rstreams::range(0, n).metered(&registry, "long"), rec);
        });
        events.iter().filter(|e| e.level < Level::TRACE).count()
    };
    assert_eq!(above_trace(5), above_trace(500));
}

/// Every pull-kit subscription (here `just`'s) has its own span naming the stage and its
/// assembly site, with debug events for its life (issue 12.4).
#[test]
fn a_pull_kit_subscription_has_a_stage_span() {
    let events = capture(|| {
        let (rec, probe) = recorder::<u32>(u64::MAX);
        subscribe_generic(&rstreams::just(7u32), rec);
        assert!(probe.completed());
        let (rec, probe) = recorder::<u64>(1);
        subscribe_generic(&rstreams::range(0, 5), rec);
        probe.cancel();
    });
    let stage_events: Vec<(&str, &str, &str)> = events
        .iter()
        .filter(|e| e.span.as_ref().is_some_and(|s| s.0 == "rstreams.stage"))
        .map(|e| {
            (
                e.span_field("stage").unwrap(),
                e.span_field("site").unwrap(),
                e.message.as_str(),
            )
        })
        .collect();
    let just: Vec<&str> = stage_events
        .iter()
        .filter(|e| e.0 == "just")
        .map(|e| e.2)
        .collect();
    assert_eq!(just, ["subscribe", "complete"], "{events:?}");
    assert!(
        stage_events
            .iter()
            .all(|e| e.1.contains("diag_tracing.rs:")),
        "the site is where the publisher was built: {stage_events:?}"
    );
    let cut: Vec<&str> = stage_events
        .iter()
        .filter(|e| e.0 != "just")
        .map(|e| e.2)
        .collect();
    assert_eq!(cut, ["subscribe", "cancel"], "{events:?}");
}

#[test]
fn cancel_and_error_are_debug_events() {
    let registry = Registry::new();
    let events = capture(|| {
        let (rec, probe) = recorder::<u64>(1);
        subscribe_generic(&rstreams::range(0, 5).metered(&registry, "cut"), rec);
        probe.cancel();
        probe.cancel(); // once only
        let (rec, _p) = recorder::<u64>(1);
        subscribe_generic(
            &rstreams::error::<u64>(Error::msg("boom")).metered(&registry, "failing"),
            rec,
        );
    });
    let cut: Vec<&str> = edge_events(&events, "cut")
        .iter()
        .filter(|e| e.level == Level::DEBUG)
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(cut, ["subscribe", "cancel"]);
    let failing: Vec<&str> = edge_events(&events, "failing")
        .iter()
        .filter(|e| e.level == Level::DEBUG)
        .map(|e| e.message.as_str())
        .collect();
    assert_eq!(failing, ["subscribe", "on_error"]);
}

#[test]
fn one_stall_warning_per_episode() {
    let registry = Registry::new();
    let events = capture(|| {
        let (rec, probe) = recorder::<u64>(0);
        subscribe_generic(&rstreams::range(0, 5).metered(&registry, "idle"), rec);
        let doctor = StallDoctor::new(&registry, Duration::from_secs(1));
        let t0 = Instant::now();
        for s in 0..10 {
            doctor.check_at(t0 + Duration::from_secs(s));
        }
        probe.request(1);
        for s in 10..20 {
            doctor.check_at(t0 + Duration::from_secs(s));
        }
    });
    let warnings: Vec<&Captured> = events.iter().filter(|e| e.level == Level::WARN).collect();
    assert_eq!(warnings.len(), 2, "two episodes: {warnings:?}");
    assert!(warnings.iter().all(|w| w.target == "rstreams::diag"));
    assert!(
        warnings[0].message.contains("pipeline stalled")
            && warnings[0].message.contains("downstream of 'idle' (")
            && warnings[0].message.contains("probable cause"),
        "{}",
        warnings[0].message
    );
}

#[test]
fn policy_drops_and_hop_scheduling_are_traced() {
    let events = capture(|| {
        let (rec, _p) = recorder::<u64>(0);
        subscribe_generic(
            &rstreams::range(0, 20).on_backpressure_buffer(2, OverflowPolicy::DropNewest),
            rec,
        );
        let exec = ManualExecutor::new();
        let (rec, probe) = recorder::<u64>(u64::MAX);
        subscribe_generic(
            &rstreams::range(0, 3).subscribe_on(Arc::new(exec.clone())),
            rec,
        );
        exec.run_until_idle();
        assert!(probe.completed());
    });
    // 18 drops: debug at totals 1, 2, 4, 8, 16; the rest at trace.
    let drops = |level: Level| {
        events
            .iter()
            .filter(|e| e.level == level && e.message.starts_with("overflow policy dropped"))
            .count()
    };
    assert_eq!(drops(Level::DEBUG), 5, "{events:?}");
    assert_eq!(drops(Level::TRACE), 13);
    assert_eq!(
        events
            .iter()
            .filter(|e| e.level == Level::DEBUG && e.message == "subscribe_on: subscribe scheduled")
            .count(),
        1
    );
}

// ---- a span per subscription on every `Link` stage (issue 12.4) ----

/// The events whose span is a stage span (`rstreams.stage`) named `stage`.
fn stage_events<'a>(events: &'a [Captured], stage: &str) -> Vec<&'a Captured> {
    events
        .iter()
        .filter(|e| {
            e.span
                .as_ref()
                .is_some_and(|(name, _)| name == "rstreams.stage")
                && e.span_field("stage") == Some(stage)
        })
        .collect()
}

fn debug_messages(events: &[&Captured]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.level <= Level::DEBUG)
        .map(|e| e.message.clone())
        .collect()
}

#[test]
fn a_stage_subscription_has_a_span_with_its_name_and_site() {
    // `map` is built on the line after `line!()` (rustfmt splits the chain).
    let line = line!() + 2;
    let chain = rstreams::range(0, 100)
        .map(|x| x + 1)
        .filter(|x| x % 2 == 0);
    let events = capture(|| {
        for _ in 0..2 {
            let (rec, probe) = recorder::<u64>(u64::MAX);
            // Generic code: the stage-by-stage path, where `map` and `filter` are `Link` stages.
            subscribe_generic(&chain, rec);
            assert!(probe.completed());
        }
    });
    let map = stage_events(&events, "map");
    assert!(!map.is_empty(), "{events:?}");
    for e in &map {
        let site = e.span_field("site").unwrap();
        assert!(site.contains(&format!("diag_tracing.rs:{line}:")), "{site}");
    }
    // Two subscriptions, two lives; nothing per item (100 items went through).
    let life = ["subscribe", "on_complete", "subscribe", "on_complete"];
    assert_eq!(debug_messages(&map), life, "{map:?}");
    assert_eq!(debug_messages(&stage_events(&events, "filter")), life);
    assert!(
        map.iter()
            .chain(&stage_events(&events, "filter"))
            .all(|e| e.level == Level::DEBUG)
    );
}

#[test]
fn a_stage_span_records_cancel_error_and_its_own_early_end() {
    let events = capture(|| {
        // The downstream cancels (twice: one event).
        let (rec, probe) = recorder::<u64>(1);
        subscribe_generic(&rstreams::range(0, 5).scan(0, |a, x| a + x), rec);
        probe.cancel();
        probe.cancel();
        // The upstream fails.
        let (rec, probe) = recorder::<(u64, u64)>(1);
        subscribe_generic(&rstreams::error::<u64>(Error::msg("boom")).enumerate(), rec);
        assert!(probe.error().is_some());
        // The stage ends the stream itself: `take` cancels its upstream and completes.
        let (rec, probe) = recorder::<u64>(u64::MAX);
        subscribe_generic(&rstreams::range(0, 5).take_while(|x| *x < 2), rec);
        assert!(probe.completed());
        // A closure panics: the stage cancels upstream and fails (rule 2.13).
        let (rec, probe) = recorder::<u64>(u64::MAX);
        subscribe_generic(
            &rstreams::range(0, 5).map(|_| -> u64 { panic!("bad map") }),
            rec,
        );
        assert!(probe.error().is_some());
    });
    assert_eq!(
        debug_messages(&stage_events(&events, "scan")),
        ["subscribe", "cancel"]
    );
    assert_eq!(
        debug_messages(&stage_events(&events, "enumerate")),
        ["subscribe", "on_error"]
    );
    assert_eq!(
        debug_messages(&stage_events(&events, "take_while")),
        ["subscribe", "cancel (by the stage)", "on_complete"]
    );
    let map = stage_events(&events, "map");
    // `closure_panic`'s own debug event is not a child of the span; the stage's are.
    assert_eq!(
        debug_messages(&map),
        ["subscribe", "cancel (by the stage)", "on_error"],
        "{map:?}"
    );
    let error = map.iter().find(|e| e.message == "on_error").unwrap();
    assert!(
        error
            .span_field("site")
            .unwrap()
            .contains("diag_tracing.rs:")
    );
}
