//! Rules that the type system settles, each shown by code that does not compile.
//!
//! These are `compile_fail` doctests pinned to the expected error code, so that a snippet that
//! fails for an unrelated reason (a typo) does not pass: `cargo test --doc` checks each.
//! `docs/rules.md` points here.
//!
//! **Rule 3.1** (only the owning subscriber calls `request`/`cancel`): the subscription arrives
//! as a `Box<dyn Subscription>`, which is not `Clone`, so it cannot be handed out by copying.
//!
//! ```compile_fail,E0599
//! fn duplicate(s: Box<dyn rstreams_protocol::Subscription>) {
//!     let copy = s.clone(); // error: `Clone` is not implemented
//! }
//! ```
//!
//! **Rules 1.10 and 2.12** (subscribe with a different subscriber each time; `on_subscribe` at
//! most once per subscriber): `subscribe` takes the subscriber by value.
//!
//! ```compile_fail,E0382
//! use rstreams_protocol::{Publisher, Subscriber, reference::RangePublisher};
//! fn twice<S: Subscriber<u64> + Send + 'static>(s: S) {
//!     let p = RangePublisher::new(0, 1);
//!     p.subscribe(s);
//!     p.subscribe(s); // error: use of moved value
//! }
//! ```
//!
//! **Rule 1.3 on the receiving side** (signals never overlap): callbacks take `&mut self`, so two
//! threads cannot call them on one subscriber at once.
//!
//! ```compile_fail,E0499
//! use rstreams_protocol::Subscriber;
//! fn overlap<S: Subscriber<u64> + Send>(s: &mut S) {
//!     std::thread::scope(|scope| {
//!         scope.spawn(|| s.on_next(1));
//!         scope.spawn(|| s.on_next(2)); // error: two mutable borrows
//!     });
//! }
//! ```
//!
//! **Rule 3.9, negative part** (`request(n)` with `n < 0`): demand is a `u64`.
//!
//! ```compile_fail,E0600
//! fn negative(s: &dyn rstreams_protocol::Subscription) {
//!     s.request(-1); // error: cannot apply unary operator `-` to type `u64`
//! }
//! ```
//!
//! **Rule 3.5, thread safety** (`cancel` may be called from any thread): `Subscription` requires
//! `Send + Sync`, so a subscription with a non-thread-safe interior cannot be one.
//!
//! ```compile_fail,E0277
//! use std::cell::Cell;
//! struct NotSync(Cell<u64>);
//! impl rstreams_protocol::Subscription for NotSync {
//!     fn request(&self, n: u64) { self.0.set(self.0.get() + n) }
//!     fn cancel(&self) {}
//! } // error: `Cell<u64>` cannot be shared between threads safely
//! ```
