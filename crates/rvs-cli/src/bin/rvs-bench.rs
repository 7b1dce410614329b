//! rvs-bench: benchmarks that print one JSON object per measurement, one per
//! line. Benchmarks, not tests: nothing here asserts a speed.
//!
//! `rvs-bench datapath` measures the userspace datapath with dummy ports in
//! one thread: flow extraction, forwarding on exact-match-cache hits and on
//! megaflow hits, upcall-driven flow installation, and memory per megaflow.

use anyhow::Result;
use clap::{Parser, Subcommand};
use rvs_cli::bench::{datapath, netns, ofproto};

#[derive(Parser)]
#[command(name = "rvs-bench", version, about = "Benchmarks of rvs; one JSON object per line")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The OpenFlow layer (xlate_install, rule_insert, cls_lookup,
    /// revalidate).
    Ofproto {
        /// Run only the measurements whose name contains this.
        #[arg(long)]
        only: Option<String>,
        /// Rules for rule_insert and cls_lookup.
        #[arg(long, default_value_t = 100_000)]
        rules: usize,
        /// Megaflows for revalidate (and misses for xlate_install, at most 65,536).
        #[arg(long, default_value_t = 100_000)]
        flows: usize,
    },
    /// The userspace datapath with dummy ports (extract, emc_hit,
    /// megaflow_hit, upcall_install, flow_memory).
    Datapath {
        /// Seconds each throughput measurement runs.
        #[arg(long, default_value_t = 1.0)]
        secs: f64,
        /// Run only the measurements whose name contains this.
        #[arg(long)]
        only: Option<String>,
        /// Flows installed for the flow_memory measurement.
        #[arg(long, default_value_t = 1_000_000)]
        memory_flows: usize,
    },
    /// Two network namespaces joined by a veth pair, the Linux bridge, rvs
    /// and OVS in turn: TCP (offloads on and off), 64-byte UDP and ping under
    /// load, with a table of ratios (root; needs iperf3 and ethtool).
    Netns {
        /// Seconds per iperf3 run.
        #[arg(long, default_value_t = 5)]
        secs: u32,
        /// Run only these switches: comma-separated parts of names (`rvs`
        /// is every rvs row) or whole names after `=` (`=rvs,=ovs-tso`).
        #[arg(long)]
        only: Option<String>,
        /// rvs's busy-poll window before its poll thread sleeps (µs).
        #[arg(long, default_value_t = 200)]
        busy_poll_us: u64,
        /// rvs's GRO hold: how long output that GRO may still grow waits
        /// for more while input flows (µs; 0 sends at the end of each poll).
        #[arg(long, default_value_t = rvs_datapath::dpif_netdev::DEFAULT_GRO_HOLD_US)]
        gro_hold_us: u64,
        /// rvs's poll threads.
        #[arg(long, default_value_t = 1)]
        pmd_threads: usize,
        /// Run only these measurements (comma-separated: tcp, udp64,
        /// tcp_off).
        #[arg(long)]
        tests: Option<String>,
        /// TCP congestion control in the test namespaces (e.g. cubic);
        /// default: the system's.
        #[arg(long)]
        cc: Option<String>,
        /// Run the whole selection this many times, the switches taking
        /// turns in each round, and print the means and each round's
        /// ratios to the bridge.
        #[arg(long, default_value_t = 1)]
        rounds: u32,
    },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Ofproto { only, rules, flows } => {
            ofproto::run(&ofproto::Options { only, rules, flows }, &mut |v| println!("{v}"))
        }
        Cmd::Datapath { secs, only, memory_flows } => {
            let opts = datapath::Options { secs, only, memory_flows };
            datapath::run(&opts, &mut |v| println!("{v}"))
        }
        Cmd::Netns { secs, only, busy_poll_us, gro_hold_us, pmd_threads, tests, cc, rounds } => {
            // Ctrl-C or a kill removes the namespaces and stops OVS.
            rvs_testbed::clean_up_on_signals();
            let opts = netns::Options {
                secs,
                only,
                busy_poll_us,
                gro_hold_us,
                pmd_threads,
                tests,
                cc,
                rounds,
            };
            let table = netns::run_all(&opts, &mut |v| println!("{v}"))?;
            eprint!("\n{table}");
            Ok(())
        }
    }
}
