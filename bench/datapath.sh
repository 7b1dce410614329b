#!/usr/bin/env bash
# The datapath and OpenFlow-layer micro-benchmarks (no root needed): flow
# extraction, exact-match-cache and megaflow hits, upcall installs, memory
# per megaflow, then rule insertion and lookup, translation and
# revalidation. JSON lines on stdout. For options (--only, --secs, --rules,
# ...) run `target/release/rvs-bench datapath --help` or `ofproto --help`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p rvs-cli --bin rvs-bench
./target/release/rvs-bench datapath
./target/release/rvs-bench ofproto
