//! libtorch's CUDA backend, loaded by hand. rustc links with `--as-needed`,
//! and nothing in this program names a symbol of `libtorch_cuda.so`, so the
//! linker drops it and CUDA would silently be missing on a GPU machine. Loading
//! it before the first tch call registers the backend where the CUDA
//! libraries are installed, and fails harmlessly where they are not (the
//! minimal CPU install of scripts/setup-trainer).

use std::ffi::{CStr, CString};

/// Load `libtorch_cuda.so` (found like libtorch itself: LD_LIBRARY_PATH, then
/// the binary's RUNPATH); the loader's message when it cannot.
pub fn load_backend() -> Result<(), String> {
    let name = CString::new("libtorch_cuda.so").expect("no NUL in a literal");
    // SAFETY: dlopen with a valid C string; the handle is kept for the life of
    // the process (never closed), and dlerror is read right after a failure on
    // this thread, before any other dl call.
    #[allow(unsafe_code)]
    unsafe {
        let handle = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
        if handle.is_null() {
            let error = libc::dlerror();
            return Err(if error.is_null() {
                "dlopen failed".to_owned()
            } else {
                CStr::from_ptr(error).to_string_lossy().into_owned()
            });
        }
    }
    Ok(())
}

/// Whether this machine has an NVIDIA driver at all (so that a CPU machine
/// with the full CUDA install does not spend a second loading it for nothing),
/// and the run was not given an empty CUDA_VISIBLE_DEVICES (sweepd's "CPU
/// only").
pub fn worth_trying() -> bool {
    let hidden = std::env::var_os("CUDA_VISIBLE_DEVICES").is_some_and(|v| v.is_empty());
    let driver = std::path::Path::new("/proc/driver/nvidia/version").exists()
        || std::path::Path::new("/dev/nvidiactl").exists();
    driver && !hidden
}
