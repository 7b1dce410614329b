//! Benchmarks behind `rvs-bench`.

pub mod datapath;
pub mod netns;
pub mod ofproto;
