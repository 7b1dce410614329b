//! Actions and instructions on the wire, standard and Nicira, onto and from
//! the single list of [`OfAction`]s.
//!
//! Every action starts with a 16-bit type and a 16-bit length (a multiple
//! of 8). Type 0xffff is a vendor (experimenter) action: a 32-bit vendor id
//! follows, and for Nicira's (0x2320) a 16-bit subtype.
//!
//! Encoding writes what OVS 3.1 writes for the same text, checked against
//! `ovs-ofctl` (see `tests/ofp_codec.rs`); per version:
//!
//! | action | 1.0 | 1.1 | 1.2-1.4 | 1.5 |
//! |---|---|---|---|---|
//! | `mod_dl_src`, `mod_nw_dst`, `mod_nw_tos`, ... | 1.0 action | 1.1 action | `set_field` | `set_field` |
//! | `mod_tp_src/dst` | 1.0 action | 1.1 action | `set_field` if the match names TCP/UDP/SCTP, else the 1.1 action | same |
//! | `mod_vlan_vid/pcp` | 1.0 action | `push_vlan` first unless the match (or an earlier `push_vlan`) guarantees a tag, then the 1.1 action / `set_field` | same | same |
//! | `set_field` of a whole field | 1.0 action or `reg_load` | 1.1 action or `reg_load` | `set_field` | `set_field` |
//! | `load:` | `reg_load` (`reg_load2` past 64 bits or for scattered bits) | same | same | masked `set_field` |
//! | `move:` | `reg_move` | `reg_move` | `reg_move` | `copy_field` |
//! | `mod_nw_ecn`, `mod_nw_ttl` | `reg_load` | 1.1 action | `set_field` / `set_nw_ttl` | same |
//! | `strip_vlan` | `strip_vlan` | `pop_vlan` | `pop_vlan` | `pop_vlan` |
//! | `set_tunnel[64]` | Nicira | Nicira | `set_field` | `set_field` |
//! | `output(port=P,max_len=N)` | Nicira `output_trunc` | same | same | same |
//! | `controller(...)` | `output:CONTROLLER` when plain, else Nicira `controller`, or `controller2` with userdata | same | same | same |
//!
//! What a version cannot carry is left out: `push_vlan` on 1.0,
//! `write_actions`/`clear_actions` inside a plain action list, an empty
//! `write_actions`; `goto_table` inside a plain action list travels as
//! `resubmit(,T)`.
//!
//! Decoding maps each wire action to the [`OfAction`] that `ovs-ofctl`'s
//! text for it parses to. Where the wire has one form for two texts, the
//! decoded list is the wire's form: `set_field` comes back as
//! [`OfAction::SetField`] (not `SetEthSrc`), a 1.0 action as the 1.0 action,
//! `output:CONTROLLER` as [`OfAction::Controller`], OpenFlow 1.0's
//! `enqueue:P:Q` (which has no action of its own here) as
//! `set_queue:Q,output:P`, and a note with the zero bytes that padded it
//! (as in OVS).
//!
//! Errors name the action and the value at fault: an unknown type is
//! `OFPBAC_BAD_TYPE`, a wrong length `OFPBAC_BAD_LEN`, an unknown Nicira
//! subtype `OFPBAC_BAD_VENDOR_TYPE`, an unusable output port
//! `OFPBAC_BAD_OUT_PORT`, an out-of-range argument `OFPBAC_BAD_ARGUMENT`, a
//! `set_field` of an unknown or read-only field `OFPBAC_BAD_SET_TYPE`.

use super::buf::Reader;
use super::error::{OfpErr, OfpError};
use super::oxm::{self, port_from_ofp11, port_to_ofp11};
use super::{Version, NX_VENDOR_ID};
use crate::actions::{OfAction, PacketInReason, SubField};
use crate::flow::{Mf, OfMatch};
use crate::types::OfPort;
use rvs_packet::EthAddr;
use std::net::Ipv4Addr;

mod instructions;
mod nicira;

pub use instructions::{decode_instructions, encode_instructions, encode_instructions_for, inst};
use nicira::decode_nx;

/// OpenFlow 1.0 action types.
mod t10 {
    pub const OUTPUT: u16 = 0;
    pub const SET_VLAN_VID: u16 = 1;
    pub const SET_VLAN_PCP: u16 = 2;
    pub const STRIP_VLAN: u16 = 3;
    pub const SET_DL_SRC: u16 = 4;
    pub const SET_DL_DST: u16 = 5;
    pub const SET_NW_SRC: u16 = 6;
    pub const SET_NW_DST: u16 = 7;
    pub const SET_NW_TOS: u16 = 8;
    pub const SET_TP_SRC: u16 = 9;
    pub const SET_TP_DST: u16 = 10;
    pub const ENQUEUE: u16 = 11;
}

/// OpenFlow 1.1+ action types (1.1's own set actions are 1-10).
mod t11 {
    pub const OUTPUT: u16 = 0;
    pub const SET_VLAN_VID: u16 = 1;
    pub const SET_VLAN_PCP: u16 = 2;
    pub const SET_DL_SRC: u16 = 3;
    pub const SET_DL_DST: u16 = 4;
    pub const SET_NW_SRC: u16 = 5;
    pub const SET_NW_DST: u16 = 6;
    pub const SET_NW_TOS: u16 = 7;
    pub const SET_NW_ECN: u16 = 8;
    pub const SET_TP_SRC: u16 = 9;
    pub const SET_TP_DST: u16 = 10;
    pub const COPY_TTL_OUT: u16 = 11;
    pub const COPY_TTL_IN: u16 = 12;
    pub const PUSH_VLAN: u16 = 17;
    pub const POP_VLAN: u16 = 18;
    pub const SET_QUEUE: u16 = 21;
    pub const GROUP: u16 = 22;
    pub const SET_NW_TTL: u16 = 23;
    pub const DEC_NW_TTL: u16 = 24;
    pub const SET_FIELD: u16 = 25;
    pub const COPY_FIELD: u16 = 28;
}

/// The vendor/experimenter action type.
pub const OFPAT_VENDOR: u16 = 0xffff;

/// Nicira action subtypes (`NXAST_*`).
pub mod nxast {
    /// `resubmit:PORT`.
    pub const RESUBMIT: u16 = 1;
    /// `set_tunnel` (32-bit id).
    pub const SET_TUNNEL: u16 = 2;
    /// `set_queue`.
    pub const SET_QUEUE: u16 = 4;
    /// `pop_queue`.
    pub const POP_QUEUE: u16 = 5;
    /// `move`.
    pub const REG_MOVE: u16 = 6;
    /// `load`.
    pub const REG_LOAD: u16 = 7;
    /// `note`.
    pub const NOTE: u16 = 8;
    /// `set_tunnel64`.
    pub const SET_TUNNEL64: u16 = 9;
    /// `resubmit(PORT,TABLE)`.
    pub const RESUBMIT_TABLE: u16 = 14;
    /// `exit`.
    pub const EXIT: u16 = 17;
    /// `dec_ttl`.
    pub const DEC_TTL: u16 = 18;
    /// `controller(...)`.
    pub const CONTROLLER: u16 = 20;
    /// `dec_ttl(ID,...)`.
    pub const DEC_TTL_CNT_IDS: u16 = 21;
    /// `write_metadata` as an action.
    pub const WRITE_METADATA: u16 = 22;
    /// `set_field`/`load` with an OXM TLV.
    pub const REG_LOAD2: u16 = 33;
    /// `controller(...)` with properties.
    pub const CONTROLLER2: u16 = 37;
    /// `clone(...)`.
    pub const CLONE: u16 = 42;
    /// `output(port=P,max_len=N)`: output truncated.
    pub const OUTPUT_TRUNC: u16 = 39;
}

/// Properties of `NXAST_CONTROLLER2`.
mod nxac2pt {
    pub const MAX_LEN: u16 = 0;
    pub const CONTROLLER_ID: u16 = 1;
    pub const REASON: u16 = 2;
    pub const USERDATA: u16 = 3;
    pub const PAUSE: u16 = 4;
}

fn bad_len(what: &str, len: usize, want: &str) -> OfpError {
    OfpErr::BadActionBadLen.with(format!("{what} action has length {len}, expected {want}"))
}

fn bad_arg(what: impl Into<String>) -> OfpError {
    OfpErr::BadActionBadArgument.with(what.into())
}

fn reason_from_wire(r: u8) -> Option<PacketInReason> {
    match r {
        0 => Some(PacketInReason::NoMatch),
        1 => Some(PacketInReason::Action),
        2 => Some(PacketInReason::InvalidTtl),
        _ => None,
    }
}

fn reason_to_wire(r: PacketInReason) -> u8 {
    match r {
        PacketInReason::NoMatch => 0,
        PacketInReason::Action => 1,
        PacketInReason::InvalidTtl => 2,
    }
}

/// The port an output action may name: physical and reserved ports, not
/// NONE nor the unnamed numbers 0xff00-0xfff7.
fn check_out_port(what: &str, p: OfPort) -> Result<OfPort, OfpError> {
    if p < OfPort::MAX || (p >= OfPort::IN_PORT && p != OfPort::NONE) {
        Ok(p)
    } else {
        Err(OfpErr::BadActionBadOutPort.with(format!("{what} to port {:#x} is not allowed", p.0)))
    }
}

fn output_action(port: OfPort, max_len: u16) -> OfAction {
    if port == OfPort::CONTROLLER {
        OfAction::Controller {
            max_len,
            reason: PacketInReason::Action,
            id: 0,
            userdata: Vec::new(),
        }
    } else {
        // OFPAT_OUTPUT's max_len only means something for CONTROLLER.
        let _ = max_len;
        OfAction::Output { port, max_len: 0 }
    }
}

/// Maps an OXM decoding error onto the set_field error that means it.
fn set_field_err(e: OfpError) -> OfpError {
    let code = match e.code {
        OfpErr::BadMatchBadField => OfpErr::BadActionBadSetType,
        OfpErr::BadMatchBadLen => OfpErr::BadActionBadSetLen,
        OfpErr::BadMatchBadValue | OfpErr::BadMatchBadMask => OfpErr::BadActionBadSetArgument,
        c => c,
    };
    OfpError { code, detail: format!("set_field: {}", e.detail) }
}

/// Decodes a `set_field`/`reg_load2` TLV into a [`OfAction::SetField`].
fn decode_set_field(tlv: &[u8], load: bool) -> Result<OfAction, OfpError> {
    let t = oxm::decode_one(tlv).map_err(set_field_err)?;
    let name = oxm::header_name(t.header);
    if !t.mf.spec().writable {
        return Err(OfpErr::BadActionBadSetType.with(format!("set_field: {name} is read-only")));
    }
    if t.mf == Mf::DlVlan {
        // OXM's vlan_vid must say the tag is present.
        let raw = u16::from_be_bytes([tlv[4], tlv[5]]);
        if raw & oxm::OFPVID_PRESENT == 0 {
            return Err(OfpErr::BadActionBadSetArgument
                .with(format!("set_field: {name} value {raw:#x} lacks OFPVID_PRESENT (0x1000)")));
        }
    }
    let full = if t.mf.bits() >= 128 { u128::MAX } else { (1u128 << t.mf.bits()) - 1 };
    let load = load && t.mask != full;
    Ok(OfAction::SetField { field: t.mf, value: t.value & t.mask, mask: t.mask, load })
}

/// Reads a subfield given as NXM header plus offset and width.
fn subfield(what: &str, h: u32, ofs: u32, n_bits: u32) -> Result<SubField, OfpError> {
    let (mf, hasmask, _) = oxm::field_from_header(h)
        .ok_or_else(|| bad_arg(format!("{what}: unknown field {h:#010x}")))?;
    if hasmask {
        return Err(bad_arg(format!("{what}: field header {h:#010x} has the mask bit set")));
    }
    // NXM_OF_VLAN_TCI stands for itself; other names map directly.
    if n_bits == 0 || ofs + n_bits > mf.bits() {
        return Err(bad_arg(format!(
            "{what}: bits {ofs}..{} are outside {} ({} bits)",
            ofs + n_bits.max(1) - 1,
            oxm::header_name(h),
            mf.bits()
        )));
    }
    Ok(SubField { field: mf, ofs, n_bits })
}

/// Decodes a list of OpenFlow actions of `version` (exactly `buf`).
pub fn decode_actions(buf: &[u8], version: Version) -> Result<Vec<OfAction>, OfpError> {
    let mut out = Vec::new();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        if r.remaining() < 8 {
            return Err(OfpErr::BadActionBadLen
                .with(format!("{} bytes left: too short for an action", r.remaining())));
        }
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 8 || len % 8 != 0 || len - 4 > r.remaining() {
            return Err(OfpErr::BadActionBadLen.with(format!(
                "action type {ty} has length {len} ({} bytes left; a multiple of 8 is needed)",
                r.remaining() + 4
            )));
        }
        let mut a = Reader::new(r.bytes(len - 4)?);
        let got = if ty == OFPAT_VENDOR {
            let vendor = a.u32()?;
            if vendor != NX_VENDOR_ID {
                return Err(OfpErr::BadActionBadVendor
                    .with(format!("vendor action of vendor {vendor:#010x} is not supported")));
            }
            if len < 16 {
                return Err(bad_len("Nicira", len, "16 or more"));
            }
            let sub = a.u16()?;
            decode_nx(sub, &mut a, len, version)?
        } else if version == Version::V10 {
            decode_std10(ty, &mut a, len)?
        } else {
            decode_std11(ty, &mut a, len, version)?
        };
        out.extend(got);
    }
    Ok(out)
}

fn decode_std10(ty: u16, r: &mut Reader<'_>, len: usize) -> Result<Vec<OfAction>, OfpError> {
    let want = match ty {
        t10::SET_DL_SRC | t10::SET_DL_DST | t10::ENQUEUE => 16,
        0..=10 => 8,
        _ => {
            return Err(
                OfpErr::BadActionBadType.with(format!("OpenFlow 1.0 action type {ty} is unknown"))
            )
        }
    };
    if len != want {
        return Err(bad_len(&format!("OpenFlow 1.0 type {ty}"), len, &want.to_string()));
    }
    let a = match ty {
        t10::OUTPUT => {
            let p = check_out_port("output", OfPort(r.u16()?))?;
            output_action(p, r.u16()?)
        }
        t10::SET_VLAN_VID => {
            let v = r.u16()?;
            if v > 0xfff {
                return Err(bad_arg(format!("set_vlan_vid: {v} is past 4095")));
            }
            OfAction::SetVlanVid(v)
        }
        t10::SET_VLAN_PCP => {
            let p = r.u8()?;
            if p > 7 {
                return Err(bad_arg(format!("set_vlan_pcp: {p} is past 7")));
            }
            OfAction::SetVlanPcp(p)
        }
        t10::STRIP_VLAN => OfAction::PopVlan,
        t10::SET_DL_SRC => OfAction::SetEthSrc(EthAddr(r.array()?)),
        t10::SET_DL_DST => OfAction::SetEthDst(EthAddr(r.array()?)),
        t10::SET_NW_SRC => OfAction::SetIpv4Src(Ipv4Addr::from(r.u32()?)),
        t10::SET_NW_DST => OfAction::SetIpv4Dst(Ipv4Addr::from(r.u32()?)),
        t10::SET_NW_TOS => {
            let tos = r.u8()?;
            if tos & 3 != 0 {
                return Err(bad_arg(format!("set_nw_tos: {tos:#x} has ECN bits set")));
            }
            OfAction::SetIpDscp(tos >> 2)
        }
        t10::SET_TP_SRC => OfAction::SetL4Src(r.u16()?),
        t10::SET_TP_DST => OfAction::SetL4Dst(r.u16()?),
        _ => {
            let p = OfPort(r.u16()?);
            r.skip(6)?;
            let q = r.u32()?;
            let p = check_out_port("enqueue", p)?;
            if p >= OfPort::MAX && p != OfPort::IN_PORT && p != OfPort::LOCAL {
                return Err(OfpErr::BadActionBadOutPort
                    .with(format!("enqueue to reserved port {p} is not allowed")));
            }
            return Ok(vec![OfAction::SetQueue(q), OfAction::output(p)]);
        }
    };
    Ok(vec![a])
}

fn decode_std11(
    ty: u16,
    r: &mut Reader<'_>,
    len: usize,
    v: Version,
) -> Result<Vec<OfAction>, OfpError> {
    let fixed = |name: &str, want: usize| {
        if len != want {
            Err(bad_len(name, len, &want.to_string()))
        } else {
            Ok(())
        }
    };
    let v11 = v == Version::V11;
    let a = match ty {
        t11::OUTPUT => {
            fixed("output", 16)?;
            let raw = r.u32()?;
            let p = port_from_ofp11(raw).ok_or_else(|| {
                OfpErr::BadActionBadOutPort.with(format!("output to port {raw:#x} is not allowed"))
            })?;
            let p = check_out_port("output", p)?;
            output_action(p, r.u16()?)
        }
        t11::SET_VLAN_VID => {
            fixed("set_vlan_vid", 8)?;
            let x = r.u16()?;
            if x > 0xfff {
                return Err(bad_arg(format!("set_vlan_vid: {x} is past 4095")));
            }
            OfAction::SetVlanVid(x)
        }
        t11::SET_VLAN_PCP => {
            fixed("set_vlan_pcp", 8)?;
            let p = r.u8()?;
            if p > 7 {
                return Err(bad_arg(format!("set_vlan_pcp: {p} is past 7")));
            }
            OfAction::SetVlanPcp(p)
        }
        t11::SET_DL_SRC => {
            fixed("set_dl_src", 16)?;
            OfAction::SetEthSrc(EthAddr(r.array()?))
        }
        t11::SET_DL_DST => {
            fixed("set_dl_dst", 16)?;
            OfAction::SetEthDst(EthAddr(r.array()?))
        }
        t11::SET_NW_SRC => {
            fixed("set_nw_src", 8)?;
            OfAction::SetIpv4Src(Ipv4Addr::from(r.u32()?))
        }
        t11::SET_NW_DST => {
            fixed("set_nw_dst", 8)?;
            OfAction::SetIpv4Dst(Ipv4Addr::from(r.u32()?))
        }
        t11::SET_NW_TOS => {
            fixed("set_nw_tos", 8)?;
            let tos = r.u8()?;
            if tos & 3 != 0 {
                return Err(bad_arg(format!("set_nw_tos: {tos:#x} has ECN bits set")));
            }
            OfAction::SetIpDscp(tos >> 2)
        }
        t11::SET_NW_ECN => {
            fixed("set_nw_ecn", 8)?;
            let e = r.u8()?;
            if e > 3 {
                return Err(bad_arg(format!("set_nw_ecn: {e} is past 3")));
            }
            OfAction::SetIpEcn(e)
        }
        t11::SET_TP_SRC => {
            fixed("set_tp_src", 8)?;
            OfAction::SetL4Src(r.u16()?)
        }
        t11::SET_TP_DST => {
            fixed("set_tp_dst", 8)?;
            OfAction::SetL4Dst(r.u16()?)
        }
        t11::COPY_TTL_OUT | t11::COPY_TTL_IN => {
            return Err(OfpErr::BadActionBadType
                .with(format!("copy_ttl action (type {ty}) is not supported")))
        }
        t11::GROUP => {
            return Err(OfpErr::BadActionBadType
                .with("group action (type 22) is not supported: rvs has no groups"))
        }
        t11::PUSH_VLAN => {
            fixed("push_vlan", 8)?;
            let t = r.u16()?;
            if t != 0x8100 && t != 0x88a8 {
                return Err(bad_arg(format!(
                    "push_vlan: Ethertype {t:#06x} is not 0x8100 or 0x88a8"
                )));
            }
            OfAction::PushVlan(t)
        }
        t11::POP_VLAN => {
            fixed("pop_vlan", 8)?;
            OfAction::PopVlan
        }
        t11::SET_QUEUE => {
            fixed("set_queue", 8)?;
            OfAction::SetQueue(r.u32()?)
        }
        t11::SET_NW_TTL => {
            fixed("set_nw_ttl", 8)?;
            OfAction::SetIpTtl(r.u8()?)
        }
        t11::DEC_NW_TTL => {
            fixed("dec_nw_ttl", 8)?;
            OfAction::DecTtl(Vec::new())
        }
        t11::SET_FIELD if !v11 => {
            let body = r.rest();
            if body.len() < 4 {
                return Err(bad_len("set_field", len, "at least 8 + the TLV"));
            }
            let tl = 4 + usize::from(body[3]);
            if tl > body.len() || body.len() - tl >= 8 {
                return Err(OfpErr::BadActionBadSetLen.with(format!(
                    "set_field of length {len} does not hold its {tl}-byte TLV padded to 8"
                )));
            }
            decode_set_field(&body[..tl], false)?
        }
        t11::COPY_FIELD if v >= Version::V15 => {
            fixed("copy_field", 24)?;
            let n = u32::from(r.u16()?);
            let so = u32::from(r.u16()?);
            let dof = u32::from(r.u16()?);
            r.skip(2)?;
            let src = subfield("copy_field source", r.u32()?, so, n)?;
            let dst = subfield("copy_field destination", r.u32()?, dof, n)?;
            if !dst.field.spec().writable {
                return Err(bad_arg(format!("copy_field: {} is read-only", dst.field)));
            }
            OfAction::Move { src, dst }
        }
        _ => {
            return Err(OfpErr::BadActionBadType
                .with(format!("{v} action type {ty} is unknown or not supported")))
        }
    };
    Ok(vec![a])
}

/// What encoding needs besides the version: the match's IP protocol picks
/// the `set_field` header for `mod_tp_src`/`mod_tp_dst` (0 when unknown),
/// and whether the packet has a VLAN tag at this point decides, as in OVS,
/// whether `mod_vlan_vid`/`mod_vlan_pcp` on OpenFlow 1.1+ (which only
/// modify an existing tag there) must push one first.
#[derive(Clone)]
struct Ctx {
    v: Version,
    proto: u8,
    vlan: std::cell::Cell<bool>,
}

impl Ctx {
    /// A copy for a nested list (`clone`, `write_actions`).
    fn nested(&self) -> Ctx {
        self.clone()
    }
}

fn start(out: &mut Vec<u8>, ty: u16) -> usize {
    let at = out.len();
    out.extend_from_slice(&ty.to_be_bytes());
    out.extend_from_slice(&[0, 0]);
    at
}

fn end(out: &mut Vec<u8>, at: usize) {
    while !(out.len() - at).is_multiple_of(8) {
        out.push(0);
    }
    let len = u16::try_from(out.len() - at).unwrap_or(u16::MAX);
    out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn nx_start(out: &mut Vec<u8>, sub: u16) -> usize {
    let at = start(out, OFPAT_VENDOR);
    out.extend_from_slice(&NX_VENDOR_ID.to_be_bytes());
    out.extend_from_slice(&sub.to_be_bytes());
    at
}

/// A fixed-size standard action: type, then `body`, padded.
fn std_action(out: &mut Vec<u8>, ty: u16, body: &[u8]) {
    let at = start(out, ty);
    out.extend_from_slice(body);
    end(out, at);
}

fn nx_action(out: &mut Vec<u8>, sub: u16, body: &[u8]) {
    let at = nx_start(out, sub);
    out.extend_from_slice(body);
    // Nicira actions are at least 16 bytes.
    while out.len() - at < 16 {
        out.push(0);
    }
    end(out, at);
}

/// The NXM header and the offset of `mf`'s bits in that wire field, for
/// `move` and `load` (`dl_vlan` and `dl_vlan_pcp` are bits of
/// `NXM_OF_VLAN_TCI`).
fn nx_field(mf: Mf) -> Option<(u32, u32)> {
    match mf {
        Mf::DlVlan => Some((oxm::field_header(Mf::VlanTci, Version::V10)?, 0)),
        Mf::DlVlanPcp => Some((oxm::field_header(Mf::VlanTci, Version::V10)?, 13)),
        f => Some((oxm::field_header(f, Version::V10)?, 0)),
    }
}

fn is_contiguous(mask: u128) -> bool {
    mask != 0 && {
        let m = mask >> mask.trailing_zeros();
        m & m.wrapping_add(1) == 0
    }
}

fn full_mask(f: Mf) -> u128 {
    if f.bits() >= 128 {
        u128::MAX
    } else {
        (1u128 << f.bits()) - 1
    }
}

/// `load` as Nicira `reg_load` (contiguous bits within 64) or `reg_load2`.
fn encode_load(out: &mut Vec<u8>, field: Mf, value: u128, mask: u128) {
    let Some((h, shift)) = nx_field(field) else { return };
    let ofs = mask.trailing_zeros();
    let n = mask.count_ones();
    if is_contiguous(mask) && n <= 64 && header_len_ok(h) {
        let ofs_nbits = (((ofs + shift) << 6) | (n - 1)) as u16;
        let mut body = Vec::with_capacity(14);
        body.extend_from_slice(&ofs_nbits.to_be_bytes());
        body.extend_from_slice(&h.to_be_bytes());
        body.extend_from_slice(&(((value & mask) >> ofs) as u64).to_be_bytes());
        nx_action(out, nxast::REG_LOAD, &body);
    } else {
        let at = nx_start(out, nxast::REG_LOAD2);
        oxm::encode_one(field, value & mask, mask, Version::V10, out);
        end(out, at);
    }
}

/// True unless the field is wider than 64 bits (reg_load's value is u64).
fn header_len_ok(h: u32) -> bool {
    oxm::header_len(h) <= 8
}

/// OpenFlow 1.2+ `set_field`.
fn encode_set_field(out: &mut Vec<u8>, v: Version, field: Mf, value: u128, mask: u128) {
    let at = start(out, t11::SET_FIELD);
    if oxm::encode_one(field, value, mask, v, out) {
        end(out, at);
    } else {
        out.truncate(at);
    }
}

/// The 1.0 (or 1.1) action a whole-field `set_field` has, if any.
fn legacy_set(field: Mf, value: u128) -> Option<OfAction> {
    Some(match field {
        Mf::DlSrc => OfAction::SetEthSrc(EthAddr::from_u64(value as u64)),
        Mf::DlDst => OfAction::SetEthDst(EthAddr::from_u64(value as u64)),
        Mf::NwSrc => OfAction::SetIpv4Src(Ipv4Addr::from(value as u32)),
        Mf::NwDst => OfAction::SetIpv4Dst(Ipv4Addr::from(value as u32)),
        Mf::IpDscp => OfAction::SetIpDscp(value as u8),
        Mf::TpSrc | Mf::TcpSrc | Mf::UdpSrc => OfAction::SetL4Src(value as u16),
        Mf::TpDst | Mf::TcpDst | Mf::UdpDst => OfAction::SetL4Dst(value as u16),
        Mf::DlVlan => OfAction::SetVlanVid(value as u16),
        Mf::DlVlanPcp => OfAction::SetVlanPcp(value as u8),
        _ => return None,
    })
}

fn tp_field(proto: u8, src: bool) -> Mf {
    match (proto, src) {
        (17, true) => Mf::UdpSrc,
        (17, false) => Mf::UdpDst,
        (132, true) => Mf::SctpSrc,
        (132, false) => Mf::SctpDst,
        (_, true) => Mf::TcpSrc,
        (_, false) => Mf::TcpDst,
    }
}

fn encode_one(a: &OfAction, c: &Ctx, out: &mut Vec<u8>) {
    let v = c.v;
    let v10 = v == Version::V10;
    let v11 = v == Version::V11;
    let modern = v >= Version::V12;
    match a {
        OfAction::Output { port, max_len } if *max_len != 0 && *port != OfPort::CONTROLLER => {
            let mut b = port.0.to_be_bytes().to_vec();
            b.extend_from_slice(&u32::from(*max_len).to_be_bytes());
            nx_action(out, nxast::OUTPUT_TRUNC, &b);
        }
        OfAction::Output { port, max_len } => {
            if v10 {
                let mut b = port.0.to_be_bytes().to_vec();
                b.extend_from_slice(&max_len.to_be_bytes());
                std_action(out, t10::OUTPUT, &b);
            } else {
                let mut b = port_to_ofp11(*port).to_be_bytes().to_vec();
                b.extend_from_slice(&max_len.to_be_bytes());
                b.extend_from_slice(&[0; 6]);
                std_action(out, t11::OUTPUT, &b);
            }
        }
        OfAction::Controller { max_len, reason, id, userdata } => {
            if *reason == PacketInReason::Action && *id == 0 && userdata.is_empty() {
                encode_one(
                    &OfAction::Output { port: OfPort::CONTROLLER, max_len: *max_len },
                    c,
                    out,
                );
            } else if userdata.is_empty() {
                let mut b = max_len.to_be_bytes().to_vec();
                b.extend_from_slice(&id.to_be_bytes());
                b.push(reason_to_wire(*reason));
                nx_action(out, nxast::CONTROLLER, &b);
            } else {
                let at = nx_start(out, nxast::CONTROLLER2);
                out.extend_from_slice(&[0; 6]);
                let prop = |out: &mut Vec<u8>, t: u16, body: &[u8]| {
                    let p = out.len();
                    out.extend_from_slice(&t.to_be_bytes());
                    out.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
                    out.extend_from_slice(body);
                    while !(out.len() - p).is_multiple_of(8) {
                        out.push(0);
                    }
                };
                if *max_len != u16::MAX {
                    // OVS pads 16-bit properties to 4 bytes inside the length.
                    let m = max_len.to_be_bytes();
                    prop(out, nxac2pt::MAX_LEN, &[m[0], m[1], 0, 0]);
                }
                if *id != 0 {
                    let i = id.to_be_bytes();
                    prop(out, nxac2pt::CONTROLLER_ID, &[i[0], i[1], 0, 0]);
                }
                if *reason != PacketInReason::Action {
                    prop(out, nxac2pt::REASON, &[reason_to_wire(*reason)]);
                }
                prop(out, nxac2pt::USERDATA, userdata);
                end(out, at);
            }
        }
        OfAction::Resubmit { in_port, table } => {
            let p = in_port.unwrap_or(OfPort::IN_PORT).0.to_be_bytes();
            match table {
                None => nx_action(out, nxast::RESUBMIT, &p),
                Some(t) => nx_action(out, nxast::RESUBMIT_TABLE, &[p[0], p[1], t.0]),
            }
        }
        OfAction::GotoTable(t) => {
            let p = OfPort::IN_PORT.0.to_be_bytes();
            nx_action(out, nxast::RESUBMIT_TABLE, &[p[0], p[1], t.0]);
        }
        OfAction::WriteMetadata { value, mask } => {
            let mut b = vec![0; 6];
            b.extend_from_slice(&value.to_be_bytes());
            b.extend_from_slice(&mask.to_be_bytes());
            nx_action(out, nxast::WRITE_METADATA, &b);
        }
        OfAction::SetField { field, value, mask, load } => {
            let full = full_mask(*field);
            let whole = mask & full == full;
            if whole && !*load && !modern {
                if let Some(l) = legacy_set(*field, *value) {
                    return encode_one(&l, c, out);
                }
            }
            // As OVS 3.1: OpenFlow 1.2-1.4 keep `load` as Nicira reg_load;
            // OpenFlow 1.5 has masked set_field and no reg_load.
            let v15 = v >= Version::V15;
            let has_oxm = oxm::field_header(*field, v).is_some();
            if modern && has_oxm && ((whole && !*load) || v15) {
                encode_set_field(out, v, *field, *value, *mask & full);
            } else {
                encode_load(out, *field, *value, *mask & full);
            }
        }
        OfAction::Move { src, dst } => {
            let (Some((sh, ss)), Some((dh, ds))) = (nx_field(src.field), nx_field(dst.field))
            else {
                return;
            };
            let mut b = Vec::with_capacity(16);
            b.extend_from_slice(&(src.n_bits as u16).to_be_bytes());
            b.extend_from_slice(&((src.ofs + ss) as u16).to_be_bytes());
            b.extend_from_slice(&((dst.ofs + ds) as u16).to_be_bytes());
            if v >= Version::V15 {
                // OpenFlow 1.5's copy_field replaces Nicira's reg_move.
                b.extend_from_slice(&[0, 0]);
                b.extend_from_slice(&sh.to_be_bytes());
                b.extend_from_slice(&dh.to_be_bytes());
                std_action(out, t11::COPY_FIELD, &b);
                return;
            }
            b.extend_from_slice(&sh.to_be_bytes());
            b.extend_from_slice(&dh.to_be_bytes());
            nx_action(out, nxast::REG_MOVE, &b);
        }
        OfAction::SetEthSrc(e) | OfAction::SetEthDst(e) => {
            let src = matches!(a, OfAction::SetEthSrc(_));
            if modern {
                let f = if src { Mf::DlSrc } else { Mf::DlDst };
                encode_set_field(out, v, f, u128::from(e.to_u64()), full_mask(f));
            } else {
                let ty = match (v11, src) {
                    (false, true) => t10::SET_DL_SRC,
                    (false, false) => t10::SET_DL_DST,
                    (true, true) => t11::SET_DL_SRC,
                    (true, false) => t11::SET_DL_DST,
                };
                std_action(out, ty, &e.0);
            }
        }
        OfAction::SetIpv4Src(ip) | OfAction::SetIpv4Dst(ip) => {
            let src = matches!(a, OfAction::SetIpv4Src(_));
            if modern {
                let f = if src { Mf::NwSrc } else { Mf::NwDst };
                encode_set_field(out, v, f, u128::from(u32::from(*ip)), full_mask(f));
            } else {
                let ty = match (v11, src) {
                    (false, true) => t10::SET_NW_SRC,
                    (false, false) => t10::SET_NW_DST,
                    (true, true) => t11::SET_NW_SRC,
                    (true, false) => t11::SET_NW_DST,
                };
                std_action(out, ty, &u32::from(*ip).to_be_bytes());
            }
        }
        OfAction::SetIpDscp(d) => {
            if modern {
                encode_set_field(out, v, Mf::IpDscp, u128::from(*d), 0x3f);
            } else {
                std_action(out, if v11 { t11::SET_NW_TOS } else { t10::SET_NW_TOS }, &[d << 2]);
            }
        }
        OfAction::SetIpEcn(e) => {
            if modern {
                encode_set_field(out, v, Mf::NwEcn, u128::from(*e), 3);
            } else if v11 {
                std_action(out, t11::SET_NW_ECN, &[*e]);
            } else {
                encode_load(out, Mf::NwEcn, u128::from(*e), 3);
            }
        }
        OfAction::SetIpTtl(t) => {
            if v10 {
                encode_load(out, Mf::NwTtl, u128::from(*t), 0xff);
            } else {
                std_action(out, t11::SET_NW_TTL, &[*t]);
            }
        }
        OfAction::SetL4Src(p) | OfAction::SetL4Dst(p) => {
            let src = matches!(a, OfAction::SetL4Src(_));
            if modern && matches!(c.proto, 6 | 17 | 132) {
                encode_set_field(out, v, tp_field(c.proto, src), u128::from(*p), 0xffff);
            } else {
                // Without a known L4 protocol OVS keeps OpenFlow 1.1's
                // set_tp_src/dst on 1.2+ too (no set_field field fits).
                let ty = match (v > Version::V10, src) {
                    (false, true) => t10::SET_TP_SRC,
                    (false, false) => t10::SET_TP_DST,
                    (true, true) => t11::SET_TP_SRC,
                    (true, false) => t11::SET_TP_DST,
                };
                std_action(out, ty, &p.to_be_bytes());
            }
        }
        OfAction::DecTtl(ids) => {
            if ids.is_empty() {
                if v10 {
                    nx_action(out, nxast::DEC_TTL, &[]);
                } else {
                    std_action(out, t11::DEC_NW_TTL, &[]);
                }
            } else {
                let at = nx_start(out, nxast::DEC_TTL_CNT_IDS);
                out.extend_from_slice(&(ids.len() as u16).to_be_bytes());
                out.extend_from_slice(&[0; 4]);
                for id in ids {
                    out.extend_from_slice(&id.to_be_bytes());
                }
                end(out, at);
            }
        }
        OfAction::PushVlan(t) => {
            c.vlan.set(true);
            if !v10 {
                std_action(out, t11::PUSH_VLAN, &t.to_be_bytes());
            }
        }
        OfAction::PopVlan => {
            c.vlan.set(false);
            std_action(out, if v10 { t10::STRIP_VLAN } else { t11::POP_VLAN }, &[]);
        }
        OfAction::SetVlanVid(_) | OfAction::SetVlanPcp(_) if !v10 && !c.vlan.get() => {
            // Only 1.0's actions push a tag when there is none.
            encode_one(&OfAction::PushVlan(0x8100), c, out);
            encode_one(a, c, out);
        }
        OfAction::SetVlanVid(x) => {
            if modern {
                encode_set_field(out, v, Mf::DlVlan, u128::from(*x), 0xfff);
            } else {
                let ty = if v11 { t11::SET_VLAN_VID } else { t10::SET_VLAN_VID };
                std_action(out, ty, &x.to_be_bytes());
            }
        }
        OfAction::SetVlanPcp(p) => {
            if modern {
                encode_set_field(out, v, Mf::DlVlanPcp, u128::from(*p), 7);
            } else {
                let ty = if v11 { t11::SET_VLAN_PCP } else { t10::SET_VLAN_PCP };
                std_action(out, ty, &[*p]);
            }
        }
        OfAction::SetTunnel { id, .. } if modern => {
            encode_set_field(out, v, Mf::TunId, u128::from(*id), u128::from(u64::MAX));
        }
        OfAction::SetTunnel { id, wide } => {
            if *wide || *id > u64::from(u32::MAX) {
                let mut b = vec![0; 6];
                b.extend_from_slice(&id.to_be_bytes());
                nx_action(out, nxast::SET_TUNNEL64, &b);
            } else {
                let mut b = vec![0; 2];
                b.extend_from_slice(&(*id as u32).to_be_bytes());
                nx_action(out, nxast::SET_TUNNEL, &b);
            }
        }
        OfAction::SetQueue(q) => {
            if v10 {
                let mut b = vec![0; 2];
                b.extend_from_slice(&q.to_be_bytes());
                nx_action(out, nxast::SET_QUEUE, &b);
            } else {
                std_action(out, t11::SET_QUEUE, &q.to_be_bytes());
            }
        }
        OfAction::Clone(inner) => {
            let at = nx_start(out, nxast::CLONE);
            out.extend_from_slice(&[0; 6]);
            let inner_ctx = c.nested();
            for x in inner {
                encode_one(x, &inner_ctx, out);
            }
            end(out, at);
        }
        OfAction::Note(b) => nx_action(out, nxast::NOTE, b),
        OfAction::Exit => nx_action(out, nxast::EXIT, &[]),
        OfAction::WriteActions(_) | OfAction::ClearActions => {}
    }
}

fn ctx(version: Version, m: Option<&OfMatch>) -> Ctx {
    let proto = m.filter(|m| m.wc.is_exact(Mf::NwProto)).map(|m| m.flow.nw_proto()).unwrap_or(0);
    let cfi = u128::from(crate::flow::vlan::CFI);
    let vlan = m.is_some_and(|m| {
        let (tci, mask) = m.get(Mf::VlanTci);
        tci & mask & cfi != 0
    });
    Ctx { v: version, proto, vlan: std::cell::Cell::new(vlan) }
}

/// Appends `acts` as `version`'s actions (instruction entries excepted:
/// see [`encode_instructions`]).
pub fn encode_actions(acts: &[OfAction], version: Version, out: &mut Vec<u8>) {
    encode_actions_for(acts, version, None, out)
}

/// [`encode_actions`] for a rule with match `m`, whose IP protocol picks
/// the OpenFlow 1.2+ header of `mod_tp_src`/`mod_tp_dst`.
pub fn encode_actions_for(
    acts: &[OfAction],
    version: Version,
    m: Option<&OfMatch>,
    out: &mut Vec<u8>,
) {
    let c = ctx(version, m);
    for a in acts {
        encode_one(a, &c, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::{parse_actions, NoNames};

    fn rt(text: &str, v: Version) -> Vec<OfAction> {
        let a = parse_actions(text, &NoNames).unwrap();
        let mut b = Vec::new();
        encode_actions(&a, v, &mut b);
        let back = decode_actions(&b, v).unwrap_or_else(|e| panic!("{text} {v}: {e}"));
        let mut b2 = Vec::new();
        encode_actions(&back, v, &mut b2);
        assert_eq!(b, b2, "{text} {v}: re-encoding differs");
        back
    }

    #[test]
    fn identity_where_the_wire_keeps_the_form() {
        let same = "output:1,CONTROLLER:100,controller(reason=no_match,max_len=100,id=3,userdata=01.02.03),controller(id=3),resubmit:3,resubmit(4,5),resubmit(,6),load:0x5->NXM_NX_REG0[0..7],move:NXM_NX_REG0[]->NXM_NX_REG1[],move:NXM_NX_XXREG0[]->NXM_NX_XXREG1[],dec_ttl,dec_ttl(1,2),clone(output:1,exit),note:01.02.03.04.05.06,exit,output(port=1,max_len=100)";
        for v in [Version::V10, Version::V13] {
            let a = parse_actions(same, &NoNames).unwrap();
            assert_eq!(rt(same, v), a, "{v}");
        }
        let v10 = "mod_dl_src:02:00:00:00:00:01,mod_nw_dst:198.18.0.2,mod_nw_tos:16,mod_tp_src:1,strip_vlan,mod_vlan_vid:10,mod_vlan_pcp:3,set_queue:3,set_tunnel:0x5,set_tunnel64:0x5";
        assert_eq!(rt(v10, Version::V10), parse_actions(v10, &NoNames).unwrap());
        let v13 = "set_field:02:00:00:00:00:01->eth_src,set_field:5->reg0,pop_vlan,push_vlan:0x8100,set_queue:3,mod_nw_ttl:9";
        assert_eq!(rt(v13, Version::V13), parse_actions(v13, &NoNames).unwrap());
    }

    #[test]
    fn instructions_round_trip() {
        let t = "output:1,clear_actions,write_actions(output:2,set_field:0x5->reg0),write_metadata:0x5/0xff,goto_table:3";
        let a = parse_actions(t, &NoNames).unwrap();
        let mut b = Vec::new();
        encode_instructions(&a, Version::V13, &mut b);
        assert_eq!(decode_instructions(&b, Version::V13).unwrap(), a);
        // meter
        let e = decode_instructions(&[0, 6, 0, 8, 0, 0, 0, 1], Version::V13).unwrap_err();
        assert_eq!(e.code, OfpErr::BadInstructionUnsupInst);
    }

    #[test]
    fn enqueue_and_legacy_forms() {
        // enqueue:3:7 (OpenFlow 1.0).
        let b = [0, 11, 0, 16, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        assert_eq!(
            decode_actions(&b, Version::V10).unwrap(),
            vec![OfAction::SetQueue(7), OfAction::output(OfPort(3))]
        );
        // OpenFlow 1.1's set_tp_src is accepted on 1.3 as OVS sends it.
        let b = [0, 9, 0, 8, 0, 80, 0, 0];
        assert_eq!(decode_actions(&b, Version::V13).unwrap(), vec![OfAction::SetL4Src(80)]);
        // set_field vlan_vid needs OFPVID_PRESENT.
        let b = [0, 25, 0, 16, 0x80, 0, 0x0c, 2, 0, 10, 0, 0, 0, 0, 0, 0];
        let e = decode_actions(&b, Version::V13).unwrap_err();
        assert_eq!(e.code, OfpErr::BadActionBadSetArgument);
        assert!(e.detail.contains("OFPVID_PRESENT"), "{e}");
        // mod_vlan_vid on 1.3 pushes a tag unless the match has one.
        let mut out = Vec::new();
        encode_actions(&[OfAction::SetVlanVid(10)], Version::V13, &mut out);
        assert_eq!(
            decode_actions(&out, Version::V13).unwrap(),
            vec![
                OfAction::PushVlan(0x8100),
                OfAction::SetField { field: Mf::DlVlan, value: 10, mask: 0xfff, load: false }
            ]
        );
        let m = crate::text::parse_match("dl_vlan=5", &NoNames).unwrap();
        let mut out = Vec::new();
        encode_actions_for(&[OfAction::SetVlanVid(10)], Version::V13, Some(&m), &mut out);
        assert_eq!(decode_actions(&out, Version::V13).unwrap().len(), 1);
    }

    #[test]
    fn bad_actions_are_named() {
        let e = decode_actions(&[0, 99, 0, 8, 0, 0, 0, 0], Version::V10).unwrap_err();
        assert_eq!(e.code, OfpErr::BadActionBadType);
        assert!(e.detail.contains("99"), "{e}");
        let e = decode_actions(&[0, 0, 0, 12, 0, 1, 0, 0], Version::V10).unwrap_err();
        assert_eq!(e.code, OfpErr::BadActionBadLen);
        let e = decode_actions(&[0, 0, 0, 8, 0xff, 0x00, 0, 0], Version::V10).unwrap_err();
        assert_eq!(e.code, OfpErr::BadActionBadOutPort);
        let e = decode_actions(&[0, 1, 0, 8, 0x10, 0x00, 0, 0], Version::V10).unwrap_err();
        assert_eq!(e.code, OfpErr::BadActionBadArgument);
        let nx = [0xff, 0xff, 0, 16, 0, 0, 0x23, 0x20, 0, 99, 0, 0, 0, 0, 0, 0];
        let e = decode_actions(&nx, Version::V10).unwrap_err();
        assert_eq!(e.code, OfpErr::BadActionBadVendorType);
        let group = [0, 22, 0, 8, 0, 0, 0, 1];
        assert_eq!(
            decode_actions(&group, Version::V13).unwrap_err().code,
            OfpErr::BadActionBadType
        );
        // set_field of eth_type (read-only).
        let sf = [0, 25, 0, 16, 0x80, 0x00, 0x0a, 0x02, 0x08, 0x00, 0, 0, 0, 0, 0, 0];
        let e = decode_actions(&sf, Version::V13).unwrap_err();
        assert_eq!(e.code, OfpErr::BadActionBadSetType);
        assert!(e.detail.contains("ETH_TYPE"), "{e}");
    }
}
