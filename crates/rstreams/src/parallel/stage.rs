//! Rail stages: the per-item work a rail does (`map`, `filter`, `filter_map`), composed into one
//! monomorphised value. Each step runs its closure under `catch_unwind` and names its own
//! assembly site when it panics (rule 2.13).

use rstreams_protocol::Error;

use crate::stage::{Loc, closure_panic, guard};

/// The work a rail does on one item: `Ok(Some(out))` passes it on, `Ok(None)` drops it (a
/// filter), `Err` fails the whole parallel stream.
pub trait RailStage<T>: Send + Sync + 'static {
    /// What the rail emits.
    type Out: Send + 'static;
    /// Applies the stage to one item.
    fn apply(&self, item: T) -> Result<Option<Self::Out>, Error>;

    /// Applies the stage to one item running on rail `rail` (`0..rails`). Stages that keep
    /// per-rail state (the per-rail [`fold`](super::Parallel::fold)) override it; the others
    /// need not know their rail.
    #[inline]
    fn apply_on_rail(&self, rail: usize, item: T) -> Result<Option<Self::Out>, Error> {
        let _ = rail;
        self.apply(item)
    }
}

/// The empty stage: items pass unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl<T: Send + 'static> RailStage<T> for Identity {
    type Out = T;
    #[inline]
    fn apply(&self, item: T) -> Result<Option<T>, Error> {
        Ok(Some(item))
    }
}

/// `map` after `G`.
#[derive(Debug)]
pub struct RailMap<G, F> {
    pub(crate) prev: G,
    pub(crate) f: F,
    pub(crate) loc: Loc,
}

impl<T, G, F, U> RailStage<T> for RailMap<G, F>
where
    G: RailStage<T>,
    F: Fn(G::Out) -> U + Send + Sync + 'static,
    U: Send + 'static,
{
    type Out = U;
    #[inline]
    fn apply(&self, item: T) -> Result<Option<U>, Error> {
        match self.prev.apply(item)? {
            Some(x) => guard(|| (self.f)(x))
                .map(Some)
                .map_err(|p| closure_panic(p, self.loc)),
            None => Ok(None),
        }
    }
}

/// `filter` after `G`.
#[derive(Debug)]
pub struct RailFilter<G, F> {
    pub(crate) prev: G,
    pub(crate) f: F,
    pub(crate) loc: Loc,
}

impl<T, G, F> RailStage<T> for RailFilter<G, F>
where
    G: RailStage<T>,
    F: Fn(&G::Out) -> bool + Send + Sync + 'static,
{
    type Out = G::Out;
    #[inline]
    fn apply(&self, item: T) -> Result<Option<G::Out>, Error> {
        match self.prev.apply(item)? {
            Some(x) => match guard(|| (self.f)(&x)) {
                Ok(true) => Ok(Some(x)),
                Ok(false) => Ok(None),
                Err(p) => Err(closure_panic(p, self.loc)),
            },
            None => Ok(None),
        }
    }
}

/// `filter_map` after `G`.
#[derive(Debug)]
pub struct RailFilterMap<G, F> {
    pub(crate) prev: G,
    pub(crate) f: F,
    pub(crate) loc: Loc,
}

impl<T, G, F, U> RailStage<T> for RailFilterMap<G, F>
where
    G: RailStage<T>,
    F: Fn(G::Out) -> Option<U> + Send + Sync + 'static,
    U: Send + 'static,
{
    type Out = U;
    #[inline]
    fn apply(&self, item: T) -> Result<Option<U>, Error> {
        match self.prev.apply(item)? {
            Some(x) => guard(|| (self.f)(x)).map_err(|p| closure_panic(p, self.loc)),
            None => Ok(None),
        }
    }
}
