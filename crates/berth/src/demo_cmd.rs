//! `berth demo <app>`: one of berth's demo applications (`berth-demo`), the examples'
//! stand-ins for the seeds' container images; and the images that run them, for both
//! runtimes: [`demo_image_map`] (process runtime: the image names → this binary) and
//! [`ensure_demo_images`] (Docker: one image per name, built locally).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use berth_demo::App;

/// The demo images: (image map pattern, Docker image name, app). The patterns match any
/// tag (retail) or any registry prefix and tag (cats, dogs, web).
pub const DEMO_IMAGES: [(&str, &str, App); 7] = [
    (
        "public.ecr.aws/aws-containers/retail-store-sample-ui",
        "public.ecr.aws/aws-containers/retail-store-sample-ui:1.2.3",
        App::RetailUi,
    ),
    (
        "public.ecr.aws/aws-containers/retail-store-sample-catalog",
        "public.ecr.aws/aws-containers/retail-store-sample-catalog:1.2.3",
        App::RetailCatalog,
    ),
    (
        "public.ecr.aws/aws-containers/retail-store-sample-orders",
        "public.ecr.aws/aws-containers/retail-store-sample-orders:1.2.3",
        App::RetailOrders,
    ),
    (
        "public.ecr.aws/aws-containers/retail-store-sample-checkout",
        "public.ecr.aws/aws-containers/retail-store-sample-checkout:1.2.3",
        App::RetailCheckout,
    ),
    (
        "*/cats",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/cats:latest",
        App::Cats,
    ),
    (
        "*/dogs",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/dogs:latest",
        App::Dogs,
    ),
    (
        "*/web",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:latest",
        App::Web,
    ),
];

#[derive(clap::Args, Clone, Debug)]
pub struct DemoArgs {
    /// The application: retail-ui, retail-catalog, retail-orders, retail-checkout, cats,
    /// dogs or web.
    #[arg(required_unless_present_any = ["build_images", "print_image_map"])]
    app: Option<App>,
    /// Address to listen on (default: 0.0.0.0 on the seed's port, 8080 for the retail
    /// store and 80 for cats, dogs and web; `PORT` overrides the port).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Build the demo images for Docker (from this binary, only what is missing or
    /// stale) and print their names, instead of running an app.
    #[arg(long, conflicts_with_all = ["app", "print_image_map"])]
    build_images: bool,
    /// Print the image map (process runtime) that runs the demo images with this
    /// binary, instead of running an app.
    #[arg(long, conflicts_with_all = ["app", "build_images"])]
    print_image_map: bool,
}

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the berth executable")?;
    if args.print_image_map {
        let map = demo_image_map(&exe);
        let images: Vec<serde_json::Value> = map
            .entries()
            .iter()
            .map(|e| serde_json::json!({"match": e.pattern, "entryPoint": e.entry_point}))
            .collect();
        let text = serde_json::json!({ "images": images });
        println!("{}", serde_json::to_string_pretty(&text).expect("JSON"));
        return Ok(());
    }
    if args.build_images {
        let docker = berth_docker::DockerRuntime::connect()
            .await
            .context("connecting to Docker")?;
        let built = ensure_demo_images(&docker).await?;
        for (_, name, _) in DEMO_IMAGES {
            let state = if built.iter().any(|b| b == name) {
                "built"
            } else {
                "up to date"
            };
            println!("{name} ({state})");
        }
        return Ok(());
    }
    let app = args.app.expect("clap requires it");
    let listen = match args.listen {
        Some(l) => l,
        None => app.listen_from_env()?,
    };
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let shutdown = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    };
    berth_demo::serve(app, listen, shutdown)
        .await
        .with_context(|| format!("running the demo application {app}"))
}

/// The process runtime's entries for the demo images: each runs `berth_exe demo <app>`
/// (put it in front of the built-in map with [`berth_runtime::ImageMap::then`]).
pub fn demo_image_map(berth_exe: &Path) -> berth_runtime::ImageMap {
    let exe = berth_exe.display().to_string();
    let images: Vec<serde_json::Value> = DEMO_IMAGES
        .iter()
        .map(|(pattern, _, app)| {
            serde_json::json!({"match": pattern, "entryPoint": [exe, "demo", app.name()]})
        })
        .collect();
    let text = serde_json::json!({ "images": images }).to_string();
    berth_runtime::ImageMap::parse(&text, "berth demo images").expect("the demo image map parses")
}

/// `curl` on the host's `PATH` (the seeds' health checks run it inside the container).
fn host_curl() -> anyhow::Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| berth_runtime::DEFAULT_PATH.into());
    std::env::split_paths(&path)
        .map(|d| d.join("curl"))
        .find(|p| p.is_file())
        .context(
            "curl is not installed on this host: the demo images need it for the seeds' \
             health checks (e.g. apt-get install curl)",
        )
}

/// Builds, for Docker, one image per demo image name (unless it is there and was built
/// from the same berth binary, this one): the berth image
/// ([`berth_runtime::PROXY_IMAGE`], built if missing or stale) plus `/bin/sh` and
/// `curl` with their libraries, entrypoint `["/usr/local/bin/berth", "demo", "<app>"]`.
/// Returns the names of the images built now (none when all were up to date).
pub async fn ensure_demo_images(
    docker: &berth_docker::DockerRuntime,
) -> anyhow::Result<Vec<String>> {
    let exe = std::env::current_exe().context("finding the berth executable")?;
    Ok(ensure_demo_images_from(docker, &exe)
        .await?
        .into_iter()
        .filter_map(|(name, built)| built.then_some(name))
        .collect())
}

/// [`ensure_demo_images`] from the berth binary `berth_exe`: every demo image name, in
/// [`DEMO_IMAGES`] order, and whether it was built now.
pub async fn ensure_demo_images_from(
    docker: &berth_docker::DockerRuntime,
    berth_exe: &Path,
) -> anyhow::Result<Vec<(String, bool)>> {
    let d = docker.docker();
    let (base, built) = berth_docker::ensure_berth_image(d, Some(berth_exe), None)
        .await
        .context("building the berth image")?;
    if built {
        tracing::info!(image = berth_runtime::PROXY_IMAGE, id = %base, "built the berth image");
    }
    let binaries = vec![PathBuf::from("/bin/sh"), host_curl()?];
    let mut names = Vec::new();
    for (_, name, app) in DEMO_IMAGES {
        let image = berth_docker::image::LayeredImage {
            tag: name.to_string(),
            base: berth_runtime::PROXY_IMAGE.to_string(),
            binaries: binaries.clone(),
            entrypoint: vec![
                berth_docker::BERTH_IN_IMAGE.to_string(),
                "demo".to_string(),
                app.name().to_string(),
            ],
        };
        let (id, built) = berth_docker::image::ensure_layered_image(d, &image)
            .await
            .with_context(|| format!("building the demo image {name}"))?;
        if built {
            tracing::debug!(image = name, %id, "built a demo image");
        }
        names.push((name.to_string(), built));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_map_runs_this_binary() {
        let map = demo_image_map(Path::new("/opt/berth"));
        for (image, app) in [
            (
                "public.ecr.aws/aws-containers/retail-store-sample-ui:1.2.3",
                "retail-ui",
            ),
            (
                "public.ecr.aws/aws-containers/retail-store-sample-orders:2.0",
                "retail-orders",
            ),
            (
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/cats:latest",
                "cats",
            ),
            (
                "999999999999.dkr.ecr.eu-west-1.amazonaws.com/dogs:v2",
                "dogs",
            ),
            ("web", "web"),
        ] {
            let e = map.resolve(image).unwrap();
            assert_eq!(e.entry_point, ["/opt/berth", "demo", app], "{image}");
            assert!(e.command.is_empty());
        }
        assert!(map
            .resolve("public.ecr.aws/docker/library/nginx:latest")
            .is_err());
        for (pattern, name, _) in DEMO_IMAGES {
            assert!(berth_runtime::image::pattern_matches(pattern, name));
        }
    }
}
