//! Datapath (ODP) actions and OVS's datapath-flow text syntax.
//!
//! [`OdpAction`] is what a megaflow does with a packet. The text syntax in
//! [`text`] is OVS's: keys such as
//! `in_port(1),eth(src=..,dst=..),eth_type(0x0800),ipv4(..),tcp(src=1000,dst=80)`
//! with masks as `field/mask`, and actions such as
//! `2,push_vlan(vid=10,pcp=0),3`.

mod actions;
pub mod exec;
pub mod text;

pub use actions::{DropReason, HashAlg, OdpAction, SetField, UserspaceAction};
