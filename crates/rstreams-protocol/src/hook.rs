//! Where errors go when no subscriber can receive them.
//!
//! A subscriber that panics inside `on_next` has broken rule 2.13; the publisher cancels its
//! subscription and drops it, so there is nobody left downstream to tell. Such errors are handed
//! to [`report_undeliverable`], which calls the hook installed with
//! [`set_undeliverable_hook`] (and, with the `tracing` feature, always logs an `error` event).

use std::sync::{Arc, OnceLock, RwLock};

use crate::Error;

type Hook = Arc<dyn Fn(&Error) + Send + Sync + 'static>;

fn slot() -> &'static RwLock<Option<Hook>> {
    static SLOT: OnceLock<RwLock<Option<Hook>>> = OnceLock::new();
    SLOT.get_or_init(|| RwLock::new(None))
}

/// Installs the process-wide hook for undeliverable errors, replacing any earlier one.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// static SEEN: AtomicUsize = AtomicUsize::new(0);
/// rstreams_protocol::set_undeliverable_hook(|_err| { SEEN.fetch_add(1, Ordering::Relaxed); });
/// rstreams_protocol::report_undeliverable(rstreams_protocol::Error::msg("lost"));
/// assert_eq!(SEEN.load(Ordering::Relaxed), 1);
/// rstreams_protocol::clear_undeliverable_hook();
/// ```
pub fn set_undeliverable_hook(hook: impl Fn(&Error) + Send + Sync + 'static) {
    *slot().write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(hook));
}

/// Removes the hook installed with [`set_undeliverable_hook`].
pub fn clear_undeliverable_hook() {
    *slot().write().unwrap_or_else(|p| p.into_inner()) = None;
}

/// Reports an error that no subscriber can receive. Never panics: a panicking hook is caught.
pub fn report_undeliverable(error: Error) {
    #[cfg(feature = "tracing")]
    tracing::error!(%error, "undeliverable error");
    let hook = slot().read().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(hook) = hook {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hook(&error)));
    }
}
