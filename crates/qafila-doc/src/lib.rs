//! Qafila's replication format.
//!
//! - [`codec`]: the compact binary encoding of one [`qafila_domain::event::Event`].
//! - [`device_day::DeviceDayDoc`]: one Automerge document per device per day,
//!   created from the shipped [`device_day::GENESIS`] change.
//! - [`convoy::ConvoyDoc`]: the shared convoy document (plan, sites, rounds,
//!   roster), where concurrent edits are surfaced, never dropped.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod chunks;
pub mod codec;
pub mod convoy;
pub mod device_day;
