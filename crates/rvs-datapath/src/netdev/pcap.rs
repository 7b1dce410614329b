//! A minimal pcap (libpcap 2.4, microsecond timestamps, Ethernet link type)
//! writer, so the dummy device can record what it sends and receives in files
//! that tcpdump and tshark read.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

const MAGIC: u32 = 0xa1b2_c3d4;
const LINKTYPE_ETHERNET: u32 = 1;
const SNAPLEN: u32 = 262_144;

/// Writes packets to a pcap file, flushing after each so readers see them.
#[derive(Debug)]
pub struct PcapWriter {
    out: BufWriter<File>,
}

impl PcapWriter {
    /// Creates (or truncates) `path` and writes the file header.
    pub fn create(path: &Path) -> io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        out.write_all(&MAGIC.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?; // thiszone
        out.write_all(&0u32.to_le_bytes())?; // sigfigs
        out.write_all(&SNAPLEN.to_le_bytes())?;
        out.write_all(&LINKTYPE_ETHERNET.to_le_bytes())?;
        out.flush()?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet, stamped with the current wall-clock time.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let caplen = data.len().min(SNAPLEN as usize);
        self.out.write_all(&(now.as_secs() as u32).to_le_bytes())?;
        self.out.write_all(&now.subsec_micros().to_le_bytes())?;
        self.out.write_all(&(caplen as u32).to_le_bytes())?;
        self.out.write_all(&(data.len() as u32).to_le_bytes())?;
        self.out.write_all(&data[..caplen])?;
        self.out.flush()
    }
}

/// Reads every packet of a pcap file written by [`PcapWriter`] (or any
/// little-endian microsecond pcap).
pub fn read_all(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let bytes = std::fs::read(path)?;
    let bad = |what: &str| {
        io::Error::new(io::ErrorKind::InvalidData, format!("{}: {what}", path.display()))
    };
    if bytes.len() < 24 || u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) != MAGIC {
        return Err(bad("not a little-endian pcap file"));
    }
    let mut pkts = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let caplen =
            u32::from_le_bytes([bytes[off + 8], bytes[off + 9], bytes[off + 10], bytes[off + 11]])
                as usize;
        off += 16;
        if off + caplen > bytes.len() {
            return Err(bad("truncated record"));
        }
        pkts.push(bytes[off..off + caplen].to_vec());
        off += caplen;
    }
    Ok(pkts)
}
