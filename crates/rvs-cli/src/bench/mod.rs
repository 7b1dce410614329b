//! Benchmarks behind `rvs-bench`.

pub mod datapath;
