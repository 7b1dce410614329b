//! Nicira vendor actions (vendor 0x2320): decoding. Encoding lives with
//! the standard actions in the parent module, which picks per version.

use super::{
    bad_arg, bad_len, check_out_port, decode_actions, decode_set_field, reason_from_wire, subfield,
};
use super::{nxac2pt, nxast};
use crate::actions::{OfAction, PacketInReason};
use crate::ofp::buf::Reader;
use crate::ofp::error::{OfpErr, OfpError};
use crate::ofp::Version;
use crate::types::{OfPort, TableId};

pub(super) fn decode_nx(
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
        nxast::OUTPUT_TRUNC => {
            fixed("output_trunc", 16)?;
            let p = check_out_port("output_trunc", OfPort(r.u16()?))?;
            let n = r.u32()?;
            let max_len = u16::try_from(n)
                .ok()
                .filter(|n| *n != 0)
                .ok_or_else(|| bad_arg(format!("output_trunc: max_len {n} is not 1 to 65535")))?;
            if p == OfPort::CONTROLLER || p == OfPort::TABLE {
                return Err(OfpErr::BadActionBadOutPort
                    .with(format!("output_trunc to port {p} is not allowed")));
            }
            one(OfAction::Output { port: p, max_len })
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
