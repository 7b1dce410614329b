//! The `tap` and `internal` netdevs: Linux tap interfaces that the switch
//! reads and writes through `/dev/net/tun`, with a virtio-net header in
//! front of every frame so checksum-partial packets and GSO super-frames
//! cross in both directions untouched.
//!
//! - `tap` attaches to the tap named like the port, creating it if no
//!   interface has that name. A tap it created is removed when the netdev
//!   is dropped (it is not persistent, so closing the fd removes it); a
//!   pre-existing persistent tap (`ip tuntap add mode tap name X`, a VM
//!   manager's) is left in place. The link is brought up.
//! - `internal` is a tap the switch owns that looks like an ordinary
//!   interface to the host: the datapath's LOCAL port (named after the
//!   bridge) is one. It can take addresses and be moved into another network
//!   namespace (`ip link set X netns NS`) as a container's NIC. It is always
//!   removed when dropped: if a persistent tap of that name was there, the
//!   switch takes it over and clears its persistence. The link is brought up
//!   (a move to another namespace brings it down again; whoever moves it
//!   brings it up there).
//!
//! # Another network namespace
//! The tap fd keeps working after the interface has moved: frames still flow
//! through it. Lookups by name (MTU, MAC, carrier) happen in the switch's
//! namespace, where the interface is no longer found (or another interface
//! has taken its name), so the netdev first checks that the name still
//! resolves to the ifindex it recorded at open. When it does not:
//! - [`Netdev::mtu`] and [`Netdev::mac`] return the last values read;
//! - [`Netdev::set_mac`] goes through the fd (`SIOCSIFHWADDR` on a tun fd
//!   acts on its device wherever it is); [`Netdev::set_mtu`] fails, since
//!   the kernel offers no way to do it through the fd;
//! - [`Netdev::carrier`] is true while the fd is still attached to the
//!   device (`TUNGETIFF` succeeds), the tun driver's own carrier rule;
//! - [`Netdev::ifindex`] is `None` (the index means nothing here);
//! - the `status` column says `netns=other`.
//!
//! Deleting that namespace destroys the tap with it (the kernel does not
//! move taps back): from then on [`Netdev::carrier`] is false, receive
//! fails with `EBADFD` ("File descriptor in bad state") and every send
//! counts in `tx_errors`, until the port is deleted.
//!
//! Counters are the netdev's own (frames it read and wrote), not the
//! kernel's, so they keep counting wherever the interface is.
//!
//! # Thread-safety
//! Every method takes `&self`. Sends from several threads share the one fd:
//! each frame is one `writev`, which the tun driver takes whole, so frames
//! never interleave. The receive queue owns its scratch buffer.
//!
//! # Receive buffering
//! Each receive queue reads into one reusable scratch buffer big enough for
//! a 64 KiB GSO super-frame, then copies the frame's actual length into a
//! packet sized for it. One copy per frame buys packets that are only as big
//! as they need to be, rather than 64 KiB allocations for every 60-byte ARP.

use super::{linux, vnet, Netdev, NetdevError, NetdevRxq, NetdevStats, TxOffloads};
use crate::sys::tun;
use rvs_packet::{Batch, EthAddr, Packet};
use std::any::Any;
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Bytes of frame a receive queue can take in one read: a 64 KiB GSO
/// super-frame plus its Ethernet and VLAN headers, with room to spare. A
/// longer frame is counted as a receive error and dropped.
pub const RX_FRAME_MAX: usize = 65_536 + 256;

#[derive(Debug, Default)]
struct Counters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
    tx_errors: AtomicU64,
}

/// Values read while the interface was in our namespace, reported once it
/// has left.
#[derive(Debug, Clone, Copy)]
struct LastKnown {
    mtu: u32,
    mac: EthAddr,
}

/// A `tap` or `internal` netdev.
#[derive(Debug)]
pub struct TapNetdev {
    name: String,
    internal: bool,
    fd: Arc<OwnedFd>,
    ifindex: u32,
    /// True when the interface goes away with this netdev.
    owned: bool,
    offloads: tun::Offloads,
    last: Mutex<LastKnown>,
    counters: Arc<Counters>,
}

impl TapNetdev {
    /// Opens a `tap` device (the [`super::NetdevConstructor`] signature).
    pub fn open_tap(
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Netdev>, NetdevError> {
        Ok(Self::new(name, false, options)?)
    }

    /// Opens an `internal` device (the [`super::NetdevConstructor`]
    /// signature).
    pub fn open_internal(
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Netdev>, NetdevError> {
        Ok(Self::new(name, true, options)?)
    }

    /// Attaches to (or creates) the tap `name`; `internal` selects the
    /// `internal` behaviour (always owned, always removed when dropped).
    pub fn new(
        name: &str,
        internal: bool,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<Self>, NetdevError> {
        check_options(name, internal, options)?;
        let existed = linux::ifindex(name).is_ok();
        let tap = tun::open_tap(name).map_err(|e| {
            let hint = match e.raw_os_error() {
                Some(libc::EBUSY) => " (another process has it open)",
                Some(libc::EINVAL) if existed => " (an interface of another kind has this name)",
                Some(libc::EPERM) => " (creating a tap needs CAP_NET_ADMIN)",
                _ => "",
            };
            NetdevError::Os {
                dev: name.to_string(),
                op: "attaching to the tap",
                msg: format!("{e}{hint}"),
            }
        })?;
        let name = tap.name;
        let fd = tap.fd;
        // An internal port belongs to the switch: a persistent leftover of
        // that name is taken over and goes away with the netdev.
        if internal && tap.was_persistent {
            tun::set_persist(fd.as_fd(), false)
                .map_err(|e| NetdevError::os(&name, "clearing the tap's persistence", e))?;
        }
        let owned = internal || !existed;
        let offloads = tun::set_offload(fd.as_fd());
        let ifindex = linux::ifindex(&name)?;
        linux::set_up(&name, true)?;
        let last = LastKnown { mtu: linux::mtu(&name)?, mac: linux::mac(&name)? };
        tracing::debug!(
            dev = %name, internal, owned, ifindex, ?offloads,
            "opened tap"
        );
        Ok(Arc::new(TapNetdev {
            name,
            internal,
            fd: Arc::new(fd),
            ifindex,
            owned,
            offloads,
            last: Mutex::new(last),
            counters: Arc::default(),
        }))
    }

    /// True when the name still finds our interface in this namespace (it
    /// has not been moved away, and no other interface took its name).
    pub fn in_local_netns(&self) -> bool {
        linux::ifindex(&self.name).ok() == Some(self.ifindex)
    }

    /// True when the interface goes away with this netdev (it was created
    /// for it, or it is an internal port).
    pub fn is_owned(&self) -> bool {
        self.owned
    }

    /// The error for an operation that needs the interface in our namespace.
    fn moved_away(&self, op: &'static str) -> NetdevError {
        NetdevError::Os {
            dev: self.name.clone(),
            op,
            msg: "the interface is in another network namespace".into(),
        }
    }
}

/// A tap takes no options; any option is an error that names it.
fn check_options(
    name: &str,
    internal: bool,
    options: &BTreeMap<String, String>,
) -> Result<(), NetdevError> {
    match options.iter().next() {
        None => Ok(()),
        Some((k, v)) => Err(NetdevError::BadOption {
            dev: name.to_string(),
            key: k.clone(),
            value: v.clone(),
            why: format!(
                "unknown option for {} device (it takes none)",
                if internal { "an internal" } else { "a tap" }
            ),
        }),
    }
}

impl Netdev for TapNetdev {
    fn name(&self) -> &str {
        &self.name
    }

    fn type_name(&self) -> &'static str {
        if self.internal {
            "internal"
        } else {
            "tap"
        }
    }

    fn rxq_open(&self, id: usize) -> Result<Box<dyn NetdevRxq>, NetdevError> {
        if id != 0 {
            return Err(NetdevError::NoSuchQueue { dev: self.name.clone(), qid: id, n: 1 });
        }
        Ok(Box::new(TapRxq {
            name: self.name.clone(),
            fd: self.fd.clone(),
            scratch: vec![0; RX_FRAME_MAX],
            counters: self.counters.clone(),
        }))
    }

    /// Writes each packet with its virtio-net header. Never blocks: a tap
    /// that cannot take a frame (`EAGAIN`) or whose link is down (`EIO`)
    /// drops it into `tx_dropped`; any other failure counts in `tx_errors`.
    fn send(&self, _qid: usize, pkts: &mut Vec<Packet>) -> Result<(), NetdevError> {
        let c = &self.counters;
        for p in pkts.drain(..) {
            let hdr = vnet::encode(&p.md);
            match tun::write_frame(self.fd.as_fd(), &hdr, p.data()) {
                Ok(()) => {
                    c.tx_packets.fetch_add(1, Ordering::Relaxed);
                    c.tx_bytes.fetch_add(p.len() as u64, Ordering::Relaxed);
                }
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.raw_os_error() == Some(libc::EIO) =>
                {
                    c.tx_dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    c.tx_errors.fetch_add(1, Ordering::Relaxed);
                    tracing::trace!(dev = %self.name, error = %e, "tap write failed");
                }
            }
        }
        Ok(())
    }

    /// The kernel takes checksum-partial frames and GSO super-frames from a
    /// tap with a vnet header; UDP GSO when it also offered USO (Linux 6.2+).
    fn tx_offloads(&self) -> TxOffloads {
        TxOffloads { csum: true, tso: true, uso: self.offloads.uso }
    }

    fn mac(&self) -> Result<EthAddr, NetdevError> {
        if !self.in_local_netns() {
            return Ok(self.last.lock().unwrap().mac);
        }
        let mac = linux::mac(&self.name)?;
        self.last.lock().unwrap().mac = mac;
        Ok(mac)
    }

    fn set_mac(&self, mac: EthAddr) -> Result<(), NetdevError> {
        if self.in_local_netns() {
            linux::set_mac(&self.name, mac)?;
        } else {
            tun::set_mac(self.fd.as_fd(), &self.name, mac.0)
                .map_err(|e| NetdevError::os(&self.name, "setting the MAC address", e))?;
        }
        self.last.lock().unwrap().mac = mac;
        Ok(())
    }

    fn mtu(&self) -> Result<u32, NetdevError> {
        if !self.in_local_netns() {
            return Ok(self.last.lock().unwrap().mtu);
        }
        let mtu = linux::mtu(&self.name)?;
        self.last.lock().unwrap().mtu = mtu;
        Ok(mtu)
    }

    fn set_mtu(&self, mtu: u32) -> Result<(), NetdevError> {
        if !self.in_local_netns() {
            return Err(self.moved_away("setting the MTU"));
        }
        linux::set_mtu(&self.name, mtu)?;
        self.last.lock().unwrap().mtu = mtu;
        Ok(())
    }

    fn carrier(&self) -> bool {
        if self.in_local_netns() {
            linux::carrier(&self.name)
        } else {
            tun::get_flags(self.fd.as_fd()).is_ok()
        }
    }

    fn ifindex(&self) -> Option<u32> {
        self.in_local_netns().then_some(self.ifindex)
    }

    fn stats(&self) -> NetdevStats {
        let c = &self.counters;
        NetdevStats {
            rx_packets: c.rx_packets.load(Ordering::Relaxed),
            rx_bytes: c.rx_bytes.load(Ordering::Relaxed),
            rx_dropped: 0,
            rx_errors: c.rx_errors.load(Ordering::Relaxed),
            tx_packets: c.tx_packets.load(Ordering::Relaxed),
            tx_bytes: c.tx_bytes.load(Ordering::Relaxed),
            tx_dropped: c.tx_dropped.load(Ordering::Relaxed),
            tx_errors: c.tx_errors.load(Ordering::Relaxed),
        }
    }

    /// `netns` (`local` or `other`), `owned` (whether the interface goes
    /// away with the port) and `rx_offloads` (what the kernel may hand us).
    fn status(&self) -> BTreeMap<String, String> {
        let mut s = BTreeMap::new();
        let here = self.in_local_netns();
        s.insert("netns".into(), if here { "local" } else { "other" }.into());
        s.insert("owned".into(), self.owned.to_string());
        let o = self.offloads;
        let names: Vec<&str> = [(o.csum, "csum"), (o.tso, "tso"), (o.uso, "uso")]
            .into_iter()
            .filter_map(|(on, n)| on.then_some(n))
            .collect();
        s.insert("rx_offloads".into(), names.join(","));
        s
    }

    fn set_config(&self, options: &BTreeMap<String, String>) -> Result<(), NetdevError> {
        check_options(&self.name, self.internal, options)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The one receive queue of a tap.
struct TapRxq {
    name: String,
    fd: Arc<OwnedFd>,
    scratch: Vec<u8>,
    counters: Arc<Counters>,
}

impl NetdevRxq for TapRxq {
    /// Reads frames until the batch is full or the tap has none left
    /// (`EAGAIN`), so that the edge-triggered wake-up is re-armed. A frame
    /// with a vnet header rvs cannot use, or too long for
    /// [`RX_FRAME_MAX`], is dropped into `rx_errors`.
    fn recv(&mut self, batch: &mut Batch) -> Result<usize, NetdevError> {
        let c = &self.counters;
        let mut n = 0;
        while !batch.is_full() {
            let mut hdr = [0u8; vnet::VNET_HDR_LEN];
            let len = match tun::read_frame(self.fd.as_fd(), &mut hdr, &mut self.scratch) {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                    c.rx_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Err(e) if n > 0 => {
                    // Hand over what we have; the error comes back next time.
                    tracing::trace!(dev = %self.name, error = %e, "tap read failed");
                    break;
                }
                Err(e) => return Err(NetdevError::os(&self.name, "reading from the tap", e)),
            };
            if len > self.scratch.len() {
                c.rx_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let mut p = Packet::with_capacity(len);
            p.extend_from_slice(&self.scratch[..len]);
            if vnet::decode(&hdr, &mut p.md).is_err() {
                c.rx_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            c.rx_packets.fetch_add(1, Ordering::Relaxed);
            c.rx_bytes.fetch_add(len as u64, Ordering::Relaxed);
            batch.push(p);
            n += 1;
        }
        Ok(n)
    }

    fn wait_fds(&self) -> Vec<RawFd> {
        vec![self.fd.as_raw_fd()]
    }

    fn polls_by_syscall(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_refused_by_name() {
        let mut o = BTreeMap::new();
        o.insert("n_rxq".to_string(), "2".to_string());
        let e = TapNetdev::new("rvs-unused", false, &o).unwrap_err();
        assert!(e.to_string().contains("n_rxq"), "{e}");
        let e = check_options("br0", true, &o).unwrap_err();
        assert!(e.to_string().contains("internal"), "{e}");
        assert!(check_options("br0", true, &BTreeMap::new()).is_ok());
    }
}
