//! JSON-RPC 1.0 framing over byte streams, as OVSDB (RFC 7047) and OVS's
//! unixctl use it.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
