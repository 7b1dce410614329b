//! Shared code of the rvs command-line tools: `rvs-appctl` ([`appctl`]),
//! `rvs-vsctl` ([`vsctl`]), `rvs-ofctl` ([`ofctl`]) and `rvs-bench` ([`mod@bench`]).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod appctl;
pub mod bench;
pub mod ofctl;
pub mod vsctl;
