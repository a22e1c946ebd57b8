//! The adversarial pass of issue 15, one module per finding: each test
//! reproduces what a hostile user, trainer or file did to the real binaries
//! and checks that sweepd now stands firm.

#[path = "../common/mod.rs"]
mod common;

mod control_chars;
mod disk_full;
mod fine_grid;
mod gpu_lock;
mod home_lock;
mod idle_connections;
mod inbox_names;
mod nested_yaml;
mod refusal;
mod setsid;
mod zombies;
