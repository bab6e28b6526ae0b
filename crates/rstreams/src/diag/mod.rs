//! Seeing inside a running pipeline (issue 12): the buffer bill at assembly ([`bill`]), per-stage
//! counters and snapshots at run time ([`metrics`]), and the stall doctor ([`doctor`]).

pub mod bill;
pub mod doctor;
pub mod metrics;

pub use doctor::{Diagnosis, Finding, StallDoctor, StallKind};
pub use metrics::{EdgeState, EdgeStats, Metered, Registry, Snapshot};
