//! Wire formats, versioned: the trainer protocol (sweepd and its runs).

pub mod trainer;
