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
//! - OpenFlow 1.1+ selects rules by `cookie`/`cookie_mask`; only an add
//!   sets a cookie.
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
            fm.flags = flags_from_wire(r.u16()?, Version::V10)?;
            let match_len = usize::from(r.u16()?);
            r.skip(6)?;
            let (m, c, cm) = pull_nx_match(&mut r, match_len)?;
            fm.match_ = m;
            old_cookies(&mut fm, cookie, c, cm)?;
            check_common(&fm, buffer_id)?;
            fm.actions = decode_actions(r.rest(), Version::V10)?;
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

/// A flow or aggregate statistics request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowStatsRequest {
    /// The table ([`TableId::ALL`] for every table).
    pub table: TableId,
    /// Only rules that output to this port ([`OfPort::NONE`]: any).
    pub out_port: OfPort,
    /// Only rules whose cookie matches this under `cookie_mask`.
    pub cookie: Cookie,
    /// Bits of `cookie` to compare (0: any cookie).
    pub cookie_mask: u64,
    /// Only rules that this match covers.
    pub match_: OfMatch,
}

impl Default for FlowStatsRequest {
    fn default() -> Self {
        FlowStatsRequest {
            table: TableId::ALL,
            out_port: OfPort::NONE,
            cookie: Cookie(0),
            cookie_mask: 0,
            match_: OfMatch::catchall(),
        }
    }
}

/// Encodes a flow (or, with `aggregate`, an aggregate) statistics request:
/// `OFPST_FLOW`/`OFPMP_FLOW`, `OFPST_AGGREGATE`/`OFPMP_AGGREGATE`, or
/// `NXST_FLOW`/`NXST_AGGREGATE` on OpenFlow 1.0 with NXM. OpenFlow 1.0's
/// standard request has no cookie.
pub fn encode_flow_stats_request(
    req: &FlowStatsRequest,
    aggregate: bool,
    proto: Protocol,
    xid: u32,
) -> Vec<u8> {
    let v = proto.version;
    if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        let sub = if aggregate { nxt::STATS_AGGREGATE } else { nxt::STATS_FLOW };
        let mut b = start_msg(v, MsgType::VendorMultipartRequest(NX_VENDOR_ID, sub), xid)
            .unwrap_or_default();
        b.extend_from_slice(&req.out_port.0.to_be_bytes());
        let at = b.len();
        b.extend_from_slice(&[0, 0]);
        b.push(req.table.0);
        b.extend_from_slice(&[0; 3]);
        let n = put_nx_match(&req.match_, req.cookie.0, req.cookie_mask, &mut b);
        b[at..at + 2].copy_from_slice(&n.to_be_bytes());
        return finish_msg(b);
    }
    let mp = if aggregate { MpType::Aggregate } else { MpType::Flow };
    let mut b = start_msg(v, MsgType::MultipartRequest(mp), xid).unwrap_or_default();
    if v == Version::V10 {
        b.extend_from_slice(&encode_ofp10_match(&req.match_));
        b.push(req.table.0);
        b.push(0);
        b.extend_from_slice(&req.out_port.0.to_be_bytes());
    } else {
        b.push(req.table.0);
        b.extend_from_slice(&[0; 3]);
        b.extend_from_slice(&port_to_ofp11(req.out_port).to_be_bytes());
        b.extend_from_slice(&OFPG_ANY.to_be_bytes());
        b.extend_from_slice(&[0; 4]);
        b.extend_from_slice(&req.cookie.0.to_be_bytes());
        b.extend_from_slice(&req.cookie_mask.to_be_bytes());
        encode_ofp_match(&req.match_, v, &mut b);
    }
    finish_msg(b)
}

/// Decodes a flow or aggregate statistics request; the flag is true for
/// aggregate.
pub fn decode_flow_stats_request(msg: &RawMsg<'_>) -> Result<(FlowStatsRequest, bool), OfpError> {
    let v = msg.version;
    let mut r = Reader::new(msg.body);
    let mut req = FlowStatsRequest::default();
    let short = |need: usize, have: usize| {
        OfpErr::BadRequestBadLen
            .with(format!("flow stats request body of {have} bytes, need {need}"))
    };
    let aggregate = match msg.ty {
        MsgType::VendorMultipartRequest(NX_VENDOR_ID, sub)
            if sub == nxt::STATS_FLOW || sub == nxt::STATS_AGGREGATE =>
        {
            if r.remaining() < 8 {
                return Err(short(8, r.remaining()));
            }
            req.out_port = OfPort(r.u16()?);
            let match_len = usize::from(r.u16()?);
            req.table = TableId(r.u8()?);
            r.skip(3)?;
            let (m, c, cm) = pull_nx_match(&mut r, match_len)?;
            req.match_ = m;
            req.cookie = Cookie(c);
            req.cookie_mask = cm;
            sub == nxt::STATS_AGGREGATE
        }
        MsgType::MultipartRequest(mp @ (MpType::Flow | MpType::Aggregate)) => {
            if v == Version::V10 {
                if r.remaining() < 44 {
                    return Err(short(44, r.remaining()));
                }
                req.match_ = decode_ofp10_match(r.bytes(MATCH10_LEN)?)?;
                req.table = TableId(r.u8()?);
                r.skip(1)?;
                req.out_port = OfPort(r.u16()?);
            } else {
                if r.remaining() < 32 {
                    return Err(short(32, r.remaining()));
                }
                req.table = TableId(r.u8()?);
                r.skip(3)?;
                let p = r.u32()?;
                req.out_port = port_from_ofp11(p).ok_or_else(|| {
                    OfpErr::BadRequestBadPort.with(format!("out_port {p:#x} is not a valid port"))
                })?;
                let _out_group = r.u32()?;
                r.skip(4)?;
                let c = r.u64()?;
                req.cookie_mask = r.u64()?;
                req.cookie = Cookie(c & req.cookie_mask);
                req.match_ = decode_ofp_match(&mut r, v)?;
            }
            mp == MpType::Aggregate
        }
        other => {
            return Err(OfpErr::BadRequestBadType
                .with(format!("{other:?} is not a flow or aggregate stats request")))
        }
    };
    Ok((req, aggregate))
}

/// Seconds plus one, as NXST_FLOW's ages carry them (0: unknown).
fn age_to_wire(a: Option<Duration>) -> u16 {
    a.map_or(0, |d| u16::try_from(d.as_secs().saturating_add(1)).unwrap_or(u16::MAX))
}

fn age_from_wire(a: u16) -> Option<Duration> {
    (a != 0).then(|| Duration::from_secs(u64::from(a - 1)))
}

/// One flow_stats entry of `proto`'s reply.
fn encode_entry(l: &FlowStatsLine, proto: Protocol) -> Vec<u8> {
    let v = proto.version;
    let mut b = vec![0, 0, l.table.0, 0];
    if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        put_duration(&mut b, l.duration);
        b.extend_from_slice(&l.priority.to_be_bytes());
        b.extend_from_slice(&l.idle_timeout.to_be_bytes());
        b.extend_from_slice(&l.hard_timeout.to_be_bytes());
        let at = b.len();
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&age_to_wire(l.idle_age).to_be_bytes());
        b.extend_from_slice(&age_to_wire(l.hard_age).to_be_bytes());
        b.extend_from_slice(&l.cookie.0.to_be_bytes());
        b.extend_from_slice(&l.n_packets.to_be_bytes());
        b.extend_from_slice(&l.n_bytes.to_be_bytes());
        let n = put_nx_match(&l.match_, 0, 0, &mut b);
        b[at..at + 2].copy_from_slice(&n.to_be_bytes());
        encode_actions_for(&l.actions, v, Some(&l.match_), &mut b);
    } else if v == Version::V10 {
        b.extend_from_slice(&encode_ofp10_match(&l.match_));
        put_duration(&mut b, l.duration);
        b.extend_from_slice(&l.priority.to_be_bytes());
        b.extend_from_slice(&l.idle_timeout.to_be_bytes());
        b.extend_from_slice(&l.hard_timeout.to_be_bytes());
        b.extend_from_slice(&[0; 6]);
        b.extend_from_slice(&l.cookie.0.to_be_bytes());
        b.extend_from_slice(&l.n_packets.to_be_bytes());
        b.extend_from_slice(&l.n_bytes.to_be_bytes());
        encode_actions_for(&l.actions, v, Some(&l.match_), &mut b);
    } else {
        put_duration(&mut b, l.duration);
        b.extend_from_slice(&l.priority.to_be_bytes());
        b.extend_from_slice(&l.idle_timeout.to_be_bytes());
        b.extend_from_slice(&l.hard_timeout.to_be_bytes());
        let flags = if v >= Version::V13 { flags_to_wire(&l.flags, v) } else { 0 };
        b.extend_from_slice(&flags.to_be_bytes());
        let imp = if v >= Version::V14 { l.importance } else { 0 };
        b.extend_from_slice(&imp.to_be_bytes());
        b.extend_from_slice(&[0; 2]);
        b.extend_from_slice(&l.cookie.0.to_be_bytes());
        b.extend_from_slice(&l.n_packets.to_be_bytes());
        b.extend_from_slice(&l.n_bytes.to_be_bytes());
        encode_ofp_match(&l.match_, v, &mut b);
        encode_instructions_for(&l.actions, v, Some(&l.match_), &mut b);
    }
    let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
    b[0..2].copy_from_slice(&len.to_be_bytes());
    b
}

/// Encodes a flow statistics reply as one or more messages, each under
/// 64 KiB, with the "more" flag on all but the last: `OFPST_FLOW`/
/// `OFPMP_FLOW`, or `NXST_FLOW` (whose entries carry idle and hard ages) on
/// OpenFlow 1.0 with NXM.
pub fn encode_flow_stats_reply(
    entries: &[FlowStatsLine],
    proto: Protocol,
    xid: u32,
) -> Vec<Vec<u8>> {
    let v = proto.version;
    let ty = if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_FLOW)
    } else {
        MsgType::MultipartReply(MpType::Flow)
    };
    let head_len = start_msg(v, ty, xid).map_or(0, |b| b.len());
    let mut parts: Vec<Vec<Vec<u8>>> = vec![Vec::new()];
    let mut size = head_len;
    for e in entries {
        let b = encode_entry(e, proto);
        if size + b.len() > MAX_MSG && !parts.last().is_some_and(Vec::is_empty) {
            parts.push(Vec::new());
            size = head_len;
        }
        size += b.len();
        if let Some(p) = parts.last_mut() {
            p.push(b);
        }
    }
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let flags = if i + 1 < n { MP_MORE } else { 0 };
            let mut b = start_msg_flags(v, ty, xid, flags).unwrap_or_default();
            for e in p {
                b.extend_from_slice(&e);
            }
            finish_msg(b)
        })
        .collect()
}

/// Decodes the entries of one flow statistics reply message (standard or
/// `NXST_FLOW`).
pub fn decode_flow_stats_reply(msg: &RawMsg<'_>) -> Result<Vec<FlowStatsLine>, OfpError> {
    let v = msg.version;
    let nxm = match msg.ty {
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_FLOW) => true,
        MsgType::MultipartReply(MpType::Flow) => false,
        other => {
            return Err(
                OfpErr::BadRequestBadType.with(format!("{other:?} is not a flow stats reply"))
            )
        }
    };
    let mut out = Vec::new();
    let mut r = Reader::new(msg.body);
    while !r.is_empty() {
        if r.remaining() < 4 {
            return Err(OfpErr::BadRequestBadLen
                .with(format!("{} bytes left: too short for a flow stats entry", r.remaining())));
        }
        let len = usize::from(u16::from_be_bytes([r.peek_rest()[0], r.peek_rest()[1]]));
        let min = if nxm || v != Version::V10 { 48 } else { 88 };
        if len < min || len > r.remaining() {
            return Err(OfpErr::BadRequestBadLen.with(format!(
                "flow stats entry of length {len} ({} bytes left, at least {min} needed)",
                r.remaining()
            )));
        }
        let mut e = Reader::new(r.bytes(len)?);
        e.skip(2)?;
        let mut l = FlowStatsLine { table: TableId(e.u8()?), ..FlowStatsLine::default() };
        e.skip(1)?;
        if nxm {
            l.duration = get_duration(&mut e)?;
            l.priority = e.u16()?;
            l.idle_timeout = e.u16()?;
            l.hard_timeout = e.u16()?;
            let match_len = usize::from(e.u16()?);
            l.idle_age = age_from_wire(e.u16()?);
            l.hard_age = age_from_wire(e.u16()?);
            l.cookie = Cookie(e.u64()?);
            l.n_packets = e.u64()?;
            l.n_bytes = e.u64()?;
            l.match_ = pull_nx_match(&mut e, match_len)?.0;
            l.actions = decode_actions(e.rest(), Version::V10)?;
        } else if v == Version::V10 {
            l.match_ = decode_ofp10_match(e.bytes(MATCH10_LEN)?)?;
            l.duration = get_duration(&mut e)?;
            l.priority = e.u16()?;
            l.idle_timeout = e.u16()?;
            l.hard_timeout = e.u16()?;
            e.skip(6)?;
            l.cookie = Cookie(e.u64()?);
            l.n_packets = e.u64()?;
            l.n_bytes = e.u64()?;
            l.actions = decode_actions(e.rest(), v)?;
        } else {
            l.duration = get_duration(&mut e)?;
            l.priority = e.u16()?;
            l.idle_timeout = e.u16()?;
            l.hard_timeout = e.u16()?;
            let flags = e.u16()?;
            if v >= Version::V13 {
                l.flags = flags_from_wire(flags & flags_known(v), v)?;
            }
            let imp = e.u16()?;
            if v >= Version::V14 {
                l.importance = imp;
            }
            e.skip(2)?;
            l.cookie = Cookie(e.u64()?);
            l.n_packets = e.u64()?;
            l.n_bytes = e.u64()?;
            l.match_ = decode_ofp_match(&mut e, v)?;
            l.actions = decode_instructions(e.rest(), v)?;
        }
        out.push(l);
    }
    Ok(out)
}

/// The body of an aggregate statistics reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AggregateStats {
    /// Packets of every selected rule.
    pub packets: u64,
    /// Bytes of every selected rule.
    pub bytes: u64,
    /// Number of selected rules.
    pub flows: u32,
}

/// Encodes an aggregate statistics reply: `OFPST_AGGREGATE`/
/// `OFPMP_AGGREGATE`, or `NXST_AGGREGATE` on OpenFlow 1.0 with NXM.
pub fn encode_aggregate_reply(s: &AggregateStats, proto: Protocol, xid: u32) -> Vec<u8> {
    let v = proto.version;
    let ty = if v == Version::V10 && proto.flow_format == FlowFormat::Nxm {
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_AGGREGATE)
    } else {
        MsgType::MultipartReply(MpType::Aggregate)
    };
    let mut b = start_msg(v, ty, xid).unwrap_or_default();
    b.extend_from_slice(&s.packets.to_be_bytes());
    b.extend_from_slice(&s.bytes.to_be_bytes());
    b.extend_from_slice(&s.flows.to_be_bytes());
    b.extend_from_slice(&[0; 4]);
    finish_msg(b)
}

/// Decodes an aggregate statistics reply (standard or `NXST_AGGREGATE`).
pub fn decode_aggregate_reply(msg: &RawMsg<'_>) -> Result<AggregateStats, OfpError> {
    match msg.ty {
        MsgType::VendorMultipartReply(NX_VENDOR_ID, nxt::STATS_AGGREGATE)
        | MsgType::MultipartReply(MpType::Aggregate) => {}
        other => {
            return Err(OfpErr::BadRequestBadType
                .with(format!("{other:?} is not an aggregate stats reply")))
        }
    }
    let mut r = Reader::new(msg.body);
    if r.remaining() != 24 {
        return Err(OfpErr::BadRequestBadLen
            .with(format!("aggregate stats reply body of {} bytes, need 24", r.remaining())));
    }
    Ok(AggregateStats { packets: r.u64()?, bytes: r.u64()?, flows: r.u32()? })
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
