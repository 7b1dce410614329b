//! What every provider of a Linux interface shares: looking the interface up,
//! its MTU, MAC, carrier and the kernel's counters.

use super::{NetdevError, NetdevStats};
use crate::sys::ifreq;
use rvs_packet::EthAddr;

/// Reads one counter of `/sys/class/net/<name>/statistics`.
fn stat(name: &str, counter: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/{counter}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// The kernel's counters of interface `name` (zeros if it is gone).
pub fn kernel_stats(name: &str) -> NetdevStats {
    NetdevStats {
        rx_packets: stat(name, "rx_packets"),
        rx_bytes: stat(name, "rx_bytes"),
        rx_dropped: stat(name, "rx_dropped"),
        rx_errors: stat(name, "rx_errors"),
        tx_packets: stat(name, "tx_packets"),
        tx_bytes: stat(name, "tx_bytes"),
        tx_dropped: stat(name, "tx_dropped"),
        tx_errors: stat(name, "tx_errors"),
    }
}

/// True when the interface has carrier (its link is up).
pub fn carrier(name: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{name}/carrier"))
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
}

/// The interface's kernel index.
pub fn ifindex(name: &str) -> Result<u32, NetdevError> {
    ifreq::index(name).map_err(|e| NetdevError::os(name, "looking up the interface", e))
}

/// The MTU.
pub fn mtu(name: &str) -> Result<u32, NetdevError> {
    ifreq::mtu(name).map_err(|e| NetdevError::os(name, "reading the MTU", e))
}

/// Sets the MTU.
pub fn set_mtu(name: &str, mtu: u32) -> Result<(), NetdevError> {
    ifreq::set_mtu(name, mtu).map_err(|e| NetdevError::os(name, "setting the MTU", e))
}

/// The MAC address.
pub fn mac(name: &str) -> Result<EthAddr, NetdevError> {
    ifreq::mac(name).map(EthAddr).map_err(|e| NetdevError::os(name, "reading the MAC address", e))
}

/// Sets the MAC address.
pub fn set_mac(name: &str, mac: EthAddr) -> Result<(), NetdevError> {
    ifreq::set_mac(name, mac.0).map_err(|e| NetdevError::os(name, "setting the MAC address", e))
}

/// Brings the interface administratively up or down.
pub fn set_up(name: &str, up: bool) -> Result<(), NetdevError> {
    ifreq::set_up(name, up).map_err(|e| NetdevError::os(name, "setting the link state", e))
}

/// True when the interface is administratively up.
pub fn is_up(name: &str) -> bool {
    ifreq::flags(name).is_ok_and(|f| f & libc::IFF_UP != 0)
}

/// The driver's name, version and firmware version (`ethtool -i`), as the
/// `driver_name`, `driver_version` and `firmware_version` keys of a port's
/// status (OVS's names); nothing if the driver does not say.
pub fn driver_status(name: &str) -> Vec<(String, String)> {
    match ifreq::driver_info(name) {
        Ok((driver, version, fw)) => vec![
            ("driver_name".into(), driver),
            ("driver_version".into(), version),
            ("firmware_version".into(), fw),
        ],
        Err(_) => Vec::new(),
    }
}
