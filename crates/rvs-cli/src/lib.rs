//! Shared code of the rvs command-line tools.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bench;
