//! Support code for the gallery self-tests.

pub(crate) mod faulty;
