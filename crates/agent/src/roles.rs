//! A task's temporary credentials (its task role's and its execution role's), asked of
//! the server when the task starts and again before they expire, for as long as the
//! task runs. The execution role signs what the agent does for the task (its secrets,
//! its logs); the task role is what the task's credentials endpoint serves.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use berth_agent_view::{RoleCredentials, TaskCredentialsAnswer};
use tokio::task::JoinHandle;
use tracing::warn;

use crate::client::ServerClient;
use crate::error::{Error, Result};

/// How long to wait before asking again after a failed refresh.
const RETRY: Duration = Duration::from_secs(30);

/// A task's credentials, kept fresh while it lives.
pub(crate) struct TaskRoles {
    source: RoleSource,
    refresher: JoinHandle<()>,
}

impl Drop for TaskRoles {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

/// When to ask again: `refresh_before` ahead of expiry, at least a minute from now.
fn refresh_in(answer: &TaskCredentialsAnswer) -> Duration {
    Duration::from_secs(
        answer
            .expires_in
            .saturating_sub(answer.refresh_before)
            .max(60),
    )
}

impl TaskRoles {
    /// The credentials of `task_arn` (placed on `instance_arn` of `cluster`); failing,
    /// the stoppedReason.
    pub(crate) async fn obtain(
        client: &ServerClient,
        cluster: &str,
        instance_arn: &str,
        task_arn: &str,
    ) -> Result<TaskRoles> {
        let first = client
            .task_credentials(cluster, instance_arn, task_arn)
            .await
            .map_err(|e| Error::Init(format!("unable to get the task's credentials: {e}")))?;
        let mut wait = refresh_in(&first);
        let current = Arc::new(RwLock::new(first));
        let (shared, client2) = (current.clone(), client.clone());
        let (cluster, instance, task) = (
            cluster.to_string(),
            instance_arn.to_string(),
            task_arn.to_string(),
        );
        let refresher = tokio::spawn(async move {
            loop {
                tokio::time::sleep(wait).await;
                match client2.task_credentials(&cluster, &instance, &task).await {
                    Ok(a) => {
                        wait = refresh_in(&a);
                        *shared.write().unwrap_or_else(|e| e.into_inner()) = a;
                    }
                    Err(e) => {
                        warn!(task = %task, error = %e, "refreshing the task's credentials");
                        wait = RETRY;
                    }
                }
            }
        });
        Ok(TaskRoles {
            source: RoleSource {
                current,
                client: client.clone(),
            },
            refresher,
        })
    }

    /// What reads the current credentials.
    pub(crate) fn source(&self) -> &RoleSource {
        &self.source
    }
}

/// Reads a task's current credentials.
#[derive(Clone)]
pub(crate) struct RoleSource {
    current: Arc<RwLock<TaskCredentialsAnswer>>,
    client: ServerClient,
}

impl RoleSource {
    /// A client signing with the execution role's current credentials.
    pub(crate) fn execution_client(&self) -> ServerClient {
        let answer = self.current.read().unwrap_or_else(|e| e.into_inner());
        self.client.with_role(&answer.execution_role)
    }

    /// The task role's current credentials, if the task has a task role, and when they
    /// expire (seconds since the epoch).
    pub(crate) fn task_role(&self) -> Option<(RoleCredentials, u64)> {
        let answer = self.current.read().unwrap_or_else(|e| e.into_inner());
        answer.task_role.clone().map(|r| (r, answer.expires_at))
    }
}
