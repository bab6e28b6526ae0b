use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use rstreams_protocol::pull::{self, Source, Step};
use rstreams_protocol::{Error, Publisher, Rule, Subscriber};

use crate::stage::Loc;

/// The handle a [`generate`] step uses to say what happens next: exactly one of
/// [`next`](Self::next), [`complete`](Self::complete) or [`error`](Self::error) per call.
#[derive(Debug)]
pub struct GenerateSink<T> {
    step: Option<Step<T>>,
    calls: u32,
}

impl<T> GenerateSink<T> {
    /// Emits one item.
    pub fn next(&mut self, item: T) {
        self.set(Step::Next(item));
    }
    /// Ends the stream successfully.
    pub fn complete(&mut self) {
        self.set(Step::Complete);
    }
    /// Ends the stream with `error`.
    pub fn error(&mut self, error: Error) {
        self.set(Step::Error(error));
    }
    fn set(&mut self, step: Step<T>) {
        self.calls += 1;
        if self.calls == 1 {
            self.step = Some(step);
        }
    }
}

/// The publisher made by [`generate`].
pub struct Generate<I, F, T> {
    init: Arc<I>,
    step: Arc<F>,
    loc: Loc,
    _item: PhantomData<fn() -> T>,
}

impl<I, F, T> Clone for Generate<I, F, T> {
    fn clone(&self) -> Self {
        Generate {
            init: Arc::clone(&self.init),
            step: Arc::clone(&self.step),
            loc: self.loc,
            _item: PhantomData,
        }
    }
}

impl<I, F, T> std::fmt::Debug for Generate<I, F, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generate").field("loc", &self.loc).finish()
    }
}

/// A stateful, demand-driven source: each subscriber gets its own state from `init`, and `step`
/// is called once per unit of demand (never ahead of it) to emit one item, complete or fail
/// through the [`GenerateSink`].
///
/// A step that signals nothing, or more than one thing, fails the stream with an error naming
/// rule 1.1 and this stage; a panic in `init` or `step` fails it with rule 1.4.
///
/// ```
/// use rstreams::prelude::*;
/// // Fibonacci numbers below 20.
/// let fib = rstreams::generate(
///     || (0u64, 1u64),
///     |(a, b), sink| {
///         if *a >= 20 { sink.complete(); return; }
///         sink.next(*a);
///         (*a, *b) = (*b, *a + *b);
///     },
/// );
/// assert_eq!(fib.to_vec().blocking_first().unwrap(), Some(vec![0, 1, 1, 2, 3, 5, 8, 13]));
/// ```
#[track_caller]
pub fn generate<St, T, I, F>(init: I, step: F) -> Generate<I, F, T>
where
    I: Fn() -> St + Send + Sync + 'static,
    F: Fn(&mut St, &mut GenerateSink<T>) + Send + Sync + 'static,
{
    Generate {
        init: Arc::new(init),
        step: Arc::new(step),
        loc: Location::caller(),
        _item: PhantomData,
    }
}

struct GenerateSource<St, F, T> {
    state: Option<St>,
    init: Arc<dyn Fn() -> St + Send + Sync>,
    step: Arc<F>,
    loc: Loc,
    _item: PhantomData<fn() -> T>,
}

impl<St, T, F> Source for GenerateSource<St, F, T>
where
    St: Send + 'static,
    T: Send + 'static,
    F: Fn(&mut St, &mut GenerateSink<T>) + Send + Sync + 'static,
{
    type Item = T;

    fn stage_name(&self) -> &'static str {
        "generate"
    }
    fn pull(&mut self) -> Step<T> {
        // The state is made at the first pull, inside the kit's panic guard, so a panicking
        // `init` becomes on_error rather than escaping `subscribe`.
        let state = self.state.get_or_insert_with(|| (self.init)());
        let mut sink = GenerateSink {
            step: None,
            calls: 0,
        };
        (self.step)(state, &mut sink);
        match (sink.calls, sink.step) {
            (1, Some(step)) => step,
            (0, _) => Step::Error(
                Error::violation(
                    Rule::R1_1,
                    "generate: the step signalled nothing (call next, complete or error once)",
                )
                .at_stage(self.loc),
            ),
            _ => Step::Error(
                Error::violation(
                    Rule::R1_1,
                    "generate: the step signalled more than once per unit of demand",
                )
                .at_stage(self.loc),
            ),
        }
    }
}

impl<St, T, I, F> Publisher for Generate<I, F, T>
where
    St: Send + 'static,
    T: Send + 'static,
    I: Fn() -> St + Send + Sync + 'static,
    F: Fn(&mut St, &mut GenerateSink<T>) + Send + Sync + 'static,
{
    type Item = T;
    fn subscribe<S: Subscriber<T> + Send + 'static>(&self, subscriber: S) {
        let source = GenerateSource {
            state: None,
            init: self.init.clone() as Arc<dyn Fn() -> St + Send + Sync>,
            step: Arc::clone(&self.step),
            loc: self.loc,
            _item: PhantomData,
        };
        pull::serve(source.at(self.loc), subscriber);
    }
}

// ---- buffer bill (issue 12) ----
crate::diag::bill::leaf_bill!(Generate<I, F, T> => "generate", "+ its state");
