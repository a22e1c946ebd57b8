//! sweepd carries the Python package and the `wandb` shim (`python/`,
//! built in by `include_dir!` in src/python.rs): rebuild when they change,
//! which the macro cannot tell cargo itself.
fn main() {
    println!("cargo::rerun-if-changed=../python/sweepd");
    println!("cargo::rerun-if-changed=../python/shim");
}
