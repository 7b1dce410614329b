//! OpenFlow messages, decoded into [`Msg`] and encoded back, for every
//! version. Flow messages (flow_mod, flow_removed, flow and aggregate
//! statistics) are coded in [`super::flow`]; this module wraps them so a
//! connection handles one type.

use super::buf::put_string;
use super::flow::{self as fl, AggregateStats, FlowStatsRequest};
use super::{
    actions, finish_msg, nxt, oxm, start_msg, start_msg_flags, FlowFormat, MpType, MsgType, OfpErr,
    OfpError, Protocol, RawMsg, Reader, Version, NO_BUFFER, NX_VENDOR_ID,
};
use crate::actions::{OfAction, PacketInReason};
use crate::flow::{Mf, OfMatch};
use crate::flow_mod::FlowMod;
use crate::ofproto::FlowRemoved;
use crate::text::FlowStatsLine;
use crate::types::{Cookie, OfPort, TableId};
use rvs_packet::EthAddr;
use std::time::Duration;

/// `OFPPC_PORT_DOWN`: the port is administratively down.
pub const OFPPC_PORT_DOWN: u32 = 1 << 0;
/// `OFPPC_NO_RECV`: drop received packets.
pub const OFPPC_NO_RECV: u32 = 1 << 2;
/// `OFPPC_NO_FLOOD` (1.0): leave out of floods.
pub const OFPPC_NO_FLOOD: u32 = 1 << 4;
/// `OFPPC_NO_FWD`: drop packets sent to the port.
pub const OFPPC_NO_FWD: u32 = 1 << 5;
/// `OFPPC_NO_PACKET_IN`: no packet-ins for its packets.
pub const OFPPC_NO_PACKET_IN: u32 = 1 << 6;
/// `OFPPS_LINK_DOWN`: no carrier.
pub const OFPPS_LINK_DOWN: u32 = 1 << 0;
/// `OFPPS_LIVE` (1.1+): the port is live for fast failover.
pub const OFPPS_LIVE: u32 = 1 << 2;

/// The switch's description (`OFPMP_DESC`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Desc {
    /// Manufacturer.
    pub mfr: String,
    /// Hardware.
    pub hw: String,
    /// Software.
    pub sw: String,
    /// Serial number.
    pub serial: String,
    /// Datapath description.
    pub dp: String,
}

/// A port's description (`ofp_phy_port`, `ofp_port`). Feature bits are
/// kept in OpenFlow 1.1+'s layout; 1.0 encodings convert.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortDesc {
    /// OpenFlow number.
    pub port_no: OfPort,
    /// Ethernet address.
    pub hw_addr: EthAddr,
    /// Name.
    pub name: String,
    /// `OFPPC_*` bits.
    pub config: u32,
    /// `OFPPS_*` bits.
    pub state: u32,
    /// Current features.
    pub curr: u32,
    /// Advertised features.
    pub advertised: u32,
    /// Supported features.
    pub supported: u32,
    /// The peer's advertised features.
    pub peer: u32,
    /// Current speed, kbit/s.
    pub curr_speed: u32,
    /// Maximum speed, kbit/s.
    pub max_speed: u32,
}

/// A features reply.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Features {
    /// Datapath id.
    pub datapath_id: u64,
    /// Packets the switch can buffer (0: it buffers none).
    pub n_buffers: u32,
    /// Number of tables.
    pub n_tables: u8,
    /// Auxiliary connection id (1.3+).
    pub auxiliary_id: u8,
    /// `OFPC_*` capability bits.
    pub capabilities: u32,
    /// Supported 1.0 actions bitmap.
    pub actions: u32,
    /// Ports (1.0-1.2 carry them here).
    pub ports: Vec<PortDesc>,
}

/// Switch configuration (get/set-config).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SwitchConfig {
    /// `OFPC_FRAG_*` flags.
    pub flags: u16,
    /// Bytes of a table-miss packet sent to the controller.
    pub miss_send_len: u16,
}

impl Default for SwitchConfig {
    fn default() -> Self {
        SwitchConfig { flags: 0, miss_send_len: 128 }
    }
}

/// A packet-in as it travels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketInMsg {
    /// Buffer id ([`NO_BUFFER`]: `data` is the packet).
    pub buffer_id: u32,
    /// Length of the whole packet.
    pub total_len: u16,
    /// Why.
    pub reason: PacketInReason,
    /// Table of the rule that sent it.
    pub table: TableId,
    /// That rule's cookie.
    pub cookie: Cookie,
    /// The packet's pipeline metadata: `in_port` and any non-zero metadata,
    /// registers and tunnel fields.
    pub match_: OfMatch,
    /// The packet (maybe truncated).
    pub data: Vec<u8>,
}

impl PacketInMsg {
    /// The input port.
    pub fn in_port(&self) -> OfPort {
        OfPort(self.match_.flow.get(Mf::InPort) as u16)
    }
}

/// A packet-out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOut {
    /// Buffer id ([`NO_BUFFER`] when `data` holds the packet).
    pub buffer_id: u32,
    /// The input port to pretend.
    pub in_port: OfPort,
    /// The actions.
    pub actions: Vec<OfAction>,
    /// The packet.
    pub data: Vec<u8>,
}

/// A port_mod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMod {
    /// The port.
    pub port_no: OfPort,
    /// Its Ethernet address (must match the port's).
    pub hw_addr: EthAddr,
    /// New values of the bits in `mask`.
    pub config: u32,
    /// Which `OFPPC_*` bits change.
    pub mask: u32,
    /// Features to advertise (0: unchanged).
    pub advertise: u32,
}

/// Why a port-status was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortReason {
    /// The port was added.
    Add,
    /// The port was removed.
    Delete,
    /// Some attribute changed.
    Modify,
}

/// A controller's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Role {
    /// Ask without changing (1.2+ `NOCHANGE`).
    NoChange,
    /// Full access, like every other equal controller.
    #[default]
    Equal,
    /// Full access; the others become slaves.
    Master,
    /// Read-only, no asynchronous messages but port status.
    Slave,
}

impl Role {
    /// The name OVS writes in the Controller table's `role` column.
    pub fn name(self) -> &'static str {
        match self {
            Role::NoChange => "nochange",
            Role::Equal => "other",
            Role::Master => "master",
            Role::Slave => "slave",
        }
    }
}

/// Statistics of one table.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct TableStats {
    /// The table.
    pub table: TableId,
    /// Its name (1.0 carries it).
    pub name: String,
    /// Rules in it.
    pub active_count: u32,
    /// Maximum number of rules.
    pub max_entries: u32,
    /// Lookups.
    pub lookup_count: u64,
    /// Lookups that matched.
    pub matched_count: u64,
}

/// Statistics of one port.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PortStats {
    /// The port.
    pub port_no: OfPort,
    /// Received packets.
    pub rx_packets: u64,
    /// Sent packets.
    pub tx_packets: u64,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Sent bytes.
    pub tx_bytes: u64,
    /// Receive drops.
    pub rx_dropped: u64,
    /// Transmit drops.
    pub tx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Transmit errors.
    pub tx_errors: u64,
    /// Frame alignment errors.
    pub rx_frame_err: u64,
    /// Overruns.
    pub rx_over_err: u64,
    /// CRC errors.
    pub rx_crc_err: u64,
    /// Collisions.
    pub collisions: u64,
    /// Time since the port was added (1.3+).
    pub duration: Option<Duration>,
}

/// An all-counters-unknown value.
const UNKNOWN: u64 = u64::MAX;

impl PortStats {
    /// Stats with every counter unknown (all ones, as OpenFlow says).
    pub fn unknown(port_no: OfPort) -> Self {
        PortStats {
            port_no,
            rx_packets: UNKNOWN,
            tx_packets: UNKNOWN,
            rx_bytes: UNKNOWN,
            tx_bytes: UNKNOWN,
            rx_dropped: UNKNOWN,
            tx_dropped: UNKNOWN,
            rx_errors: UNKNOWN,
            tx_errors: UNKNOWN,
            rx_frame_err: UNKNOWN,
            rx_over_err: UNKNOWN,
            rx_crc_err: UNKNOWN,
            collisions: UNKNOWN,
            duration: None,
        }
    }
}

/// A decoded message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// Hello with the versions offered (bitmap: bit `v` for wire version `v`).
    Hello(u32),
    /// Error with the start of the offending message.
    Error(OfpErr, Vec<u8>),
    /// Echo request with its payload.
    EchoRequest(Vec<u8>),
    /// Echo reply with the payload.
    EchoReply(Vec<u8>),
    /// Features request.
    FeaturesRequest,
    /// Features reply.
    FeaturesReply(Features),
    /// Get-config request.
    GetConfigRequest,
    /// Get-config reply.
    GetConfigReply(SwitchConfig),
    /// Set-config.
    SetConfig(SwitchConfig),
    /// Packet-in.
    PacketIn(PacketInMsg),
    /// Flow removed.
    FlowRemoved(FlowRemoved),
    /// Port status.
    PortStatus(PortReason, PortDesc),
    /// Packet-out.
    PacketOut(PacketOut),
    /// Flow_mod.
    FlowMod(FlowMod),
    /// Port_mod.
    PortMod(PortMod),
    /// Barrier request.
    BarrierRequest,
    /// Barrier reply.
    BarrierReply,
    /// Role request (role and generation id; 1.0 uses Nicira's).
    RoleRequest(Role, u64),
    /// Role reply.
    RoleReply(Role, u64),
    /// `NXT_SET_FLOW_FORMAT`.
    SetFlowFormat(FlowFormat),
    /// `NXT_SET_PACKET_IN_FORMAT` (0 = standard, 1 = NXM, 2 = packet-in2).
    SetPacketInFormat(u32),
    /// `NXT_FLOW_MOD_TABLE_ID`.
    FlowModTableId(bool),
    /// `NXT_SET_CONTROLLER_ID`.
    SetControllerId(u16),
    /// Description request.
    DescRequest,
    /// Description reply.
    DescReply(Desc),
    /// Flow statistics request (or aggregate when the flag is set).
    FlowStatsRequest(FlowStatsRequest, bool),
    /// Flow statistics reply (one part).
    FlowStatsReply(Vec<FlowStatsLine>),
    /// Aggregate statistics reply.
    AggregateReply(AggregateStats),
    /// Table statistics request.
    TableStatsRequest,
    /// Table statistics reply.
    TableStatsReply(Vec<TableStats>),
    /// Port statistics request ([`OfPort::NONE`] = every port).
    PortStatsRequest(OfPort),
    /// Port statistics reply.
    PortStatsReply(Vec<PortStats>),
    /// Port description request.
    PortDescRequest,
    /// Port description reply.
    PortDescReply(Vec<PortDesc>),
    /// Table features request (properties ignored: a request that sets
    /// features is refused).
    TableFeaturesRequest(bool),
    /// Table features reply: (table, name, max_entries) per table.
    TableFeaturesReply(Vec<(TableId, String, u32)>),
}

/// 1.0 port numbers are 16-bit; 1.1+ ports are 32-bit with reserved ports
/// at 0xffffff00 and up.
pub fn put_port(v: Version, p: OfPort, out: &mut Vec<u8>) {
    if v == Version::V10 {
        out.extend_from_slice(&p.0.to_be_bytes());
    } else {
        let w: u32 = if p.0 >= 0xff00 { 0xffff_0000 | u32::from(p.0) } else { u32::from(p.0) };
        out.extend_from_slice(&w.to_be_bytes());
    }
}

/// Reads a port number of `v`'s width (see [`put_port`]).
pub fn get_port(v: Version, r: &mut Reader<'_>) -> Result<OfPort, OfpError> {
    if v == Version::V10 {
        return Ok(OfPort(r.u16()?));
    }
    let w = r.u32()?;
    if w >= 0xffff_ff00 {
        Ok(OfPort((w & 0xffff) as u16))
    } else if w < 0xff00 {
        Ok(OfPort(w as u16))
    } else {
        Err(OfpErr::BadRequestBadPort.with(format!("port {w:#x} is out of range")))
    }
}

fn reason_wire(v: Version, r: PacketInReason) -> u8 {
    match (r, v) {
        (PacketInReason::NoMatch, _) => 0,
        (PacketInReason::Action, _) => 1,
        (PacketInReason::InvalidTtl, _) => 2,
    }
}

fn reason_from_wire(n: u8) -> PacketInReason {
    match n {
        0 => PacketInReason::NoMatch,
        2 => PacketInReason::InvalidTtl,
        _ => PacketInReason::Action,
    }
}

/// 1.1+ feature bits to 1.0's: the speeds above 10G and "other" do not
/// exist there and the medium bits move down.
fn features_to_10(f: u32) -> u32 {
    (f & 0x7f) | ((f >> 4) & 0xf80)
}

fn features_from_10(f: u32) -> u32 {
    (f & 0x7f) | ((f & 0xf80) << 4)
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}
fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a port description in `v`'s layout.
pub fn put_port_desc(v: Version, p: &PortDesc, out: &mut Vec<u8>) {
    match v {
        Version::V10 => {
            put_port(v, p.port_no, out);
            out.extend_from_slice(&p.hw_addr.0);
            put_string(out, &p.name, 16);
            put_u32(out, p.config);
            put_u32(out, p.state & OFPPS_LINK_DOWN);
            for f in [p.curr, p.advertised, p.supported, p.peer] {
                put_u32(out, features_to_10(f));
            }
        }
        Version::V11 | Version::V12 | Version::V13 => {
            put_port(v, p.port_no, out);
            out.extend_from_slice(&[0; 4]);
            out.extend_from_slice(&p.hw_addr.0);
            out.extend_from_slice(&[0; 2]);
            put_string(out, &p.name, 16);
            for f in [
                p.config,
                p.state,
                p.curr,
                p.advertised,
                p.supported,
                p.peer,
                p.curr_speed,
                p.max_speed,
            ] {
                put_u32(out, f);
            }
        }
        Version::V14 | Version::V15 => {
            put_port(v, p.port_no, out);
            put_u16(out, 72);
            out.extend_from_slice(&[0; 2]);
            out.extend_from_slice(&p.hw_addr.0);
            out.extend_from_slice(&[0; 2]);
            put_string(out, &p.name, 16);
            put_u32(out, p.config);
            put_u32(out, p.state);
            // The Ethernet property.
            put_u16(out, 0);
            put_u16(out, 32);
            out.extend_from_slice(&[0; 4]);
            for f in [p.curr, p.advertised, p.supported, p.peer, p.curr_speed, p.max_speed] {
                put_u32(out, f);
            }
        }
    }
}

/// Reads a port description in `v`'s layout.
pub fn get_port_desc(v: Version, r: &mut Reader<'_>) -> Result<PortDesc, OfpError> {
    let mut p = PortDesc { port_no: get_port(v, r)?, ..PortDesc::default() };
    match v {
        Version::V10 => {
            p.hw_addr = EthAddr(r.array()?);
            p.name = r.string(16)?;
            p.config = r.u32()?;
            p.state = r.u32()?;
            p.curr = features_from_10(r.u32()?);
            p.advertised = features_from_10(r.u32()?);
            p.supported = features_from_10(r.u32()?);
            p.peer = features_from_10(r.u32()?);
        }
        Version::V11 | Version::V12 | Version::V13 => {
            r.skip(4)?;
            p.hw_addr = EthAddr(r.array()?);
            r.skip(2)?;
            p.name = r.string(16)?;
            p.config = r.u32()?;
            p.state = r.u32()?;
            p.curr = r.u32()?;
            p.advertised = r.u32()?;
            p.supported = r.u32()?;
            p.peer = r.u32()?;
            p.curr_speed = r.u32()?;
            p.max_speed = r.u32()?;
        }
        Version::V14 | Version::V15 => {
            let len = usize::from(r.u16()?);
            if len < 40 {
                return Err(OfpErr::BadRequestBadLen.with(format!("port length {len} below 40")));
            }
            r.skip(2)?;
            p.hw_addr = EthAddr(r.array()?);
            r.skip(2)?;
            p.name = r.string(16)?;
            p.config = r.u32()?;
            p.state = r.u32()?;
            let mut props = Reader::new(r.bytes(len - 40)?);
            while props.remaining() >= 4 {
                let ty = props.u16()?;
                let plen = usize::from(props.u16()?);
                if plen < 4 {
                    return Err(
                        OfpErr::BadRequestBadLen.with(format!("port property length {plen}"))
                    );
                }
                let mut body = Reader::new(props.bytes(plen - 4)?);
                props.skip(((8 - plen % 8) % 8).min(props.remaining()))?;
                if ty == 0 && body.remaining() >= 28 {
                    body.skip(4)?;
                    p.curr = body.u32()?;
                    p.advertised = body.u32()?;
                    p.supported = body.u32()?;
                    p.peer = body.u32()?;
                    p.curr_speed = body.u32()?;
                    p.max_speed = body.u32()?;
                }
            }
        }
    }
    Ok(p)
}

fn put_port_stats(v: Version, s: &PortStats, out: &mut Vec<u8>) {
    let counters = [
        s.rx_packets,
        s.tx_packets,
        s.rx_bytes,
        s.tx_bytes,
        s.rx_dropped,
        s.tx_dropped,
        s.rx_errors,
        s.tx_errors,
        s.rx_frame_err,
        s.rx_over_err,
        s.rx_crc_err,
        s.collisions,
    ];
    if v >= Version::V14 {
        // ofp14_port_stats: length, pad, port, duration, the counters
        // without the Ethernet ones, then the Ethernet property.
        put_u16(out, 120);
        out.extend_from_slice(&[0; 2]);
        put_port(v, s.port_no, out);
        let d = s.duration.unwrap_or_default();
        put_u32(out, d.as_secs() as u32);
        put_u32(out, d.subsec_nanos());
        for c in &counters[..8] {
            put_u64(out, *c);
        }
        put_u16(out, 0);
        put_u16(out, 40);
        out.extend_from_slice(&[0; 4]);
        for c in &counters[8..] {
            put_u64(out, *c);
        }
        return;
    }
    put_port(v, s.port_no, out);
    out.extend_from_slice(if v == Version::V10 { &[0; 6] } else { &[0; 4] });
    for c in counters {
        put_u64(out, c);
    }
    if v >= Version::V13 {
        let d = s.duration.unwrap_or_default();
        put_u32(out, d.as_secs() as u32);
        put_u32(out, d.subsec_nanos());
    }
}

fn get_port_stats(v: Version, r: &mut Reader<'_>) -> Result<PortStats, OfpError> {
    if v >= Version::V14 {
        let len = usize::from(r.u16()?);
        r.skip(2)?;
        let mut s = PortStats { port_no: get_port(v, r)?, ..PortStats::default() };
        let secs = r.u32()?;
        let nsecs = r.u32()?;
        s.duration = Some(Duration::new(u64::from(secs), nsecs.min(999_999_999)));
        let mut c = [0u64; 8];
        for x in &mut c {
            *x = r.u64()?;
        }
        [s.rx_packets, s.tx_packets, s.rx_bytes, s.tx_bytes] = [c[0], c[1], c[2], c[3]];
        [s.rx_dropped, s.tx_dropped, s.rx_errors, s.tx_errors] = [c[4], c[5], c[6], c[7]];
        let mut props = Reader::new(r.bytes(len.saturating_sub(80))?);
        while props.remaining() >= 4 {
            let ty = props.u16()?;
            let plen = usize::from(props.u16()?).max(4);
            let mut body = Reader::new(props.bytes(plen - 4)?);
            if ty == 0 && body.remaining() >= 36 {
                body.skip(4)?;
                s.rx_frame_err = body.u64()?;
                s.rx_over_err = body.u64()?;
                s.rx_crc_err = body.u64()?;
                s.collisions = body.u64()?;
            }
        }
        return Ok(s);
    }
    let mut s = PortStats { port_no: get_port(v, r)?, ..PortStats::default() };
    r.skip(if v == Version::V10 { 6 } else { 4 })?;
    let mut c = [0u64; 12];
    for x in &mut c {
        *x = r.u64()?;
    }
    [s.rx_packets, s.tx_packets, s.rx_bytes, s.tx_bytes] = [c[0], c[1], c[2], c[3]];
    [s.rx_dropped, s.tx_dropped, s.rx_errors, s.tx_errors] = [c[4], c[5], c[6], c[7]];
    [s.rx_frame_err, s.rx_over_err, s.rx_crc_err, s.collisions] = [c[8], c[9], c[10], c[11]];
    if v >= Version::V13 {
        let secs = r.u32()?;
        let nsecs = r.u32()?;
        s.duration = Some(Duration::new(u64::from(secs), nsecs.min(999_999_999)));
    }
    Ok(s)
}

fn role_to_wire(v: Version, r: Role) -> u32 {
    if v == Version::V10 {
        match r {
            Role::NoChange | Role::Equal => 0,
            Role::Master => 1,
            Role::Slave => 2,
        }
    } else {
        match r {
            Role::NoChange => 0,
            Role::Equal => 1,
            Role::Master => 2,
            Role::Slave => 3,
        }
    }
}

fn role_from_wire(v: Version, n: u32) -> Result<Role, OfpError> {
    let r = if v == Version::V10 {
        match n {
            0 => Some(Role::Equal),
            1 => Some(Role::Master),
            2 => Some(Role::Slave),
            _ => None,
        }
    } else {
        match n {
            0 => Some(Role::NoChange),
            1 => Some(Role::Equal),
            2 => Some(Role::Master),
            3 => Some(Role::Slave),
            _ => None,
        }
    };
    r.ok_or_else(|| OfpErr::RoleRequestBadRole.with(format!("role {n} is not a controller role")))
}

/// The hello's version bitmap element, with `versions` as its bitmap.
fn encode_hello(versions: u32, xid: u32) -> Vec<u8> {
    let highest = (1..=6u8).rev().find(|v| versions & (1 << v) != 0).unwrap_or(1);
    let v = Version::from_wire(highest).unwrap_or(Version::V10);
    let mut b = start_msg(v, MsgType::Hello, xid).expect("every version has hello");
    if v >= Version::V13 {
        put_u16(&mut b, 1);
        put_u16(&mut b, 8);
        put_u32(&mut b, versions);
    }
    finish_msg(b)
}

/// The versions a hello offers: its bitmap if it has one, else every
/// version up to the header's.
fn decode_hello(m: &RawMsg<'_>) -> u32 {
    let upto = (2u32 << m.version.wire()) - 2;
    let mut r = Reader::new(m.body);
    while r.remaining() >= 4 {
        let (Ok(ty), Ok(len)) = (r.u16(), r.u16()) else { break };
        let len = usize::from(len);
        if len < 4 || len - 4 > r.remaining() {
            break;
        }
        let Ok(body) = r.bytes(len - 4) else { break };
        if ty == 1 && body.len() >= 4 {
            return u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
        }
        let pad = (8 - len % 8) % 8;
        if r.skip(pad.min(r.remaining())).is_err() {
            break;
        }
    }
    upto
}

/// The highest version both bitmaps hold.
pub fn negotiate(ours: u32, theirs: u32) -> Option<Version> {
    Version::ALL.into_iter().rev().find(|v| ours & theirs & v.bit() != 0)
}

/// Builds a hello offering `versions` (a [`Version::bit`] bitmap).
pub fn hello(versions: u32, xid: u32) -> Vec<u8> {
    encode_hello(versions, xid)
}

/// Builds an error reply for the message `request` (its first 64 bytes
/// go back with it).
pub fn error_reply(v: Version, xid: u32, err: OfpErr, request: &[u8]) -> Vec<u8> {
    encode(&Msg::Error(err, request[..request.len().min(64)].to_vec()), Protocol::new(v), xid)
}

fn simple(v: Version, ty: MsgType, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut b = start_msg(v, ty, xid).expect("message exists in this version");
    b.extend_from_slice(body);
    finish_msg(b)
}

fn mp_reply(v: Version, t: MpType, xid: u32, body: &[u8]) -> Vec<u8> {
    let mut b = start_msg_flags(v, MsgType::MultipartReply(t), xid, 0)
        .expect("multipart type exists in this version");
    b.extend_from_slice(body);
    finish_msg(b)
}

/// Splits `entries` over as many replies as keep each under 64 KiB.
fn mp_replies(v: Version, t: MpType, xid: u32, entries: &[Vec<u8>]) -> Vec<u8> {
    const LIMIT: usize = 65_000;
    let mut out = Vec::new();
    let mut chunks: Vec<Vec<u8>> = vec![Vec::new()];
    for e in entries {
        if chunks.last().is_some_and(|c| !c.is_empty() && c.len() + e.len() > LIMIT) {
            chunks.push(Vec::new());
        }
        chunks.last_mut().expect("one chunk").extend_from_slice(e);
    }
    let n = chunks.len();
    for (i, c) in chunks.into_iter().enumerate() {
        let flags = if i + 1 < n { super::MP_MORE } else { 0 };
        let mut b = start_msg_flags(v, MsgType::MultipartReply(t), xid, flags)
            .expect("multipart type exists in this version");
        b.extend_from_slice(&c);
        out.extend_from_slice(&finish_msg(b));
    }
    out
}

/// Encodes `msg` for `proto`. Replies that do not fit one message come
/// back as several, one after the other.
///
/// # Panics
/// On a message the version does not have (a role request on 1.0 goes as
/// Nicira's; table features before 1.3 panic): callers check with
/// [`can_encode`].
pub fn encode(msg: &Msg, proto: Protocol, xid: u32) -> Vec<u8> {
    let v = proto.version;
    match msg {
        Msg::Hello(bits) => encode_hello(*bits, xid),
        Msg::Error(e, data) => {
            let (t, c) = e.wire(v);
            let mut body = Vec::new();
            put_u16(&mut body, t);
            put_u16(&mut body, c);
            body.extend_from_slice(data);
            simple(v, MsgType::Error, xid, &body)
        }
        Msg::EchoRequest(d) => simple(v, MsgType::EchoRequest, xid, d),
        Msg::EchoReply(d) => simple(v, MsgType::EchoReply, xid, d),
        Msg::FeaturesRequest => simple(v, MsgType::FeaturesRequest, xid, &[]),
        Msg::FeaturesReply(f) => {
            let mut b = Vec::new();
            put_u64(&mut b, f.datapath_id);
            put_u32(&mut b, f.n_buffers);
            b.push(f.n_tables);
            if v >= Version::V13 {
                b.push(f.auxiliary_id);
                b.extend_from_slice(&[0; 2]);
            } else {
                b.extend_from_slice(&[0; 3]);
            }
            put_u32(&mut b, f.capabilities);
            put_u32(&mut b, if v == Version::V10 { f.actions } else { 0 });
            if v <= Version::V12 {
                for p in &f.ports {
                    put_port_desc(v, p, &mut b);
                }
            }
            simple(v, MsgType::FeaturesReply, xid, &b)
        }
        Msg::GetConfigRequest => simple(v, MsgType::GetConfigRequest, xid, &[]),
        Msg::GetConfigReply(c) | Msg::SetConfig(c) => {
            let ty = if matches!(msg, Msg::SetConfig(_)) {
                MsgType::SetConfig
            } else {
                MsgType::GetConfigReply
            };
            let mut b = Vec::new();
            put_u16(&mut b, c.flags);
            put_u16(&mut b, c.miss_send_len);
            simple(v, ty, xid, &b)
        }
        Msg::PacketIn(p) => {
            let mut b = Vec::new();
            put_u32(&mut b, p.buffer_id);
            put_u16(&mut b, p.total_len);
            if v == Version::V10 {
                put_port(v, p.in_port(), &mut b);
                b.push(reason_wire(v, p.reason));
                b.push(0);
            } else if v <= Version::V11 {
                put_port(v, p.in_port(), &mut b);
                put_port(v, p.in_port(), &mut b);
                b.push(reason_wire(v, p.reason));
                b.push(p.table.0);
            } else {
                b.push(reason_wire(v, p.reason));
                b.push(p.table.0);
                if v >= Version::V13 {
                    put_u64(&mut b, p.cookie.0);
                }
                oxm::encode_ofp_match(&p.match_, v, &mut b);
                b.extend_from_slice(&[0; 2]);
            }
            b.extend_from_slice(&p.data);
            simple(v, MsgType::PacketIn, xid, &b)
        }
        Msg::FlowRemoved(fr) => fl::encode_flow_removed(fr, proto, xid),
        Msg::PortStatus(reason, desc) => {
            let mut b = vec![
                match reason {
                    PortReason::Add => 0,
                    PortReason::Delete => 1,
                    PortReason::Modify => 2,
                },
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ];
            put_port_desc(v, desc, &mut b);
            simple(v, MsgType::PortStatus, xid, &b)
        }
        Msg::PacketOut(po) => {
            let mut acts = Vec::new();
            actions::encode_actions(&po.actions, v, &mut acts);
            let mut b = Vec::new();
            put_u32(&mut b, po.buffer_id);
            if v >= Version::V15 {
                // 1.5 carries the input port (and pipeline fields) as a match.
                put_u16(&mut b, acts.len() as u16);
                b.extend_from_slice(&[0; 2]);
                let mut m = OfMatch::catchall();
                m.set(Mf::InPort, u128::from(po.in_port.0));
                oxm::encode_ofp_match(&m, v, &mut b);
            } else {
                put_port(v, po.in_port, &mut b);
                put_u16(&mut b, acts.len() as u16);
                if v != Version::V10 {
                    b.extend_from_slice(&[0; 6]);
                }
            }
            b.extend_from_slice(&acts);
            b.extend_from_slice(&po.data);
            simple(v, MsgType::PacketOut, xid, &b)
        }
        Msg::FlowMod(fm) => fl::encode_flow_mod(fm, proto, xid),
        Msg::PortMod(pm) => {
            let mut b = Vec::new();
            put_port(v, pm.port_no, &mut b);
            if v == Version::V10 {
                b.extend_from_slice(&pm.hw_addr.0);
            } else {
                b.extend_from_slice(&[0; 4]);
                b.extend_from_slice(&pm.hw_addr.0);
                b.extend_from_slice(&[0; 2]);
            }
            put_u32(&mut b, pm.config);
            put_u32(&mut b, pm.mask);
            if v >= Version::V14 {
                // The Ethernet property carries `advertise`.
                put_u16(&mut b, 0);
                put_u16(&mut b, 8);
                put_u32(&mut b, pm.advertise);
            } else {
                put_u32(&mut b, pm.advertise);
                b.extend_from_slice(&[0; 4]);
            }
            simple(v, MsgType::PortMod, xid, &b)
        }
        Msg::BarrierRequest => simple(v, MsgType::BarrierRequest, xid, &[]),
        Msg::BarrierReply => simple(v, MsgType::BarrierReply, xid, &[]),
        Msg::RoleRequest(r, gen) | Msg::RoleReply(r, gen) => {
            let req = matches!(msg, Msg::RoleRequest(..));
            let mut b = Vec::new();
            if v <= Version::V11 {
                put_u32(&mut b, role_to_wire(Version::V10, *r));
                let sub = if req { nxt::ROLE_REQUEST } else { nxt::ROLE_REPLY };
                let _ = gen;
                simple(v, MsgType::Vendor(NX_VENDOR_ID, sub), xid, &b)
            } else {
                put_u32(&mut b, role_to_wire(v, *r));
                b.extend_from_slice(&[0; 4]);
                put_u64(&mut b, *gen);
                simple(v, if req { MsgType::RoleRequest } else { MsgType::RoleReply }, xid, &b)
            }
        }
        Msg::SetFlowFormat(f) => {
            let n = match f {
                FlowFormat::OpenFlow10 => 0u32,
                FlowFormat::Nxm => 2,
            };
            simple(v, MsgType::Vendor(NX_VENDOR_ID, nxt::SET_FLOW_FORMAT), xid, &n.to_be_bytes())
        }
        Msg::SetPacketInFormat(n) => simple(
            v,
            MsgType::Vendor(NX_VENDOR_ID, nxt::SET_PACKET_IN_FORMAT),
            xid,
            &n.to_be_bytes(),
        ),
        Msg::FlowModTableId(on) => simple(
            v,
            MsgType::Vendor(NX_VENDOR_ID, nxt::FLOW_MOD_TABLE_ID),
            xid,
            &[u8::from(*on), 0, 0, 0, 0, 0, 0, 0],
        ),
        Msg::SetControllerId(id) => {
            let mut b = vec![0; 6];
            put_u16(&mut b, *id);
            simple(v, MsgType::Vendor(NX_VENDOR_ID, nxt::SET_CONTROLLER_ID), xid, &b)
        }
        Msg::DescRequest => simple(v, MsgType::MultipartRequest(MpType::Desc), xid, &[]),
        Msg::DescReply(d) => {
            let mut b = Vec::new();
            put_string(&mut b, &d.mfr, 256);
            put_string(&mut b, &d.hw, 256);
            put_string(&mut b, &d.sw, 256);
            put_string(&mut b, &d.serial, 32);
            put_string(&mut b, &d.dp, 256);
            mp_reply(v, MpType::Desc, xid, &b)
        }
        Msg::FlowStatsRequest(req, agg) => fl::encode_flow_stats_request(req, *agg, proto, xid),
        Msg::FlowStatsReply(entries) => fl::encode_flow_stats_reply(entries, proto, xid).concat(),
        Msg::AggregateReply(a) => fl::encode_aggregate_reply(a, proto, xid),
        Msg::TableStatsRequest => simple(v, MsgType::MultipartRequest(MpType::Table), xid, &[]),
        Msg::TableStatsReply(ts) => {
            let entries: Vec<Vec<u8>> = ts
                .iter()
                .map(|t| {
                    let mut b = vec![t.table.0, 0, 0, 0];
                    match v {
                        Version::V10 => {
                            put_string(&mut b, &t.name, 32);
                            put_u32(&mut b, 0x003f_ffff); // every 1.0 wildcard
                            put_u32(&mut b, t.max_entries);
                        }
                        Version::V11 => {
                            b.extend_from_slice(&[0; 4]);
                            put_string(&mut b, &t.name, 32);
                            put_u32(&mut b, 0x3ff); // wildcards: every 1.1 field
                            put_u32(&mut b, 0x3ff); // match
                            put_u32(&mut b, 0x3e); // instructions
                            put_u32(&mut b, 0x01ff_ffff); // write actions
                            put_u32(&mut b, 0x01ff_ffff); // apply actions
                            put_u32(&mut b, 0); // config
                            put_u32(&mut b, t.max_entries);
                        }
                        Version::V12 => {
                            b.extend_from_slice(&[0; 4]);
                            put_string(&mut b, &t.name, 32);
                            let fields = (1u64 << 40) - 1; // OXM basic fields 0-39
                            put_u64(&mut b, fields); // match
                            put_u64(&mut b, fields); // wildcards
                            put_u32(&mut b, 0x03ff_ffff); // write actions
                            put_u32(&mut b, 0x03ff_ffff); // apply actions
                            put_u64(&mut b, fields); // write set-fields
                            put_u64(&mut b, fields); // apply set-fields
                            put_u64(&mut b, u64::MAX); // metadata match
                            put_u64(&mut b, u64::MAX); // metadata write
                            put_u32(&mut b, 0x3e); // instructions
                            put_u32(&mut b, 0); // config
                            put_u32(&mut b, t.max_entries);
                        }
                        _ => {}
                    }
                    put_u32(&mut b, t.active_count);
                    put_u64(&mut b, t.lookup_count);
                    put_u64(&mut b, t.matched_count);
                    b
                })
                .collect();
            mp_replies(v, MpType::Table, xid, &entries)
        }
        Msg::PortStatsRequest(p) => {
            let mut b = Vec::new();
            put_port(v, *p, &mut b);
            b.extend_from_slice(if v == Version::V10 { &[0; 6] } else { &[0; 4] });
            simple(v, MsgType::MultipartRequest(MpType::PortStats), xid, &b)
        }
        Msg::PortStatsReply(ps) => {
            let entries: Vec<Vec<u8>> = ps
                .iter()
                .map(|s| {
                    let mut b = Vec::new();
                    put_port_stats(v, s, &mut b);
                    b
                })
                .collect();
            mp_replies(v, MpType::PortStats, xid, &entries)
        }
        Msg::PortDescRequest => {
            let mut b = Vec::new();
            if v >= Version::V15 {
                put_port(v, OfPort::NONE, &mut b);
                b.extend_from_slice(&[0; 4]);
            }
            simple(v, MsgType::MultipartRequest(MpType::PortDesc), xid, &b)
        }
        Msg::PortDescReply(ps) => {
            let entries: Vec<Vec<u8>> = ps
                .iter()
                .map(|p| {
                    let mut b = Vec::new();
                    put_port_desc(v, p, &mut b);
                    b
                })
                .collect();
            mp_replies(v, MpType::PortDesc, xid, &entries)
        }
        Msg::TableFeaturesRequest(_) => {
            simple(v, MsgType::MultipartRequest(MpType::TableFeatures), xid, &[])
        }
        Msg::TableFeaturesReply(ts) => {
            let n = ts.len();
            let entries: Vec<Vec<u8>> = ts
                .iter()
                .enumerate()
                .map(|(i, (t, name, max))| {
                    let mut b = vec![0, 0, t.0, 0, 0, 0, 0, 0];
                    put_string(&mut b, name, 32);
                    put_u64(&mut b, u64::MAX); // metadata_match
                    put_u64(&mut b, u64::MAX); // metadata_write
                    put_u32(&mut b, 0); // config
                    put_u32(&mut b, *max);
                    let next: Vec<u8> = ts[i + 1..].iter().map(|(t, _, _)| t.0).collect();
                    put_table_properties(v, i + 1 == n, &next, &mut b);
                    let len = b.len() as u16;
                    b[0..2].copy_from_slice(&len.to_be_bytes());
                    b
                })
                .collect();
            mp_replies(v, MpType::TableFeatures, xid, &entries)
        }
    }
}

/// Appends one table-features property and its padding.
fn put_prop(ty: u16, body: &[u8], out: &mut Vec<u8>) {
    put_u16(out, ty);
    put_u16(out, 4 + body.len() as u16);
    out.extend_from_slice(body);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

/// The properties OpenFlow 1.3 requires of a table-features entry: the
/// instructions, next tables, actions and fields this switch supports.
fn put_table_properties(v: Version, last: bool, next: &[u8], out: &mut Vec<u8>) {
    let headers = |ids: &[u16]| -> Vec<u8> {
        ids.iter().flat_map(|t| [t.to_be_bytes(), 4u16.to_be_bytes()].concat()).collect()
    };
    // goto_table, write_metadata, write_actions, apply_actions, clear_actions.
    let insts: &[u16] = if last { &[2, 3, 4, 5] } else { &[1, 2, 3, 4, 5] };
    // output, push/pop vlan, set_queue, set_nw_ttl, dec_nw_ttl, set_field.
    let acts = headers(&[0, 17, 18, 21, 23, 24, 25]);
    let mut fields = Vec::new();
    let mut writable = Vec::new();
    for mf in Mf::all() {
        let Some(h) = oxm::field_header(mf, v) else { continue };
        if h >> 16 == 0xffff || fields.contains(&h) {
            continue;
        }
        fields.push(h);
        if mf.spec().writable {
            writable.push(h);
        }
    }
    let oxms = |hs: &[u32]| -> Vec<u8> { hs.iter().flat_map(|h| h.to_be_bytes()).collect() };
    put_prop(0, &headers(insts), out);
    put_prop(1, &headers(insts), out);
    put_prop(2, next, out);
    put_prop(3, next, out);
    put_prop(4, &acts, out);
    put_prop(5, &acts, out);
    put_prop(6, &acts, out);
    put_prop(7, &acts, out);
    put_prop(8, &oxms(&fields), out);
    put_prop(10, &oxms(&fields), out);
    put_prop(12, &oxms(&writable), out);
    put_prop(13, &oxms(&writable), out);
    put_prop(14, &oxms(&writable), out);
    put_prop(15, &oxms(&writable), out);
}

/// Encodes a packet-in in a Nicira format chosen with
/// `NXT_SET_PACKET_IN_FORMAT`: 1 is `NXT_PACKET_IN` (an NXM match of the
/// packet's metadata), 2 is `NXT_PACKET_IN2` (properties); 0 is the
/// standard message ([`encode`]).
pub fn encode_packet_in_format(p: &PacketInMsg, proto: Protocol, xid: u32, format: u32) -> Vec<u8> {
    let v = proto.version;
    match format {
        1 => {
            let mut b = start_msg(v, MsgType::Vendor(NX_VENDOR_ID, nxt::PACKET_IN), xid)
                .expect("vendor messages exist in every version");
            put_u32(&mut b, p.buffer_id);
            put_u16(&mut b, p.total_len);
            b.push(reason_wire(v, p.reason));
            b.push(p.table.0);
            put_u64(&mut b, p.cookie.0);
            let len_at = b.len();
            put_u16(&mut b, 0);
            b.extend_from_slice(&[0; 6]);
            let n = oxm::encode_tlvs(&p.match_, Version::V10, &mut b);
            b[len_at..len_at + 2].copy_from_slice(&(n as u16).to_be_bytes());
            super::pad8(&mut b);
            b.extend_from_slice(&[0; 2]);
            b.extend_from_slice(&p.data);
            finish_msg(b)
        }
        2 => {
            let mut b = start_msg(v, MsgType::Vendor(NX_VENDOR_ID, nxt::PACKET_IN2), xid)
                .expect("vendor messages exist in every version");
            let prop = |b: &mut Vec<u8>, ty: u16, body: &[u8]| {
                put_u16(b, ty);
                put_u16(b, 4 + body.len() as u16);
                b.extend_from_slice(body);
                super::pad8(b);
            };
            prop(&mut b, 0, &p.data);
            if usize::from(p.total_len) != p.data.len() {
                prop(&mut b, 1, &u32::from(p.total_len).to_be_bytes());
            }
            if p.buffer_id != NO_BUFFER {
                prop(&mut b, 2, &p.buffer_id.to_be_bytes());
            }
            prop(&mut b, 3, &[p.table.0]);
            // 64-bit properties carry 4 bytes of padding first.
            let mut cookie = vec![0; 4];
            cookie.extend_from_slice(&p.cookie.0.to_be_bytes());
            prop(&mut b, 4, &cookie);
            prop(&mut b, 5, &[reason_wire(v, p.reason)]);
            let mut md = Vec::new();
            oxm::encode_tlvs(&p.match_, v, &mut md);
            prop(&mut b, 6, &md);
            finish_msg(b)
        }
        _ => encode(&Msg::PacketIn(p.clone()), proto, xid),
    }
}

/// Decodes `NXT_PACKET_IN` and `NXT_PACKET_IN2` bodies.
fn decode_nx_packet_in(m: &RawMsg<'_>, sub: u32) -> Result<PacketInMsg, OfpError> {
    let v = m.version;
    let mut r = Reader::new(m.body);
    if sub == nxt::PACKET_IN {
        let buffer_id = r.u32()?;
        let total_len = r.u16()?;
        let reason = reason_from_wire(r.u8()?);
        let table = TableId(r.u8()?);
        let cookie = Cookie(r.u64()?);
        let mlen = usize::from(r.u16()?);
        r.skip(6)?;
        let match_ = oxm::decode_tlvs(r.bytes(mlen)?, Version::V10)?;
        r.skip((8 - mlen % 8) % 8)?;
        r.skip(2)?;
        return Ok(PacketInMsg {
            buffer_id,
            total_len,
            reason,
            table,
            cookie,
            match_,
            data: r.rest().to_vec(),
        });
    }
    let mut p = PacketInMsg {
        buffer_id: NO_BUFFER,
        total_len: 0,
        reason: PacketInReason::NoMatch,
        table: TableId(0),
        cookie: Cookie(0),
        match_: OfMatch::catchall(),
        data: Vec::new(),
    };
    let mut full_len = None;
    while r.remaining() >= 4 {
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 4 {
            return Err(
                OfpErr::BadRequestBadLen.with(format!("packet-in2 property {ty} of length {len}"))
            );
        }
        let mut body = Reader::new(r.bytes(len - 4)?);
        r.skip(((8 - len % 8) % 8).min(r.remaining()))?;
        match ty {
            0 => p.data = body.rest().to_vec(),
            1 => full_len = Some(body.u32()?),
            2 => p.buffer_id = body.u32()?,
            3 => p.table = TableId(body.u8()?),
            4 => {
                body.skip(4)?;
                p.cookie = Cookie(body.u64()?);
            }
            5 => p.reason = reason_from_wire(body.u8()?),
            6 => p.match_ = oxm::decode_tlvs(body.rest(), v)?,
            _ => {}
        }
    }
    p.total_len = full_len.unwrap_or(p.data.len() as u32).min(u32::from(u16::MAX)) as u16;
    Ok(p)
}

/// True if `proto` can carry `msg`.
pub fn can_encode(msg: &Msg, proto: Protocol) -> bool {
    let v = proto.version;
    match msg {
        Msg::TableFeaturesRequest(_) | Msg::TableFeaturesReply(_) => v >= Version::V13,
        Msg::PortDescRequest | Msg::PortDescReply(_) => v == Version::V10 || v >= Version::V13,
        Msg::SetFlowFormat(_) | Msg::FlowModTableId(_) => v == Version::V10,
        _ => true,
    }
}

fn no_extra(r: &Reader<'_>, what: &str) -> Result<(), OfpError> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(OfpErr::BadRequestBadLen.with(format!("{} extra bytes after {what}", r.remaining())))
    }
}

/// Decodes a message split by [`RawMsg::parse`], for a connection speaking
/// `proto`. Unknown types and vendors give the error to send back.
pub fn decode(m: &RawMsg<'_>, proto: Protocol) -> Result<Msg, OfpError> {
    let v = m.version;
    let mut r = Reader::new(m.body);
    let msg = match m.ty {
        MsgType::Hello => Msg::Hello(decode_hello(m)),
        MsgType::Error => {
            let t = r.u16()?;
            let c = r.u16()?;
            Msg::Error(OfpErr::from_wire(v, t, c), r.rest().to_vec())
        }
        MsgType::EchoRequest => Msg::EchoRequest(r.rest().to_vec()),
        MsgType::EchoReply => Msg::EchoReply(r.rest().to_vec()),
        MsgType::FeaturesRequest => Msg::FeaturesRequest,
        MsgType::FeaturesReply => {
            let mut f =
                Features { datapath_id: r.u64()?, n_buffers: r.u32()?, ..Default::default() };
            f.n_tables = r.u8()?;
            if v >= Version::V13 {
                f.auxiliary_id = r.u8()?;
                r.skip(2)?;
            } else {
                r.skip(3)?;
            }
            f.capabilities = r.u32()?;
            f.actions = r.u32()?;
            if v <= Version::V12 {
                while !r.is_empty() {
                    f.ports.push(get_port_desc(v, &mut r)?);
                }
            }
            Msg::FeaturesReply(f)
        }
        MsgType::GetConfigRequest => Msg::GetConfigRequest,
        MsgType::GetConfigReply | MsgType::SetConfig => {
            let c = SwitchConfig { flags: r.u16()?, miss_send_len: r.u16()? };
            if c.flags & !3 != 0 {
                return Err(OfpErr::SwitchConfigBadFlags.with(format!("flags {:#x}", c.flags)));
            }
            if m.ty == MsgType::SetConfig {
                Msg::SetConfig(c)
            } else {
                Msg::GetConfigReply(c)
            }
        }
        MsgType::PacketIn => {
            let buffer_id = r.u32()?;
            let total_len = r.u16()?;
            let mut match_ = OfMatch::catchall();
            let (reason, table, cookie);
            if v == Version::V10 {
                match_.set(Mf::InPort, u128::from(get_port(v, &mut r)?.0));
                reason = reason_from_wire(r.u8()?);
                r.skip(1)?;
                table = TableId(0);
                cookie = Cookie(u64::MAX);
            } else if v == Version::V11 {
                match_.set(Mf::InPort, u128::from(get_port(v, &mut r)?.0));
                get_port(v, &mut r)?;
                reason = reason_from_wire(r.u8()?);
                table = TableId(r.u8()?);
                cookie = Cookie(u64::MAX);
            } else {
                reason = reason_from_wire(r.u8()?);
                table = TableId(r.u8()?);
                cookie = Cookie(if v >= Version::V13 { r.u64()? } else { u64::MAX });
                match_ = oxm::decode_ofp_match(&mut r, v)?;
                r.skip(2)?;
            }
            Msg::PacketIn(PacketInMsg {
                buffer_id,
                total_len,
                reason,
                table,
                cookie,
                match_,
                data: r.rest().to_vec(),
            })
        }
        MsgType::FlowRemoved | MsgType::Vendor(NX_VENDOR_ID, nxt::FLOW_REMOVED) => {
            Msg::FlowRemoved(fl::decode_flow_removed(m, proto)?)
        }
        MsgType::PortStatus => {
            let reason = match r.u8()? {
                0 => PortReason::Add,
                1 => PortReason::Delete,
                2 => PortReason::Modify,
                n => return Err(OfpErr::BadRequestBadType.with(format!("port status reason {n}"))),
            };
            r.skip(7)?;
            Msg::PortStatus(reason, get_port_desc(v, &mut r)?)
        }
        MsgType::PacketOut => {
            let buffer_id = r.u32()?;
            let (in_port, alen);
            if v >= Version::V15 {
                alen = usize::from(r.u16()?);
                r.skip(2)?;
                let m = oxm::decode_ofp_match(&mut r, v)?;
                let (port, mask) = m.get(Mf::InPort);
                in_port = if mask == 0 { OfPort::CONTROLLER } else { OfPort(port as u16) };
            } else {
                in_port = get_port(v, &mut r)?;
                alen = usize::from(r.u16()?);
                if v != Version::V10 {
                    r.skip(6)?;
                }
            }
            let acts = r.bytes(alen).map_err(|_| {
                OfpErr::BadRequestBadLen.with(format!(
                    "packet-out actions_len {alen} exceeds the message ({} bytes left)",
                    m.body.len()
                ))
            })?;
            let actions = actions::decode_actions(acts, v)?;
            if buffer_id != NO_BUFFER {
                return Err(OfpErr::BadRequestBufferUnknown
                    .with(format!("buffer {buffer_id:#x}: this switch buffers no packets")));
            }
            let ok_port = in_port.is_physical()
                || in_port == OfPort::LOCAL
                || in_port == OfPort::CONTROLLER
                || in_port == OfPort::NONE;
            if !ok_port {
                return Err(OfpErr::BadRequestBadPort
                    .with(format!("packet-out in_port {in_port} is not a port")));
            }
            Msg::PacketOut(PacketOut { buffer_id, in_port, actions, data: r.rest().to_vec() })
        }
        MsgType::FlowMod | MsgType::Vendor(NX_VENDOR_ID, nxt::FLOW_MOD) => {
            Msg::FlowMod(fl::decode_flow_mod(m, proto)?)
        }
        MsgType::PortMod => {
            let port_no = get_port(v, &mut r)?;
            if v != Version::V10 {
                r.skip(4)?;
            }
            let hw_addr = EthAddr(r.array()?);
            if v != Version::V10 {
                r.skip(2)?;
            }
            let config = r.u32()?;
            let mask = r.u32()?;
            let mut advertise = 0;
            if v >= Version::V14 {
                while r.remaining() >= 4 {
                    let ty = r.u16()?;
                    let len = usize::from(r.u16()?).max(4);
                    let mut p = Reader::new(r.bytes(len - 4)?);
                    if ty == 0 {
                        advertise = p.u32()?;
                    }
                }
            } else {
                advertise = r.u32()?;
                r.skip(4)?;
            }
            Msg::PortMod(PortMod { port_no, hw_addr, config, mask, advertise })
        }
        MsgType::BarrierRequest => Msg::BarrierRequest,
        MsgType::BarrierReply => Msg::BarrierReply,
        MsgType::RoleRequest | MsgType::RoleReply => {
            let role = role_from_wire(v, r.u32()?)?;
            r.skip(4)?;
            let gen = r.u64()?;
            if m.ty == MsgType::RoleRequest {
                Msg::RoleRequest(role, gen)
            } else {
                Msg::RoleReply(role, gen)
            }
        }
        MsgType::Vendor(NX_VENDOR_ID, sub) => match sub {
            nxt::ROLE_REQUEST | nxt::ROLE_REPLY => {
                let role = role_from_wire(Version::V10, r.u32()?)?;
                if sub == nxt::ROLE_REQUEST {
                    Msg::RoleRequest(role, 0)
                } else {
                    Msg::RoleReply(role, 0)
                }
            }
            nxt::SET_FLOW_FORMAT => match r.u32()? {
                0 => Msg::SetFlowFormat(FlowFormat::OpenFlow10),
                2 => Msg::SetFlowFormat(FlowFormat::Nxm),
                n => {
                    return Err(OfpErr::BadRequestEperm.with(format!("flow format {n} is unknown")))
                }
            },
            nxt::SET_PACKET_IN_FORMAT => {
                let n = r.u32()?;
                if n > 2 {
                    return Err(
                        OfpErr::BadRequestEperm.with(format!("packet-in format {n} is unknown"))
                    );
                }
                Msg::SetPacketInFormat(n)
            }
            nxt::FLOW_MOD_TABLE_ID => Msg::FlowModTableId(r.u8()? != 0),
            nxt::PACKET_IN | nxt::PACKET_IN2 => Msg::PacketIn(decode_nx_packet_in(m, sub)?),
            nxt::SET_CONTROLLER_ID => {
                r.skip(6)?;
                Msg::SetControllerId(r.u16()?)
            }
            _ => {
                return Err(OfpErr::BadRequestBadSubtype
                    .with(format!("Nicira message subtype {sub} is not supported")))
            }
        },
        MsgType::Vendor(vendor, _) => {
            return Err(
                OfpErr::BadRequestBadVendor.with(format!("vendor {vendor:#010x} is not supported"))
            )
        }
        MsgType::MultipartRequest(t) => match t {
            MpType::Desc => Msg::DescRequest,
            MpType::Flow | MpType::Aggregate => {
                let (req, agg) = fl::decode_flow_stats_request(m)?;
                Msg::FlowStatsRequest(req, agg)
            }
            MpType::Table => Msg::TableStatsRequest,
            MpType::PortStats => {
                let p = get_port(v, &mut r)?;
                Msg::PortStatsRequest(p)
            }
            MpType::PortDesc => Msg::PortDescRequest,
            MpType::TableFeatures => Msg::TableFeaturesRequest(!r.is_empty()),
            other => {
                return Err(OfpErr::BadRequestBadMultipart
                    .with(format!("multipart type {} is not supported", other.wire())))
            }
        },
        MsgType::MultipartReply(t) => match t {
            MpType::Desc => Msg::DescReply(Desc {
                mfr: r.string(256)?,
                hw: r.string(256)?,
                sw: r.string(256)?,
                serial: r.string(32)?,
                dp: r.string(256)?,
            }),
            MpType::Flow => Msg::FlowStatsReply(fl::decode_flow_stats_reply(m)?),
            MpType::Aggregate => Msg::AggregateReply(fl::decode_aggregate_reply(m)?),
            MpType::Table => {
                let mut ts = Vec::new();
                while !r.is_empty() {
                    let mut t = TableStats { table: TableId(r.u8()?), ..Default::default() };
                    r.skip(3)?;
                    match v {
                        Version::V10 => {
                            t.name = r.string(32)?;
                            r.skip(4)?;
                            t.max_entries = r.u32()?;
                        }
                        Version::V11 => {
                            r.skip(4)?;
                            t.name = r.string(32)?;
                            r.skip(24)?;
                            t.max_entries = r.u32()?;
                        }
                        Version::V12 => {
                            r.skip(4)?;
                            t.name = r.string(32)?;
                            r.skip(64)?;
                            t.max_entries = r.u32()?;
                        }
                        _ => {}
                    }
                    t.active_count = r.u32()?;
                    t.lookup_count = r.u64()?;
                    t.matched_count = r.u64()?;
                    ts.push(t);
                }
                Msg::TableStatsReply(ts)
            }
            MpType::PortStats => {
                let mut ps = Vec::new();
                while !r.is_empty() {
                    ps.push(get_port_stats(v, &mut r)?);
                }
                Msg::PortStatsReply(ps)
            }
            MpType::PortDesc => {
                let mut ps = Vec::new();
                while !r.is_empty() {
                    ps.push(get_port_desc(v, &mut r)?);
                }
                Msg::PortDescReply(ps)
            }
            MpType::TableFeatures => {
                let mut ts = Vec::new();
                while !r.is_empty() {
                    let len = usize::from(r.u16()?);
                    if len < 64 {
                        return Err(OfpErr::BadRequestBadLen
                            .with(format!("table features length {len} below 64")));
                    }
                    let mut e = Reader::new(r.bytes(len - 2)?);
                    let t = TableId(e.u8()?);
                    e.skip(5)?;
                    let name = e.string(32)?;
                    e.skip(20)?;
                    ts.push((t, name, e.u32()?));
                }
                Msg::TableFeaturesReply(ts)
            }
            other => {
                return Err(OfpErr::BadRequestBadMultipart
                    .with(format!("multipart type {} is not supported", other.wire())))
            }
        },
        MsgType::VendorMultipartRequest(NX_VENDOR_ID, nxt::STATS_FLOW | nxt::STATS_AGGREGATE) => {
            let (req, agg) = fl::decode_flow_stats_request(m)?;
            Msg::FlowStatsRequest(req, agg)
        }
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_FLOW) => {
            Msg::FlowStatsReply(fl::decode_flow_stats_reply(m)?)
        }
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_AGGREGATE) => {
            Msg::AggregateReply(fl::decode_aggregate_reply(m)?)
        }
        MsgType::VendorMultipartRequest(vendor, sub)
        | MsgType::VendorMultipartReply(vendor, sub) => {
            return Err(OfpErr::BadRequestBadMultipart
                .with(format!("vendor statistics {vendor:#x}/{sub} are not supported")))
        }
        other => {
            return Err(
                OfpErr::BadRequestBadType.with(format!("message type {other:?} is not supported"))
            )
        }
    };
    // Fixed-size messages must not carry extra bytes.
    if matches!(
        msg,
        Msg::FeaturesRequest | Msg::GetConfigRequest | Msg::BarrierRequest | Msg::BarrierReply
    ) {
        no_extra(&r, &format!("{:?}", m.ty))?;
    }
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(msg: Msg, v: Version) -> Msg {
        let p = Protocol::new(v);
        let b = encode(&msg, p, 5);
        let raw = RawMsg::parse(&b).unwrap_or_else(|e| panic!("{v} {msg:?}: {e}"));
        assert_eq!(raw.xid, 5);
        decode(&raw, p).unwrap_or_else(|e| panic!("{v} {msg:?}: {e}"))
    }

    fn port(n: u16) -> PortDesc {
        PortDesc {
            port_no: OfPort(n),
            hw_addr: EthAddr([0, 1, 2, 3, 4, n as u8]),
            name: format!("p{n}"),
            config: 0,
            state: OFPPS_LINK_DOWN,
            curr: 0x2020 | 0x40,
            advertised: 0,
            supported: 0x40,
            peer: 0,
            curr_speed: 10_000_000,
            max_speed: 10_000_000,
        }
    }

    #[test]
    fn simple_messages_round_trip() {
        for v in Version::ALL {
            let mut msgs = vec![
                Msg::EchoRequest(b"abc".to_vec()),
                Msg::EchoReply(vec![]),
                Msg::FeaturesRequest,
                Msg::GetConfigRequest,
                Msg::GetConfigReply(SwitchConfig { flags: 1, miss_send_len: 0xffff }),
                Msg::SetConfig(SwitchConfig::default()),
                Msg::BarrierRequest,
                Msg::BarrierReply,
                Msg::Error(OfpErr::BadRequestBadLen, vec![1, 2, 3]),
                Msg::DescRequest,
                Msg::DescReply(Desc {
                    mfr: "rvs".into(),
                    hw: "hw".into(),
                    sw: "0.1".into(),
                    serial: "None".into(),
                    dp: "br0".into(),
                }),
                Msg::TableStatsRequest,
                Msg::PortStatsRequest(OfPort::NONE),
                Msg::PortStatsRequest(OfPort(3)),
                Msg::PortDescRequest,
                Msg::RoleRequest(Role::Master, if v <= Version::V11 { 0 } else { 9 }),
                Msg::RoleReply(Role::Slave, if v <= Version::V11 { 0 } else { 9 }),
                Msg::PortStatus(PortReason::Modify, {
                    let mut p = port(7);
                    if v == Version::V10 {
                        p.curr_speed = 0;
                        p.max_speed = 0;
                    }
                    p
                }),
                Msg::PortMod(PortMod {
                    port_no: OfPort(2),
                    hw_addr: EthAddr([2, 0, 0, 0, 0, 1]),
                    config: OFPPC_PORT_DOWN,
                    mask: OFPPC_PORT_DOWN,
                    advertise: 0,
                }),
                Msg::PortStatsReply(vec![PortStats {
                    port_no: OfPort(1),
                    rx_packets: 3,
                    tx_bytes: 99,
                    collisions: 1,
                    duration: (v >= Version::V13).then(|| Duration::new(5, 6)),
                    ..Default::default()
                }]),
                Msg::TableStatsReply(vec![TableStats {
                    table: TableId(1),
                    name: if v <= Version::V12 { "table1".into() } else { String::new() },
                    active_count: 4,
                    max_entries: if v <= Version::V12 { 1_000_000 } else { 0 },
                    lookup_count: 10,
                    matched_count: 5,
                }]),
            ];
            if v == Version::V10 {
                msgs.push(Msg::SetFlowFormat(FlowFormat::Nxm));
                msgs.push(Msg::FlowModTableId(true));
            }
            msgs.push(Msg::SetPacketInFormat(0));
            msgs.push(Msg::SetControllerId(3));
            if v >= Version::V13 {
                msgs.push(Msg::TableFeaturesRequest(false));
                msgs.push(Msg::TableFeaturesReply(vec![(TableId(0), "classifier".into(), 1000)]));
            }
            for m in msgs {
                if !can_encode(&m, Protocol::new(v)) {
                    continue;
                }
                let mut want = m.clone();
                if let Msg::PortStatus(_, ref mut p) = want {
                    if v == Version::V10 {
                        p.state &= OFPPS_LINK_DOWN;
                    }
                }
                assert_eq!(rt(m, v), want, "{v}");
            }
        }
    }

    #[test]
    fn features_carry_ports_before_13() {
        for v in Version::ALL {
            let mut f = Features {
                datapath_id: 0x0000_0203_0405_0607,
                n_buffers: 0,
                n_tables: 254,
                auxiliary_id: 0,
                capabilities: 0x47,
                actions: if v == Version::V10 { 0xfff } else { 0 },
                ports: vec![port(1), port(2)],
            };
            if v == Version::V10 {
                for p in &mut f.ports {
                    p.curr_speed = 0;
                    p.max_speed = 0;
                    p.curr &= 0x7f;
                }
            }
            let got = rt(Msg::FeaturesReply(f.clone()), v);
            if v >= Version::V13 {
                f.ports.clear();
            }
            assert_eq!(got, Msg::FeaturesReply(f), "{v}");
        }
    }

    #[test]
    fn packet_outs_round_trip() {
        for v in Version::ALL {
            let po = PacketOut {
                buffer_id: NO_BUFFER,
                in_port: OfPort(3),
                actions: vec![OfAction::output(OfPort(2))],
                data: vec![1; 60],
            };
            assert_eq!(rt(Msg::PacketOut(po.clone()), v), Msg::PacketOut(po), "{v}");
        }
    }

    #[test]
    fn nicira_packet_ins_round_trip() {
        let mut match_ = OfMatch::catchall();
        match_.set(Mf::InPort, 3);
        match_.set(Mf::Reg(2), 9);
        let pi = PacketInMsg {
            buffer_id: NO_BUFFER,
            total_len: 100,
            reason: PacketInReason::Action,
            table: TableId(4),
            cookie: Cookie(0x1234),
            match_,
            data: vec![7; 60],
        };
        for v in [Version::V10, Version::V13, Version::V15] {
            for format in [0, 1, 2] {
                if format == 0 && v == Version::V10 {
                    continue; // 1.0's standard packet-in has no table, cookie or registers
                }
                let p = Protocol::new(v);
                let b = encode_packet_in_format(&pi, p, 9, format);
                let raw = RawMsg::parse(&b).unwrap();
                let mut want = pi.clone();
                if format == 0 && v < Version::V13 {
                    want.cookie = Cookie(u64::MAX);
                }
                assert_eq!(decode(&raw, p).unwrap(), Msg::PacketIn(want), "{v} format {format}");
            }
        }
    }

    #[test]
    fn hello_negotiates() {
        let ours = Version::V10.bit() | Version::V13.bit();
        let b = hello(ours, 1);
        let raw = RawMsg::parse(&b).unwrap();
        assert_eq!(raw.version, Version::V13);
        let Msg::Hello(bits) = decode(&raw, Protocol::new(Version::V13)).unwrap() else { panic!() };
        assert_eq!(bits, ours);
        assert_eq!(negotiate(ours, Version::V14.bit() | Version::V13.bit()), Some(Version::V13));
        // A 1.0 hello without a bitmap offers only 1.0.
        let raw = RawMsg::parse(&[1, 0, 0, 8, 0, 0, 0, 1]).unwrap();
        let Msg::Hello(bits) = decode(&raw, Protocol::new(Version::V10)).unwrap() else { panic!() };
        assert_eq!(negotiate(ours, bits), Some(Version::V10));
        assert_eq!(negotiate(Version::V13.bit(), bits), None);
        // A 1.1 hello (no bitmap) offers 1.0 and 1.1.
        let raw = RawMsg::parse(&[2, 0, 0, 8, 0, 0, 0, 1]).unwrap();
        let Msg::Hello(bits) = decode(&raw, Protocol::new(Version::V11)).unwrap() else { panic!() };
        assert_eq!(bits, Version::V10.bit() | Version::V11.bit());
    }

    #[test]
    fn bad_requests_named() {
        let p = Protocol::new(Version::V13);
        // Unknown multipart type.
        let b = finish_msg(
            start_msg(Version::V13, MsgType::MultipartRequest(MpType::Meter), 1).unwrap(),
        );
        let e = decode(&RawMsg::parse(&b).unwrap(), p).unwrap_err();
        assert_eq!(e.code, OfpErr::BadRequestBadMultipart);
        // Unknown vendor.
        let b = finish_msg(start_msg(Version::V13, MsgType::Vendor(0x1234, 1), 1).unwrap());
        let e = decode(&RawMsg::parse(&b).unwrap(), p).unwrap_err();
        assert_eq!(e.code, OfpErr::BadRequestBadVendor);
        assert!(e.detail.contains("0x00001234"), "{e}");
        // A role that does not exist.
        let mut b = start_msg(Version::V13, MsgType::RoleRequest, 1).unwrap();
        b.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        let e = decode(&RawMsg::parse(&finish_msg(b)).unwrap(), p).unwrap_err();
        assert_eq!(e.code, OfpErr::RoleRequestBadRole);
        // A barrier with a body.
        let mut b = start_msg(Version::V13, MsgType::BarrierRequest, 1).unwrap();
        b.push(0);
        let e = decode(&RawMsg::parse(&finish_msg(b)).unwrap(), p).unwrap_err();
        assert_eq!(e.code, OfpErr::BadRequestBadLen);
        // The error reply carries the request's start.
        let req = finish_msg(start_msg(Version::V13, MsgType::Unknown(99), 42).unwrap());
        let reply = error_reply(Version::V13, 42, OfpErr::BadRequestBadType, &req);
        let raw = RawMsg::parse(&reply).unwrap();
        assert_eq!(decode(&raw, p).unwrap(), Msg::Error(OfpErr::BadRequestBadType, req.clone()));
    }

    #[test]
    fn replies_split_under_64k() {
        let ps: Vec<PortDesc> = (1..2000).map(port).collect();
        let b = encode(&Msg::PortDescReply(ps.clone()), Protocol::new(Version::V13), 3);
        let mut r = &b[..];
        let mut got = Vec::new();
        let mut n = 0;
        while !r.is_empty() {
            let len = usize::from(u16::from_be_bytes([r[2], r[3]]));
            let raw = RawMsg::parse(&r[..len]).unwrap();
            let Msg::PortDescReply(mut p) = decode(&raw, Protocol::new(Version::V13)).unwrap()
            else {
                panic!()
            };
            got.append(&mut p);
            r = &r[len..];
            n += 1;
            assert_eq!(raw.mp_flags & super::super::MP_MORE != 0, !r.is_empty());
        }
        assert!(n > 1);
        assert_eq!(got, ps);
    }
}
