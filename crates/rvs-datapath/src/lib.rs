//! The datapath layer of rvs: netdev providers, the `Dpif` API and the
//! userspace datapath.
#![warn(missing_docs)]

pub mod odp;
