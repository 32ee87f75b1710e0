//! `b24import sandbox`: start the embedded portal emulator (placeholder).

/// Options of `b24import sandbox`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

pub fn run(_args: Args) -> anyhow::Result<u8> {
    anyhow::bail!("the sandbox is not built yet")
}
