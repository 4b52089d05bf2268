//! The library every agentgate function links.
//!
//! It is split along the seams the functions rely on, in layers that only import downwards:
//!
//! - a pure [`domain`] (no AWS, no HTTP client) and the [`ports`] it needs from the world;
//! - [`config`]: the deployment's tunables, read from the environment;
//! - adapters that fill the ports ([`store`], [`provider`], [`secrets`], [`mail`]) and the wire
//!   encoders in [`stream`];
//! - the transport engine [`run`], which moves one reply from a provider to an encoder;
//! - the services built on them: [`turn`] (one model turn for every family), [`memory`],
//!   [`ratelimit`], [`usage`];
//! - the composition root [`state`], which reads the configuration and builds all of the
//!   above once per cold start;
//! - what every family's router shares: [`http`] extractors, the [`failure`] map,
//!   [`lambda`] mains and [`telemetry`].
//!
//! Keeping the wire formats and the storage behind these seams is what lets one router
//! serve both on Lambda and on a laptop.

pub mod auth;
pub mod cache;
pub mod clock;
pub mod config;
pub mod domain;
pub mod failure;
pub mod http;
pub mod knowledge;
pub mod lambda;
pub mod mail;
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
pub mod turn;
pub mod usage;

#[cfg(feature = "testing")]
pub mod testing;
