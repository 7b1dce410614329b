//! Number spaces of the OpenFlow layer, each its own type: OpenFlow port
//! numbers ([`OfPort`]), table ids ([`TableId`]) and cookies ([`Cookie`]).

use std::fmt;
use std::str::FromStr;

/// An OpenFlow port number, in OVS's internal 16-bit space (OpenFlow 1.1+'s
/// 32-bit numbers map onto it on the wire).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct OfPort(pub u16);

impl OfPort {
    /// The highest number an ordinary port may have, plus one.
    pub const MAX: OfPort = OfPort(0xff00);
    /// Send the packet out of the port it came in on.
    pub const IN_PORT: OfPort = OfPort(0xfff8);
    /// Submit the packet to the first flow table (packet-out only).
    pub const TABLE: OfPort = OfPort(0xfff9);
    /// The traditional L2 switch (NORMAL).
    pub const NORMAL: OfPort = OfPort(0xfffa);
    /// Every port but the input port and those with flooding disabled.
    pub const FLOOD: OfPort = OfPort(0xfffb);
    /// Every port but the input port.
    pub const ALL: OfPort = OfPort(0xfffc);
    /// The controller.
    pub const CONTROLLER: OfPort = OfPort(0xfffd);
    /// The bridge's own (LOCAL) port.
    pub const LOCAL: OfPort = OfPort(0xfffe);
    /// No port (wildcard in filters).
    pub const NONE: OfPort = OfPort(0xffff);

    const NAMES: [(&'static str, OfPort); 8] = [
        ("IN_PORT", OfPort::IN_PORT),
        ("TABLE", OfPort::TABLE),
        ("NORMAL", OfPort::NORMAL),
        ("FLOOD", OfPort::FLOOD),
        ("ALL", OfPort::ALL),
        ("CONTROLLER", OfPort::CONTROLLER),
        ("LOCAL", OfPort::LOCAL),
        ("NONE", OfPort::NONE),
    ];

    /// True for numbers of ordinary ports (1 to 0xfeff).
    pub fn is_physical(self) -> bool {
        self.0 >= 1 && self < OfPort::MAX
    }
}

impl fmt::Display for OfPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match OfPort::NAMES.iter().find(|(_, p)| p == self) {
            Some((n, _)) => f.write_str(n),
            None => write!(f, "{}", self.0),
        }
    }
}

impl fmt::Debug for OfPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OfPort({self})")
    }
}

/// A string that is not an OpenFlow port.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not an OpenFlow port (expected a number below 65280 or one of IN_PORT, TABLE, NORMAL, FLOOD, ALL, CONTROLLER, LOCAL, NONE)")]
pub struct OfPortParseError(pub String);

impl FromStr for OfPort {
    type Err = OfPortParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some((_, p)) = OfPort::NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
            return Ok(*p);
        }
        let v: u32 =
            if let Some(h) = s.strip_prefix("0x") { u32::from_str_radix(h, 16) } else { s.parse() }
                .map_err(|_| OfPortParseError(s.to_string()))?;
        // OpenFlow 1.1+ reserved ports (0xffffff00 and up) map down.
        let v = if v >= 0xffff_ff00 { v - 0xffff_0000 } else { v };
        if v >= 0xff00 && OfPort::NAMES.iter().all(|(_, p)| u32::from(p.0) != v) {
            return Err(OfPortParseError(s.to_string()));
        }
        u16::try_from(v).map(OfPort).map_err(|_| OfPortParseError(s.to_string()))
    }
}

/// An OpenFlow table id (0 to 254; 255 means "all tables" in requests).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Debug)]
pub struct TableId(pub u8);

impl TableId {
    /// "All tables", in flow_mod deletes and stats requests.
    pub const ALL: TableId = TableId(255);
    /// Number of usable tables.
    pub const N_TABLES: usize = 255;
}

impl fmt::Display for TableId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A rule's opaque 64-bit cookie, chosen by the controller.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Cookie(pub u64);

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cookie({:#x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_parse_and_print() {
        assert_eq!("LOCAL".parse::<OfPort>().unwrap(), OfPort::LOCAL);
        assert_eq!("local".parse::<OfPort>().unwrap(), OfPort::LOCAL);
        assert_eq!("7".parse::<OfPort>().unwrap(), OfPort(7));
        assert_eq!("0xfffffffe".parse::<OfPort>().unwrap(), OfPort::LOCAL);
        assert_eq!(OfPort::CONTROLLER.to_string(), "CONTROLLER");
        assert_eq!(OfPort(12).to_string(), "12");
        let e = "65290".parse::<OfPort>().unwrap_err();
        assert!(e.to_string().contains("65290"));
        assert!("eth0".parse::<OfPort>().is_err());
    }
}
