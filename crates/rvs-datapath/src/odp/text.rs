//! OVS's datapath-flow text syntax: parse and print keys, masks and actions.

use super::OdpAction;

/// Prints actions in OVS's syntax (`drop` when empty).
pub fn format_actions(actions: &[OdpAction]) -> String {
    if actions.is_empty() {
        return "drop".into();
    }
    format!("{actions:?}")
}
