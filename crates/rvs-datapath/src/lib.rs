//! The datapath layer of rvs: netdev providers, the [`Dpif`] API and the
//! userspace datapath.
//!
//! Packets enter through a [`netdev::Netdev`]'s receive queue, are matched
//! by the userspace datapath ([`dpif_netdev::DpNetdev`]) against its flow
//! caches, and leave through other netdevs after the flow's
//! [`odp::OdpAction`]s have run. Packets that miss go up to an
//! [`dpif::UpcallHandler`] (the OpenFlow layer), whose answer is installed as
//! a megaflow.
#![warn(missing_docs)]

pub mod clock;
pub mod dpif;
pub mod dpif_netdev;
pub mod netdev;
pub mod odp;
mod registry;
pub mod sys;

pub use dpif::{Dpif, DpifError, FlowId, FlowPut, PutFlags, Ufid, UpcallHandler};
pub use dpif_netdev::{DpClass, DpConfig, DpNetdev, EgressPolicer, IngressPolicing};
pub use registry::DatapathRegistry;
