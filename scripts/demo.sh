#!/usr/bin/env bash
# The rvs demo (as root): two network namespaces joined through an rvs
# bridge. Starts rvs-vswitchd with a private run dir, adds a bridge and two
# ports with rvs-vsctl (ovs-vsctl works the same), pings across, then
# shows the datapath flows and the MAC table. Cleans up on exit, even on
# failure. Addresses are from 198.18.0.0/15 (RFC 2544 benchmarking range).
set -euo pipefail
cd "$(dirname "$0")/.."

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (it creates namespaces and veth pairs)" >&2; exit 1; }
cargo build --release --bin rvs-vswitchd --bin rvs-vsctl --bin rvs-appctl --bin rvs-ofctl >&2
BIN=target/release
RUN=$(mktemp -d /tmp/rvs-demo.XXXXXX)
export RVS_RUNDIR=$RUN RVS_DBDIR=$RUN
if [ -x "$BIN/rvs-vsctl" ]; then VSCTL="$BIN/rvs-vsctl"; else VSCTL=ovs-vsctl; fi
if [ -x "$BIN/rvs-appctl" ]; then APPCTL="$BIN/rvs-appctl"; else APPCTL="ovs-appctl"; fi
vsctl() { "$VSCTL" --db="unix:$RUN/db.sock" --timeout=10 "$@"; }
appctl() { "$APPCTL" -t "$RUN/rvs-vswitchd.ctl" "$@"; }

cleanup() {
    [ -n "${PID:-}" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null || true
    ip netns del rvs-demo-a 2>/dev/null || true
    ip netns del rvs-demo-b 2>/dev/null || true
    ip link del rvs-demo-a0 2>/dev/null || true
    ip link del rvs-demo-b0 2>/dev/null || true
    rm -rf "$RUN"
}
trap cleanup EXIT

echo "== starting rvs-vswitchd (run dir $RUN)"
"$BIN/rvs-vswitchd" 2>"$RUN/vswitchd.log" &
PID=$!
for _ in $(seq 100); do [ -S "$RUN/db.sock" ] && [ -S "$RUN/rvs-vswitchd.ctl" ] && break; sleep 0.1; done

echo "== two namespaces, each with a veth to the switch"
for h in a b; do
    ip netns add rvs-demo-$h
    ip link add rvs-demo-${h}0 type veth peer name eth0 netns rvs-demo-$h
    ip link set rvs-demo-${h}0 up
    ip -n rvs-demo-$h link set lo up
    ip -n rvs-demo-$h link set eth0 up
done
ip -n rvs-demo-a addr add 198.18.0.1/24 dev eth0
ip -n rvs-demo-b addr add 198.18.0.2/24 dev eth0

echo "== $VSCTL add-br br0, add-port br0 rvs-demo-a0, add-port br0 rvs-demo-b0"
vsctl add-br br0 -- add-port br0 rvs-demo-a0 -- add-port br0 rvs-demo-b0
vsctl show

echo "== ping 198.18.0.1 -> 198.18.0.2"
ip netns exec rvs-demo-a ping -c 3 -i 0.2 -W 2 198.18.0.2

echo "== datapath flows (appctl dpctl/dump-flows)"
appctl dpctl/dump-flows
echo "== MAC table (appctl fdb/show br0)"
appctl fdb/show br0
echo "== OpenFlow rules (appctl bridge/dump-flows br0)"
appctl bridge/dump-flows br0
echo "== over OpenFlow 1.3 (rvs-ofctl, the bridge's management socket)"
OFCTL=("$BIN/rvs-ofctl" -O OpenFlow13)
"${OFCTL[@]}" show "unix:$RUN/br0.mgmt"
"${OFCTL[@]}" add-flow "unix:$RUN/br0.mgmt" "priority=100,icmp,actions=NORMAL"
"${OFCTL[@]}" dump-flows "unix:$RUN/br0.mgmt"
echo "== done"
