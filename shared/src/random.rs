//! Randomness from the operating system's CSPRNG.
//!
//! Tokens, ids and secrets all come from here so there is exactly one place that decides
//! where entropy comes from. `getrandom` only fails when the OS cannot provide entropy at
//! all, which is unrecoverable for a service that mints credentials.

/// Fills `N` bytes from the OS CSPRNG.
pub fn bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if let Err(err) = getrandom::fill(&mut buf) {
        // Without entropy no credential can be minted safely; refusing to continue is the
        // only sound behaviour, and it happens before any request is answered.
        panic!("the operating system's random source failed: {err}");
    }
    buf
}

/// A random hex string of `N` bytes (2N characters).
pub fn hex_string<const N: usize>() -> String {
    hex::encode(bytes::<N>())
}
