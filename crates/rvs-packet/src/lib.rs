//! Packet-level building blocks of rvs: wire formats, the packet buffer and its
//! metadata, flow keys with masks, one-pass flow extraction and checksums.
//!
//! Data flows through this crate in one direction. A netdev receives bytes into
//! a [`Packet`] (with headroom so tunnel headers can later be pushed without a
//! copy); [`flow::extract`] reads the headers once, fills a [`FlowKey`] and
//! records the L2/L3/L4 offsets in the packet's [`Metadata`]; the datapath then
//! looks the key up under a [`Mask`] and runs actions that edit the packet in
//! place, fixing checksums with the helpers of [`checksum`].
//!
//! The wire views in [`wire`] follow smoltcp's shape: a checked constructor
//! validates lengths once, after which no getter can panic.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod buffer;
pub mod checksum;
pub mod flow;
pub mod gro;
pub mod gso;
pub mod types;
pub mod wire;

pub use buffer::{
    Batch, GsoType, Metadata, Packet, SharedBytes, TunnelMetadata, BATCH_SIZE, DEFAULT_HEADROOM,
};
pub use flow::{FlowKey, Mask, Match};
pub use types::{EthAddr, OdpPort};
