//! When the linker may be handed `hot-functions.txt`, decided from what Cargo tells the
//! build script (kept apart from `build.rs` so tests can call it).

/// What the build looks like, as far as the function order is concerned.
pub struct Build<'a> {
    /// Cargo's `PROFILE`: `release` for release-based profiles.
    pub profile: &'a str,
    /// The target triple.
    pub target: &'a str,
    /// The compiler's `release:` line of `rustc -vV`, e.g. `1.95.0`.
    pub rustc: &'a str,
    /// A linker configured for the target (`RUSTC_LINKER`), if any.
    pub linker: Option<&'a str>,
    /// The flags Cargo passes to rustc (`CARGO_ENCODED_RUSTFLAGS`, `\x1f`-separated).
    pub rustflags: &'a str,
}

/// The only target whose default linker (Rust's own LLD, since Rust 1.90) takes
/// `--symbol-ordering-file`; GNU ld refuses it and other platforms name symbols otherwise.
pub const TARGET: &str = "x86_64-unknown-linux-gnu";

/// The toolchain line a list records: `# rustc <release> <target>`.
pub fn toolchain_line(rustc: &str, target: &str) -> String {
    format!("# rustc {rustc} {target}")
}

/// Whether `list` (the file's text) should order this build's functions: a release build
/// for [`TARGET`], linked by the default linker, by the very toolchain the list was made
/// with (symbol names hash the compiler's version, so another one's list matches nothing).
pub fn applies(build: &Build<'_>, list: &str) -> bool {
    let own_linker = build.linker.is_none()
        && !build
            .rustflags
            .split('\x1f')
            .any(|flag| flag.contains("linker") || flag.contains("fuse-ld"));
    build.profile == "release"
        && build.target == TARGET
        && own_linker
        && list
            .lines()
            .take_while(|l| l.starts_with('#'))
            .any(|l| l.trim_end() == toolchain_line(build.rustc, build.target))
}
