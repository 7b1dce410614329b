//! OVSDB (RFC 7047) for rvs.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
