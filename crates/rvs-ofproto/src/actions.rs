//! OpenFlow actions and instructions, as one list (OVS's "ofpacts"): the
//! instructions `goto_table`, `write_metadata`, `write_actions` and
//! `clear_actions` are entries of the same list, in the order OpenFlow 1.1+
//! executes them.

use crate::flow::Mf;
use crate::types::{OfPort, TableId};
use rvs_packet::EthAddr;
use std::net::Ipv4Addr;

/// A range of bits of a field: `reg0[0..15]`, `NXM_OF_ETH_DST[]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubField {
    /// The field.
    pub field: Mf,
    /// First bit (0 = least significant).
    pub ofs: u32,
    /// Number of bits.
    pub n_bits: u32,
}

impl SubField {
    /// The whole field.
    pub fn whole(field: Mf) -> SubField {
        SubField { field, ofs: 0, n_bits: field.bits() }
    }

    /// The mask of the bits within the field's value.
    pub fn mask(&self) -> u128 {
        let m = if self.n_bits >= 128 { u128::MAX } else { (1u128 << self.n_bits) - 1 };
        m << self.ofs
    }
}

/// Why a packet went to the controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum PacketInReason {
    /// No rule matched (the table-miss rule of OpenFlow 1.3 sends this too).
    NoMatch,
    /// An explicit `controller` action.
    #[default]
    Action,
    /// The TTL expired in `dec_ttl`.
    InvalidTtl,
}

impl PacketInReason {
    /// ovs-ofctl's name for the reason.
    pub fn name(self) -> &'static str {
        match self {
            PacketInReason::NoMatch => "no_match",
            PacketInReason::Action => "action",
            PacketInReason::InvalidTtl => "invalid_ttl",
        }
    }
}

/// One action or instruction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum OfAction {
    /// Output to a port, physical or reserved (IN_PORT, NORMAL, FLOOD, ALL,
    /// LOCAL, CONTROLLER); `max_len` bytes go to the controller.
    Output {
        /// The port.
        port: OfPort,
        /// Bytes of the packet sent with a packet-in (CONTROLLER only).
        max_len: u16,
    },
    /// Send to the controller as a packet-in.
    Controller {
        /// Bytes of the packet to send (65535 = all).
        max_len: u16,
        /// The reason given.
        reason: PacketInReason,
        /// The controller connection id (0 = every controller).
        id: u16,
        /// Opaque bytes given back with the packet-in.
        userdata: Vec<u8>,
    },
    /// Look the packet up again in `table` (None = the current one) as if it
    /// came in on `in_port` (None = its current input port).
    Resubmit {
        /// The input port to pretend.
        in_port: Option<OfPort>,
        /// The table.
        table: Option<TableId>,
    },
    /// Instruction: continue in a later table.
    GotoTable(TableId),
    /// Instruction: set bits of `metadata`.
    WriteMetadata {
        /// New value (within `mask`).
        value: u64,
        /// Bits to change.
        mask: u64,
    },
    /// Set the bits `mask` of `field` to `value` (`set_field`, `load`).
    SetField {
        /// The field.
        field: Mf,
        /// The value, aligned to the field.
        value: u128,
        /// The bits written, aligned to the field.
        mask: u128,
        /// True when written in `load:` form (kept for printing).
        load: bool,
    },
    /// Copy bits from one field to another.
    Move {
        /// Where from.
        src: SubField,
        /// Where to (same width).
        dst: SubField,
    },
    /// Set the Ethernet source.
    SetEthSrc(EthAddr),
    /// Set the Ethernet destination.
    SetEthDst(EthAddr),
    /// Set the IPv4 source.
    SetIpv4Src(Ipv4Addr),
    /// Set the IPv4 destination.
    SetIpv4Dst(Ipv4Addr),
    /// Set the DSCP bits of the TOS byte (`mod_nw_tos` takes the byte).
    SetIpDscp(u8),
    /// Set the ECN bits.
    SetIpEcn(u8),
    /// Set the TTL.
    SetIpTtl(u8),
    /// Set the L4 source port.
    SetL4Src(u16),
    /// Set the L4 destination port.
    SetL4Dst(u16),
    /// Decrement the TTL; on expiry send to the controllers listed (all
    /// with id 0 when empty) and stop.
    DecTtl(Vec<u16>),
    /// Push a VLAN header with this TPID.
    PushVlan(u16),
    /// Pop the outer VLAN header (`strip_vlan`, `pop_vlan`).
    PopVlan,
    /// Set the VLAN id, pushing a tag if there is none.
    SetVlanVid(u16),
    /// Set the VLAN priority, pushing a tag if there is none.
    SetVlanPcp(u8),
    /// Set the tunnel id; `wide` for `set_tunnel64`.
    SetTunnel {
        /// The id.
        id: u64,
        /// Written as `set_tunnel64`.
        wide: bool,
    },
    /// Set the output queue (skb_priority).
    SetQueue(u32),
    /// Run the actions on a copy of the packet, then go on with the original.
    Clone(Vec<OfAction>),
    /// A note: does nothing, kept with the rule.
    Note(Vec<u8>),
    /// Stop processing the action list (and the pipeline).
    Exit,
    /// Instruction: merge actions into the action set.
    WriteActions(Vec<OfAction>),
    /// Instruction: empty the action set.
    ClearActions,
}

impl OfAction {
    /// Output to `port` (the whole packet, for CONTROLLER).
    pub fn output(port: OfPort) -> OfAction {
        let max_len = if port == OfPort::CONTROLLER { u16::MAX } else { 0 };
        OfAction::Output { port, max_len }
    }

    /// The port this action outputs to, for `out_port` filters.
    pub fn outputs_to(&self, port: OfPort) -> bool {
        match self {
            OfAction::Output { port: p, .. } => *p == port,
            OfAction::Controller { .. } => port == OfPort::CONTROLLER,
            OfAction::Clone(a) | OfAction::WriteActions(a) => a.iter().any(|x| x.outputs_to(port)),
            _ => false,
        }
    }
}
