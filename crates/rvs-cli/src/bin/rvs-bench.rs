//! rvs-bench: benchmarks that print one JSON object per measurement.
fn main() {}
