//! Flow table modifications (OpenFlow's flow_mod) as the ofproto layer takes
//! them, whether they come from ovs-ofctl's text syntax, the OpenFlow wire
//! or a test.

use crate::actions::OfAction;
use crate::flow::OfMatch;
use crate::types::{Cookie, OfPort, TableId};

/// What a flow_mod does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum FlowModCommand {
    /// Add a rule, replacing one with the same match and priority.
    #[default]
    Add,
    /// Change the actions of every rule the match covers (loose).
    Modify,
    /// Change the actions of the rule with exactly this match and priority.
    ModifyStrict,
    /// Delete every rule the match covers (loose).
    Delete,
    /// Delete the rule with exactly this match and priority.
    DeleteStrict,
}

/// Flags of a flow_mod.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct FlowModFlags {
    /// Send a flow-removed message when the rule goes.
    pub send_flow_rem: bool,
    /// Refuse an add that overlaps a rule of the same priority.
    pub check_overlap: bool,
    /// Zero the counters of modified rules.
    pub reset_counts: bool,
    /// Don't count packets (accepted, counted anyway).
    pub no_packet_counts: bool,
    /// Don't count bytes (accepted, counted anyway).
    pub no_byte_counts: bool,
}

/// One flow_mod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowMod {
    /// The command.
    pub command: FlowModCommand,
    /// The table; [`TableId::ALL`] in deletes (and loose modifies) means
    /// every table. Adds default to table 0.
    pub table: TableId,
    /// The match.
    pub match_: OfMatch,
    /// Priority (default 32768).
    pub priority: u16,
    /// The new rule's cookie (add), or the cookie to match (modify/delete,
    /// under `cookie_mask`).
    pub cookie: Cookie,
    /// Bits of `cookie` that modify/delete match on (0 = any cookie).
    pub cookie_mask: u64,
    /// For modify: the cookie to give modified rules, if any.
    pub new_cookie: Option<Cookie>,
    /// Seconds without traffic after which the rule goes (0 = never).
    pub idle_timeout: u16,
    /// Seconds after which the rule goes regardless (0 = never).
    pub hard_timeout: u16,
    /// Eviction importance.
    pub importance: u16,
    /// Flags.
    pub flags: FlowModFlags,
    /// Delete/modify filter: only rules that output to this port
    /// ([`OfPort::NONE`] = no filter).
    pub out_port: OfPort,
    /// The actions (ignored by deletes).
    pub actions: Vec<OfAction>,
}

/// OpenFlow's default priority.
pub const DEFAULT_PRIORITY: u16 = 0x8000;

impl Default for FlowMod {
    fn default() -> Self {
        FlowMod {
            command: FlowModCommand::Add,
            table: TableId(0),
            match_: OfMatch::catchall(),
            priority: DEFAULT_PRIORITY,
            cookie: Cookie(0),
            cookie_mask: 0,
            new_cookie: None,
            idle_timeout: 0,
            hard_timeout: 0,
            importance: 0,
            flags: FlowModFlags::default(),
            out_port: OfPort::NONE,
            actions: Vec::new(),
        }
    }
}
