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

/// The whole trace text.
pub fn render(
    cfg: &crate::backer::Config,
    bridge: &str,
    flow: &crate::Flow,
    out: &crate::xlate::XlateOut,
) -> String {
    let _ = cfg;
    let mut s = format!("Flow: {flow:?}\n");
    let _ = bridge;
    for l in &out.trace {
        s.push_str(l);
        s.push('\n');
    }
    s.push('\n');
    if out.final_flow == *flow {
        s.push_str("Final flow: unchanged\n");
    } else {
        s.push_str(&format!("Final flow: {:?}\n", out.final_flow));
    }
    s.push_str(&format!("Megaflow: {:?}\n", out.wc));
    match out.error {
        Some(e) => s.push_str(&format!(
            "Translation failed ({e}), packet is dropped.\nDatapath actions: drop\n"
        )),
        None if out.actions.is_empty() => s.push_str("Datapath actions: drop\n"),
        None => s.push_str(&format!(
            "Datapath actions: {}\n",
            rvs_datapath::odp::format_actions(&out.actions)
        )),
    }
    s
}
