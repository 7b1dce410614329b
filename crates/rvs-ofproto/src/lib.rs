//! The OpenFlow switch of rvs: the layer the OVS documents call ofproto and
//! xlate.
//!
//! Each bridge is an OpenFlow switch whose tables decide what happens to a
//! packet. The first packet of a flow misses in the datapath and comes up as
//! an upcall; it is translated through the bridge's tables ([`xlate`]), and
//! the result is installed in the datapath as a megaflow whose mask holds
//! only the bits translation examined, so that the flow is as wide as
//! correctness allows. Several bridges share one datapath through a
//! [`Backer`], which also runs the revalidator that keeps installed
//! megaflows true to the tables after every change.
//!
//! - [`flow`] holds the pipeline's flow (header fields plus metadata and
//!   registers), wildcards, matches and the field table;
//! - [`cls`] holds the classifier;
//! - [`ofproto`] holds a bridge's ports, tables and rules, flow_mod semantics;
//! - [`xlate`] holds translation, NORMAL, patch ports;
//! - [`mac_learning`] holds the MAC table;
//! - [`backer`] holds upcalls, revalidation, the public API of the switch;
//! - [`text`] holds ovs-ofctl's flow syntax, parsed and printed;
//! - [`trace`] holds `ofproto/trace`;
//! - [`ofp`] holds the OpenFlow wire protocol;
//! - [`connmgr`] holds OpenFlow connections: sockets, sessions, controllers.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actions;
pub mod backer;
pub mod cls;
pub mod connmgr;
pub mod flow;
pub mod flow_mod;
pub mod mac_learning;
pub mod ofp;
pub mod ofproto;
pub mod text;
pub mod trace;
pub mod types;
pub mod xlate;

pub use actions::{OfAction, PacketInReason, SubField};
pub use backer::{Backer, BridgeSettings, PortSettings};
pub use cls::Classifier;
pub use flow::{Flow, Mf, OfMatch, Wildcards};
pub use flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
pub use ofproto::{FailMode, OfprotoError, PortVlan, VlanMode};
pub use types::{Cookie, OfPort, TableId};
