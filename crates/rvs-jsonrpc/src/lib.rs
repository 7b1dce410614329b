//! JSON-RPC 1.0 framing over byte streams, as OVSDB (RFC 7047) and OVS's
//! unixctl use it.
//!
//! OVS's peers (`ovs-vsctl`, `ovs-appctl`, `ovsdb-server`) exchange JSON
//! texts back to back on a stream socket, with no delimiter between them.
//! This crate is the layer between the bytes and the protocols on top:
//!
//! ```text
//!  bytes from the socket
//!    -> Framer      finds where each JSON text ends, parses it (serde_json)
//!    -> Message     checks the JSON-RPC shape: request, notification,
//!                   reply or error (RFC 7047 section 4, OVS lib/jsonrpc.c)
//!    -> OVSDB / unixctl method handlers (other crates)
//! ```
//!
//! [`Connection`] wraps both around a blocking stream for clients and small
//! servers ([`Stream`] connects to OVS-style `unix:`/`tcp:` remotes); an
//! event loop can drive [`Framer`] itself.
//!
//! ```
//! use rvs_jsonrpc::{Framer, Message};
//!
//! let mut framer = Framer::new();
//! framer.push(br#"{"method":"version","params":[],"#);
//! assert!(framer.next().is_none()); // not complete yet
//! framer.push(br#""id":0}"#);
//! let request = Message::from_value(framer.next().unwrap()?)?;
//! let Message::Request { id, .. } = request else { unreachable!() };
//! let reply = Message::reply("rvs 0.1.0", id);
//! assert_eq!(reply.to_string(), r#"{"result":"rvs 0.1.0","error":null,"id":0}"#);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod connection;
mod framer;
mod message;
mod stream;

pub use connection::{Connection, Error, ReadTimeout};
pub use framer::{FrameError, Framer, DEFAULT_MAX_LEN};
pub use message::{Message, MessageError};
pub use serde_json::Value;
pub use stream::Stream;
