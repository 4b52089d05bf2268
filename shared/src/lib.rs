//! The library every agentgate function links.
//!
//! It is split along the seams the functions rely on: a pure [`domain`] (no AWS, no HTTP
//! client), the [`ports`] the domain needs from the outside world, the adapters that fill
//! them ([`store`], [`provider`]), the wire encoders in [`stream`], and the plumbing every
//! Lambda shares ([`state`], [`auth`], [`http`], [`telemetry`], [`lambda`]). Keeping the
//! wire formats and the storage behind these seams is what lets one router serve both on
//! Lambda and on a laptop.

pub mod auth;
pub mod clock;
pub mod domain;
pub mod http;
pub mod lambda;
pub mod memory;
pub mod ports;
pub mod provider;
pub mod random;
pub mod ratelimit;
pub mod run;
pub mod secret;
pub mod secrets;
pub mod state;
pub mod store;
pub mod stream;
pub mod telemetry;
pub mod usage;

#[cfg(feature = "testing")]
pub mod testing;
