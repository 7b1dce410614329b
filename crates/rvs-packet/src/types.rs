//! Small value types shared across rvs: Ethernet addresses and datapath port
//! numbers. Each number space that OVS keeps apart by convention is its own
//! type here, so a function that takes an [`OdpPort`] cannot be handed an
//! OpenFlow port number.

use std::fmt;
use std::str::FromStr;

/// A 48-bit Ethernet (MAC) address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct EthAddr(pub [u8; 6]);

impl EthAddr {
    /// The broadcast address ff:ff:ff:ff:ff:ff.
    pub const BROADCAST: EthAddr = EthAddr([0xff; 6]);
    /// The all-zero address.
    pub const ZERO: EthAddr = EthAddr([0; 6]);

    /// Builds an address from the low 48 bits of `v` (network order: the most
    /// significant of those bits is the first octet).
    pub const fn from_u64(v: u64) -> Self {
        let b = v.to_be_bytes();
        EthAddr([b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// The address as the low 48 bits of a `u64`.
    pub const fn to_u64(self) -> u64 {
        let a = self.0;
        u64::from_be_bytes([0, 0, a[0], a[1], a[2], a[3], a[4], a[5]])
    }

    /// Reads an address from the first six bytes of `b`.
    ///
    /// # Panics
    /// If `b` is shorter than six bytes.
    pub fn from_bytes(b: &[u8]) -> Self {
        let mut a = [0u8; 6];
        a.copy_from_slice(&b[..6]);
        EthAddr(a)
    }

    /// True for group (multicast and broadcast) addresses.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 != 0
    }

    /// True for ff:ff:ff:ff:ff:ff.
    pub fn is_broadcast(self) -> bool {
        self == Self::BROADCAST
    }
}

impl fmt::Display for EthAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", a[0], a[1], a[2], a[3], a[4], a[5])
    }
}

impl fmt::Debug for EthAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An Ethernet address that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not an Ethernet address (expected six hex octets such as 00:00:5e:00:53:01)")]
pub struct EthAddrParseError(pub String);

impl FromStr for EthAddr {
    type Err = EthAddrParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split(':') {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return Err(EthAddrParseError(s.to_string()));
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| EthAddrParseError(s.to_string()))?;
            n += 1;
        }
        if n != 6 {
            return Err(EthAddrParseError(s.to_string()));
        }
        Ok(EthAddr(out))
    }
}

/// A datapath (ODP) port number. Port 0 is the datapath's LOCAL port.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct OdpPort(pub u32);

impl OdpPort {
    /// The datapath's own internal port, named after the datapath.
    pub const LOCAL: OdpPort = OdpPort(0);
    /// "No port", used where OVS uses ODPP_NONE.
    pub const NONE: OdpPort = OdpPort(u32::MAX);

    /// The number as an index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for OdpPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Debug for OdpPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OdpPort({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eth_addr_round_trips() {
        let a: EthAddr = "00:00:5e:00:53:0a".parse().unwrap();
        assert_eq!(a.to_string(), "00:00:5e:00:53:0a");
        assert_eq!(EthAddr::from_u64(a.to_u64()), a);
        assert!("00:00:5e:00:53".parse::<EthAddr>().is_err());
        assert!("00:00:5e:00:53:0a:01".parse::<EthAddr>().is_err());
        assert!("zz:00:5e:00:53:0a".parse::<EthAddr>().is_err());
        assert!(EthAddr::BROADCAST.is_multicast());
    }
}
