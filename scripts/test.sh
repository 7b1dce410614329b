#!/usr/bin/env bash
# Runs every check and test of rvs: formatting, clippy, then the whole test
# suite. Tests that need root (network namespaces, real interfaces) say so and
# skip when run without it; CI runs as root and runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

echo "== cargo test"
cargo test --workspace -- --test-threads=2

echo "== all tests passed"
