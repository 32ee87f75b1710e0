//! `b24import validate`: offline check of mappings and sources (placeholder).
use std::path::PathBuf;

/// Options of `b24import validate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Mapping files (TOML), one per step.
    #[arg(required = true)]
    pub mappings: Vec<PathBuf>,
}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    Ok(super::exit::OK)
}
