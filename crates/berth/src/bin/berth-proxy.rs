//! `berth-proxy`: the berth proxy alone, the one the agent runs beside every task. It
//! takes exactly the arguments of `berth proxy` (both use `berth-proxy-bin`) and behaves
//! the same; linking the proxy's crates only, it is a fraction of `berth`'s size, so a
//! proxy beside every task maps (and keeps resident) less.

use anyhow::Context as _;
use clap::Parser;

#[derive(Parser)]
#[command(name = "berth-proxy", version)]
struct Cli {
    #[command(flatten)]
    args: berth_proxy_bin::ProxyArgs,
}

fn main() -> anyhow::Result<()> {
    berth_proxy_bin::init_logging();
    let cli = Cli::parse();
    // The proxy's workers run their own runtimes (see berth_proxy); this one is only its
    // control side: admin, snapshots, signals.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(berth_proxy_bin::run(cli.args))
}
