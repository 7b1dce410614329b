//! Actions and instructions on the wire, standard and Nicira, onto and from
//! the single list of [`OfAction`]s.
//!
//! Every action starts with a 16-bit type and a 16-bit length (a multiple
//! of 8). Type 0xffff is a vendor (experimenter) action: a 32-bit vendor id
//! follows, and for Nicira's (0x2320) a 16-bit subtype.
//!
//! Decoding maps each wire action to the [`OfAction`] that `ovs-ofctl`'s
//! text for it parses to, so that decoding what was encoded from text gives
//! back what the text gives, except where the wire has one form for two
//! texts:
//!
//! - OpenFlow 1.0's `enqueue:P:Q` has no action of its own here and decodes
//!   to `set_queue:Q,output:P`;
//! - on OpenFlow 1.2+, `mod_dl_src`, `mod_nw_dst`, `mod_vlan_vid`, ... travel
//!   as `set_field` and come back as [`OfAction::SetField`]; on OpenFlow 1.0
//!   a `set_field` of a header field travels as the matching 1.0 action and
//!   comes back as it (`SetEthSrc`, ...);
//! - `output:CONTROLLER` comes back as [`OfAction::Controller`], as its text
//!   parses;
//! - a note comes back with the zero bytes that padded it to 8 bytes (as in
//!   OVS).
//!
//! Encoding picks what each version can express: `load:` and `set_field`
//! of a whole field travel as OpenFlow 1.2+ `set_field`, a part of a field
//! as Nicira `reg_load` (or `reg_load2` past 64 bits); `strip_vlan` as
//! `pop_vlan` on 1.1+. What a version cannot carry at all is left out:
//! `push_vlan` on OpenFlow 1.0, `write_actions` and `clear_actions` inside
//! an action list; `goto_table` inside an action list travels as
//! `resubmit(,T)`.
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
use crate::types::{OfPort, TableId};
use rvs_packet::EthAddr;
use std::net::Ipv4Addr;

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
}

/// Properties of `NXAST_CONTROLLER2`.
mod nxac2pt {
    pub const MAX_LEN: u16 = 0;
    pub const CONTROLLER_ID: u16 = 1;
    pub const REASON: u16 = 2;
    pub const USERDATA: u16 = 3;
    pub const PAUSE: u16 = 4;
}

/// OpenFlow 1.1+ instruction types.
pub mod inst {
    /// `goto_table`.
    pub const GOTO_TABLE: u16 = 1;
    /// `write_metadata`.
    pub const WRITE_METADATA: u16 = 2;
    /// `write_actions`.
    pub const WRITE_ACTIONS: u16 = 3;
    /// `apply_actions`.
    pub const APPLY_ACTIONS: u16 = 4;
    /// `clear_actions`.
    pub const CLEAR_ACTIONS: u16 = 5;
    /// `meter` (1.3+).
    pub const METER: u16 = 6;
    /// Experimenter.
    pub const EXPERIMENTER: u16 = 0xffff;
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
        OfAction::Output { port, max_len }
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

fn decode_nx(
    sub: u16,
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
    let one = |a: OfAction| Ok(vec![a]);
    match sub {
        nxast::RESUBMIT => {
            fixed("resubmit", 16)?;
            let p = OfPort(r.u16()?);
            let in_port = if p == OfPort::IN_PORT { None } else { Some(p) };
            one(OfAction::Resubmit { in_port, table: None })
        }
        nxast::RESUBMIT_TABLE => {
            fixed("resubmit_table", 16)?;
            let p = OfPort(r.u16()?);
            let t = r.u8()?;
            let pad = r.bytes(3)?;
            if pad != [0, 0, 0] {
                return Err(bad_arg("resubmit_table: padding is not zero"));
            }
            let in_port = if p == OfPort::IN_PORT { None } else { Some(p) };
            let table = if t == 255 { None } else { Some(TableId(t)) };
            one(OfAction::Resubmit { in_port, table })
        }
        nxast::SET_TUNNEL => {
            fixed("set_tunnel", 16)?;
            r.skip(2)?;
            one(OfAction::SetTunnel { id: u64::from(r.u32()?), wide: false })
        }
        nxast::SET_TUNNEL64 => {
            fixed("set_tunnel64", 24)?;
            r.skip(6)?;
            one(OfAction::SetTunnel { id: r.u64()?, wide: true })
        }
        nxast::SET_QUEUE => {
            fixed("set_queue", 16)?;
            r.skip(2)?;
            one(OfAction::SetQueue(r.u32()?))
        }
        nxast::REG_MOVE => {
            fixed("move", 24)?;
            let n = u32::from(r.u16()?);
            let so = u32::from(r.u16()?);
            let dof = u32::from(r.u16()?);
            let src = subfield("move source", r.u32()?, so, n)?;
            let dst = subfield("move destination", r.u32()?, dof, n)?;
            if !dst.field.spec().writable {
                return Err(bad_arg(format!("move: {} is read-only", dst.field)));
            }
            one(OfAction::Move { src, dst })
        }
        nxast::REG_LOAD => {
            fixed("load", 24)?;
            let on = r.u16()?;
            let (ofs, n) = (u32::from(on >> 6), u32::from(on & 0x3f) + 1);
            let dst = subfield("load", r.u32()?, ofs, n)?;
            let value = u128::from(r.u64()?);
            if n < 64 && value >> n != 0 {
                return Err(bad_arg(format!(
                    "load: value {value:#x} does not fit in {n} bits of {}",
                    dst.field
                )));
            }
            if !dst.field.spec().writable {
                return Err(bad_arg(format!("load: {} is read-only", dst.field)));
            }
            one(OfAction::SetField {
                field: dst.field,
                value: value << ofs,
                mask: dst.mask(),
                load: true,
            })
        }
        nxast::REG_LOAD2 => {
            let body = r.bytes(len - 10)?;
            let tl = 4 + usize::from(body.get(3).copied().unwrap_or(0));
            let (tlv, pad) = body.split_at(tl.min(body.len()));
            if body.len() < 4 || tl > body.len() || pad.len() >= 8 {
                return Err(bad_len("reg_load2", len, "10 + the TLV, padded to 8"));
            }
            one(decode_set_field(tlv, true)?)
        }
        nxast::NOTE => {
            if len < 16 {
                return Err(bad_len("note", len, "16 or more"));
            }
            one(OfAction::Note(r.bytes(len - 10)?.to_vec()))
        }
        nxast::EXIT => {
            fixed("exit", 16)?;
            one(OfAction::Exit)
        }
        nxast::DEC_TTL => {
            fixed("dec_ttl", 16)?;
            one(OfAction::DecTtl(Vec::new()))
        }
        nxast::DEC_TTL_CNT_IDS => {
            let n = usize::from(r.u16()?);
            r.skip(4)?;
            let want = (16 + 2 * n).div_ceil(8) * 8;
            if len != want {
                return Err(bad_len("dec_ttl", len, &format!("{want} for {n} controller ids")));
            }
            let ids = (0..n).map(|_| r.u16()).collect::<Result<Vec<_>, _>>()?;
            one(OfAction::DecTtl(ids))
        }
        nxast::CONTROLLER => {
            fixed("controller", 16)?;
            let max_len = r.u16()?;
            let id = r.u16()?;
            let rw = r.u8()?;
            let reason = reason_from_wire(rw)
                .ok_or_else(|| bad_arg(format!("controller: reason {rw} is unknown")))?;
            one(OfAction::Controller { max_len, reason, id, userdata: Vec::new() })
        }
        nxast::CONTROLLER2 => {
            if len < 16 {
                return Err(bad_len("controller2", len, "16 or more"));
            }
            r.skip(6)?;
            let mut props = Reader::new(r.bytes(len - 16)?);
            let mut a = OfAction::Controller {
                max_len: u16::MAX,
                reason: PacketInReason::Action,
                id: 0,
                userdata: Vec::new(),
            };
            let OfAction::Controller { max_len, reason, id, userdata } = &mut a else {
                unreachable!()
            };
            while !props.is_empty() {
                let pt = props.u16()?;
                let pl = usize::from(props.u16()?);
                if pl < 4 || pl.div_ceil(8) * 8 - 4 > props.remaining() {
                    return Err(bad_len(
                        "controller2 property",
                        pl,
                        "4 or more, within the action",
                    ));
                }
                let mut body = Reader::new(props.bytes(pl - 4)?);
                props.skip(pl.div_ceil(8) * 8 - pl)?;
                let short = || bad_len("controller2 property", pl, "longer");
                match pt {
                    nxac2pt::MAX_LEN => *max_len = body.u16().map_err(|_| short())?,
                    nxac2pt::CONTROLLER_ID => *id = body.u16().map_err(|_| short())?,
                    nxac2pt::REASON => {
                        let rw = body.u8().map_err(|_| short())?;
                        *reason = reason_from_wire(rw).ok_or_else(|| {
                            bad_arg(format!("controller2: reason {rw} is unknown"))
                        })?;
                    }
                    nxac2pt::USERDATA => *userdata = body.rest().to_vec(),
                    nxac2pt::PAUSE => {
                        return Err(bad_arg("controller2: pause is not supported"));
                    }
                    other => {
                        return Err(bad_arg(format!("controller2: unknown property {other}")));
                    }
                }
            }
            Ok(vec![a])
        }
        nxast::WRITE_METADATA => {
            fixed("write_metadata", 32)?;
            r.skip(6)?;
            let value = r.u64()?;
            let mask = r.u64()?;
            one(OfAction::WriteMetadata { value: value & mask, mask })
        }
        nxast::CLONE => {
            if len < 16 {
                return Err(bad_len("clone", len, "16 or more"));
            }
            r.skip(6)?;
            let inner = decode_actions(r.bytes(len - 16)?, v)?;
            one(OfAction::Clone(inner))
        }
        other => Err(OfpErr::BadActionBadVendorType
            .with(format!("Nicira action subtype {other} is not supported"))),
    }
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
        t11::SET_VLAN_VID if v11 => {
            fixed("set_vlan_vid", 8)?;
            let x = r.u16()?;
            if x > 0xfff {
                return Err(bad_arg(format!("set_vlan_vid: {x} is past 4095")));
            }
            OfAction::SetVlanVid(x)
        }
        t11::SET_VLAN_PCP if v11 => {
            fixed("set_vlan_pcp", 8)?;
            let p = r.u8()?;
            if p > 7 {
                return Err(bad_arg(format!("set_vlan_pcp: {p} is past 7")));
            }
            OfAction::SetVlanPcp(p)
        }
        t11::SET_DL_SRC if v11 => {
            fixed("set_dl_src", 16)?;
            OfAction::SetEthSrc(EthAddr(r.array()?))
        }
        t11::SET_DL_DST if v11 => {
            fixed("set_dl_dst", 16)?;
            OfAction::SetEthDst(EthAddr(r.array()?))
        }
        t11::SET_NW_SRC if v11 => {
            fixed("set_nw_src", 8)?;
            OfAction::SetIpv4Src(Ipv4Addr::from(r.u32()?))
        }
        t11::SET_NW_DST if v11 => {
            fixed("set_nw_dst", 8)?;
            OfAction::SetIpv4Dst(Ipv4Addr::from(r.u32()?))
        }
        t11::SET_NW_TOS if v11 => {
            fixed("set_nw_tos", 8)?;
            let tos = r.u8()?;
            if tos & 3 != 0 {
                return Err(bad_arg(format!("set_nw_tos: {tos:#x} has ECN bits set")));
            }
            OfAction::SetIpDscp(tos >> 2)
        }
        t11::SET_NW_ECN if v11 => {
            fixed("set_nw_ecn", 8)?;
            let e = r.u8()?;
            if e > 3 {
                return Err(bad_arg(format!("set_nw_ecn: {e} is past 3")));
            }
            OfAction::SetIpEcn(e)
        }
        t11::SET_TP_SRC if v11 => {
            fixed("set_tp_src", 8)?;
            OfAction::SetL4Src(r.u16()?)
        }
        t11::SET_TP_DST if v11 => {
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
        _ => {
            return Err(OfpErr::BadActionBadType
                .with(format!("{v} action type {ty} is unknown or not supported")))
        }
    };
    Ok(vec![a])
}

/// What encoding needs besides the version: the match's IP protocol picks
/// the `set_field` header for `mod_tp_src`/`mod_tp_dst` (TCP when unknown).
#[derive(Clone, Copy)]
struct Ctx {
    v: Version,
    proto: u8,
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
fn legacy_set(field: Mf, value: u128, proto_any: bool) -> Option<OfAction> {
    let _ = proto_any;
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

fn encode_one(a: &OfAction, c: Ctx, out: &mut Vec<u8>) {
    let v = c.v;
    let v10 = v == Version::V10;
    let v11 = v == Version::V11;
    let modern = v >= Version::V12;
    match a {
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
                    prop(out, nxac2pt::MAX_LEN, &max_len.to_be_bytes());
                }
                if *id != 0 {
                    prop(out, nxac2pt::CONTROLLER_ID, &id.to_be_bytes());
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
                if let Some(l) = legacy_set(*field, *value, true) {
                    return encode_one(&l, c, out);
                }
            }
            if whole && modern && oxm::field_header(*field, v).is_some() {
                encode_set_field(out, v, *field, *value, full);
            } else {
                encode_load(out, *field, *value, *mask & full);
            }
        }
        OfAction::Move { src, dst } => {
            let (Some((sh, ss)), Some((dh, ds))) = (nx_field(src.field), nx_field(dst.field))
            else {
                return;
            };
            let mut b = Vec::with_capacity(14);
            b.extend_from_slice(&(src.n_bits as u16).to_be_bytes());
            b.extend_from_slice(&((src.ofs + ss) as u16).to_be_bytes());
            b.extend_from_slice(&((dst.ofs + ds) as u16).to_be_bytes());
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
            if modern {
                encode_set_field(out, v, tp_field(c.proto, src), u128::from(*p), 0xffff);
            } else {
                let ty = match (v11, src) {
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
            if !v10 {
                std_action(out, t11::PUSH_VLAN, &t.to_be_bytes());
            }
        }
        OfAction::PopVlan => {
            std_action(out, if v10 { t10::STRIP_VLAN } else { t11::POP_VLAN }, &[]);
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
            for x in inner {
                encode_one(x, c, out);
            }
            end(out, at);
        }
        OfAction::Note(b) => nx_action(out, nxast::NOTE, b),
        OfAction::Exit => nx_action(out, nxast::EXIT, &[]),
        OfAction::WriteActions(_) | OfAction::ClearActions => {}
    }
}

fn ctx(version: Version, m: Option<&OfMatch>) -> Ctx {
    let proto = m.filter(|m| m.wc.is_exact(Mf::NwProto)).map(|m| m.flow.nw_proto()).unwrap_or(6);
    Ctx { v: version, proto }
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
        encode_one(a, c, out);
    }
}

fn is_instruction(a: &OfAction) -> bool {
    matches!(
        a,
        OfAction::GotoTable(_)
            | OfAction::WriteMetadata { .. }
            | OfAction::WriteActions(_)
            | OfAction::ClearActions
    )
}

/// Decodes OpenFlow 1.1+ instructions onto one list: the actions of
/// `apply_actions` in order, then `clear_actions`, `write_actions(...)`,
/// `write_metadata` and `goto_table`, the order OpenFlow runs them in.
/// `meter` is `OFPBIC_UNSUP_INST`; an instruction given twice
/// `OFPBIC_EPERM` (OVS's `OFPBIC_DUP_INST`).
pub fn decode_instructions(buf: &[u8], version: Version) -> Result<Vec<OfAction>, OfpError> {
    let mut apply = None;
    let mut clear = false;
    let mut write = None;
    let mut meta = None;
    let mut goto = None;
    let mut seen: Vec<u16> = Vec::new();
    let mut r = Reader::new(buf);
    while !r.is_empty() {
        if r.remaining() < 8 {
            return Err(OfpErr::BadInstructionBadLen
                .with(format!("{} bytes left: too short for an instruction", r.remaining())));
        }
        let ty = r.u16()?;
        let len = usize::from(r.u16()?);
        if len < 8 || len % 8 != 0 || len - 4 > r.remaining() {
            return Err(OfpErr::BadInstructionBadLen.with(format!(
                "instruction type {ty} has length {len} ({} bytes left)",
                r.remaining() + 4
            )));
        }
        let mut b = Reader::new(r.bytes(len - 4)?);
        if seen.contains(&ty) {
            return Err(
                OfpErr::BadInstructionEperm.with(format!("instruction type {ty} appears twice"))
            );
        }
        seen.push(ty);
        let fixed = |name: &str, want: usize| {
            if len == want {
                Ok(())
            } else {
                Err(OfpErr::BadInstructionBadLen
                    .with(format!("{name} instruction has length {len}, expected {want}")))
            }
        };
        match ty {
            inst::GOTO_TABLE => {
                fixed("goto_table", 8)?;
                let t = b.u8()?;
                if t == 255 {
                    return Err(OfpErr::BadInstructionBadTableId
                        .with("goto_table: table 255 is not a table"));
                }
                goto = Some(TableId(t));
            }
            inst::WRITE_METADATA => {
                fixed("write_metadata", 24)?;
                b.skip(4)?;
                let value = b.u64()?;
                let mask = b.u64()?;
                meta = Some(OfAction::WriteMetadata { value: value & mask, mask });
            }
            inst::WRITE_ACTIONS | inst::APPLY_ACTIONS => {
                b.skip(4)?;
                let acts = decode_actions(b.rest(), version)?;
                if ty == inst::APPLY_ACTIONS {
                    apply = Some(acts);
                } else {
                    write = Some(acts);
                }
            }
            inst::CLEAR_ACTIONS => {
                fixed("clear_actions", 8)?;
                clear = true;
            }
            inst::METER => {
                return Err(OfpErr::BadInstructionUnsupInst
                    .with("meter instruction is not supported: rvs has no meters"))
            }
            inst::EXPERIMENTER => {
                return Err(OfpErr::BadInstructionBadExperimenter
                    .with("experimenter instructions are not supported"))
            }
            _ => {
                return Err(OfpErr::BadInstructionUnknownInst
                    .with(format!("instruction type {ty} is unknown")))
            }
        }
    }
    let mut out = apply.unwrap_or_default();
    if clear {
        out.push(OfAction::ClearActions);
    }
    if let Some(w) = write {
        out.push(OfAction::WriteActions(w));
    }
    out.extend(meta);
    out.extend(goto.map(OfAction::GotoTable));
    Ok(out)
}

/// Appends `acts` as OpenFlow 1.1+ instructions: every plain action, in
/// order, into one `apply_actions`, then `clear_actions`, `write_actions`,
/// `write_metadata` and `goto_table` for the list's instruction entries.
pub fn encode_instructions(acts: &[OfAction], version: Version, out: &mut Vec<u8>) {
    encode_instructions_for(acts, version, None, out)
}

/// [`encode_instructions`] for a rule with match `m` (see
/// [`encode_actions_for`]).
pub fn encode_instructions_for(
    acts: &[OfAction],
    version: Version,
    m: Option<&OfMatch>,
    out: &mut Vec<u8>,
) {
    let c = ctx(version, m);
    let plain: Vec<&OfAction> = acts.iter().filter(|a| !is_instruction(a)).collect();
    if !plain.is_empty() {
        let at = start(out, inst::APPLY_ACTIONS);
        out.extend_from_slice(&[0; 4]);
        for a in plain {
            encode_one(a, c, out);
        }
        end(out, at);
    }
    if acts.contains(&OfAction::ClearActions) {
        std_action(out, inst::CLEAR_ACTIONS, &[0; 4]);
    }
    for a in acts {
        if let OfAction::WriteActions(w) = a {
            let at = start(out, inst::WRITE_ACTIONS);
            out.extend_from_slice(&[0; 4]);
            for x in w {
                encode_one(x, c, out);
            }
            end(out, at);
            break;
        }
    }
    for a in acts {
        if let OfAction::WriteMetadata { value, mask } = a {
            let mut b = vec![0; 4];
            b.extend_from_slice(&value.to_be_bytes());
            b.extend_from_slice(&mask.to_be_bytes());
            std_action(out, inst::WRITE_METADATA, &b);
            break;
        }
    }
    for a in acts {
        if let OfAction::GotoTable(t) = a {
            std_action(out, inst::GOTO_TABLE, &[t.0, 0, 0, 0]);
            break;
        }
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
        let same = "output:1,CONTROLLER:100,controller(reason=no_match,max_len=100,id=3,userdata=01.02.03),controller(id=3),resubmit:3,resubmit(4,5),resubmit(,6),load:0x5->NXM_NX_REG0[0..7],move:NXM_NX_REG0[]->NXM_NX_REG1[],move:NXM_NX_XXREG0[]->NXM_NX_XXREG1[],dec_ttl,dec_ttl(1,2),set_tunnel:0x5,set_tunnel64:0x5,clone(output:1,exit),note:01.02.03.04.05.06,exit,output(port=1,max_len=100)";
        for v in [Version::V10, Version::V13] {
            let a = parse_actions(same, &NoNames).unwrap();
            assert_eq!(rt(same, v), a, "{v}");
        }
        let v10 = "mod_dl_src:02:00:00:00:00:01,mod_nw_dst:198.18.0.2,mod_nw_tos:16,mod_tp_src:1,strip_vlan,mod_vlan_vid:10,mod_vlan_pcp:3,set_queue:3";
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
