//! `ofproto/trace`: what translation did with a flow, table by table, in
//! the style of OVS's trace: the flow, each bridge and table visited with
//! the rule matched and its actions, then the final flow, the megaflow and
//! the `Datapath actions:` line.

use crate::actions::OfAction;
use crate::backer::Config;
use crate::flow::{eth_type, Flow, Mf, OfMatch, Wildcards};
use crate::ofproto::{Bridge, Rule};
use crate::text::{format_actions, format_match, NoNames, PortNames};
use crate::types::OfPort;
use crate::xlate::XlateOut;

impl PortNames for Bridge {
    fn port_by_name(&self, name: &str) -> Option<OfPort> {
        self.port_by_name(name).map(|p| p.ofport)
    }
    fn port_name(&self, p: OfPort) -> Option<String> {
        self.ports.get(&p).filter(|_| p != OfPort::LOCAL).map(|p| p.name.clone())
    }
}

/// One line describing a matched rule: its match, then `priority N` and
/// the cookie when not zero.
pub fn describe_rule(rule: &Rule, bridge: &Bridge) -> String {
    let m = format_match(&rule.match_, crate::flow_mod::DEFAULT_PRIORITY, bridge);
    let mut s = if m.is_empty() { String::new() } else { format!("{m}, ") };
    s.push_str(&format!("priority {}", rule.priority));
    if rule.cookie.0 != 0 {
        s.push_str(&format!(", cookie {}", rule.cookie));
    }
    s
}

/// One action as the trace shows it.
pub fn describe_action(a: &OfAction, bridge: &Bridge) -> String {
    format_actions(std::slice::from_ref(a), bridge)
}

/// The fields that mean something for `flow`'s protocol, as a mask, so a
/// flow prints like OVS prints one (every relevant field, zero or not).
pub fn relevant_fields(flow: &Flow) -> Wildcards {
    let mut wc = Wildcards::none();
    for f in [Mf::InPort, Mf::VlanTci, Mf::DlSrc, Mf::DlDst, Mf::DlType] {
        wc.unwildcard(f);
    }
    for f in [Mf::PktMark, Mf::TunId, Mf::TunSrc, Mf::TunDst, Mf::Metadata] {
        if flow.get(f) != 0 {
            wc.unwildcard(f);
        }
    }
    for i in 0..16 {
        if flow.get(Mf::Reg(i)) != 0 {
            wc.unwildcard(Mf::Reg(i));
        }
    }
    let l3: &[Mf] = match flow.dl_type() {
        eth_type::IPV4 => &[Mf::NwSrc, Mf::NwDst, Mf::NwProto, Mf::NwTos, Mf::NwTtl, Mf::IpFrag],
        eth_type::IPV6 => &[
            Mf::Ipv6Src,
            Mf::Ipv6Dst,
            Mf::Ipv6Label,
            Mf::NwProto,
            Mf::NwTos,
            Mf::NwTtl,
            Mf::IpFrag,
        ],
        eth_type::ARP | eth_type::RARP => {
            &[Mf::ArpSpa, Mf::ArpTpa, Mf::ArpOp, Mf::ArpSha, Mf::ArpTha]
        }
        _ => &[],
    };
    for &f in l3 {
        wc.unwildcard(f);
    }
    if flow.is_ip() && flow.get(Mf::IpFrag) & 2 == 0 {
        match flow.nw_proto() {
            6 => [Mf::TpSrc, Mf::TpDst, Mf::TcpFlags].iter().for_each(|&f| wc.unwildcard(f)),
            17 | 132 => [Mf::TpSrc, Mf::TpDst].iter().for_each(|&f| wc.unwildcard(f)),
            1 | 58 => [Mf::IcmpType, Mf::IcmpCode].iter().for_each(|&f| wc.unwildcard(f)),
            _ => {}
        }
    }
    wc
}

/// A flow in ovs-ofctl's match syntax, every relevant field shown.
pub fn format_flow(flow: &Flow, ports: &dyn PortNames) -> String {
    let m = OfMatch::new(*flow, relevant_fields(flow));
    format_match(&m, crate::flow_mod::DEFAULT_PRIORITY, ports)
}

/// The megaflow a translation would install, in ovs-ofctl's match syntax
/// (header fields only: registers and metadata never reach the datapath).
pub fn format_megaflow(flow: &Flow, wc: &Wildcards, ports: &dyn PortNames) -> String {
    let mut hw = *wc;
    for w in &mut hw.w[crate::flow::W_METADATA..] {
        *w = 0;
    }
    let m = OfMatch::new(*flow, hw);
    let s = format_match(&m, crate::flow_mod::DEFAULT_PRIORITY, ports);
    if s.is_empty() {
        "recirc_id=0".to_string()
    } else {
        format!("recirc_id=0,{s}")
    }
}

/// The whole trace text.
pub fn render(cfg: &Config, bridge: &str, flow: &Flow, out: &XlateOut) -> String {
    let names: &dyn PortNames = match cfg.bridges.get(bridge) {
        Some(b) => b,
        None => &NoNames,
    };
    let mut s = format!("Flow: {}\n", format_flow(flow, names));
    for l in &out.trace {
        s.push_str(l);
        s.push('\n');
    }
    s.push('\n');
    if out.final_flow == *flow {
        s.push_str("Final flow: unchanged\n");
    } else {
        s.push_str(&format!("Final flow: {}\n", format_flow(&out.final_flow, names)));
    }
    s.push_str(&format!("Megaflow: {}\n", format_megaflow(flow, &out.wc, names)));
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

/// Reads a packet written in hex (`ofproto/trace`'s and
/// `netdev-dummy/receive`'s argument); whitespace is ignored. `None` when
/// the text is empty, has an odd number of digits or a non-hex character.
pub fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if s.is_empty() || !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}
