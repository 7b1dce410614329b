//! Flow messages: flow_mod, flow_removed and flow/aggregate statistics, in
//! every [`Protocol`]: OpenFlow 1.0 with its fixed match, OpenFlow 1.0 with
//! Nicira's NXM messages (`NXT_FLOW_MOD`, `NXT_FLOW_REMOVED`, `NXST_FLOW`,
//! `NXST_AGGREGATE`), and OpenFlow 1.1+ with OXM matches and instructions.
//!
//! Cookies follow OVS:
//!
//! - OpenFlow 1.0's flow_mod has one cookie: an add gives it to the new
//!   rule, a modify to the rules it changes (all ones: keep their cookies),
//!   a delete ignores it. NXM flow_mods add `NXM_NX_COOKIE` to the match to
//!   select rules by cookie under a mask.
//! - OpenFlow 1.2+ selects rules by `cookie`/`cookie_mask`; only an add
//!   sets a cookie. On OpenFlow 1.1 a modify with a zero `cookie_mask` sets
//!   the cookie like an add (OVS's reading of 1.1).
//!
//! OpenFlow 1.1 uses the fixed 88-byte match; 1.2+ OXM; OpenFlow 1.5's flow
//! statistics, flow-removed and aggregate replies carry their counters as
//! OXS fields (`struct ofp_stats`). NXM messages carry idle and hard ages
//! (NXST_FLOW) and use OpenFlow 1.0's flag bits.
//!
//! Decoding refuses an unknown command (`OFPFMFC_BAD_COMMAND`), unknown
//! flags (`OFPFMFC_BAD_FLAGS`), a buffer id other than `NO_BUFFER`
//! (`OFPBRC_BUFFER_UNKNOWN`) and an add to table 255
//! (`OFPFMFC_BAD_TABLE_ID`).

use super::actions::{
    decode_actions, decode_instructions, encode_actions_for, encode_instructions_for,
};
use super::buf::Reader;
use super::error::{OfpErr, OfpError};
use super::match10::{decode_ofp10_match, encode_ofp10_match, MATCH10_LEN};
use super::oxm::{
    decode_ofp_match, decode_tlvs, encode_ofp_match, encode_tlvs, header, header_class,
    header_field, header_hasmask, header_len, port_from_ofp11, port_to_ofp11, NXM_NX,
};
use super::{
    finish_msg, nxt, pad8, start_msg, start_msg_flags, FlowFormat, MpType, MsgType, Protocol,
    RawMsg, Version, MP_MORE, NO_BUFFER, NX_VENDOR_ID,
};
use crate::flow::OfMatch;
use crate::flow_mod::{FlowMod, FlowModCommand, FlowModFlags};
use crate::ofproto::{FlowRemoved, RemovedReason};
use crate::text::FlowStatsLine;
use crate::types::{Cookie, OfPort, TableId};
use std::time::Duration;

mod stats;

pub use stats::{
    decode_aggregate_reply, decode_flow_stats_reply, decode_flow_stats_request,
    encode_aggregate_reply, encode_flow_stats_reply, encode_flow_stats_request, AggregateStats,
    FlowStatsRequest,
};

/// `NXM_NX_COOKIE`'s field number.
const NXM_COOKIE_FIELD: u8 = 30;
/// `OFPG_ANY`: no group filter.
const OFPG_ANY: u32 = 0xffff_ffff;
/// Largest message size.
const MAX_MSG: usize = 65535;

fn nx(ty: u32) -> MsgType {
    MsgType::Vendor(NX_VENDOR_ID, ty)
}

/// Reads an NXM match of `len` bytes plus its padding to 8, splitting off
/// `NXM_NX_COOKIE`: (match, cookie, cookie mask).
fn pull_nx_match(r: &mut Reader<'_>, len: usize) -> Result<(OfMatch, u64, u64), OfpError> {
    let padded = len.div_ceil(8) * 8;
    if r.remaining() < padded {
        return Err(OfpErr::BadRequestBadLen.with(format!(
            "nx_match of {len} bytes (padded {padded}) but {} bytes remain",
            r.remaining()
        )));
    }
    let all = r.bytes(len)?;
    r.skip(padded - len)?;
    let (mut cookie, mut mask) = (0, 0);
    let mut rest = Vec::with_capacity(all.len());
    let mut t = Reader::new(all);
    while t.remaining() >= 4 {
        let h = u32::from_be_bytes(t.peek_rest()[..4].try_into().unwrap_or([0; 4]));
        let n = 4 + header_len(h);
        if n > t.remaining() {
            break;
        }
        let tlv = t.bytes(n)?;
        if header_class(h) == NXM_NX && header_field(h) == NXM_COOKIE_FIELD {
            let want = if header_hasmask(h) { 16 } else { 8 };
            if header_len(h) != want {
                return Err(OfpErr::BadMatchBadLen
                    .with(format!("NXM_NX_COOKIE has length {}, expected {want}", header_len(h))));
            }
            let v = u64::from_be_bytes(tlv[4..12].try_into().unwrap_or([0; 8]));
            mask = if header_hasmask(h) {
                u64::from_be_bytes(tlv[12..20].try_into().unwrap_or([0; 8]))
            } else {
                u64::MAX
            };
            cookie = v & mask;
        } else {
            rest.extend_from_slice(tlv);
        }
    }
    rest.extend_from_slice(t.rest());
    Ok((decode_tlvs(&rest, Version::V10)?, cookie, mask))
}

/// Appends an NXM match (with `NXM_NX_COOKIE` when `mask` is not zero),
/// returns its length, then pads to 8.
fn put_nx_match(m: &OfMatch, cookie: u64, mask: u64, out: &mut Vec<u8>) -> u16 {
    let mut n = encode_tlvs(m, Version::V10, out);
    if mask != 0 {
        let masked = mask != u64::MAX;
        out.extend_from_slice(
            &header(NXM_NX, NXM_COOKIE_FIELD, masked, if masked { 16 } else { 8 }).to_be_bytes(),
        );
        out.extend_from_slice(&(cookie & mask).to_be_bytes());
        n += 12;
        if masked {
            out.extend_from_slice(&mask.to_be_bytes());
            n += 8;
        }
    }
    pad8(out);
    n as u16
}

fn command_from_wire(c: u8) -> Result<FlowModCommand, OfpError> {
    Ok(match c {
        0 => FlowModCommand::Add,
        1 => FlowModCommand::Modify,
        2 => FlowModCommand::ModifyStrict,
        3 => FlowModCommand::Delete,
        4 => FlowModCommand::DeleteStrict,
        _ => {
            return Err(OfpErr::FlowModBadCommand
                .with(format!("flow_mod command {c} is not add/modify/delete (0-4)")))
        }
    })
}

fn command_to_wire(c: FlowModCommand) -> u8 {
    match c {
        FlowModCommand::Add => 0,
        FlowModCommand::Modify => 1,
        FlowModCommand::ModifyStrict => 2,
        FlowModCommand::Delete => 3,
        FlowModCommand::DeleteStrict => 4,
    }
}

/// The flag bits `version` defines (NXM messages use 1.0's).
fn flags_known(version: Version) -> u16 {
    match version {
        Version::V10 | Version::V11 => 0x3,
        Version::V12 => 0x7,
        _ => 0x1f,
    }
}

fn flags_from_wire(raw: u16, version: Version) -> Result<FlowModFlags, OfpError> {
    if version == Version::V10 && raw & 4 != 0 {
        return Err(OfpErr::FlowModBadFlags
            .with("flag OFPFF_EMERG (0x4): the emergency flow cache is not supported"));
    }
    let unknown = raw & !flags_known(version);
    if unknown != 0 {
        return Err(OfpErr::FlowModBadFlags
            .with(format!("flow_mod flags {raw:#x}: bits {unknown:#x} are unknown in {version}")));
    }
    Ok(FlowModFlags {
        send_flow_rem: raw & 1 != 0,
        check_overlap: raw & 2 != 0,
        reset_counts: version >= Version::V12 && raw & 4 != 0,
        no_packet_counts: version >= Version::V13 && raw & 8 != 0,
        no_byte_counts: version >= Version::V13 && raw & 16 != 0,
    })
}

fn flags_to_wire(f: &FlowModFlags, version: Version) -> u16 {
    let mut raw = 0;
    raw |= u16::from(f.send_flow_rem);
    raw |= u16::from(f.check_overlap) << 1;
    if version >= Version::V12 {
        raw |= u16::from(f.reset_counts) << 2;
    }
    if version >= Version::V13 {
        raw |= u16::from(f.no_packet_counts) << 3;
        raw |= u16::from(f.no_byte_counts) << 4;
    }
    raw
}

/// Checks the buffer id and the table of an add.
fn check_common(fm: &FlowMod, buffer_id: u32) -> Result<(), OfpError> {
    if buffer_id != NO_BUFFER {
        return Err(OfpErr::BadRequestBufferUnknown
            .with(format!("buffer_id {buffer_id:#x}: rvs buffers no packets (use 0xffffffff)")));
    }
    if fm.command == FlowModCommand::Add && fm.table == TableId::ALL {
        return Err(OfpErr::FlowModBadTableId.with("a flow cannot be added to table 255"));
    }
    Ok(())
}

/// The table and command of a 1.0/NXM 16-bit command field.
fn split_command(raw: u16, table_id: bool) -> Result<(FlowModCommand, TableId), OfpError> {
    let (cmd, hi) = if table_id {
        ((raw & 0xff) as u8, (raw >> 8) as u8)
    } else {
        if raw > 0xff {
            return Err(OfpErr::FlowModBadCommand.with(format!(
                "flow_mod command {raw:#06x} carries a table id but NXT_FLOW_MOD_TABLE_ID is off"
            )));
        }
        (raw as u8, 0xff)
    };
    let command = command_from_wire(cmd)?;
    let table = if !table_id && command == FlowModCommand::Add { TableId(0) } else { TableId(hi) };
    Ok((command, table))
}

/// Sets the cookie fields of a 1.0/NXM flow_mod from the wire cookie (the
/// new cookie) and the NXM cookie match.
fn old_cookies(fm: &mut FlowMod, wire: u64, cookie: u64, mask: u64) -> Result<(), OfpError> {
    match fm.command {
        FlowModCommand::Add => {
            if mask != 0 {
                return Err(OfpErr::BadMatchEperm
                    .with("an add sets a cookie; it cannot match NXM_NX_COOKIE"));
            }
            fm.cookie = Cookie(wire);
        }
        FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
            fm.cookie = Cookie(cookie);
            fm.cookie_mask = mask;
            fm.new_cookie = (wire != u64::MAX).then_some(Cookie(wire));
        }
        FlowModCommand::Delete | FlowModCommand::DeleteStrict => {
            fm.cookie = Cookie(cookie);
            fm.cookie_mask = mask;
        }
    }
    Ok(())
}

/// The cookie field of a 1.0/NXM flow_mod.
fn wire_new_cookie(fm: &FlowMod) -> u64 {
    match fm.command {
        FlowModCommand::Add => fm.cookie.0,
        FlowModCommand::Modify | FlowModCommand::ModifyStrict => {
            fm.new_cookie.map_or(u64::MAX, |c| c.0)
        }
        _ => 0,
    }
}

/// Decodes a flow_mod: `OFPT_FLOW_MOD` (1.0 or 1.1+) or `NXT_FLOW_MOD`.
/// `proto` says whether 1.0 commands carry a table id.
pub fn decode_flow_mod(msg: &RawMsg<'_>, proto: Protocol) -> Result<FlowMod, OfpError> {
    let v = msg.version;
    let mut r = Reader::new(msg.body);
    let mut fm = FlowMod::default();
    match msg.ty {
        MsgType::FlowMod if v == Version::V10 => {
            if r.remaining() < 64 {
                return Err(OfpErr::BadRequestBadLen
                    .with(format!("ofp10_flow_mod body of {} bytes, need 64", r.remaining())));
            }
            fm.match_ = decode_ofp10_match(r.bytes(MATCH10_LEN)?)?;
            let cookie = r.u64()?;
            let (command, table) = split_command(r.u16()?, proto.table_id)?;
            fm.command = command;
            fm.table = table;
            fm.idle_timeout = r.u16()?;
            fm.hard_timeout = r.u16()?;
            fm.priority = r.u16()?;
            let buffer_id = r.u32()?;
            fm.out_port = OfPort(r.u16()?);
            fm.flags = flags_from_wire(r.u16()?, v)?;
            old_cookies(&mut fm, cookie, 0, 0)?;
            check_common(&fm, buffer_id)?;
            fm.actions = decode_actions(r.rest(), v)?;
        }
        MsgType::Vendor(NX_VENDOR_ID, nxt::FLOW_MOD) => {
            if r.remaining() < 32 {
                return Err(OfpErr::BadRequestBadLen
                    .with(format!("nx_flow_mod body of {} bytes, need 32", r.remaining())));
            }
            let cookie = r.u64()?;
            let (command, table) = split_command(r.u16()?, proto.table_id)?;
            fm.command = command;
            fm.table = table;
            fm.idle_timeout = r.u16()?;
            fm.hard_timeout = r.u16()?;
            fm.priority = r.u16()?;
            let buffer_id = r.u32()?;
            fm.out_port = OfPort(r.u16()?);
            // NXM flow_mods keep OpenFlow 1.0 flag bits; actions follow the
            // message version, as in OVS.
            fm.flags = flags_from_wire(r.u16()?, Version::V10)?;
            let match_len = usize::from(r.u16()?);
            r.skip(6)?;
            let (m, c, cm) = pull_nx_match(&mut r, match_len)?;
            fm.match_ = m;
            old_cookies(&mut fm, cookie, c, cm)?;
            check_common(&fm, buffer_id)?;
            fm.actions = decode_actions(r.rest(), v)?;
        }
        MsgType::FlowMod => {
            if r.remaining() < 40 {
                return Err(OfpErr::BadRequestBadLen
                    .with(format!("ofp11_flow_mod body of {} bytes, need 40", r.remaining())));
            }
            let cookie = r.u64()?;
            let cookie_mask = r.u64()?;
            fm.table = TableId(r.u8()?);
            fm.command = command_from_wire(r.u8()?)?;
            fm.idle_timeout = r.u16()?;
            fm.hard_timeout = r.u16()?;
            fm.priority = r.u16()?;
            let buffer_id = r.u32()?;
            let out_port = r.u32()?;
            fm.out_port = port_from_ofp11(out_port).ok_or_else(|| {
                OfpErr::FlowModEperm.with(format!("out_port {out_port:#x} is not a valid port"))
            })?;
            let _out_group = r.u32()?;
            fm.flags = flags_from_wire(r.u16()?, v)?;
            let importance = r.u16()?;
            if v >= Version::V14 {
                fm.importance = importance;
            }
            let legacy_add = v == Version::V11
                && matches!(fm.command, FlowModCommand::Modify | FlowModCommand::ModifyStrict)
                && cookie_mask == 0;
            if fm.command == FlowModCommand::Add || legacy_add {
                fm.cookie = Cookie(cookie);
                if legacy_add {
                    fm.new_cookie = Some(Cookie(cookie));
                    fm.cookie = Cookie(0);
                }
            } else {
                fm.cookie = Cookie(cookie & cookie_mask);
                fm.cookie_mask = cookie_mask;
            }
            check_common(&fm, buffer_id)?;
            fm.match_ = decode_ofp_match(&mut r, v)?;
            fm.actions = decode_instructions(r.rest(), v)?;
        }
        other => return Err(OfpErr::BadRequestBadType.with(format!("{other:?} is not a flow_mod"))),
    }
    Ok(fm)
}

/// Encodes a flow_mod for `proto`: `OFPT_FLOW_MOD` of the version, or
/// `NXT_FLOW_MOD` on OpenFlow 1.0 with the NXM flow format.
pub fn encode_flow_mod(fm: &FlowMod, proto: Protocol, xid: u32) -> Vec<u8> {
    let v = proto.version;
    let cmd = command_to_wire(fm.command);
    let cmd16 =
        if proto.table_id { u16::from(fm.table.0) << 8 | u16::from(cmd) } else { u16::from(cmd) };
    if v == Version::V10 {
        let nxm = proto.flow_format == FlowFormat::Nxm;
        let ty = if nxm { nx(nxt::FLOW_MOD) } else { MsgType::FlowMod };
        let mut b = start_msg(v, ty, xid).unwrap_or_default();
        if !nxm {
            b.extend_from_slice(&encode_ofp10_match(&fm.match_));
        }
        b.extend_from_slice(&wire_new_cookie(fm).to_be_bytes());
        b.extend_from_slice(&cmd16.to_be_bytes());
        b.extend_from_slice(&fm.idle_timeout.to_be_bytes());
        b.extend_from_slice(&fm.hard_timeout.to_be_bytes());
        b.extend_from_slice(&fm.priority.to_be_bytes());
        b.extend_from_slice(&NO_BUFFER.to_be_bytes());
        b.extend_from_slice(&fm.out_port.0.to_be_bytes());
        b.extend_from_slice(&flags_to_wire(&fm.flags, v).to_be_bytes());
        if nxm {
            let at = b.len();
            b.extend_from_slice(&[0; 8]);
            let (c, cm) = match fm.command {
                FlowModCommand::Add => (0, 0),
                _ => (fm.cookie.0, fm.cookie_mask),
            };
            let n = put_nx_match(&fm.match_, c, cm, &mut b);
            b[at..at + 2].copy_from_slice(&n.to_be_bytes());
        }
        encode_actions_for(&fm.actions, v, Some(&fm.match_), &mut b);
        return finish_msg(b);
    }
    let mut b = start_msg(v, MsgType::FlowMod, xid).unwrap_or_default();
    let (cookie, mask) = match fm.command {
        FlowModCommand::Add => (fm.cookie.0, 0),
        // OpenFlow 1.1 (as OVS reads it): a modify that selects no cookie
        // sets one, like an add.
        FlowModCommand::Modify | FlowModCommand::ModifyStrict
            if v == Version::V11 && fm.cookie_mask == 0 =>
        {
            (fm.new_cookie.map_or(0, |c| c.0), 0)
        }
        _ => (fm.cookie.0, fm.cookie_mask),
    };
    b.extend_from_slice(&cookie.to_be_bytes());
    b.extend_from_slice(&mask.to_be_bytes());
    b.push(fm.table.0);
    b.push(cmd);
    b.extend_from_slice(&fm.idle_timeout.to_be_bytes());
    b.extend_from_slice(&fm.hard_timeout.to_be_bytes());
    b.extend_from_slice(&fm.priority.to_be_bytes());
    b.extend_from_slice(&NO_BUFFER.to_be_bytes());
    b.extend_from_slice(&port_to_ofp11(fm.out_port).to_be_bytes());
    b.extend_from_slice(&OFPG_ANY.to_be_bytes());
    b.extend_from_slice(&flags_to_wire(&fm.flags, v).to_be_bytes());
    let imp = if v >= Version::V14 { fm.importance } else { 0 };
    b.extend_from_slice(&imp.to_be_bytes());
    encode_ofp_match(&fm.match_, v, &mut b);
    encode_instructions_for(&fm.actions, v, Some(&fm.match_), &mut b);
    finish_msg(b)
}

fn reason_to_wire(r: RemovedReason) -> u8 {
    match r {
        RemovedReason::IdleTimeout => 0,
        RemovedReason::HardTimeout => 1,
        RemovedReason::Delete => 2,
    }
}

fn reason_from_wire(r: u8) -> Result<RemovedReason, OfpError> {
    Ok(match r {
        0 => RemovedReason::IdleTimeout,
        1 => RemovedReason::HardTimeout,
        2 => RemovedReason::Delete,
        _ => {
            return Err(OfpErr::BadRequestEperm
                .with(format!("flow_removed reason {r} is not idle/hard timeout or delete")))
        }
    })
}

fn put_duration(b: &mut Vec<u8>, d: Duration) {
    let secs = u32::try_from(d.as_secs()).unwrap_or(u32::MAX);
    b.extend_from_slice(&secs.to_be_bytes());
    b.extend_from_slice(&d.subsec_nanos().to_be_bytes());
}

fn get_duration(r: &mut Reader<'_>) -> Result<Duration, OfpError> {
    let s = r.u32()?;
    let ns = r.u32()?;
    Ok(Duration::new(u64::from(s), ns.min(999_999_999)))
}

/// OXS class of OpenFlow 1.5's statistics (`OFPXSC_OPENFLOW_BASIC`).
const OXS_BASIC: u16 = 0x8002;

/// The statistics OpenFlow 1.5 carries as OXS TLVs in `struct ofp_stats`.
#[derive(Clone, Copy, Debug, Default)]
struct Oxs {
    duration: Option<Duration>,
    idle: Option<Duration>,
    flows: Option<u32>,
    packets: Option<u64>,
    bytes: Option<u64>,
}

/// Appends `struct ofp_stats` (reserved, length, TLVs, padding to 8;
/// `b` must be 8-aligned where the structure starts).
fn put_oxs(b: &mut Vec<u8>, s: &Oxs) {
    let at = b.len();
    b.extend_from_slice(&[0; 4]);
    let tlv = |b: &mut Vec<u8>, field: u8, body: &[u8]| {
        let h = (u32::from(OXS_BASIC) << 16) | (u32::from(field) << 9) | body.len() as u32;
        b.extend_from_slice(&h.to_be_bytes());
        b.extend_from_slice(body);
    };
    let dur = |d: Duration| {
        let mut v = u32::try_from(d.as_secs()).unwrap_or(u32::MAX).to_be_bytes().to_vec();
        v.extend_from_slice(&d.subsec_nanos().to_be_bytes());
        v
    };
    if let Some(d) = s.duration {
        tlv(b, 0, &dur(d));
    }
    if let Some(d) = s.idle {
        tlv(b, 1, &dur(d));
    }
    if let Some(n) = s.flows {
        tlv(b, 3, &n.to_be_bytes());
    }
    if let Some(n) = s.packets {
        tlv(b, 4, &n.to_be_bytes());
    }
    if let Some(n) = s.bytes {
        tlv(b, 5, &n.to_be_bytes());
    }
    let len = (b.len() - at) as u16;
    b[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
    while !(b.len() - at).is_multiple_of(8) {
        b.push(0);
    }
}

/// Reads `struct ofp_stats`; unknown OXS fields are skipped.
fn pull_oxs(r: &mut Reader<'_>) -> Result<Oxs, OfpError> {
    if r.remaining() < 4 {
        return Err(OfpErr::BadRequestBadLen
            .with(format!("{} bytes left: too short for ofp_stats", r.remaining())));
    }
    r.skip(2)?;
    let len = usize::from(r.u16()?);
    let padded = len.div_ceil(8) * 8;
    if len < 4 || padded - 4 > r.remaining() {
        return Err(OfpErr::BadRequestBadLen
            .with(format!("ofp_stats of length {len} but {} bytes remain", r.remaining() + 4)));
    }
    let mut t = Reader::new(r.bytes(len - 4)?);
    r.skip(padded - len)?;
    let mut s = Oxs::default();
    while !t.is_empty() {
        let h = t.u32()?;
        let n = (h & 0xff) as usize;
        let mut v = Reader::new(t.bytes(n)?);
        let field = ((h >> 9) & 0x7f) as u8;
        let bad = || OfpErr::BadRequestBadLen.with(format!("OXS field {field} has length {n}"));
        if (h >> 16) as u16 != OXS_BASIC {
            continue;
        }
        match (field, n) {
            (0, 8) => s.duration = Some(get_duration(&mut v)?),
            (1, 8) => s.idle = Some(get_duration(&mut v)?),
            (3, 4) => s.flows = Some(v.u32()?),
            (4, 8) => s.packets = Some(v.u64()?),
            (5, 8) => s.bytes = Some(v.u64()?),
            (0..=5, _) => return Err(bad()),
            _ => {}
        }
    }
    Ok(s)
}

/// Encodes a flow-removed message: `OFPT_FLOW_REMOVED` of the version, or
/// `NXT_FLOW_REMOVED` on OpenFlow 1.0 with NXM.
pub fn encode_flow_removed(fr: &FlowRemoved, proto: Protocol, xid: u32) -> Vec<u8> {
    let v = proto.version;
    if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        let mut b = start_msg(v, nx(nxt::FLOW_REMOVED), xid).unwrap_or_default();
        b.extend_from_slice(&fr.cookie.0.to_be_bytes());
        b.extend_from_slice(&fr.priority.to_be_bytes());
        b.push(reason_to_wire(fr.reason));
        b.push(fr.table.0);
        put_duration(&mut b, fr.duration);
        b.extend_from_slice(&fr.idle_timeout.to_be_bytes());
        let at = b.len();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&fr.packets.to_be_bytes());
        b.extend_from_slice(&fr.bytes.to_be_bytes());
        let n = put_nx_match(&fr.match_, 0, 0, &mut b);
        b[at..at + 2].copy_from_slice(&n.to_be_bytes());
        return finish_msg(b);
    }
    let mut b = start_msg(v, MsgType::FlowRemoved, xid).unwrap_or_default();
    if v >= Version::V15 {
        b.push(fr.table.0);
        b.push(reason_to_wire(fr.reason));
        b.extend_from_slice(&fr.priority.to_be_bytes());
        b.extend_from_slice(&fr.idle_timeout.to_be_bytes());
        b.extend_from_slice(&fr.hard_timeout.to_be_bytes());
        b.extend_from_slice(&fr.cookie.0.to_be_bytes());
        encode_ofp_match(&fr.match_, v, &mut b);
        let st = Oxs {
            duration: Some(fr.duration),
            packets: Some(fr.packets),
            bytes: Some(fr.bytes),
            ..Oxs::default()
        };
        put_oxs(&mut b, &st);
        return finish_msg(b);
    }
    if v == Version::V10 {
        b.extend_from_slice(&encode_ofp10_match(&fr.match_));
        b.extend_from_slice(&fr.cookie.0.to_be_bytes());
        b.extend_from_slice(&fr.priority.to_be_bytes());
        b.push(reason_to_wire(fr.reason));
        b.push(0);
        put_duration(&mut b, fr.duration);
        b.extend_from_slice(&fr.idle_timeout.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&fr.packets.to_be_bytes());
        b.extend_from_slice(&fr.bytes.to_be_bytes());
    } else {
        b.extend_from_slice(&fr.cookie.0.to_be_bytes());
        b.extend_from_slice(&fr.priority.to_be_bytes());
        b.push(reason_to_wire(fr.reason));
        b.push(fr.table.0);
        put_duration(&mut b, fr.duration);
        b.extend_from_slice(&fr.idle_timeout.to_be_bytes());
        b.extend_from_slice(&fr.hard_timeout.to_be_bytes());
        b.extend_from_slice(&fr.packets.to_be_bytes());
        b.extend_from_slice(&fr.bytes.to_be_bytes());
        encode_ofp_match(&fr.match_, v, &mut b);
    }
    finish_msg(b)
}

/// Decodes `OFPT_FLOW_REMOVED` (1.0 or 1.1+) or `NXT_FLOW_REMOVED`.
/// OpenFlow 1.0 has no table or hard timeout: they come back as 0.
pub fn decode_flow_removed(msg: &RawMsg<'_>, proto: Protocol) -> Result<FlowRemoved, OfpError> {
    let _ = proto;
    let v = msg.version;
    let mut r = Reader::new(msg.body);
    let short = |need: usize, have: usize| {
        OfpErr::BadRequestBadLen.with(format!("flow_removed body of {have} bytes, need {need}"))
    };
    match msg.ty {
        MsgType::Vendor(NX_VENDOR_ID, nxt::FLOW_REMOVED) => {
            if r.remaining() < 40 {
                return Err(short(40, r.remaining()));
            }
            let cookie = Cookie(r.u64()?);
            let priority = r.u16()?;
            let reason = reason_from_wire(r.u8()?)?;
            let table = TableId(r.u8()?);
            let duration = get_duration(&mut r)?;
            let idle_timeout = r.u16()?;
            let match_len = usize::from(r.u16()?);
            let packets = r.u64()?;
            let bytes = r.u64()?;
            let (match_, _, _) = pull_nx_match(&mut r, match_len)?;
            Ok(FlowRemoved {
                table,
                priority,
                match_,
                cookie,
                reason,
                duration,
                idle_timeout,
                hard_timeout: 0,
                packets,
                bytes,
            })
        }
        MsgType::FlowRemoved if v == Version::V10 => {
            if r.remaining() < 80 {
                return Err(short(80, r.remaining()));
            }
            let match_ = decode_ofp10_match(r.bytes(MATCH10_LEN)?)?;
            let cookie = Cookie(r.u64()?);
            let priority = r.u16()?;
            let reason = reason_from_wire(r.u8()?)?;
            r.skip(1)?;
            let duration = get_duration(&mut r)?;
            let idle_timeout = r.u16()?;
            r.skip(2)?;
            let packets = r.u64()?;
            let bytes = r.u64()?;
            Ok(FlowRemoved {
                table: TableId(0),
                priority,
                match_,
                cookie,
                reason,
                duration,
                idle_timeout,
                hard_timeout: 0,
                packets,
                bytes,
            })
        }
        MsgType::FlowRemoved if v >= Version::V15 => {
            if r.remaining() < 16 {
                return Err(short(16, r.remaining()));
            }
            let table = TableId(r.u8()?);
            let reason = reason_from_wire(r.u8()?)?;
            let priority = r.u16()?;
            let idle_timeout = r.u16()?;
            let hard_timeout = r.u16()?;
            let cookie = Cookie(r.u64()?);
            let match_ = decode_ofp_match(&mut r, v)?;
            let st = pull_oxs(&mut r)?;
            Ok(FlowRemoved {
                table,
                priority,
                match_,
                cookie,
                reason,
                duration: st.duration.unwrap_or_default(),
                idle_timeout,
                hard_timeout,
                packets: st.packets.unwrap_or(0),
                bytes: st.bytes.unwrap_or(0),
            })
        }
        MsgType::FlowRemoved => {
            if r.remaining() < 40 {
                return Err(short(40, r.remaining()));
            }
            let cookie = Cookie(r.u64()?);
            let priority = r.u16()?;
            let reason = reason_from_wire(r.u8()?)?;
            let table = TableId(r.u8()?);
            let duration = get_duration(&mut r)?;
            let idle_timeout = r.u16()?;
            let hard_timeout = r.u16()?;
            let packets = r.u64()?;
            let bytes = r.u64()?;
            let match_ = decode_ofp_match(&mut r, v)?;
            Ok(FlowRemoved {
                table,
                priority,
                match_,
                cookie,
                reason,
                duration,
                idle_timeout,
                hard_timeout,
                packets,
                bytes,
            })
        }
        other => Err(OfpErr::BadRequestBadType.with(format!("{other:?} is not a flow_removed"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{parse_flow_mod, NoNames};

    fn protos() -> Vec<Protocol> {
        let mut v: Vec<Protocol> = [Version::V10, Version::V13, Version::V14, Version::V15]
            .into_iter()
            .map(Protocol::new)
            .collect();
        v.push(Protocol { version: Version::V10, flow_format: FlowFormat::Nxm, table_id: true });
        v.push(Protocol {
            version: Version::V10,
            flow_format: FlowFormat::OpenFlow10,
            table_id: true,
        });
        v
    }

    #[test]
    fn flow_mods_round_trip() {
        for (cmd, text) in [
            (FlowModCommand::Add, "table=3,priority=7,idle_timeout=5,hard_timeout=9,send_flow_rem,check_overlap,cookie=0x77,tcp,nw_dst=198.18.0.0/24,tp_dst=80,actions=output:1,resubmit(,4)"),
            (FlowModCommand::Modify, "table=1,cookie=0x5/0xff,ip,actions=drop"),
            (FlowModCommand::DeleteStrict, "table=2,priority=9,out_port=4,arp"),
            (FlowModCommand::Delete, "in_port=3"),
        ] {
            let fm = parse_flow_mod(text, cmd, &NoNames).unwrap();
            for p in protos() {
                let b = encode_flow_mod(&fm, p, 9);
                let msg = RawMsg::parse(&b).unwrap();
                let back = decode_flow_mod(&msg, p).unwrap_or_else(|e| panic!("{text} {p:?}: {e}"));
                assert_eq!(back.match_, fm.match_, "{text} {p:?}");
                assert_eq!(back.command, fm.command);
                assert_eq!(back.priority, fm.priority);
                assert_eq!(back.out_port, fm.out_port, "{text} {p:?}");
                if p.version != Version::V10 || p.table_id {
                    assert_eq!(back.table, fm.table, "{text} {p:?}");
                }
                if cmd == FlowModCommand::Add {
                    assert_eq!(back.cookie, fm.cookie);
                    assert_eq!(back.flags, fm.flags);
                    assert_eq!(back.actions, fm.actions);
                }
                if p.version != Version::V10 || p.flow_format == FlowFormat::Nxm {
                    assert_eq!((back.cookie, back.cookie_mask), (fm.cookie, fm.cookie_mask));
                }
            }
        }
    }

    #[test]
    fn flow_mod_errors() {
        let fm = parse_flow_mod("actions=drop", FlowModCommand::Add, &NoNames).unwrap();
        for p in protos() {
            let mut b = encode_flow_mod(&fm, p, 1);
            // Command byte: 1.0 at 8+40+8(+1 low byte), NX at 16+8, 1.1+ at 8+17.
            let at = match (p.version, p.flow_format) {
                (Version::V10, FlowFormat::OpenFlow10) => 57,
                (Version::V10, FlowFormat::Nxm) => 25,
                _ => 25,
            };
            b[at] = 9;
            let e = decode_flow_mod(&RawMsg::parse(&b).unwrap(), p).unwrap_err();
            assert_eq!(e.code, OfpErr::FlowModBadCommand, "{p:?}");
            assert!(e.detail.contains('9'), "{e}");
        }
    }

    #[test]
    fn stats_split_and_round_trip() {
        let fm = parse_flow_mod(
            "priority=5,ip,nw_src=198.18.0.1,actions=output:1",
            FlowModCommand::Add,
            &NoNames,
        )
        .unwrap();
        let line = FlowStatsLine {
            cookie: Cookie(5),
            duration: Duration::new(3, 5_000_000),
            table: TableId(1),
            n_packets: 9,
            n_bytes: 900,
            idle_timeout: 4,
            priority: 5,
            match_: fm.match_,
            actions: fm.actions.clone(),
            ..FlowStatsLine::default()
        };
        let entries = vec![line.clone(); 1000];
        for p in protos() {
            let msgs = encode_flow_stats_reply(&entries, p, 3);
            assert!(msgs.len() > 1, "{p:?}");
            let mut n = 0;
            for (i, m) in msgs.iter().enumerate() {
                assert!(m.len() <= 65535);
                let raw = RawMsg::parse(m).unwrap();
                assert_eq!(raw.mp_flags & MP_MORE != 0, i + 1 < msgs.len());
                let got = decode_flow_stats_reply(&raw).unwrap();
                assert_eq!(got[0], line, "{p:?}");
                n += got.len();
            }
            assert_eq!(n, 1000);
            let req = FlowStatsRequest {
                table: TableId(3),
                out_port: OfPort(2),
                match_: fm.match_,
                ..FlowStatsRequest::default()
            };
            for agg in [false, true] {
                let b = encode_flow_stats_request(&req, agg, p, 1);
                let (back, a) = decode_flow_stats_request(&RawMsg::parse(&b).unwrap()).unwrap();
                assert_eq!((back, a), (req.clone(), agg), "{p:?}");
            }
            let s = AggregateStats { packets: 1, bytes: 2, flows: 3 };
            let b = encode_aggregate_reply(&s, p, 1);
            assert_eq!(decode_aggregate_reply(&RawMsg::parse(&b).unwrap()).unwrap(), s);
        }
    }
}
