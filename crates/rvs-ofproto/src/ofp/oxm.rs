//! NXM and OXM matches: field headers and TLV lists. (Temporary stand-in
//! while the codec branch is written; replaced at merge.)
use super::{OfpError, Reader, Version};
use crate::flow::OfMatch;

/// Decodes a `struct ofp_match` (1.1+).
pub fn decode_ofp_match(_r: &mut Reader<'_>, _v: Version) -> Result<OfMatch, OfpError> {
    todo!()
}

/// Encodes a `struct ofp_match` (1.1+), padded.
pub fn encode_ofp_match(_m: &OfMatch, _v: Version, _out: &mut Vec<u8>) {
    todo!()
}
