//! A task's temporary credentials, for its agent (`POST /berth/agent/v1/task-credentials`):
//! the task role's, which the agent serves to the task's containers on the task's
//! credentials endpoint, and the execution role's, which the agent uses for the task's
//! secrets and logs. Both are sessions of the task's account (no IAM: what the account's
//! root may do, none of the agents' operations), for a task placed on the asking
//! agent's own instance.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use berth_agent_view::{RoleCredentials, TaskCredentialsAnswer, TaskCredentialsRequest};
use berth_awsproto::{ApiError, Context};
use berth_credentials::{CredentialStore, Principal};
use berth_ecs::roles::TaskRoles;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;

use crate::{agent_request, front, json_response, AgentRequest, Router, MAX_AGENT_BODY};

/// How long a task's credentials last.
pub(crate) const SESSION_TTL: Duration = Duration::from_secs(3600);
/// How long before their expiry the agent asks again.
const REFRESH_BEFORE: Duration = Duration::from_secs(900);

pub(crate) async fn serve(router: Arc<Router>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = berth_awsproto::uuid_v4();
    let fail = |e: ApiError| front::json_error(&e, &request_id);
    let AgentRequest {
        ctx,
        cluster,
        instance,
        body: asked,
    } = match agent_request::<TaskCredentialsRequest>(&router, req, MAX_AGENT_BODY).await {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (ecs, store) = (router.ecs.clone(), router.credentials.clone());
    let answer = tokio::task::spawn_blocking(move || {
        let roles = berth_ecs::roles::task_roles(&ecs, &ctx, &cluster, &instance, &asked.task_arn)?;
        issue(&store, &ctx, &roles, SystemTime::now())
    })
    .await
    .unwrap_or_else(|e| Err(ApiError::internal(format!("task credentials: {e}"))));
    match answer {
        Ok(a) => json_response(serde_json::to_vec(&a).expect("credentials serialize")),
        Err(e) => fail(e),
    }
}

/// Sessions for the task's roles.
fn issue(
    store: &CredentialStore,
    ctx: &Context,
    roles: &TaskRoles,
    now: SystemTime,
) -> Result<TaskCredentialsAnswer, ApiError> {
    let session = |role_arn: &str| -> Result<RoleCredentials, ApiError> {
        let principal = Principal::Task {
            task_arn: roles.task_arn.clone(),
            role_arn: role_arn.to_string(),
        };
        let s = store
            .create_session(&ctx.account, &principal, SESSION_TTL, now)
            .map_err(|e| ApiError::internal(format!("task credentials: {e}")))?;
        Ok(RoleCredentials {
            role_arn: role_arn.to_string(),
            access_key_id: s.access_key_id,
            secret_access_key: s.secret_access_key,
            token: s.session_token,
            expiration: berth_awsproto::format_iso8601(s.expiration as f64),
        })
    };
    let execution = roles
        .execution_role_arn
        .clone()
        .unwrap_or_else(|| format!("arn:aws:iam::{}:role/ecsInstanceRole", ctx.account));
    Ok(TaskCredentialsAnswer {
        task_role: roles.task_role_arn.as_deref().map(session).transpose()?,
        execution_role: session(&execution)?,
        expires_in: SESSION_TTL.as_secs(),
        expires_at: now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            + SESSION_TTL.as_secs(),
        refresh_before: REFRESH_BEFORE.as_secs(),
    })
}
