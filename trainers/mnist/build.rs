//! Give the binaries a RUNPATH to the libtorch they were built against, so
//! they start without LD_LIBRARY_PATH (which still wins where it is set, as
//! on a GPU machine with its own torch). torch-sys declares `links = "tch"`
//! and tells its dependents where libtorch's libraries are.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
