//! Actions and instructions on the wire. (Temporary stand-in.)
use super::{OfpError, Version};
use crate::actions::OfAction;

/// Decodes actions.
pub fn decode_actions(_b: &[u8], _v: Version) -> Result<Vec<OfAction>, OfpError> {
    todo!()
}

/// Encodes actions.
pub fn encode_actions(_a: &[OfAction], _v: Version, _out: &mut Vec<u8>) {
    todo!()
}
