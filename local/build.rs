//! Links the functions a local turn runs next to each other, at the start of the code.
//!
//! The release binary holds ~16 MiB of code, of which a turn runs ~2.5 MiB scattered
//! through all of it; the kernel maps code in blocks around each page a process touches,
//! so most of the 16 MiB became resident (about 10 MiB of a 23 MiB peak at 64 concurrent
//! requests). `hot-functions.txt`, made by `scripts/hot-functions.sh` from a profile of the
//! turn, lists those functions; LLD places them first (`--symbol-ordering-file`). Where the
//! list cannot apply (another target, linker or toolchain; see `build/order.rs`) the binary
//! is linked as usual: the order changes where code sits, never what it does.

#[path = "build/order.rs"]
mod order;

use std::env;
use std::path::Path;
use std::process::Command;

const LIST: &str = "hot-functions.txt";

fn main() {
    println!("cargo:rerun-if-changed={LIST}");
    println!("cargo:rerun-if-changed=build/order.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let var = |name: &str| env::var(name).unwrap_or_default();
    let manifest = var("CARGO_MANIFEST_DIR");
    let path = Path::new(&manifest).join(LIST);
    let Ok(list) = std::fs::read_to_string(&path) else {
        return;
    };
    let rustc = Command::new(var("RUSTC"))
        .arg("-vV")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|v| {
            v.lines()
                .find_map(|l| l.strip_prefix("release: ").map(str::to_owned))
        })
        .unwrap_or_default();
    let linker = env::var("RUSTC_LINKER").ok();
    let build = order::Build {
        profile: &var("PROFILE"),
        target: &var("TARGET"),
        rustc: &rustc,
        linker: linker.as_deref(),
        rustflags: &var("CARGO_ENCODED_RUSTFLAGS"),
    };
    let path = path.display().to_string();
    // `-Wl,` splits its argument at commas.
    if order::applies(&build, &list) && !path.contains(',') {
        println!("cargo:rustc-link-arg-bin=agentgate=-Wl,--symbol-ordering-file={path}");
        // Functions gone since the list was made are skipped, not reported one by one.
        println!("cargo:rustc-link-arg-bin=agentgate=-Wl,--no-warn-symbol-ordering");
    }
}
