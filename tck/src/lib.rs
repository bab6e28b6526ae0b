//! # rstreams-tck
//!
//! The Reactive Streams conformance suite (TCK) for Rust implementations.

pub mod checker;
pub mod outcome;
pub mod subscriber;
