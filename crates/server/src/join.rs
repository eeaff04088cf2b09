//! Agents: how a host joins (a join token for an access key of its own) and how the
//! agents' endpoints know which agent is calling.
//!
//! `POST /berth/agent/v1/join` with `Authorization: Bearer <join token>`: the token
//! (`berth token create`: one cluster of one account and region, an expiry) is checked
//! against the credential store, and the answer is a new access key whose principal is
//! an agent of that cluster ([`JoinAnswer`]). The agent signs everything after with it
//! (SigV4, like any AWS client); the front lets that key call only the agents'
//! operations, and ECS lets it act only for the container instance it registered.

use std::sync::Arc;
use std::time::SystemTime;

use berth_awsproto::{ApiError, Context};
use berth_credentials::{CredentialError, CredentialStore, JoinGrant, Principal};
use http::request::Parts;
use tracing::{info, warn};

use berth_agent_view::JoinAnswer;

use crate::auth::AuthMode;
use crate::front::Front;

/// The signing name of the agents' endpoints (they are ECS's).
const ECS_SIGNING_NAME: &str = "ecs";

/// Redeems the bearer token of a join request for an agent's access key.
pub(crate) fn join(
    store: &Arc<CredentialStore>,
    parts: &Parts,
    now: SystemTime,
) -> Result<JoinAnswer, ApiError> {
    let token = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                401,
                "MissingAuthenticationTokenException",
                "joining needs a join token: Authorization: Bearer <token> (berth token create)",
            )
        })?;
    let grant = store.redeem_token(token, now).map_err(|e| match e {
        CredentialError::Token(why) => {
            warn!(why, "an agent's join token was refused");
            ApiError::new(
                401,
                "UnrecognizedClientException",
                format!("join token refused: {why}"),
            )
        }
        e => ApiError::internal(e.to_string()),
    })?;
    let JoinGrant {
        account,
        region,
        cluster,
    } = grant;
    let principal = Principal::Agent {
        region: region.clone(),
        cluster: cluster.clone(),
    };
    let key = store
        .create_key(&account, principal, now)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    info!(%account, %region, %cluster, key = %key.access_key_id, "an agent joined");
    Ok(JoinAnswer {
        access_key_id: key.access_key_id,
        secret_access_key: key.secret_access_key,
        account,
        region,
        cluster,
    })
}

/// The agent calling one of the agents' endpoints: a signed request (its body read)
/// by an agent's key, for the cluster it joined.
pub(crate) fn agent_caller(
    front: &Front,
    mode: AuthMode,
    parts: &Parts,
    body: &[u8],
) -> Result<Context, ApiError> {
    let ctx = front.authenticate_raw(parts, body, ECS_SIGNING_NAME)?;
    if ctx.agent().is_none() && mode != AuthMode::Unchecked {
        warn!(
            path = parts.uri.path(),
            "the agents' endpoint refused a caller that is not an agent"
        );
        return Err(ApiError::new(
            403,
            "AccessDeniedException",
            "the agents' endpoints serve berth agents only: a host joins with `berth agent --token`",
        ));
    }
    Ok(ctx)
}
