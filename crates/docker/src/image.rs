//! Images without a registry: a root file system made of host files (binaries with the
//! shared libraries they load), packed as a tar and given to Docker's import
//! (`POST /images/create?fromSrc=-`, what `docker import` does), with the image config
//! (entrypoint, cmd, env, working directory, user) as import `changes`.
//!
//! * [`build_berth_image`]: the berth binary at `/usr/local/bin/berth`, entrypoint
//!   `["/usr/local/bin/berth"]`; the proxy and the holder of a task's network run it.
//! * [`ImageSpec`]: a small JSON file describing an image from host files, built by
//!   [`build_image`] (`berth image build SPEC`). Shipped: `crates/docker/images/nginx.json`
//!   (Debian's nginx as `public.ecr.aws/docker/library/nginx:latest`, so the seeds'
//!   task definitions run unchanged) and `busybox.json` (dash and coreutils as
//!   `public.ecr.aws/docker/library/busybox:latest`).
//! * [`LayeredImage`]: an image on top of another one (e.g. the berth image) with host
//!   executables added as one small layer and a new entrypoint, made with Docker's
//!   create + archive upload + commit, so the base's layers are shared
//!   ([`ensure_layered_image`]; berth's demo images are made so).
//!
//! Every image gets `/etc/passwd` and `/etc/group` (root, plus the spec's `users` and
//! `groups` copied from the host's files), `/etc/nsswitch.conf` (`files`), `/tmp`
//! (mode 1777), `/dev`, `/proc`, `/sys`, `/run` and `/etc/hosts`, `/etc/hostname`,
//! `/etc/resolv.conf` (empty files Docker mounts over).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use bollard::models::{ContainerConfig, ContainerCreateBody};
use bollard::query_parameters::{
    CommitContainerOptions, CreateContainerOptions, CreateImageOptions, RemoveContainerOptions,
    RemoveImageOptions, UploadToContainerOptions,
};
use bollard::Docker;
use futures_util::StreamExt;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Where [`build_berth_image`] puts the berth binary.
pub const BERTH_IN_IMAGE: &str = "/usr/local/bin/berth";

/// Where [`build_berth_image`] puts the `berth-proxy` binary found beside the berth
/// binary (see [`berth_runtime::proxy_beside`]).
pub const PROXY_IN_IMAGE: &str = "/usr/local/bin/berth-proxy";

/// How a task's proxy starts in the berth image built from `berth`: `berth-proxy` when
/// the image has it, else `berth proxy`.
pub fn proxy_command_in_image(berth: &Path) -> Vec<String> {
    match berth_runtime::proxy_beside(berth) {
        Some(_) => vec![PROXY_IN_IMAGE.to_string()],
        None => vec![BERTH_IN_IMAGE.to_string(), "proxy".to_string()],
    }
}

/// The label of an image built by berth that names what it was built from (the
/// berth binary's path, size and modification time, or the spec's tag and text
/// hash), so [`ensure_berth_image`] can tell a stale image.
pub const LABEL_SOURCE: &str = "berth.image.source";

/// A JSON description of an image made from host files. Unknown fields are errors.
///
/// ```json
/// {
///   "tag": "public.ecr.aws/docker/library/nginx:latest",
///   "binaries": ["/usr/sbin/nginx"],
///   "files": ["/etc/nginx", "/usr/share/nginx", "/var/www/html"],
///   "dirs": ["/var/lib/nginx", "/var/log/nginx"],
///   "symlinks": {"/var/log/nginx/access.log": "/dev/stdout"},
///   "users": ["www-data"],
///   "groups": [],
///   "entrypoint": null,
///   "cmd": ["nginx", "-g", "daemon off;"],
///   "env": {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
///   "workingDir": "/",
///   "user": null
/// }
/// ```
///
/// (Docker's import takes no `STOPSIGNAL`: images built here stop with SIGTERM.)
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImageSpec {
    /// `repository:tag` (a missing tag means `latest`).
    pub tag: String,
    /// Host executables or shared objects (or directories of them), copied to the same
    /// path with every shared library `ldd` says they load, and the dynamic loader.
    #[serde(default)]
    pub binaries: Vec<PathBuf>,
    /// Host files or directory trees copied to the same path as they are (modes kept,
    /// symbolic links kept as links).
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Like `files`, for paths that some hosts have and others do not (e.g. the
    /// targets of a package's optional symbolic links): copied when they exist.
    #[serde(default)]
    pub files_if_present: Vec<PathBuf>,
    /// Empty directories (mode 0755) to make.
    #[serde(default)]
    pub dirs: Vec<PathBuf>,
    /// Symbolic links to make: path → target.
    #[serde(default)]
    pub symlinks: BTreeMap<PathBuf, PathBuf>,
    /// Users whose host `/etc/passwd` lines (and primary groups) go into the image's,
    /// after root's.
    #[serde(default)]
    pub users: Vec<String>,
    /// More host groups for the image's `/etc/group`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The image's `Entrypoint`.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// The image's `Cmd`.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// The image's `Env`.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The image's `WorkingDir`.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// The image's `User`.
    #[serde(default)]
    pub user: Option<String>,
}

impl ImageSpec {
    /// Parses a spec; errors name the field (`binaries[2]: invalid type ...`).
    pub fn from_json(text: &str, source: &str) -> Result<ImageSpec> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let spec: ImageSpec = serde_path_to_error::deserialize(de).map_err(|e| Error::Spec {
            source_name: source.to_string(),
            message: e.to_string(),
        })?;
        spec.validate().map_err(|message| Error::Spec {
            source_name: source.to_string(),
            message,
        })?;
        Ok(spec)
    }

    /// Reads and parses a spec file.
    pub fn load(path: &Path) -> Result<ImageSpec> {
        let text = fs::read_to_string(path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        ImageSpec::from_json(&text, &path.display().to_string())
    }

    fn validate(&self) -> std::result::Result<(), String> {
        if self.tag.is_empty() || self.tag.chars().any(|c| c.is_whitespace()) {
            return Err(format!("tag: {:?} is not an image name", self.tag));
        }
        let abs = |field: &str, list: &mut dyn Iterator<Item = &PathBuf>| {
            for (i, p) in list.enumerate() {
                if !p.is_absolute() || p.components().any(|c| c == Component::ParentDir) {
                    return Err(format!(
                        "{field}[{i}]: {} must be an absolute path without ..",
                        p.display()
                    ));
                }
            }
            Ok(())
        };
        abs("binaries", &mut self.binaries.iter())?;
        abs("files", &mut self.files.iter())?;
        abs("filesIfPresent", &mut self.files_if_present.iter())?;
        abs("dirs", &mut self.dirs.iter())?;
        abs("symlinks", &mut self.symlinks.keys())?;
        for k in self.env.keys() {
            if k.is_empty() || k.contains('=') {
                return Err(format!("env: bad variable name {k:?}"));
            }
        }
        if self.entrypoint.as_ref().is_some_and(Vec::is_empty) {
            return Err("entrypoint: empty (leave it out for none)".into());
        }
        Ok(())
    }

    /// The spec of the berth image (the binary itself goes to [`BERTH_IN_IMAGE`]):
    /// entrypoint that.
    fn berth(tag: &str) -> ImageSpec {
        ImageSpec {
            tag: tag.to_string(),
            entrypoint: Some(vec![BERTH_IN_IMAGE.to_string()]),
            env: BTreeMap::from([("PATH".to_string(), berth_runtime::DEFAULT_PATH.to_string())]),
            working_dir: Some("/".into()),
            ..ImageSpec::default()
        }
    }

    /// Docker's import `changes` (Dockerfile instructions) for the image config.
    fn changes(&self, source_label: &str) -> Vec<String> {
        let json = |v: &Vec<String>| serde_json::to_string(v).expect("strings serialize");
        let mut out = Vec::new();
        if let Some(e) = &self.entrypoint {
            out.push(format!("ENTRYPOINT {}", json(e)));
        }
        if let Some(c) = &self.cmd {
            out.push(format!("CMD {}", json(c)));
        }
        for (k, v) in &self.env {
            out.push(format!(
                "ENV {k}={}",
                serde_json::to_string(v).expect("string")
            ));
        }
        if let Some(w) = &self.working_dir {
            out.push(format!("WORKDIR {w}"));
        }
        if let Some(u) = &self.user {
            out.push(format!("USER {u}"));
        }
        out.push(format!(
            "LABEL {LABEL_SOURCE}={}",
            serde_json::to_string(source_label).expect("string")
        ));
        out
    }
}

/// A root file system being put together as a tar archive in memory.
pub struct RootFs {
    tar: tar::Builder<Vec<u8>>,
    /// Every path added (absolute), so parents are made once and duplicates skipped.
    added: BTreeSet<PathBuf>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs::new()
    }
}

impl RootFs {
    /// An empty file system.
    pub fn new() -> RootFs {
        let mut tar = tar::Builder::new(Vec::new());
        tar.follow_symlinks(false);
        RootFs {
            tar,
            added: BTreeSet::new(),
        }
    }

    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h
    }

    fn rel(path: &Path) -> PathBuf {
        path.strip_prefix("/").unwrap_or(path).to_path_buf()
    }

    fn parents(&mut self, path: &Path) -> Result<()> {
        if let Some(parent) = path.parent() {
            if parent != Path::new("/") && !parent.as_os_str().is_empty() {
                self.dir(parent, 0o755)?;
            }
        }
        Ok(())
    }

    fn append(&mut self, path: &Path, mut h: tar::Header, data: &[u8]) -> Result<()> {
        self.tar
            .append_data(&mut h, Self::rel(path), data)
            .map_err(|e| Error::io(format!("pack {}", path.display()), e))
    }

    /// A directory (and its parents), unless it is there.
    pub fn dir(&mut self, path: &Path, mode: u32) -> Result<()> {
        if self.added.contains(path) {
            return Ok(());
        }
        self.parents(path)?;
        self.added.insert(path.to_path_buf());
        self.append(path, Self::header(tar::EntryType::Directory, mode, 0), &[])
    }

    /// A regular file with `data`, replacing nothing already added.
    pub fn file(&mut self, path: &Path, data: &[u8], mode: u32) -> Result<()> {
        if self.added.contains(path) {
            return Ok(());
        }
        self.parents(path)?;
        self.added.insert(path.to_path_buf());
        self.append(
            path,
            Self::header(tar::EntryType::Regular, mode, data.len() as u64),
            data,
        )
    }

    /// A symbolic link `path` → `target`.
    pub fn symlink(&mut self, path: &Path, target: &Path) -> Result<()> {
        if self.added.contains(path) {
            return Ok(());
        }
        self.parents(path)?;
        self.added.insert(path.to_path_buf());
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.tar
            .append_link(&mut h, Self::rel(path), target)
            .map_err(|e| Error::io(format!("pack link {}", path.display()), e))
    }

    /// The host file `host` (its content: symbolic links followed) at `path`.
    pub fn host_file(&mut self, host: &Path, path: &Path) -> Result<()> {
        let data = fs::read(host).map_err(|e| Error::io(format!("read {}", host.display()), e))?;
        let mode = fs::metadata(host)
            .map_err(|e| Error::io(format!("stat {}", host.display()), e))?
            .permissions()
            .mode()
            & 0o7777;
        self.file(path, &data, mode)
    }

    /// The host file or directory tree at `path`, to the same path: modes kept,
    /// symbolic links kept as links (not followed), other kinds of files skipped.
    pub fn host_tree(&mut self, path: &Path) -> Result<()> {
        let meta = fs::symlink_metadata(path)
            .map_err(|e| Error::io(format!("stat {}", path.display()), e))?;
        let ft = meta.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(path)
                .map_err(|e| Error::io(format!("read link {}", path.display()), e))?;
            self.symlink(path, &target)
        } else if ft.is_dir() {
            self.dir(path, meta.mode() & 0o7777)?;
            let mut entries: Vec<PathBuf> = fs::read_dir(path)
                .map_err(|e| Error::io(format!("list {}", path.display()), e))?
                .map(|e| e.map(|e| e.path()))
                .collect::<std::io::Result<_>>()
                .map_err(|e| Error::io(format!("list {}", path.display()), e))?;
            entries.sort();
            for e in entries {
                self.host_tree(&e)?;
            }
            Ok(())
        } else if ft.is_file() {
            self.host_file(path, path)
        } else {
            Ok(())
        }
    }

    /// The host executable `host` at `path` in the image, with every library it loads
    /// (at the paths `ldd` resolves them to) and the dynamic loader.
    pub fn binary_at(&mut self, host: &Path, path: &Path) -> Result<()> {
        self.host_file(host, path)?;
        for lib in libraries(host)? {
            self.host_file(&lib, &lib)?;
        }
        Ok(())
    }

    /// The host executable or shared object at `path`, to the same path, with every
    /// library it loads (at the paths `ldd` resolves them to) and the dynamic loader.
    /// A directory: every regular file in it, recursively.
    pub fn binary(&mut self, path: &Path) -> Result<()> {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(path)
                .map_err(|e| Error::io(format!("list {}", path.display()), e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            entries.sort();
            for e in entries {
                self.binary(&e)?;
            }
            return Ok(());
        }
        self.binary_at(path, path)
    }

    /// The finished archive.
    pub fn into_tar(self) -> Result<Vec<u8>> {
        self.tar
            .into_inner()
            .map_err(|e| Error::io("finish the image archive", e))
    }
}

/// The shared libraries `path` loads, and the dynamic loader, as `ldd` resolves them.
/// None for a static executable or a file that is not an ELF object.
pub fn libraries(path: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(path)
        .env("LC_ALL", "C")
        .output()
        .map_err(|e| Error::io(format!("run ldd {}", path.display()), e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // "not a dynamic executable" (static, or not ELF at all)
        if text.contains("not a dynamic executable") || err.contains("not a dynamic executable") {
            return Ok(Vec::new());
        }
        return Err(Error::Libraries {
            path: path.to_path_buf(),
            message: format!("ldd failed: {}", err.trim()),
        });
    }
    parse_ldd(&text).map_err(|message| Error::Libraries {
        path: path.to_path_buf(),
        message,
    })
}

/// The paths in `ldd` output.
fn parse_ldd(text: &str) -> std::result::Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("statically linked") {
            continue;
        }
        let target = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    return Err(format!("{} not found", name.trim()));
                }
                rest.split_whitespace().next().unwrap_or("")
            }
            None => line.split_whitespace().next().unwrap_or(""),
        };
        // linux-vdso.so.1 has no file; everything else is an absolute path
        if target.starts_with('/') {
            libs.push(PathBuf::from(target));
        }
    }
    Ok(libs)
}

/// The lines of the host's `file` (`/etc/passwd`, `/etc/group`) for `names`, after
/// root's.
fn account_lines(file: &Path, names: &[String], what: &str) -> Result<String> {
    let text =
        fs::read_to_string(file).map_err(|e| Error::io(format!("read {}", file.display()), e))?;
    let mut out = String::new();
    let root = text.lines().find(|l| l.split(':').next() == Some("root"));
    out.push_str(root.unwrap_or(if what == "users" {
        "root:x:0:0:root:/root:/bin/sh"
    } else {
        "root:x:0:"
    }));
    out.push('\n');
    for name in names.iter().filter(|n| n.as_str() != "root") {
        let line = text
            .lines()
            .find(|l| l.split(':').next() == Some(name.as_str()))
            .ok_or_else(|| Error::Spec {
                source_name: file.display().to_string(),
                message: format!("{what}: {name:?} is not in {}", file.display()),
            })?;
        out.push_str(line);
        out.push('\n');
    }
    Ok(out)
}

/// The root file system of `spec` as a tar archive.
pub fn root_fs(spec: &ImageSpec) -> Result<Vec<u8>> {
    root_fs_with(spec, &[])
}

/// [`root_fs`], plus host executables at other paths in the image: (host, image path).
fn root_fs_with(spec: &ImageSpec, moved: &[(PathBuf, PathBuf)]) -> Result<Vec<u8>> {
    let mut fs_ = RootFs::new();
    for d in ["/dev", "/proc", "/sys", "/run", "/etc", "/root"] {
        fs_.dir(Path::new(d), 0o755)?;
    }
    fs_.dir(Path::new("/tmp"), 0o1777)?;
    for (host, path) in moved {
        fs_.binary_at(host, path)?;
    }
    for b in &spec.binaries {
        fs_.binary(b)?;
    }
    for f in &spec.files {
        fs_.host_tree(f)?;
    }
    for f in spec.files_if_present.iter().filter(|f| f.exists()) {
        fs_.host_tree(f)?;
    }
    for d in &spec.dirs {
        fs_.dir(d, 0o755)?;
    }
    for (link, target) in &spec.symlinks {
        fs_.symlink(link, target)?;
    }
    // Accounts: root, the spec's users, their primary groups and the spec's groups.
    let passwd = account_lines(Path::new("/etc/passwd"), &spec.users, "users")?;
    let mut groups = spec.groups.clone();
    let host_group = fs::read_to_string("/etc/group").unwrap_or_default();
    for line in passwd.lines().skip(1) {
        let gid = line.split(':').nth(3).unwrap_or("");
        if let Some(g) = host_group
            .lines()
            .find(|l| l.split(':').nth(2) == Some(gid))
            .and_then(|l| l.split(':').next())
        {
            if !groups.iter().any(|x| x == g) {
                groups.push(g.to_string());
            }
        }
    }
    let group = account_lines(Path::new("/etc/group"), &groups, "groups")?;
    fs_.file(Path::new("/etc/passwd"), passwd.as_bytes(), 0o644)?;
    fs_.file(Path::new("/etc/group"), group.as_bytes(), 0o644)?;
    fs_.file(
        Path::new("/etc/nsswitch.conf"),
        b"passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
        0o644,
    )?;
    for f in ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"] {
        fs_.file(Path::new(f), b"", 0o644)?;
    }
    fs_.into_tar()
}

/// What a spec was built from: its tag and the hash of its JSON form.
fn spec_source(spec: &ImageSpec) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    format!("{spec:?}").hash(&mut h);
    format!("spec:{}:{:016x}", spec.tag, h.finish())
}

/// Builds the image `spec` describes and tags it; returns the image id.
pub async fn build_image(docker: &Docker, spec: &ImageSpec) -> Result<String> {
    let source = spec_source(spec);
    import(docker, spec, &[], &source).await
}

async fn import(
    docker: &Docker,
    spec: &ImageSpec,
    moved: &[(PathBuf, PathBuf)],
    source: &str,
) -> Result<String> {
    let tar = root_fs_with(spec, moved)?;
    let before = docker
        .inspect_image(&spec.tag)
        .await
        .ok()
        .and_then(|i| i.id);
    let (repo, tag) = split_tag(&spec.tag);
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.to_string()),
        tag: Some(tag.to_string()),
        changes: spec.changes(source),
        ..CreateImageOptions::default()
    };
    let mut stream = docker.create_image(
        Some(options),
        Some(bollard::body_full(bytes::Bytes::from(tar))),
        None,
    );
    while let Some(item) = stream.next().await {
        item.map_err(|e| Error::docker(format!("import image {}", spec.tag), e))?;
    }
    let inspect = docker
        .inspect_image(&spec.tag)
        .await
        .map_err(|e| Error::docker(format!("inspect image {}", spec.tag), e))?;
    let id = inspect.id.unwrap_or_default();
    remove_replaced(docker, before, &id).await;
    Ok(id)
}

/// The image the tag named `before` is now untagged: removes it, unless a container
/// (or a child image) still uses it (then Docker refuses, and it stays).
async fn remove_replaced(docker: &Docker, before: Option<String>, id: &str) {
    if let Some(old) = before.filter(|old| old != id) {
        if let Err(e) = docker
            .remove_image(&old, None::<RemoveImageOptions>, None)
            .await
        {
            tracing::debug!(image = %old, error = %e, "old image kept");
        }
    }
}

/// `repo[:tag]` → (repo, tag), the tag defaulting to `latest`; a `:` before the last
/// `/` is a registry port.
fn split_tag(name: &str) -> (&str, &str) {
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], &name[i + 1..]),
        _ => (name, "latest"),
    }
}

/// The layout of the berth image; a change makes [`ensure_berth_image`] rebuild.
const BERTH_IMAGE_LAYOUT: u32 = 2;

/// What a berth binary (and the `berth-proxy` beside it) is, for [`LABEL_SOURCE`]: path,
/// size, modification time.
fn binary_source(binary: &Path) -> Result<String> {
    let stamp = |b: &Path| -> Result<String> {
        let m = fs::metadata(b).map_err(|e| Error::io(format!("stat {}", b.display()), e))?;
        Ok(format!(
            "{}:{}:{}.{}",
            b.display(),
            m.size(),
            m.mtime(),
            m.mtime_nsec()
        ))
    };
    let mut source = format!("berth:{BERTH_IMAGE_LAYOUT}:{}", stamp(binary)?);
    if let Some(p) = berth_runtime::proxy_beside(binary) {
        source.push_str(&format!("+{}", stamp(&p)?));
    }
    Ok(source)
}

/// Builds the berth image from `binary` (default: the running executable), with the
/// `berth-proxy` beside it if there is one, and tags it `tag` (default
/// [`berth_runtime::PROXY_IMAGE`]); returns the image id.
pub async fn build_berth_image(
    docker: &Docker,
    binary: Option<&Path>,
    tag: Option<&str>,
) -> Result<String> {
    let binary = match binary {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe().map_err(|e| Error::io("find the running executable", e))?,
    };
    let spec = ImageSpec::berth(tag.unwrap_or(berth_runtime::PROXY_IMAGE));
    let mut moved = vec![(binary.clone(), PathBuf::from(BERTH_IN_IMAGE))];
    if let Some(p) = berth_runtime::proxy_beside(&binary) {
        moved.push((p, PathBuf::from(PROXY_IN_IMAGE)));
    }
    import(docker, &spec, &moved, &binary_source(&binary)?).await
}

/// Builds the berth image (as [`build_berth_image`]) unless an image with that tag was
/// built from the same binary (same path, size and modification time). Returns the
/// image id and whether it was built now.
pub async fn ensure_berth_image(
    docker: &Docker,
    binary: Option<&Path>,
    tag: Option<&str>,
) -> Result<(String, bool)> {
    let binary = match binary {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe().map_err(|e| Error::io("find the running executable", e))?,
    };
    let tag = tag.unwrap_or(berth_runtime::PROXY_IMAGE);
    let want = binary_source(&binary)?;
    if let Ok(img) = docker.inspect_image(tag).await {
        let have = img
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(LABEL_SOURCE).cloned());
        if have.as_deref() == Some(want.as_str()) {
            return Ok((img.id.unwrap_or_default(), false));
        }
    }
    Ok((
        build_berth_image(docker, Some(&binary), Some(tag)).await?,
        true,
    ))
}

/// An image made on top of another one: host executables (with the libraries they load)
/// as one layer, and a new entrypoint; the base's environment, working directory and
/// user are kept, its `Cmd` dropped.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LayeredImage {
    /// `repository:tag` of the new image.
    pub tag: String,
    /// The image it is made on (it must exist), e.g. [`berth_runtime::PROXY_IMAGE`].
    pub base: String,
    /// Host executables copied, with their libraries, to the same paths in the image.
    pub binaries: Vec<PathBuf>,
    /// The new image's `Entrypoint`.
    pub entrypoint: Vec<String>,
}

impl LayeredImage {
    /// What the image is built from, for [`LABEL_SOURCE`]: the base image's id, the
    /// entrypoint, and each binary's path, size and modification time.
    fn source(&self, base_id: &str) -> Result<String> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.entrypoint.hash(&mut h);
        for b in &self.binaries {
            let m = fs::metadata(b).map_err(|e| Error::io(format!("stat {}", b.display()), e))?;
            (b, m.size(), m.mtime(), m.mtime_nsec()).hash(&mut h);
        }
        Ok(format!("layered:{base_id}:{:016x}", h.finish()))
    }
}

/// Builds `image` on its base: creates a container of the base (never started),
/// uploads the layer into it, commits it as `image.tag` with the new entrypoint and
/// removes the container. Returns the image id.
pub async fn build_layered_image(docker: &Docker, image: &LayeredImage) -> Result<String> {
    let base_id = docker
        .inspect_image(&image.base)
        .await
        .map_err(|e| Error::docker(format!("inspect base image {}", image.base), e))?
        .id
        .unwrap_or_default();
    let source = image.source(&base_id)?;
    build_layered(docker, image, &source).await
}

async fn build_layered(docker: &Docker, image: &LayeredImage, source: &str) -> Result<String> {
    if image.entrypoint.is_empty() {
        return Err(Error::Spec {
            source_name: image.tag.clone(),
            message: "entrypoint: empty".into(),
        });
    }
    let mut layer = RootFs::new();
    for b in &image.binaries {
        layer.binary(b)?;
    }
    let tar = layer.into_tar()?;
    let before = docker
        .inspect_image(&image.tag)
        .await
        .ok()
        .and_then(|i| i.id);
    let created = docker
        .create_container(
            None::<CreateContainerOptions>,
            ContainerCreateBody {
                image: Some(image.base.clone()),
                network_disabled: Some(true),
                ..ContainerCreateBody::default()
            },
        )
        .await
        .map_err(|e| Error::docker(format!("create a container of {}", image.base), e))?;
    let result = async {
        docker
            .upload_to_container(
                &created.id,
                Some(UploadToContainerOptions {
                    path: "/".into(),
                    ..UploadToContainerOptions::default()
                }),
                bollard::body_full(bytes::Bytes::from(tar)),
            )
            .await
            .map_err(|e| Error::docker(format!("add the layer of {}", image.tag), e))?;
        let (repo, tag) = split_tag(&image.tag);
        let config = ContainerConfig {
            entrypoint: Some(image.entrypoint.clone()),
            labels: Some(std::collections::HashMap::from([(
                LABEL_SOURCE.to_string(),
                source.to_string(),
            )])),
            ..ContainerConfig::default()
        };
        docker
            .commit_container(
                CommitContainerOptions {
                    container: Some(created.id.clone()),
                    repo: Some(repo.to_string()),
                    tag: Some(tag.to_string()),
                    pause: false,
                    ..CommitContainerOptions::default()
                },
                config,
            )
            .await
            .map_err(|e| Error::docker(format!("commit {}", image.tag), e))
    }
    .await;
    if let Err(e) = docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptions {
                force: true,
                ..RemoveContainerOptions::default()
            }),
        )
        .await
    {
        tracing::warn!(container = %created.id, error = %e, "build container not removed");
    }
    result?;
    let id = docker
        .inspect_image(&image.tag)
        .await
        .map_err(|e| Error::docker(format!("inspect image {}", image.tag), e))?
        .id
        .unwrap_or_default();
    remove_replaced(docker, before, &id).await;
    Ok(id)
}

/// Builds `image` (as [`build_layered_image`]) unless an image with its tag was built
/// from the same base image, binaries and entrypoint. Returns the image id and whether
/// it was built now.
pub async fn ensure_layered_image(docker: &Docker, image: &LayeredImage) -> Result<(String, bool)> {
    let base_id = docker
        .inspect_image(&image.base)
        .await
        .map_err(|e| Error::docker(format!("inspect base image {}", image.base), e))?
        .id
        .unwrap_or_default();
    let want = image.source(&base_id)?;
    if let Ok(img) = docker.inspect_image(&image.tag).await {
        let have = img
            .config
            .and_then(|c| c.labels)
            .and_then(|l| l.get(LABEL_SOURCE).cloned());
        if have.as_deref() == Some(want.as_str()) {
            return Ok((img.id.unwrap_or_default(), false));
        }
    }
    Ok((build_layered(docker, image, &want).await?, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_carries_the_berth_proxy_beside_berth_and_starts_proxies_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let berth = dir.path().join("berth");
        fs::write(&berth, b"one").unwrap();
        assert_eq!(berth_runtime::proxy_beside(&berth), None);
        assert_eq!(
            proxy_command_in_image(&berth),
            vec![BERTH_IN_IMAGE, "proxy"]
        );
        let alone_source = binary_source(&berth).unwrap();
        fs::write(dir.path().join("berth-proxy"), b"two").unwrap();
        assert_eq!(
            berth_runtime::proxy_beside(&berth),
            Some(dir.path().join("berth-proxy"))
        );
        assert_eq!(proxy_command_in_image(&berth), vec![PROXY_IN_IMAGE]);
        // A new berth-proxy makes the image stale.
        let with_proxy = binary_source(&berth).unwrap();
        assert_ne!(alone_source, with_proxy);
        assert!(with_proxy.contains("berth-proxy"), "{with_proxy}");
    }

    #[test]
    fn ldd_output_is_parsed() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(text).unwrap(),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2")
            ]
        );
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.contains("libfoo.so.1"), "{err}");
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
    }

    #[test]
    fn spec_errors_name_the_field() {
        let e = ImageSpec::from_json(r#"{"tag": "x", "binary": []}"#, "s.json").unwrap_err();
        assert!(e.to_string().contains("unknown field `binary`"), "{e}");
        let e = ImageSpec::from_json(r#"{"tag": "x", "files": ["/a", 3]}"#, "s.json").unwrap_err();
        assert!(e.to_string().contains("files[1]"), "{e}");
        let e = ImageSpec::from_json(r#"{"tag": "x", "dirs": ["rel"]}"#, "s.json").unwrap_err();
        assert!(e.to_string().contains("dirs[0]"), "{e}");
        let e = ImageSpec::from_json(r#"{"files": []}"#, "s.json").unwrap_err();
        assert!(e.to_string().contains("tag"), "{e}");
    }

    #[test]
    fn the_shipped_specs_parse() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("images");
        let spec = ImageSpec::load(&dir.join("nginx.json")).unwrap();
        assert_eq!(spec.tag, "public.ecr.aws/docker/library/nginx:latest");
        let spec = ImageSpec::load(&dir.join("busybox.json")).unwrap();
        assert_eq!(spec.tag, "public.ecr.aws/docker/library/busybox:latest");
    }

    #[test]
    fn tags_split() {
        assert_eq!(split_tag("berth/proxy:local"), ("berth/proxy", "local"));
        assert_eq!(split_tag("nginx"), ("nginx", "latest"));
        assert_eq!(split_tag("host:5000/nginx"), ("host:5000/nginx", "latest"));
        assert_eq!(
            split_tag("public.ecr.aws/docker/library/nginx:latest"),
            ("public.ecr.aws/docker/library/nginx", "latest")
        );
    }

    #[test]
    fn optional_files_are_copied_only_when_present() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("here"), "x").unwrap();
        let spec = ImageSpec::from_json(
            &format!(
                r#"{{"tag": "t", "filesIfPresent": ["{0}/here", "{0}/missing"]}}"#,
                d.path().display()
            ),
            "s.json",
        )
        .unwrap();
        let tar = root_fs(&spec).unwrap();
        let mut names = Vec::new();
        for e in tar::Archive::new(&tar[..]).entries().unwrap() {
            names.push(e.unwrap().path().unwrap().display().to_string());
        }
        assert!(names.iter().any(|n| n.ends_with("here")), "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with("missing")), "{names:?}");
        let e = ImageSpec::from_json(r#"{"tag": "t", "filesIfPresent": ["rel"]}"#, "s.json")
            .unwrap_err();
        assert!(e.to_string().contains("filesIfPresent[0]"), "{e}");
    }

    #[test]
    fn changes_are_dockerfile_instructions() {
        let spec = ImageSpec {
            tag: "t".into(),
            entrypoint: Some(vec!["/bin/x".into()]),
            cmd: Some(vec!["a b".into()]),
            env: BTreeMap::from([("A".to_string(), "1 2".to_string())]),
            working_dir: Some("/w".into()),
            user: Some("33".into()),
            ..ImageSpec::default()
        };
        assert_eq!(
            spec.changes("src"),
            vec![
                r#"ENTRYPOINT ["/bin/x"]"#,
                r#"CMD ["a b"]"#,
                r#"ENV A="1 2""#,
                "WORKDIR /w",
                "USER 33",
                r#"LABEL berth.image.source="src""#,
            ]
        );
    }
}
