//! `ofproto/trace`: what translation did with a flow, table by table, in
//! the style of OVS's trace.

use crate::actions::OfAction;
use crate::ofproto::{Bridge, Rule};

/// One line describing a matched rule: `priority 100, cookie 0x5` and its
/// match.
pub fn describe_rule(rule: &Rule, _bridge: &Bridge) -> String {
    let mut s = format!("priority {}", rule.priority);
    if rule.cookie.0 != 0 {
        s.push_str(&format!(", cookie {}", rule.cookie));
    }
    s
}

/// One action as the trace shows it.
pub fn describe_action(a: &OfAction, _bridge: &Bridge) -> String {
    format!("{a:?}")
}
