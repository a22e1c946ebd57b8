//! Wire formats, versioned, fixed by golden files: the trainer protocol
//! (sweepd and its runs) and the control protocol (sweepctl and sweepd).

pub mod control;
pub mod trainer;
