//! The virtio-net header that the kernel puts in front of packets on taps
//! with `IFF_VNET_HDR` and on AF_PACKET sockets with `PACKET_VNET_HDR`: it
//! says whether the packet's L4 checksum is still to be computed
//! (checksum-partial) and whether it is a GSO super-frame to be segmented.
//! [`decode`] moves that into a packet's metadata on receive; [`encode`]
//! builds the header from the metadata on transmit.
//!
//! ```text
//!  0      1      2             4             6             8             10
//! +------+------+-------------+-------------+-------------+-------------+
//! |flags |gso   | hdr_len     | gso_size    | csum_start  | csum_offset |
//! +------+------+-------------+-------------+-------------+-------------+
//! ```
//! Fields are in host byte order (little-endian on the machines rvs runs on).

use rvs_packet::{GsoType, Metadata};

/// Length of the header (`struct virtio_net_hdr`).
pub const VNET_HDR_LEN: usize = 10;

/// `flags`: the checksum at `csum_start + csum_offset` must still be computed.
pub const F_NEEDS_CSUM: u8 = 1;
/// `flags`: the checksum was verified (receive only).
pub const F_DATA_VALID: u8 = 2;

/// `gso_type` values.
const GSO_NONE: u8 = 0;
const GSO_TCPV4: u8 = 1;
const GSO_UDP_L4: u8 = 5;
const GSO_TCPV6: u8 = 4;
const GSO_ECN: u8 = 0x80;

/// Why a received header cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VnetError {
    /// Fewer than 10 bytes.
    #[error("virtio-net header truncated: {0} bytes")]
    Truncated(usize),
    /// A GSO type rvs does not segment (e.g. the legacy UFO type 3).
    #[error("virtio-net header has unsupported gso_type {0}")]
    UnsupportedGso(u8),
}

/// Applies a received header to `md`.
pub fn decode(hdr: &[u8], md: &mut Metadata) -> Result<(), VnetError> {
    if hdr.len() < VNET_HDR_LEN {
        return Err(VnetError::Truncated(hdr.len()));
    }
    let u16_at = |i: usize| u16::from_ne_bytes([hdr[i], hdr[i + 1]]);
    let (flags, gso) = (hdr[0], hdr[1]);
    md.gso_type = match gso & !GSO_ECN {
        GSO_NONE => GsoType::None,
        GSO_TCPV4 => GsoType::TcpV4,
        GSO_TCPV6 => GsoType::TcpV6,
        GSO_UDP_L4 => GsoType::Udp,
        other => return Err(VnetError::UnsupportedGso(other)),
    };
    md.gso_size = if md.gso_type == GsoType::None { 0 } else { u16_at(4) };
    if flags & F_NEEDS_CSUM != 0 {
        md.csum_start = Some(u16_at(6));
        md.csum_offset = u16_at(8);
    } else {
        md.csum_start = None;
        md.csum_offset = 0;
    }
    Ok(())
}

/// The header that describes `md`'s offload state.
pub fn encode(md: &Metadata) -> [u8; VNET_HDR_LEN] {
    let mut h = [0u8; VNET_HDR_LEN];
    if let Some(start) = md.csum_start {
        h[0] = F_NEEDS_CSUM;
        h[6..8].copy_from_slice(&start.to_ne_bytes());
        h[8..10].copy_from_slice(&md.csum_offset.to_ne_bytes());
    }
    let gso = match md.gso_type {
        GsoType::None => GSO_NONE,
        GsoType::TcpV4 => GSO_TCPV4,
        GsoType::TcpV6 => GSO_TCPV6,
        GsoType::Udp => GSO_UDP_L4,
    };
    if gso != GSO_NONE {
        h[1] = gso;
        h[4..6].copy_from_slice(&md.gso_size.to_ne_bytes());
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_through_metadata() {
        let mut md = Metadata::default();
        // A TSO frame from a veth: TCPv4, MSS 1448, checksum at 34 + 16.
        let mut hdr = [0u8; 10];
        hdr[0] = F_NEEDS_CSUM;
        hdr[1] = GSO_TCPV4;
        hdr[2..4].copy_from_slice(&66u16.to_ne_bytes());
        hdr[4..6].copy_from_slice(&1448u16.to_ne_bytes());
        hdr[6..8].copy_from_slice(&34u16.to_ne_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_ne_bytes());
        decode(&hdr, &mut md).unwrap();
        assert_eq!(
            (md.gso_type, md.gso_size, md.csum_start, md.csum_offset),
            (GsoType::TcpV4, 1448, Some(34), 16)
        );
        let back = encode(&md);
        assert_eq!(back[..2], hdr[..2]);
        assert_eq!(back[4..], hdr[4..]);
        assert_eq!(decode(&[0; 4], &mut md), Err(VnetError::Truncated(4)));
        hdr[1] = 3;
        assert_eq!(decode(&hdr, &mut md), Err(VnetError::UnsupportedGso(3)));
        assert_eq!(encode(&Metadata::default()), [0; 10]);
    }
}
