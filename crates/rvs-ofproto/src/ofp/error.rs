//! OpenFlow error codes.
//!
//! [`OfpErr`] names each error the way OVS's `ofperr` does, once for every
//! version; [`OfpErr::wire`] gives the type and code a version puts on the
//! wire. OpenFlow 1.0 lacks most of the newer types: those errors travel as
//! the nearest 1.0 code (`OFPBRC_EPERM` at worst). [`OfpError`] adds a
//! sentence for logs and for the user, naming the field and value at fault.

use super::Version;
use std::fmt;

macro_rules! ofp_errors {
    ($( $(#[$doc:meta])* $v:ident = $name:literal, $t10:expr, $t11:expr; )*) => {
        /// An OpenFlow error (type and code).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum OfpErr {
            $( $(#[$doc])* $v, )*
            /// A type and code with no name here (received from a peer).
            Other(u16, u16),
        }

        const TABLE: &[(OfpErr, &str, Option<(u16, u16)>, (u16, u16))] = &[
            $( (OfpErr::$v, $name, $t10, $t11), )*
        ];
    };
}

ofp_errors! {
    /// No common version.
    HelloIncompatible = "OFPHFC_INCOMPATIBLE", Some((0, 0)), (0, 0);
    /// Hello refused.
    HelloEperm = "OFPHFC_EPERM", Some((0, 1)), (0, 1);
    /// The header's version is not the connection's.
    BadRequestBadVersion = "OFPBRC_BAD_VERSION", Some((1, 0)), (1, 0);
    /// Unknown message type.
    BadRequestBadType = "OFPBRC_BAD_TYPE", Some((1, 1)), (1, 1);
    /// Unknown multipart (stats) type.
    BadRequestBadMultipart = "OFPBRC_BAD_STAT", Some((1, 2)), (1, 2);
    /// Unknown vendor (experimenter).
    BadRequestBadVendor = "OFPBRC_BAD_VENDOR", Some((1, 3)), (1, 3);
    /// Unknown vendor subtype.
    BadRequestBadSubtype = "OFPBRC_BAD_SUBTYPE", Some((1, 4)), (1, 4);
    /// Permission denied.
    BadRequestEperm = "OFPBRC_EPERM", Some((1, 5)), (1, 5);
    /// Wrong length.
    BadRequestBadLen = "OFPBRC_BAD_LEN", Some((1, 6)), (1, 6);
    /// The buffer was already used.
    BadRequestBufferEmpty = "OFPBRC_BUFFER_EMPTY", Some((1, 7)), (1, 7);
    /// No such buffer.
    BadRequestBufferUnknown = "OFPBRC_BUFFER_UNKNOWN", Some((1, 8)), (1, 8);
    /// No such table.
    BadRequestBadTableId = "OFPBRC_BAD_TABLE_ID", None, (1, 9);
    /// The connection is a slave and may not write.
    BadRequestIsSlave = "OFPBRC_IS_SLAVE", None, (1, 10);
    /// No such port.
    BadRequestBadPort = "OFPBRC_BAD_PORT", None, (1, 11);
    /// Malformed packet in a packet-out.
    BadRequestBadPacket = "OFPBRC_BAD_PACKET", None, (1, 12);
    /// Unknown action type.
    BadActionBadType = "OFPBAC_BAD_TYPE", Some((2, 0)), (2, 0);
    /// Wrong action length.
    BadActionBadLen = "OFPBAC_BAD_LEN", Some((2, 1)), (2, 1);
    /// Unknown action vendor.
    BadActionBadVendor = "OFPBAC_BAD_VENDOR", Some((2, 2)), (2, 2);
    /// Unknown vendor action subtype.
    BadActionBadVendorType = "OFPBAC_BAD_VENDOR_TYPE", Some((2, 3)), (2, 3);
    /// Bad output port.
    BadActionBadOutPort = "OFPBAC_BAD_OUT_PORT", Some((2, 4)), (2, 4);
    /// Bad action argument.
    BadActionBadArgument = "OFPBAC_BAD_ARGUMENT", Some((2, 5)), (2, 5);
    /// Action refused.
    BadActionEperm = "OFPBAC_EPERM", Some((2, 6)), (2, 6);
    /// Too many actions.
    BadActionTooMany = "OFPBAC_TOO_MANY", Some((2, 7)), (2, 7);
    /// Bad queue.
    BadActionBadQueue = "OFPBAC_BAD_QUEUE", Some((2, 8)), (2, 8);
    /// Bad group.
    BadActionBadOutGroup = "OFPBAC_BAD_OUT_GROUP", None, (2, 9);
    /// The action does not fit the match (a prerequisite is missing).
    BadActionMatchInconsistent = "OFPBAC_MATCH_INCONSISTENT", None, (2, 10);
    /// Actions in an order the switch cannot keep.
    BadActionUnsupportedOrder = "OFPBAC_UNSUPPORTED_ORDER", None, (2, 11);
    /// Bad set_field type.
    BadActionBadSetType = "OFPBAC_BAD_SET_TYPE", None, (2, 13);
    /// Bad set_field length.
    BadActionBadSetLen = "OFPBAC_BAD_SET_LEN", None, (2, 14);
    /// Bad set_field value.
    BadActionBadSetArgument = "OFPBAC_BAD_SET_ARGUMENT", None, (2, 15);
    /// Unknown instruction.
    BadInstructionUnknownInst = "OFPBIC_UNKNOWN_INST", None, (3, 0);
    /// Unsupported instruction.
    BadInstructionUnsupInst = "OFPBIC_UNSUP_INST", None, (3, 1);
    /// goto_table to a bad table.
    BadInstructionBadTableId = "OFPBIC_BAD_TABLE_ID", None, (3, 2);
    /// Unsupported metadata.
    BadInstructionUnsupMetadata = "OFPBIC_UNSUP_METADATA", None, (3, 3);
    /// Unsupported metadata mask.
    BadInstructionUnsupMetadataMask = "OFPBIC_UNSUP_METADATA_MASK", None, (3, 4);
    /// Unknown instruction experimenter.
    BadInstructionBadExperimenter = "OFPBIC_BAD_EXPERIMENTER", None, (3, 5);
    /// Wrong instruction length.
    BadInstructionBadLen = "OFPBIC_BAD_LEN", None, (3, 7);
    /// Instruction refused (also: an instruction given twice).
    BadInstructionEperm = "OFPBIC_EPERM", None, (3, 8);
    /// Unknown match type.
    BadMatchBadType = "OFPBMC_BAD_TYPE", None, (4, 0);
    /// Wrong match length.
    BadMatchBadLen = "OFPBMC_BAD_LEN", None, (4, 1);
    /// Bad Ethernet address mask.
    BadMatchBadDlAddrMask = "OFPBMC_BAD_DL_ADDR_MASK", None, (4, 3);
    /// Bad IP address mask.
    BadMatchBadNwAddrMask = "OFPBMC_BAD_NW_ADDR_MASK", None, (4, 4);
    /// Bad wildcards.
    BadMatchBadWildcards = "OFPBMC_BAD_WILDCARDS", None, (4, 5);
    /// Unknown or unsupported field.
    BadMatchBadField = "OFPBMC_BAD_FIELD", None, (4, 6);
    /// Bad value for a field.
    BadMatchBadValue = "OFPBMC_BAD_VALUE", None, (4, 7);
    /// Mask not allowed for a field.
    BadMatchBadMask = "OFPBMC_BAD_MASK", None, (4, 8);
    /// A field's prerequisite is missing.
    BadMatchBadPrereq = "OFPBMC_BAD_PREREQ", None, (4, 9);
    /// A field given twice.
    BadMatchDupField = "OFPBMC_DUP_FIELD", None, (4, 10);
    /// Match refused.
    BadMatchEperm = "OFPBMC_EPERM", None, (4, 11);
    /// Unspecified flow_mod failure.
    FlowModUnknown = "OFPFMFC_UNKNOWN", None, (5, 0);
    /// The table is full.
    FlowModTableFull = "OFPFMFC_TABLE_FULL", Some((3, 0)), (5, 1);
    /// No such table.
    FlowModBadTableId = "OFPFMFC_BAD_TABLE_ID", None, (5, 2);
    /// check_overlap found an overlapping rule.
    FlowModOverlap = "OFPFMFC_OVERLAP", Some((3, 1)), (5, 3);
    /// flow_mod refused.
    FlowModEperm = "OFPFMFC_EPERM", Some((3, 2)), (5, 4);
    /// Bad timeout.
    FlowModBadTimeout = "OFPFMFC_BAD_TIMEOUT", Some((3, 3)), (5, 5);
    /// Unknown command.
    FlowModBadCommand = "OFPFMFC_BAD_COMMAND", Some((3, 4)), (5, 6);
    /// Bad flags.
    FlowModBadFlags = "OFPFMFC_BAD_FLAGS", None, (5, 7);
    /// No such port.
    PortModBadPort = "OFPPMFC_BAD_PORT", Some((4, 0)), (7, 0);
    /// The hardware address does not match the port's.
    PortModBadHwAddr = "OFPPMFC_BAD_HW_ADDR", Some((4, 1)), (7, 1);
    /// Bad port configuration.
    PortModBadConfig = "OFPPMFC_BAD_CONFIG", None, (7, 2);
    /// No such table (table_mod).
    TableModBadTable = "OFPTMFC_BAD_TABLE", None, (8, 0);
    /// Bad table configuration.
    TableModBadConfig = "OFPTMFC_BAD_CONFIG", None, (8, 1);
    /// Bad switch configuration flags.
    SwitchConfigBadFlags = "OFPSCFC_BAD_FLAGS", None, (10, 0);
    /// Stale role request (generation id).
    RoleRequestStale = "OFPRRFC_STALE", None, (11, 0);
    /// Unsupported role.
    RoleRequestUnsup = "OFPRRFC_UNSUP", None, (11, 1);
    /// Bad role.
    RoleRequestBadRole = "OFPRRFC_BAD_ROLE", None, (11, 2);
}

impl OfpErr {
    /// The type and code `version` puts on the wire.
    pub fn wire(self, version: Version) -> (u16, u16) {
        if let OfpErr::Other(t, c) = self {
            return (t, c);
        }
        let (_, _, t10, t11) =
            TABLE.iter().find(|e| e.0 == self).copied().unwrap_or((self, "", None, (1, 5)));
        if version == Version::V10 {
            t10.unwrap_or(match t11.0 {
                2 => (2, 5),     // action errors: BAD_ARGUMENT
                3 | 4 => (1, 5), // instruction and match errors: EPERM
                5 => (3, 2),     // flow_mod errors: FLOW_MOD_FAILED EPERM
                _ => (1, 5),
            })
        } else {
            t11
        }
    }

    /// The error `version` means by `(ty, code)`.
    pub fn from_wire(version: Version, ty: u16, code: u16) -> OfpErr {
        TABLE
            .iter()
            .find(
                |e| {
                    if version == Version::V10 {
                        e.2 == Some((ty, code))
                    } else {
                        e.3 == (ty, code)
                    }
                },
            )
            .map(|e| e.0)
            .unwrap_or(OfpErr::Other(ty, code))
    }

    /// OVS's name: `OFPBMC_BAD_PREREQ`.
    pub fn name(self) -> String {
        match TABLE.iter().find(|e| e.0 == self) {
            Some(e) => e.1.to_string(),
            None => match self {
                OfpErr::Other(t, c) => format!("OFPET_{t}({c})"),
                _ => unreachable!("every named error is in the table"),
            },
        }
    }

    /// This error with a sentence of detail.
    pub fn with(self, detail: impl Into<String>) -> OfpError {
        OfpError { code: self, detail: detail.into() }
    }
}

impl fmt::Display for OfpErr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// An error with its detail: what was wrong and with which value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfpError {
    /// The code a reply carries.
    pub code: OfpErr,
    /// What was wrong, for logs and users.
    pub detail: String,
}

impl From<OfpErr> for OfpError {
    fn from(code: OfpErr) -> Self {
        OfpError { code, detail: String::new() }
    }
}

impl fmt::Display for OfpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{}", self.code)
        } else {
            write!(f, "{}: {}", self.code, self.detail)
        }
    }
}

impl std::error::Error for OfpError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_per_version() {
        assert_eq!(OfpErr::BadMatchBadPrereq.wire(Version::V13), (4, 9));
        assert_eq!(OfpErr::FlowModOverlap.wire(Version::V10), (3, 1));
        assert_eq!(OfpErr::FlowModOverlap.wire(Version::V13), (5, 3));
        assert_eq!(OfpErr::BadMatchBadField.wire(Version::V10), (1, 5));
        assert_eq!(OfpErr::from_wire(Version::V13, 5, 3), OfpErr::FlowModOverlap);
        assert_eq!(OfpErr::from_wire(Version::V10, 3, 1), OfpErr::FlowModOverlap);
        assert_eq!(OfpErr::from_wire(Version::V13, 99, 1), OfpErr::Other(99, 1));
        assert_eq!(OfpErr::BadRequestBadLen.name(), "OFPBRC_BAD_LEN");
        let e = OfpErr::BadMatchBadValue.with("vlan_vid 0x2000 is out of range");
        assert_eq!(e.to_string(), "OFPBMC_BAD_VALUE: vlan_vid 0x2000 is out of range");
    }
}
