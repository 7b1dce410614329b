//! The datapath interface: what the layers above (ofproto, `dpctl/*`) use to
//! manage a datapath's ports and flows and to execute packets.
//!
//! # Life cycle
//! A datapath is created by name (see [`crate::DatapathRegistry`]) with its
//! LOCAL port, an internal port named after it, as port 0. Ports are added
//! and deleted; flows are put, modified, deleted and dumped; an
//! [`UpcallHandler`] may be registered to decide what to do with packets that
//! miss every flow. Dropping the last handle stops the datapath's threads and
//! releases every port.
//!
//! # Thread-safety
//! Every method takes `&self` and may be called from any thread, concurrently
//! with packet processing. Methods block only briefly, except
//! [`Dpif::port_del`], which waits until no poll thread uses the port any
//! more (and so must not be called from an upcall handler).

use crate::netdev::{Netdev, NetdevError, NetdevStats};
use crate::odp::{DropReason, OdpAction, UserspaceAction};
use rvs_packet::{FlowKey, Mask, OdpPort, Packet};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// A 128-bit unique flow identifier, chosen by the layer that installs the
/// flow (or derived from its match when not given).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ufid(pub u128);

impl Ufid {
    /// The identifier derived from a match, as used when a flow is put
    /// without one.
    pub fn from_match(key: &FlowKey, mask: &Mask) -> Ufid {
        let set = rvs_packet::flow::WordSet((1u32 << rvs_packet::flow::KEY_WORDS) - 1);
        let k = key.masked(mask);
        let a = k.hash_masked(mask, set);
        let mut salted = k;
        salted.w[0] ^= 0x5bd1_e995_5bd1_e995;
        let b = salted.hash_masked(&Mask::exact(), set) ^ mask.word_set().0 as u64;
        Ufid(((a as u128) << 64) | b as u128)
    }
}

impl fmt::Display for Ufid {
    /// OVS's UUID-like format: `ufid:xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        write!(
            f,
            "ufid:{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            (v >> 96) as u32,
            (v >> 80) as u16,
            (v >> 64) as u16,
            (v >> 48) as u16,
            v & 0xffff_ffff_ffff
        )
    }
}

impl fmt::Debug for Ufid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Ufid {
    type Err = DpifError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String =
            s.strip_prefix("ufid:").unwrap_or(s).chars().filter(|c| *c != '-').collect();
        if hex.len() != 32 {
            return Err(DpifError::BadUfid(s.to_string()));
        }
        u128::from_str_radix(&hex, 16).map(Ufid).map_err(|_| DpifError::BadUfid(s.to_string()))
    }
}

/// A port of a datapath.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpifPort {
    /// Device name.
    pub name: String,
    /// Netdev type name.
    pub type_name: String,
    /// Port number.
    pub port_no: OdpPort,
}

/// A change in a datapath's ports, sent to subscribers (the seed's vport
/// multicast group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortEvent {
    /// A port was added.
    Added(DpifPort),
    /// A port was deleted.
    Deleted(DpifPort),
}

/// Which flow a `get`/`del` means. (Passed by reference and never stored,
/// so the size of the `Match` variant costs nothing worth boxing.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlowId {
    /// By identifier.
    Ufid(Ufid),
    /// By match: the flow whose mask and masked key are these.
    Match(FlowKey, Mask),
}

/// Statistics of one flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// Packets that hit the flow.
    pub packets: u64,
    /// Their bytes.
    pub bytes: u64,
    /// When the flow was last hit, on the datapath's clock; `None` if never.
    pub used: Option<Duration>,
    /// OR of the TCP flags of its packets.
    pub tcp_flags: u16,
}

/// A flow as dumped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DpifFlow {
    /// Identifier.
    pub ufid: Ufid,
    /// The key, masked.
    pub key: FlowKey,
    /// The mask.
    pub mask: Mask,
    /// The actions.
    pub actions: Vec<OdpAction>,
    /// Statistics.
    pub stats: FlowStats,
    /// Poll threads whose classifier holds the flow (OVS's `pmd` ids).
    pub pmds: Vec<usize>,
}

/// What a [`Dpif::flow_put`] may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PutFlags {
    /// Create the flow if it does not exist.
    pub create: bool,
    /// Modify the flow's actions if it exists.
    pub modify: bool,
    /// Zero the statistics of a modified flow.
    pub zero_stats: bool,
}

impl PutFlags {
    /// Create only (fails if the flow exists).
    pub const CREATE: PutFlags = PutFlags { create: true, modify: false, zero_stats: false };
    /// Modify only (fails if the flow does not exist).
    pub const MODIFY: PutFlags = PutFlags { create: false, modify: true, zero_stats: false };
    /// Create or modify.
    pub const UPSERT: PutFlags = PutFlags { create: true, modify: true, zero_stats: false };
}

/// A flow to put.
#[derive(Clone, Debug)]
pub struct FlowPut {
    /// Identifier; derived from the match when `None`.
    pub ufid: Option<Ufid>,
    /// Key (bits outside `mask` are ignored).
    pub key: FlowKey,
    /// Mask; must satisfy the megaflow invariants.
    pub mask: Mask,
    /// Actions.
    pub actions: Vec<OdpAction>,
    /// Create/modify.
    pub flags: PutFlags,
}

/// Counters of a whole datapath, as `dpctl/show` prints them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DpStats {
    /// Packets that matched a flow (exact-match cache or megaflow).
    pub hits: u64,
    /// Packets that missed and were upcalled.
    pub missed: u64,
    /// Packets that missed and could not be upcalled (no handler, handler
    /// error), or were dropped over the flow limit.
    pub lost: u64,
    /// Installed flows.
    pub flows: u64,
    /// Megaflow hits.
    pub mask_hits: u64,
    /// Subtables (masks) across the classifiers.
    pub masks: u64,
    /// Subtables searched, summed over megaflow hits (mask_hit/pkt is this
    /// over `mask_hits`).
    pub subtable_lookups: u64,
    /// Exact-match-cache hits.
    pub emc_hits: u64,
    /// Misses executed without installing a flow (flow limit).
    pub no_install: u64,
}

/// Per-port statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortStats {
    /// The device's counters, plus datapath-level drops (`rx_dropped`
    /// includes `rx_qos_drops`, `tx_dropped` includes `tx_qos_drops`).
    pub netdev: NetdevStats,
    /// Packets dropped by the port's ingress policing.
    pub rx_qos_drops: u64,
    /// Packets dropped by the port's egress policer.
    pub tx_qos_drops: u64,
}

/// Errors of datapath operations. Each names the thing and the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpifError {
    /// No datapath has this name.
    #[error("no datapath named \"{0}\"")]
    NoSuchDatapath(String),
    /// A datapath with this name exists.
    #[error("a datapath named \"{0}\" already exists")]
    DatapathExists(String),
    /// A requested port number is in use (EBUSY).
    #[error("port number {port} is already in use by \"{by}\"")]
    PortBusy {
        /// The number asked for.
        port: OdpPort,
        /// Name of the port that has it.
        by: String,
    },
    /// A requested port number is at or past the limit (EFBIG).
    #[error("port number {port} is past the port limit {limit}")]
    PortTooBig {
        /// The number asked for.
        port: OdpPort,
        /// The limit (numbers must be below it).
        limit: u32,
    },
    /// Every port number is taken.
    #[error("datapath {dp} has no free port number (limit {limit})")]
    PortsFull {
        /// Datapath name.
        dp: String,
        /// The limit.
        limit: u32,
    },
    /// A port with this name exists (EEXIST).
    #[error("a port named \"{0}\" already exists")]
    PortNameExists(String),
    /// No port has this number.
    #[error("no port number {0}")]
    NoSuchPort(OdpPort),
    /// No port has this name.
    #[error("no port named \"{0}\"")]
    NoSuchPortName(String),
    /// A port has no receive queue with this number.
    #[error("port {port} has no receive queue {qid}")]
    NoSuchQueue {
        /// The port.
        port: OdpPort,
        /// The queue asked for.
        qid: usize,
    },
    /// The port receives nothing through the datapath's poll threads (a
    /// tunnel port), so there is nothing to police.
    #[error("port {port} (\"{name}\") has no receive queue to police")]
    NoRxqToPolice {
        /// The port.
        port: OdpPort,
        /// Its name.
        name: String,
    },
    /// No poll thread has this id.
    #[error("no poll thread {thread} (the datapath has threads 1 to {n})")]
    NoSuchThread {
        /// The thread asked for.
        thread: usize,
        /// Number of poll threads.
        n: usize,
    },
    /// The LOCAL port cannot be deleted.
    #[error("port 0 (\"{0}\") is the datapath's LOCAL port and cannot be deleted")]
    LocalPort(String),
    /// A flow with this match (or ufid) exists and the put may not modify.
    #[error("flow exists: {0}")]
    FlowExists(Ufid),
    /// No such flow.
    #[error("no such flow: {0}")]
    NoSuchFlow(String),
    /// The flow breaks a megaflow invariant or is otherwise unusable.
    #[error("invalid flow: {0}")]
    InvalidFlow(String),
    /// The flow table is full.
    #[error("flow table is full ({0} flows)")]
    FlowLimit(usize),
    /// A ufid string could not be parsed.
    #[error("\"{0}\" is not a ufid (expected 32 hex digits, optionally ufid:xxxxxxxx-xxxx-...)")]
    BadUfid(String),
    /// A netdev operation failed.
    #[error(transparent)]
    Netdev(#[from] NetdevError),
    /// An operating-system resource could not be set up.
    #[error("{0}")]
    Os(String),
}

/// A packet that missed every flow, handed to the [`UpcallHandler`].
#[derive(Debug)]
pub struct Upcall<'a> {
    /// The packet (with its metadata).
    pub packet: &'a Packet,
    /// Its extracted key.
    pub key: &'a FlowKey,
    /// Id of the poll thread that missed.
    pub pmd_id: usize,
}

/// The handler's decision for a missed packet.
#[derive(Debug, Clone)]
pub struct UpcallReply {
    /// Actions for this packet and the flow to install.
    pub actions: Vec<OdpAction>,
    /// The mask of the flow to install: the bits translation examined. The
    /// datapath adds the megaflow invariants' bits to it.
    pub mask: Mask,
    /// Identifier for the flow; derived from the match when `None`.
    pub ufid: Option<Ufid>,
    /// False to execute the actions without installing a flow (OVS's
    /// slow path).
    pub install: bool,
}

/// Why an upcall produced no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("upcall failed: {0}")]
pub struct UpcallError(pub String);

/// Decides what happens to packets that miss the flow table, and receives
/// packets sent to userspace by `userspace` actions.
///
/// # Thread-safety
/// Called from every poll thread concurrently, synchronously on the packet
/// path: an implementation must not block for long and must not call
/// [`Dpif::port_del`] or other methods that wait for poll threads.
pub trait UpcallHandler: Send + Sync {
    /// Translates a miss. The packet itself is executed by the datapath with
    /// the returned actions.
    fn upcall(&self, upcall: &Upcall<'_>) -> Result<UpcallReply, UpcallError>;

    /// A packet sent up by a `userspace` action (e.g. to an OpenFlow
    /// controller). The default drops it.
    fn action_upcall(&self, _packet: &Packet, _key: &FlowKey, _action: &UserspaceAction) {}
}

/// The datapath interface.
pub trait Dpif: Send + Sync {
    /// The datapath's name.
    fn name(&self) -> &str;

    /// The datapath type (`netdev` or `dummy`).
    fn type_name(&self) -> &str;

    /// Adds `netdev` as a port, numbered `requested` or the lowest free
    /// number from 1. Fails with [`DpifError::PortBusy`],
    /// [`DpifError::PortTooBig`] or [`DpifError::PortNameExists`] and then
    /// changes nothing.
    fn port_add(
        &self,
        netdev: Arc<dyn Netdev>,
        requested: Option<OdpPort>,
    ) -> Result<OdpPort, DpifError>;

    /// Deletes a port and releases it; returns once no poll thread uses it.
    fn port_del(&self, port: OdpPort) -> Result<(), DpifError>;

    /// Looks a port up by number.
    fn port_query_by_number(&self, port: OdpPort) -> Result<DpifPort, DpifError>;

    /// Looks a port up by name.
    fn port_query_by_name(&self, name: &str) -> Result<DpifPort, DpifError>;

    /// Every port, by number.
    fn port_dump(&self) -> Vec<DpifPort>;

    /// The netdev behind a port.
    fn port_netdev(&self, port: OdpPort) -> Option<Arc<dyn Netdev>>;

    /// Port statistics.
    fn port_stats(&self, port: OdpPort) -> Result<PortStats, DpifError>;

    /// Subscribes to port additions and deletions.
    fn port_subscribe(&self) -> crossbeam_channel::Receiver<PortEvent>;

    /// Creates or modifies a flow. Returns the statistics the flow had
    /// before a modification. A flow that breaks the megaflow invariants, or
    /// a create whose match duplicates an installed flow, is refused and
    /// changes nothing.
    fn flow_put(&self, put: FlowPut) -> Result<Option<FlowStats>, DpifError>;

    /// Deletes a flow, returning its final statistics.
    fn flow_del(&self, id: &FlowId) -> Result<FlowStats, DpifError>;

    /// Looks a flow up.
    fn flow_get(&self, id: &FlowId) -> Result<DpifFlow, DpifError>;

    /// Every flow.
    fn flow_dump(&self) -> Vec<DpifFlow>;

    /// Deletes every flow.
    fn flow_flush(&self);

    /// Runs `actions` on `packet` (whose `md.in_port` the caller sets), as
    /// the datapath would for a flow; outputs happen before it returns.
    fn execute(&self, packet: Packet, actions: &[OdpAction]) -> Result<(), DpifError>;

    /// Registers (or, with `None`, removes) the upcall handler.
    fn register_upcall_handler(&self, handler: Option<Arc<dyn UpcallHandler>>);

    /// Datapath-wide counters.
    fn stats(&self) -> DpStats;

    /// Drop counters by reason (only reasons with a non-zero count).
    fn drop_stats(&self) -> Vec<(DropReason, u64)>;
}

/// OVS's TCP flag letters, lowest bit first (FIN, SYN, RST, PSH, ACK, URG,
/// ECE, CWR, NS), as `dpctl/dump-flows` prints them after `flags:`.
const TCP_FLAG_LETTERS: [char; 9] = ['F', 'S', 'R', 'P', '.', 'U', 'E', 'C', 'N'];

/// Formats a flow as one line of `dpctl/dump-flows`:
/// `KEY, packets:N, bytes:N, used:T, [flags:F, ]actions:A`, with the ufid in
/// front when `verbose` (`-m`). `now` is the datapath clock's current time,
/// so `used` reads as seconds ago (`never` when the flow was never hit).
pub fn format_flow(f: &DpifFlow, now: Duration, verbose: bool) -> String {
    let mut s = String::new();
    if verbose {
        s.push_str(&f.ufid.to_string());
        s.push_str(", ");
    }
    s.push_str(&crate::odp::format_key(&f.key, Some(&f.mask)));
    s.push_str(&format!(", packets:{}, bytes:{}, used:", f.stats.packets, f.stats.bytes));
    match f.stats.used {
        None => s.push_str("never"),
        Some(t) => s.push_str(&format!("{:.3}s", now.saturating_sub(t).as_secs_f64())),
    }
    if f.stats.tcp_flags != 0 {
        s.push_str(", flags:");
        for (i, c) in TCP_FLAG_LETTERS.iter().enumerate() {
            if f.stats.tcp_flags & (1 << i) != 0 {
                s.push(*c);
            }
        }
    }
    s.push_str(", actions:");
    s.push_str(&crate::odp::format_actions(&f.actions));
    s
}
