//! The OpenFlow switch of rvs: the layer the OVS documents call ofproto and
//! xlate.
//!
//! Each bridge is an OpenFlow switch whose tables decide what happens to a
//! packet. The first packet of a flow misses in the datapath and comes up as
//! an upcall; it is translated through the bridge's tables ([`xlate`]), and
//! the result is installed in the datapath as a megaflow whose mask holds
//! only the bits translation examined, so that the flow is as wide as
//! correctness allows.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod actions;
pub mod cls;
pub mod flow;
pub mod flow_mod;
pub mod types;

pub use actions::{OfAction, PacketInReason, SubField};
pub use cls::Classifier;
pub use flow::{Flow, Mf, OfMatch, Wildcards};
pub use flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
pub use types::{Cookie, OfPort, TableId};
