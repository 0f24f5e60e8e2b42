//! Qafila's domain core: the rules every other crate relies on, with no IO.
//!
//! Nothing here reads a clock, a file, a socket or a random source: time
//! ([`hlc::Timestamp`], [`chrono::NaiveDate`]) and fresh ids ([`ids::EventId`])
//! are passed in by the caller. That keeps every rule exact, deterministic and
//! testable without a database, a network or a window.
//!
//! Key types:
//! - [`event::Event`] and [`event::EventBody`]: the immutable facts everything
//!   is built from, validated by [`event::Event::validate`].
//! - [`fold::State`]: the deterministic fold over a *set* of events, giving
//!   remaining entitlements, stock per site/day/item and [`anomaly::Anomaly`]s,
//!   whatever the order or duplication of the events.
//! - [`item::ItemCode`], [`quantity::Quantity`], [`entitlement::Round`]: the
//!   catalogue and what a household may receive in a round.
//! - [`nid::NationalId`]: Egyptian national IDs, decoded and keyed-hashed.
//! - [`names::NameKey`]: normalised Arabic names and their similarity.
//! - [`role::Role`] and [`role::permits`]: who may record what.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod anomaly;
pub mod close;
pub mod convoy_time;
pub mod digits;
pub mod entitlement;
pub mod event;
pub mod fold;
pub mod hlc;
pub mod ids;
pub mod item;
pub mod names;
pub mod nid;
pub mod quantity;
pub mod role;
