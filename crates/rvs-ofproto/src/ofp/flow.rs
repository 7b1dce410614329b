//! Flow messages. (Temporary stand-in.)
use super::{OfpError, Protocol, RawMsg};
use crate::flow::OfMatch;
use crate::flow_mod::FlowMod;
use crate::ofproto::FlowRemoved;
use crate::text::FlowStatsLine;
use crate::types::{Cookie, OfPort, TableId};

/// A flow stats request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// Table.
    pub table: TableId,
    /// Out port.
    pub out_port: OfPort,
    /// Cookie.
    pub cookie: Cookie,
    /// Cookie mask.
    pub cookie_mask: u64,
    /// Match.
    pub match_: OfMatch,
}

/// Aggregate.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct AggregateStats {
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Flows.
    pub flows: u32,
}

/// x
pub fn decode_flow_mod(_m: &RawMsg<'_>, _p: Protocol) -> Result<FlowMod, OfpError> {
    todo!()
}
/// x
pub fn encode_flow_mod(_fm: &FlowMod, _p: Protocol, _xid: u32) -> Vec<u8> {
    todo!()
}
/// x
pub fn encode_flow_removed(_f: &FlowRemoved, _p: Protocol, _xid: u32) -> Vec<u8> {
    todo!()
}
/// x
pub fn decode_flow_removed(_m: &RawMsg<'_>, _p: Protocol) -> Result<FlowRemoved, OfpError> {
    todo!()
}
/// x
pub fn encode_flow_stats_request(
    _r: &FlowStatsRequest,
    _agg: bool,
    _p: Protocol,
    _xid: u32,
) -> Vec<u8> {
    todo!()
}
/// x
pub fn decode_flow_stats_request(_m: &RawMsg<'_>) -> Result<(FlowStatsRequest, bool), OfpError> {
    todo!()
}
/// x
pub fn encode_flow_stats_reply(_e: &[FlowStatsLine], _p: Protocol, _xid: u32) -> Vec<Vec<u8>> {
    todo!()
}
/// x
pub fn decode_flow_stats_reply(_m: &RawMsg<'_>) -> Result<Vec<FlowStatsLine>, OfpError> {
    todo!()
}
/// x
pub fn encode_aggregate_reply(_a: &AggregateStats, _p: Protocol, _xid: u32) -> Vec<u8> {
    todo!()
}
/// x
pub fn decode_aggregate_reply(_m: &RawMsg<'_>) -> Result<AggregateStats, OfpError> {
    todo!()
}
