#!/usr/bin/env bash
# Side-by-side benchmark: two network namespaces joined in turn by a bare
# veth pair, the Linux bridge, rvs (several receive-ring variants) and, when
# ovs-vswitchd is installed, OVS's userspace datapath (plain and with
# userspace TSO). Prints TCP (offloads on and off), 64-byte UDP and ping
# figures with ratios to OVS and to the bridge; JSON lines on stdout, the
# table on stderr.
#
# Needs root, iperf3, ethtool and ping (apt-get install iperf3 ethtool
# iputils-ping; openvswitch-switch for the OVS rows). Arguments go to
# `rvs-bench netns` (see --help), e.g.:
#   bench/netns.sh --cc cubic
#   bench/netns.sh --secs 4 --only =rvs,=linux-bridge --tests tcp
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p rvs-cli --bin rvs-bench
exec ./target/release/rvs-bench netns "$@"
