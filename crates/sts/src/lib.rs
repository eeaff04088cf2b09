//! AWS Security Token Service (`sts`, API version 2011-06-15, AWS query protocol):
//! who is calling.
//!
//! berth has no IAM users or roles: every caller is the root user of the account its
//! credentials name (see [`berth_awsproto::Context`]: a 12-digit access key id is the
//! account, anything else the default account). So `aws sts get-caller-identity`
//! answers which account the resources a client makes belong to.

use berth_awsproto::{
    output, Api, ApiError, Context, Input, OutputShape, Protocol, QueryApi, QueryFlavour, Service,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The API version, the form's `Version`.
pub const API_VERSION: &str = "2011-06-15";

/// How clients reach STS: the query protocol.
pub static SERVICE: Service = Service {
    signing_name: "sts",
    protocols: &[Protocol::Query(QueryApi {
        version: API_VERSION,
        xml_namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
        flavour: QueryFlavour::Query,
    })],
    error_message_key: "Message",
    query_compatible: false,
    output: OutputShape::PLAIN,
};

/// The STS API. It keeps no state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sts;

/// `GetCallerIdentity`'s input: none.
#[derive(Debug, Deserialize)]
struct GetCallerIdentityInput {}

/// `GetCallerIdentity`'s output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CallerIdentity {
    /// The caller's unique id: for an account's root user, the account id.
    pub user_id: String,
    /// The account the caller belongs to.
    pub account: String,
    /// The caller's ARN: `arn:aws:iam::<account>:root`.
    pub arn: String,
}

/// Who the caller of a request is.
pub fn caller_identity(ctx: &Context) -> CallerIdentity {
    CallerIdentity {
        user_id: ctx.account.clone(),
        account: ctx.account.clone(),
        arn: format!("arn:aws:iam::{}:root", ctx.account),
    }
}

impl Api for Sts {
    fn service(&self) -> &'static Service {
        &SERVICE
    }

    fn invoke(&self, ctx: &Context, op: &str, input: Input) -> Result<Value, ApiError> {
        match op {
            "GetCallerIdentity" => {
                let GetCallerIdentityInput {} = input.parse()?;
                output(&caller_identity(ctx))
            }
            _ => Err(ApiError::unknown_operation(op)),
        }
    }
}

#[cfg(test)]
mod tests {
    use berth_awsproto::{decode_form, UNKNOWN_OPERATION};
    use serde_json::json;

    use super::*;

    fn ctx(account: &str) -> Context {
        Context {
            account: account.to_string(),
            region: "eu-west-1".to_string(),
            caller: Default::default(),
        }
    }

    #[test]
    fn the_caller_is_the_root_of_its_account() {
        let form = decode_form(b"Action=GetCallerIdentity&Version=2011-06-15").unwrap();
        let input = Input::Form(form.params, QueryFlavour::Query);
        let out = Sts
            .invoke(&ctx("111122223333"), "GetCallerIdentity", input)
            .unwrap();
        assert_eq!(
            out,
            json!({
                "UserId": "111122223333",
                "Account": "111122223333",
                "Arn": "arn:aws:iam::111122223333:root",
            })
        );
        let out = Sts
            .call(&Context::default(), "GetCallerIdentity", json!({}))
            .unwrap();
        assert_eq!(out["Account"], berth_awsproto::DEFAULT_ACCOUNT);
    }

    #[test]
    fn other_actions_are_unknown() {
        let e = Sts
            .call(&ctx("111122223333"), "AssumeRole", json!({}))
            .unwrap_err();
        assert_eq!(e.code, UNKNOWN_OPERATION);
    }
}
