//! Support code for the gallery self-tests.

pub mod faulty;
