//! OpenFlow 1.1+ instructions onto and from the single action list.

use super::{ctx, decode_actions, encode_one, end, start, std_action};
use crate::actions::OfAction;
use crate::flow::OfMatch;
use crate::ofp::buf::Reader;
use crate::ofp::error::{OfpErr, OfpError};
use crate::ofp::Version;
use crate::types::TableId;

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
/// [`encode_actions_for`](super::encode_actions_for)).
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
            encode_one(a, &c, out);
        }
        if out.len() == at + 8 {
            // Nothing this version can carry: no apply_actions at all.
            out.truncate(at);
        } else {
            end(out, at);
        }
    }
    if acts.contains(&OfAction::ClearActions) {
        std_action(out, inst::CLEAR_ACTIONS, &[0; 4]);
    }
    for a in acts {
        // OVS leaves out an empty write_actions, which changes nothing.
        if let OfAction::WriteActions(w) = a {
            if w.is_empty() {
                break;
            }
            let at = start(out, inst::WRITE_ACTIONS);
            out.extend_from_slice(&[0; 4]);
            let wc = c.nested();
            for x in w {
                encode_one(x, &wc, out);
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
