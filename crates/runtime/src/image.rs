//! The image map: which local command an image name runs.
//!
//! # File format
//!
//! JSON, unknown fields rejected:
//!
//! ```json
//! {
//!   "images": [
//!     { "match": "public.ecr.aws/aws-containers/retail-store-sample-ui",
//!       "entryPoint": ["java", "-jar"], "command": ["/opt/retail/ui.jar"],
//!       "env": { "JAVA_OPTS": "-Xmx256m" }, "workingDirectory": "/opt/retail" },
//!     { "match": "*/nginx", "command": ["nginx", "-g", "daemon off;", "-e", "stderr"] }
//!   ]
//! }
//! ```
//!
//! An entry stands for an image: `entryPoint` is the image's `ENTRYPOINT`, `command`
//! its `CMD`, `env` its `ENV`, `workingDirectory` its `WORKDIR` (all optional).
//! `"writesRootFilesystem": true` says the program writes to the (host's) file system,
//! so a container with `readonlyRootFilesystem` cannot run it and is refused. The
//! container's argv then follows Docker's rules (see [`combine_argv`]):
//!
//! | container definition        | argv                                            |
//! |-----------------------------|-------------------------------------------------|
//! | neither                     | image entryPoint + image command                |
//! | `command` only              | image entryPoint + container command            |
//! | `entryPoint` (± `command`)  | container entryPoint + container command (the image command is dropped) |
//!
//! An empty argv is an error. Programs without a `/` are looked up in `PATH`
//! (the container's, default `/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`).
//!
//! # Matching
//!
//! An image reference is `repository[:tag][@digest]`. Entries are tried in file order;
//! the first that matches wins:
//!
//! * a pattern with a tag or digest (`repo:tag`, `repo@sha256:…`) must equal the whole
//!   reference;
//! * any other pattern is matched against the repository alone, so every tag matches:
//!   `public.ecr.aws/docker/library/nginx` matches `…/nginx:latest` and `…/nginx:1.27`;
//! * `*` in a pattern matches any run of characters (`/` included), so
//!   `public.ecr.aws/aws-containers/*` matches every image of that registry path, and
//!   a pattern starting with `*/` also matches a repository without that prefix:
//!   `*/nginx` matches `nginx`, `library/nginx` and `public.ecr.aws/docker/library/nginx`.
//!
//! The built-in map ([`ImageMap::builtin`], the crate's `images.json`) maps `*/nginx` to
//! Debian's `nginx` in the foreground, logging errors to stderr (Debian's config still
//! writes the access log to `/var/log/nginx/access.log` and the pid file to
//! `/run/nginx.pid`: it writes its root file system), and `*/busybox` and `*/alpine` to `/bin/sh`. An image no entry
//! matches is an error naming the image and the map.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The built-in map's text.
pub const BUILTIN_IMAGES_JSON: &str = include_str!("../images.json");

/// One image of the map.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageEntry {
    /// The pattern (see [the module docs](self)).
    #[serde(rename = "match")]
    pub pattern: String,
    /// The image's ENTRYPOINT.
    #[serde(default)]
    pub entry_point: Vec<String>,
    /// The image's CMD.
    #[serde(default)]
    pub command: Vec<String>,
    /// The image's ENV; the container's `environment` and `secrets` override it.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The image's WORKDIR; the container's `workingDirectory` overrides it.
    pub working_directory: Option<String>,
    /// The image writes to its root file system (outside `/dev/shm` and its host
    /// directories), so it cannot run with `readonlyRootFilesystem`: a container
    /// definition asking for that is refused. Default false.
    #[serde(default)]
    pub writes_root_filesystem: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImageMapFile {
    images: Vec<ImageEntry>,
}

/// Image references → local commands.
#[derive(Clone, Debug)]
pub struct ImageMap {
    entries: Vec<ImageEntry>,
    source: String,
}

impl ImageMap {
    /// The map shipped with the crate (`crates/runtime/images.json`).
    pub fn builtin() -> ImageMap {
        ImageMap::parse(
            BUILTIN_IMAGES_JSON,
            "built-in image map (berth-runtime images.json)",
        )
        .expect("the built-in image map parses")
    }

    /// Parses a map; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<ImageMap> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let file: ImageMapFile =
            serde_path_to_error::deserialize(de).map_err(|e| Error::ImageMapFile {
                source_name: source.to_string(),
                message: e.to_string(),
            })?;
        if let Some(i) = file.images.iter().position(|e| e.pattern.is_empty()) {
            return Err(Error::ImageMapFile {
                source_name: source.to_string(),
                message: format!("images[{i}].match: empty"),
            });
        }
        Ok(ImageMap {
            entries: file.images,
            source: source.to_string(),
        })
    }

    /// Reads a map file.
    pub fn load(path: &Path) -> Result<ImageMap> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("read image map {}", path.display()), e))?;
        ImageMap::parse(&text, &path.display().to_string())
    }

    /// This map's entries, then `other`'s (for a user's file in front of the built-in).
    pub fn then(mut self, other: ImageMap) -> ImageMap {
        self.entries.extend(other.entries);
        self.source = format!("{} + {}", self.source, other.source);
        self
    }

    /// Where the map came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The entries.
    pub fn entries(&self) -> &[ImageEntry] {
        &self.entries
    }

    /// The first entry matching `image`.
    pub fn resolve(&self, image: &str) -> Result<&ImageEntry> {
        self.entries
            .iter()
            .find(|e| pattern_matches(&e.pattern, image))
            .ok_or_else(|| {
                Error::Image(format!(
                    "image {image:?} is not in the image map ({}): add an entry that maps it to a local command",
                    self.source
                ))
            })
    }
}

/// Splits `repository[:tag][@digest]` → (repository, has tag or digest).
fn repository(reference: &str) -> (&str, bool) {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    let has_digest = no_digest.len() != reference.len();
    let last_slash = no_digest.rfind('/').map_or(0, |i| i + 1);
    match no_digest[last_slash..].rfind(':') {
        Some(i) => (&no_digest[..last_slash + i], true),
        None => (no_digest, has_digest),
    }
}

/// Whether `pattern` matches the image reference `image` (see the module docs).
pub fn pattern_matches(pattern: &str, image: &str) -> bool {
    let (_, pattern_pinned) = repository(pattern);
    let subject = if pattern_pinned {
        image
    } else {
        repository(image).0
    };
    glob(pattern, subject)
        || pattern
            .strip_prefix("*/")
            .is_some_and(|rest| glob(rest, subject))
}

/// `*` matches any run of characters.
fn glob(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((head, tail)) => {
            let Some(rest) = s.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// The argv of a container from the image's entry point and command and the
/// container definition's (Docker's rules, see the module docs).
pub fn combine_argv(
    image: &ImageEntry,
    entry_point: Option<&[String]>,
    command: Option<&[String]>,
) -> Vec<String> {
    match entry_point {
        Some(ep) => ep.iter().chain(command.unwrap_or(&[])).cloned().collect(),
        None => image
            .entry_point
            .iter()
            .chain(command.unwrap_or(&image.command))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_covers_seed_images() {
        let m = ImageMap::builtin();
        for img in [
            "public.ecr.aws/docker/library/nginx:latest",
            "nginx",
            "nginx:1.27@sha256:abc",
            "docker.io/library/nginx",
        ] {
            assert_eq!(m.resolve(img).unwrap().command[0], "nginx", "{img}");
        }
        assert_eq!(m.resolve("busybox:1.36").unwrap().command, vec!["/bin/sh"]);
        assert_eq!(
            m.resolve("public.ecr.aws/docker/library/alpine:3")
                .unwrap()
                .command,
            vec!["/bin/sh"]
        );
        let e = m
            .resolve("public.ecr.aws/aws-containers/retail-store-sample-ui:1.2.3")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("CannotPullContainerError: image \"public.ecr.aws/aws-containers/retail-store-sample-ui:1.2.3\""), "{e}");
        assert!(e.contains("built-in image map"), "{e}");
        assert!(!pattern_matches("*/nginx", "mynginx"));
        assert!(!pattern_matches("*/nginx", "nginx-unprivileged"));
    }

    #[test]
    fn matching_rules() {
        assert!(pattern_matches("example.com/app", "example.com/app:1"));
        assert!(pattern_matches("example.com/app", "example.com/app"));
        assert!(!pattern_matches("example.com/app", "example.com/app2:1"));
        assert!(pattern_matches("example.com/app:1", "example.com/app:1"));
        assert!(!pattern_matches("example.com/app:1", "example.com/app:2"));
        assert!(pattern_matches(
            "localhost:5000/app",
            "localhost:5000/app:3"
        ));
        assert!(pattern_matches("example.com/*", "example.com/a/b:1"));
        assert!(pattern_matches("*", "anything:at-all"));
    }

    #[test]
    fn docker_argv_rules() {
        let img = ImageEntry {
            entry_point: vec!["/ep".into()],
            command: vec!["cmd".into()],
            ..Default::default()
        };
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(combine_argv(&img, None, None), v(&["/ep", "cmd"]));
        assert_eq!(combine_argv(&img, None, Some(&v(&["x"]))), v(&["/ep", "x"]));
        assert_eq!(combine_argv(&img, Some(&v(&["/e2"])), None), v(&["/e2"]));
        assert_eq!(
            combine_argv(&img, Some(&v(&["/e2"])), Some(&v(&["y"]))),
            v(&["/e2", "y"])
        );
        assert_eq!(combine_argv(&img, Some(&[]), Some(&v(&["z"]))), v(&["z"]));
    }

    #[test]
    fn file_format_is_strict() {
        let e = ImageMap::parse(r#"{"images": [{"match": "a", "cmd": ["x"]}]}"#, "t").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        assert!(ImageMap::parse(r#"{"images": [{"match": ""}]}"#, "t").is_err());
        let m = ImageMap::parse(
            r#"{"images": [{"match": "a", "env": {"K": "V"}, "workingDirectory": "/w"}]}"#,
            "t",
        )
        .unwrap();
        assert_eq!(m.resolve("a:1").unwrap().env["K"], "V");
        assert!(!m.resolve("a:1").unwrap().writes_root_filesystem);
        let b = ImageMap::builtin();
        assert!(b.resolve("nginx").unwrap().writes_root_filesystem);
        assert!(!b.resolve("busybox").unwrap().writes_root_filesystem);
    }
}
