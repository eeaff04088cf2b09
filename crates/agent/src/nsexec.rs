//! Running a program inside a task's network namespace with a script on its standard
//! input: `iptables-restore` for the task's nat table, `nft -f -` for its packet filter.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use berth_tasknet::TaskNetwork;
use tokio::io::AsyncWriteExt;

/// Where a system program is: the first of `/usr/sbin`, `/sbin`, `/usr/bin` that has
/// it, else its bare name (looked up in `PATH`).
pub(crate) fn system_program(name: &str) -> PathBuf {
    ["/usr/sbin", "/sbin", "/usr/bin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

/// Runs `program args` inside the task (see [`TaskNetwork::command`]) with `input` on
/// its standard input and waits for it. The error says why it could not run, or is
/// what it wrote on its standard error when it failed.
pub(crate) async fn feed(
    net: &TaskNetwork,
    program: &Path,
    args: &[&str],
    input: String,
) -> Result<(), String> {
    let name = program.display();
    let mut cmd = tokio::process::Command::from(net.command(program));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("run {name}: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("no standard input")?;
    // Written while the program runs, so that neither waits on a full pipe.
    let writer = tokio::spawn(async move {
        stdin.write_all(input.as_bytes()).await?;
        stdin.shutdown().await
    });
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| format!("wait for {name}: {e}"))?;
    let written = writer.await.map_err(|e| e.to_string())?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{name} failed ({}): {}", out.status, stderr.trim()));
    }
    written.map_err(|e| format!("write to {name}: {e}"))
}
