//! The datapath action set.

use rvs_packet::{EthAddr, OdpPort};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a packet was dropped. Every drop in the datapath is counted under one
/// of these; `dpctl/show` and `coverage/show` print the counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DropReason {
    /// A flow's actions ended without output (OVS's plain `drop`).
    Action,
    /// The actions named a port the datapath does not have.
    InvalidPort,
    /// A miss with no upcall handler registered, or the handler failed.
    UpcallLost,
    /// Recirculation went past the depth limit.
    RecircDepth,
    /// A recirculation found no flow and could not be upcalled.
    RecircMiss,
    /// The packet was too short or malformed for an action it met.
    Malformed,
    /// The egress port refused the packet (queue full, link down).
    TxError,
    /// The egress port's MTU is smaller than the packet.
    Mtu,
    /// The flow table is over its limit and the miss was executed without
    /// installing (counted separately as `lost` when not executed).
    FlowLimit,
    /// A `trunc` left nothing to send.
    Truncated,
    /// A GSO super-frame or checksum-partial packet could not be segmented or
    /// checksummed for a port without offloads.
    Segmentation,
    /// Explicit `drop(reason)` action from the upper layer (an OpenFlow drop,
    /// a controller's decision, ...), with OVS's xlate error code.
    Xlate(u32),
}

impl DropReason {
    /// Every reason with a fixed name, for counter tables.
    pub const NAMED: &'static [DropReason] = &[
        DropReason::Action,
        DropReason::InvalidPort,
        DropReason::UpcallLost,
        DropReason::RecircDepth,
        DropReason::RecircMiss,
        DropReason::Malformed,
        DropReason::TxError,
        DropReason::Mtu,
        DropReason::FlowLimit,
        DropReason::Truncated,
        DropReason::Segmentation,
    ];

    /// The counter name, in OVS's `datapath_drop_*` style.
    pub fn name(self) -> String {
        match self {
            DropReason::Action => "datapath_drop_action".into(),
            DropReason::InvalidPort => "datapath_drop_invalid_port".into(),
            DropReason::UpcallLost => "datapath_drop_upcall_lost".into(),
            DropReason::RecircDepth => "datapath_drop_recirc_depth".into(),
            DropReason::RecircMiss => "datapath_drop_recirc_miss".into(),
            DropReason::Malformed => "datapath_drop_malformed".into(),
            DropReason::TxError => "datapath_drop_tx_error".into(),
            DropReason::Mtu => "datapath_drop_mtu".into(),
            DropReason::FlowLimit => "datapath_drop_flow_limit".into(),
            DropReason::Truncated => "datapath_drop_truncated".into(),
            DropReason::Segmentation => "datapath_drop_segmentation".into(),
            DropReason::Xlate(e) => format!("datapath_drop_xlate_error_{e}"),
        }
    }
}

/// Hash algorithm of the `hash` action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    /// OVS's `hash_l4`: over the L3 addresses, protocol and L4 ports.
    L4,
    /// OVS's `sym_l4`: the same, symmetric in source and destination.
    SymL4,
}

/// A `userspace` action: send a copy of the packet to the upcall handler.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct UserspaceAction {
    /// Netlink port id in OVS; here an opaque handler id, printed as `pid`.
    pub pid: u32,
    /// Opaque bytes handed back with the upcall (OVS's `userdata(...)`).
    pub userdata: Vec<u8>,
    /// `tunnel_out_port` in OVS; carried through, printed when set.
    pub tunnel_out_port: Option<OdpPort>,
    /// Actions to run on the copy before handing it up (OVS's `actions`
    /// flag: the handler receives the packet after these).
    pub actions: bool,
}

/// The value (or mask) of a `set`/`set_masked` action: one key attribute
/// with all its fields, as OVS's ODP key attributes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SetField {
    /// `eth(src=,dst=)`
    Eth {
        /// Source.
        src: EthAddr,
        /// Destination.
        dst: EthAddr,
    },
    /// `ipv4(src=,dst=,proto=,tos=,ttl=,frag=)`; proto and frag cannot be
    /// changed by a set and must be zero in a mask.
    Ipv4 {
        /// Source.
        src: Ipv4Addr,
        /// Destination.
        dst: Ipv4Addr,
        /// Protocol.
        proto: u8,
        /// TOS.
        tos: u8,
        /// TTL.
        ttl: u8,
        /// Fragment bits.
        frag: u8,
    },
    /// `ipv6(src=,dst=,label=,proto=,tclass=,hlimit=,frag=)`
    Ipv6 {
        /// Source.
        src: Ipv6Addr,
        /// Destination.
        dst: Ipv6Addr,
        /// Flow label (20 bits).
        label: u32,
        /// Next header.
        proto: u8,
        /// Traffic class.
        tclass: u8,
        /// Hop limit.
        hlimit: u8,
        /// Fragment bits.
        frag: u8,
    },
    /// `tcp(src=,dst=)`
    Tcp {
        /// Source port.
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// `udp(src=,dst=)`
    Udp {
        /// Source port.
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// `sctp(src=,dst=)`
    Sctp {
        /// Source port.
        src: u16,
        /// Destination port.
        dst: u16,
    },
    /// `icmp(type=,code=)`
    Icmp {
        /// ICMP type.
        typ: u8,
        /// ICMP code.
        code: u8,
    },
    /// `icmpv6(type=,code=)`
    Icmpv6 {
        /// ICMPv6 type.
        typ: u8,
        /// ICMPv6 code.
        code: u8,
    },
    /// `arp(sip=,tip=,op=,sha=,tha=)`
    Arp {
        /// Sender protocol address.
        sip: Ipv4Addr,
        /// Target protocol address.
        tip: Ipv4Addr,
        /// Opcode.
        op: u16,
        /// Sender hardware address.
        sha: EthAddr,
        /// Target hardware address.
        tha: EthAddr,
    },
    /// `nd(target=,sll=,tll=)`
    Nd {
        /// Target address.
        target: Ipv6Addr,
        /// Source link-layer address option.
        sll: EthAddr,
        /// Target link-layer address option.
        tll: EthAddr,
    },
    /// `skb_priority(0x..)`
    Priority(u32),
    /// `skb_mark(0x..)`
    Mark(u32),
    /// `tunnel(tun_id=,src=,dst=,tos=,ttl=,tp_src=,tp_dst=,flags(..))`
    Tunnel {
        /// Tunnel id.
        tun_id: u64,
        /// Outer source (IPv4 or IPv6 as u128; IPv4 in the low 32 bits when
        /// `ipv6` is false).
        src: u128,
        /// Outer destination.
        dst: u128,
        /// True when the outer addresses are IPv6.
        ipv6: bool,
        /// Outer TOS.
        tos: u8,
        /// Outer TTL.
        ttl: u8,
        /// Outer UDP source port.
        tp_src: u16,
        /// Outer UDP destination port.
        tp_dst: u16,
        /// `TNL_F_*` flags.
        flags: u16,
    },
}

/// One datapath action.
///
/// The enum is non-exhaustive: tunnel push/pop, connection tracking and
/// meters come with later work.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OdpAction {
    /// Send the packet out of a port.
    Output(OdpPort),
    /// Send a copy to the upcall handler.
    Userspace(UserspaceAction),
    /// Overwrite a whole key attribute.
    Set(SetField),
    /// Overwrite the bits of `mask` in a key attribute with those of `value`.
    /// (Boxed: it is the largest variant, and keeping it out of line halves
    /// the size of every action, which matters for memory per megaflow.)
    SetMasked {
        /// New values.
        value: Box<SetField>,
        /// Which bits to change; same variant as `value`.
        mask: Box<SetField>,
    },
    /// Push a VLAN tag in front of any existing one.
    PushVlan {
        /// 0x8100 (802.1Q) or 0x88a8 (802.1ad).
        tpid: u16,
        /// TCI, with [`rvs_packet::flow::VLAN_CFI`] set.
        tci: u16,
    },
    /// Remove the outermost VLAN tag.
    PopVlan,
    /// Look the packet up again with a new recirculation id.
    Recirc(u32),
    /// Compute `dp_hash`.
    Hash {
        /// Algorithm.
        alg: HashAlg,
        /// Basis.
        basis: u32,
    },
    /// Run the nested actions on a copy of the packet; the original goes on
    /// unchanged.
    Clone(Vec<OdpAction>),
    /// Truncate the packet to at most this many bytes for the following
    /// outputs.
    Trunc(u32),
    /// Run `gt` when the packet is longer than `pkt_len` bytes, else `le`.
    CheckPktLen {
        /// Length threshold.
        pkt_len: u16,
        /// Actions for longer packets.
        gt: Vec<OdpAction>,
        /// Actions for packets of at most `pkt_len` bytes.
        le: Vec<OdpAction>,
    },
    /// Drop the packet, counting it under `reason`.
    Drop(DropReason),
}

impl fmt::Display for OdpAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&super::text::format_actions(std::slice::from_ref(self)))
    }
}
