//! Network devices ("netdevs") and their providers.
//!
//! A [`Netdev`] is the datapath's handle on one network device: a Linux
//! interface, a tap, a tunnel, or the in-memory [`dummy`] device that tests
//! use. Providers are registered by type name in a [`NetdevRegistry`], which
//! opens devices from configuration (`type=dummy`, `type=system`, ...).
//!
//! # Life cycle
//! A provider constructs a netdev when it is opened; the datapath then opens
//! its receive queues with [`Netdev::rxq_open`], one per queue, and hands
//! them to its poll threads. When the port is deleted the datapath drops
//! every receive queue first (after the poll threads have let go of them) and
//! then its last reference to the netdev, whose `Drop` releases the device
//! (sockets, rings, taps it created).
//!
//! # Thread-safety
//! A `Netdev` is shared by every poll thread and the control plane: all its
//! methods take `&self` and may be called concurrently. Transmit queues are
//! the exception to free-for-all: the datapath calls [`Netdev::send`] for a
//! given `qid` from one thread at a time, so a provider may keep per-queue
//! state without contention. A [`NetdevRxq`] belongs to exactly one poll
//! thread at a time.

pub mod dummy;
pub mod linux;
pub mod pcap;
pub mod system;
pub mod tap;
pub mod vnet;

use rvs_packet::{Batch, EthAddr, Packet};
use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::os::fd::RawFd;
use std::sync::Arc;

/// Errors from netdev operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetdevError {
    /// No provider is registered under this type name.
    #[error("unknown netdev type \"{0}\"")]
    UnknownType(String),
    /// The operation is not supported by this kind of device.
    #[error("{dev}: {op} is not supported by netdev type {typ}")]
    NotSupported {
        /// Device name.
        dev: String,
        /// Provider type.
        typ: String,
        /// The operation.
        op: &'static str,
    },
    /// An option has a value the provider cannot use.
    #[error("{dev}: option {key}={value} is invalid: {why}")]
    BadOption {
        /// Device name.
        dev: String,
        /// Option name.
        key: String,
        /// Option value.
        value: String,
        /// Why.
        why: String,
    },
    /// A receive or transmit queue id past the device's queues.
    #[error("{dev}: queue {qid} does not exist (the device has {n})")]
    NoSuchQueue {
        /// Device name.
        dev: String,
        /// The queue asked for.
        qid: usize,
        /// Number of queues.
        n: usize,
    },
    /// An operating-system call failed.
    #[error("{dev}: {op} failed: {msg}")]
    Os {
        /// Device name.
        dev: String,
        /// The operation.
        op: &'static str,
        /// The OS error text.
        msg: String,
    },
}

impl NetdevError {
    /// Builds an [`NetdevError::Os`] from an `io::Error`.
    pub fn os(dev: &str, op: &'static str, e: std::io::Error) -> Self {
        NetdevError::Os { dev: dev.to_string(), op, msg: e.to_string() }
    }
}

/// Packet and byte counters of a device, as `dpctl/show -s` prints them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetdevStats {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets dropped on receive.
    pub rx_dropped: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets dropped on transmit.
    pub tx_dropped: u64,
    /// Transmit errors.
    pub tx_errors: u64,
}

/// Transmit offloads a device accepts, so the datapath knows whether it must
/// segment GSO frames and finish partial checksums in software first.
pub use rvs_packet::gso::TxOffloads;

/// A receive queue of a netdev.
///
/// Owned by one poll thread at a time. Dropped before the netdev is released.
pub trait NetdevRxq: Send {
    /// Moves up to `rvs_packet::BATCH_SIZE - batch.len()` waiting packets into
    /// `batch` and returns how many it moved. Never blocks; returns 0 when no
    /// packet waits. Received packets carry no metadata but what the device
    /// knows (offload state); the datapath sets `in_port`.
    fn recv(&mut self, batch: &mut Batch) -> Result<usize, NetdevError>;

    /// File descriptors one of which becomes readable when packets arrive
    /// on an empty queue, so an idle poll thread can sleep in epoll. The
    /// datapath watches them edge-triggered and only sleeps after `recv`
    /// returned 0, so the provider need not reset them. None means the
    /// queue can only be polled, and the thread will not sleep long.
    fn wait_fds(&self) -> Vec<RawFd>;

    /// Whether `recv` on an empty queue costs a system call (a tap's
    /// `read`). A busy poll thread then asks such a queue only when one of
    /// its [`NetdevRxq::wait_fds`] became readable since it came back
    /// empty, rather than at every iteration. Memory-mapped rings and
    /// software queues cost no system call (the default).
    fn polls_by_syscall(&self) -> bool {
        false
    }
}

/// A network device.
pub trait Netdev: Send + Sync + 'static {
    /// The device name (unique among open netdevs).
    fn name(&self) -> &str;

    /// The provider's type name (`dummy`, `system`, `tap`, `internal`, ...).
    fn type_name(&self) -> &'static str;

    /// Number of receive queues.
    fn n_rxq(&self) -> usize {
        1
    }

    /// Opens receive queue `id`. Called once per queue by the datapath when
    /// the device becomes a port; may block briefly (socket setup).
    fn rxq_open(&self, id: usize) -> Result<Box<dyn NetdevRxq>, NetdevError>;

    /// Number of transmit queues.
    fn n_txq(&self) -> usize {
        1
    }

    /// Sends every packet of `pkts` on transmit queue `qid` and leaves `pkts`
    /// empty: the callee takes every packet, whatever the result. Packets it
    /// cannot send are counted in its `tx_dropped`/`tx_errors`. Must not
    /// block for long (a full ring drops rather than waits).
    ///
    /// A packet may borrow its bytes from another device's receive ring
    /// ([`Packet::is_shared`]); the ring gets that memory back only when the
    /// packet is dropped, so a provider that keeps packets after `send`
    /// returns calls [`Packet::make_owned`] on them first.
    fn send(&self, qid: usize, pkts: &mut Vec<Packet>) -> Result<(), NetdevError>;

    /// Transmit offloads the device accepts (default: none).
    fn tx_offloads(&self) -> TxOffloads {
        TxOffloads::default()
    }

    /// The device's MAC address.
    fn mac(&self) -> Result<EthAddr, NetdevError>;

    /// Changes the MAC address.
    fn set_mac(&self, mac: EthAddr) -> Result<(), NetdevError>;

    /// The MTU in bytes.
    fn mtu(&self) -> Result<u32, NetdevError>;

    /// Changes the MTU.
    fn set_mtu(&self, mtu: u32) -> Result<(), NetdevError>;

    /// True when the link is up.
    fn carrier(&self) -> bool;

    /// The kernel interface index, for devices that have one.
    fn ifindex(&self) -> Option<u32> {
        None
    }

    /// Counters.
    fn stats(&self) -> NetdevStats;

    /// Provider-specific status, as key/value pairs (the `status` column).
    fn status(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    /// Applies provider options (the `options` column). An option the
    /// provider does not know is an error naming it; a failed call changes
    /// nothing.
    fn set_config(&self, options: &BTreeMap<String, String>) -> Result<(), NetdevError>;

    /// For downcasting to the provider's own type (e.g. to inject packets
    /// into a dummy device).
    fn as_any(&self) -> &dyn Any;
}

impl std::fmt::Debug for dyn Netdev {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} netdev {}", self.type_name(), self.name())
    }
}

/// Opens a netdev of one type: `(name, options)` to a device.
pub type NetdevConstructor =
    fn(name: &str, options: &BTreeMap<String, String>) -> Result<Arc<dyn Netdev>, NetdevError>;

/// Netdev providers by type name.
#[derive(Clone)]
pub struct NetdevRegistry {
    classes: HashMap<&'static str, NetdevConstructor>,
}

impl std::fmt::Debug for NetdevRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut types: Vec<_> = self.classes.keys().collect();
        types.sort();
        f.debug_struct("NetdevRegistry").field("types", &types).finish()
    }
}

impl Default for NetdevRegistry {
    fn default() -> Self {
        Self::new()
    }
}

impl NetdevRegistry {
    /// A registry with the built-in providers: `dummy`, `dummy-internal`,
    /// `system`, `tap` and `internal`.
    pub fn new() -> Self {
        let mut r = NetdevRegistry { classes: HashMap::new() };
        r.register("dummy", dummy::DummyNetdev::open_dummy);
        r.register("dummy-internal", dummy::DummyNetdev::open_internal);
        r.register("system", system::SystemNetdev::open);
        r.register("tap", tap::TapNetdev::open_tap);
        r.register("internal", tap::TapNetdev::open_internal);
        r
    }

    /// Registers (or replaces) a provider.
    pub fn register(&mut self, type_name: &'static str, ctor: NetdevConstructor) {
        self.classes.insert(type_name, ctor);
    }

    /// The registered type names, sorted.
    pub fn types(&self) -> Vec<&'static str> {
        let mut v: Vec<_> = self.classes.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Opens a device of type `type_name`.
    pub fn open(
        &self,
        type_name: &str,
        name: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Arc<dyn Netdev>, NetdevError> {
        let ctor = self
            .classes
            .get(type_name)
            .ok_or_else(|| NetdevError::UnknownType(type_name.to_string()))?;
        ctor(name, options)
    }
}
