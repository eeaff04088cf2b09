//! `berth secrets import FILE`: a secrets file into berth's SSM Parameter Store and
//! Secrets Manager, through their APIs (the format: `berth_up::secrets`).

use std::path::PathBuf;

use anyhow::Context as _;

/// `berth secrets`.
#[derive(clap::Subcommand, Debug)]
pub enum SecretsCommand {
    /// Put a file's parameters (SSM) and secrets (Secrets Manager) into a running berth.
    Import {
        /// The secrets file (`{"parameters": {...}, "secrets": {...}}`).
        file: PathBuf,
        #[command(flatten)]
        api: crate::status_cmd::ApiArgs,
    },
}

/// Runs a `berth secrets` command.
pub async fn run(command: SecretsCommand) -> anyhow::Result<()> {
    match command {
        SecretsCommand::Import { file, api } => {
            let client = api.client()?;
            let done = berth_up::secrets::SecretsFile::load(&file)?
                .import(&client)
                .await
                .with_context(|| format!("importing {} into {}", file.display(), api.endpoint))?;
            for line in done {
                println!("{line}");
            }
            Ok(())
        }
    }
}
