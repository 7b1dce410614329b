//! flow_mod, flow_removed and flow and aggregate statistics on the wire.
