//! `tuban serve`: the review web app (see `tuban::serve`).

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

/// Raw flags of `tuban serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The ledger: a GeoPackage file or a postgres:// URL. Reviewers are added with
    /// `tuban ledger user`.
    #[arg(long)]
    pub ledger: String,
    /// The `tuban run` (or `tuban detect`) output folder whose imagery and survey layers the
    /// map shows (default: the latest run dispatched into the ledger).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the startup line says which).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: std::net::SocketAddr,
    /// Folder for uploaded photos (default: LEDGER.photos beside a ledger file; required
    /// with a postgres:// ledger).
    #[arg(long)]
    pub photos: Option<PathBuf>,
    /// Tile cache size in MiB.
    #[arg(long, default_value_t = 256)]
    pub tile_cache_mib: usize,
}

pub fn run(a: &ServeArgs) -> Result<()> {
    tuban::serve::serve(&tuban::serve::ServeOptions {
        ledger: a.ledger.clone(),
        run: a.run.clone(),
        addr: a.addr,
        photos: a.photos.clone(),
        cache_bytes: a.tile_cache_mib << 20,
    })?;
    Ok(())
}
