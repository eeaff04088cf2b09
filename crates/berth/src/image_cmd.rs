//! `berth image`: build Docker images locally (there is no registry to pull from).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum ImageCommand {
    /// Build the berth image (this berth binary and the libraries it loads, entrypoint
    /// berth): the task proxies and the holders of Docker task networks run it.
    BuildProxy {
        /// The image's tag.
        #[arg(long, default_value = berth_runtime::PROXY_IMAGE)]
        tag: String,
        /// The berth binary to put in the image (default: this one).
        #[arg(long)]
        binary: Option<PathBuf>,
    },
    /// Build an image from host files as a JSON spec describes it (see
    /// crates/docker/images/nginx.json).
    Build {
        /// The spec file.
        spec: PathBuf,
    },
}

pub async fn run(command: ImageCommand) -> anyhow::Result<()> {
    let rt = berth_docker::DockerRuntime::connect()
        .await
        .context("connecting to Docker")?;
    let (id, tag) = match command {
        ImageCommand::BuildProxy { tag, binary } => {
            let id = berth_docker::build_berth_image(rt.docker(), binary.as_deref(), Some(&tag))
                .await
                .context("building the berth image")?;
            (id, tag)
        }
        ImageCommand::Build { spec } => {
            let spec = berth_docker::ImageSpec::load(&spec)?;
            let id = berth_docker::build_image(rt.docker(), &spec)
                .await
                .with_context(|| format!("building {}", spec.tag))?;
            (id, spec.tag)
        }
    };
    println!("{id} {tag}");
    Ok(())
}
