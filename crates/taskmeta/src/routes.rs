//! What a request path asks for, and the environment that tells a container where to
//! ask: pure functions.

/// A path of the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v4/<token>` (or `/v3/<token>`): the asking container's document.
    Container {
        /// The container's token.
        token: &'a str,
    },
    /// `/v4/<token>/task` and `/v4/<token>/taskWithTags` (v4 only).
    Task {
        /// The container's token.
        token: &'a str,
        /// With the task's and the instance's tags.
        tags: bool,
    },
    /// `/v4/<token>/stats`: the asking container's stats.
    ContainerStats {
        /// The container's token.
        token: &'a str,
    },
    /// `/v4/<token>/task/stats`: every container's stats, by runtime id.
    TaskStats {
        /// The container's token.
        token: &'a str,
    },
    /// `/v2/credentials/<id>` (`id` empty when missing).
    Credentials {
        /// The credentials id.
        id: &'a str,
    },
    /// Nothing here.
    NotFound,
}

impl Route<'_> {
    /// The container token the route names, if any.
    pub fn token(&self) -> Option<&str> {
        match *self {
            Route::Container { token }
            | Route::Task { token, .. }
            | Route::ContainerStats { token }
            | Route::TaskStats { token } => Some(token),
            Route::Credentials { .. } | Route::NotFound => None,
        }
    }
}

/// The route of `path` (without its query).
pub fn route(path: &str) -> Route<'_> {
    if let Some(rest) = path.strip_prefix("/v2/credentials") {
        return match rest {
            "" | "/" => Route::Credentials { id: "" },
            _ => match rest.strip_prefix('/') {
                Some(id) => Route::Credentials { id },
                None => Route::NotFound,
            },
        };
    }
    let (v4, rest) = match (path.strip_prefix("/v4/"), path.strip_prefix("/v3/")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Route::NotFound,
    };
    let (token, tail) = match rest.split_once('/') {
        Some((token, tail)) => (token, Some(tail)),
        None => (rest, None),
    };
    if token.is_empty() {
        return Route::NotFound;
    }
    match (tail, v4) {
        (None, _) => Route::Container { token },
        (Some("task"), _) => Route::Task { token, tags: false },
        (Some("taskWithTags"), true) => Route::Task { token, tags: true },
        (Some("stats"), _) => Route::ContainerStats { token },
        (Some("task/stats"), _) => Route::TaskStats { token },
        _ => Route::NotFound,
    }
}

/// The variables a container is started with: where its metadata is (v4, and v3 for
/// older clients), where its task role's credentials are (only with a role), the API
/// through the relay (when it runs), and its region.
///
/// `base` is the endpoint's URL without a slash at the end (`http://169.254.170.2`).
pub fn container_env(
    base: &str,
    token: &str,
    credentials_id: Option<&str>,
    api_url: Option<&str>,
    region: &str,
) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "ECS_CONTAINER_METADATA_URI_V4".to_string(),
            format!("{base}/v4/{token}"),
        ),
        (
            "ECS_CONTAINER_METADATA_URI".to_string(),
            format!("{base}/v3/{token}"),
        ),
    ];
    if let Some(id) = credentials_id {
        env.push((
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI".to_string(),
            format!("/v2/credentials/{id}"),
        ));
    }
    if let Some(url) = api_url {
        env.push(("AWS_ENDPOINT_URL".to_string(), url.to_string()));
    }
    if !region.is_empty() {
        env.push(("AWS_REGION".to_string(), region.to_string()));
        env.push(("AWS_DEFAULT_REGION".to_string(), region.to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        use Route::*;
        let cases = [
            ("/v4/tok", Container { token: "tok" }),
            ("/v3/tok", Container { token: "tok" }),
            (
                "/v4/tok/task",
                Task {
                    token: "tok",
                    tags: false,
                },
            ),
            (
                "/v3/tok/task",
                Task {
                    token: "tok",
                    tags: false,
                },
            ),
            (
                "/v4/tok/taskWithTags",
                Task {
                    token: "tok",
                    tags: true,
                },
            ),
            ("/v3/tok/taskWithTags", NotFound),
            ("/v4/tok/stats", ContainerStats { token: "tok" }),
            ("/v4/tok/task/stats", TaskStats { token: "tok" }),
            ("/v3/tok/task/stats", TaskStats { token: "tok" }),
            ("/v2/credentials/abc-1", Credentials { id: "abc-1" }),
            ("/v2/credentials/", Credentials { id: "" }),
            ("/v2/credentials", Credentials { id: "" }),
            ("/v2/credentialsX", NotFound),
            ("/v4/", NotFound),
            ("/v4", NotFound),
            ("/v4//task", NotFound),
            ("/v4/tok/", NotFound),
            ("/v4/tok/tasks", NotFound),
            ("/v4/tok/task/stats/x", NotFound),
            ("/v5/tok", NotFound),
            ("/", NotFound),
            ("", NotFound),
            ("/latest/meta-data/", NotFound),
        ];
        for (path, expected) in cases {
            assert_eq!(route(path), expected, "{path}");
        }
        assert_eq!(route("/v4/t/stats").token(), Some("t"));
        assert_eq!(route("/v2/credentials/x").token(), None);
    }

    #[test]
    fn env_of_a_container() {
        let base = "http://169.254.170.2";
        let names = |env: &[(String, String)]| -> Vec<String> {
            env.iter().map(|(k, _)| k.clone()).collect()
        };
        // (credentials id, API URL, region, the variables)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, &'a str, &'a [&'a str]);
        let cases: [Case; 3] = [
            (
                None,
                None,
                "eu-west-1",
                &[
                    "ECS_CONTAINER_METADATA_URI_V4",
                    "ECS_CONTAINER_METADATA_URI",
                    "AWS_REGION",
                    "AWS_DEFAULT_REGION",
                ],
            ),
            (
                Some("cred"),
                Some("http://169.254.170.2:51680"),
                "eu-west-1",
                &[
                    "ECS_CONTAINER_METADATA_URI_V4",
                    "ECS_CONTAINER_METADATA_URI",
                    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                    "AWS_ENDPOINT_URL",
                    "AWS_REGION",
                    "AWS_DEFAULT_REGION",
                ],
            ),
            (
                None,
                None,
                "",
                &[
                    "ECS_CONTAINER_METADATA_URI_V4",
                    "ECS_CONTAINER_METADATA_URI",
                ],
            ),
        ];
        for (cred, api, region, expected) in cases {
            let env = container_env(base, "tok", cred, api, region);
            assert_eq!(names(&env), expected);
        }
        let env = container_env(base, "tok", Some("cred"), Some("http://x:1"), "r");
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("ECS_CONTAINER_METADATA_URI_V4"),
            Some("http://169.254.170.2/v4/tok")
        );
        assert_eq!(
            get("ECS_CONTAINER_METADATA_URI"),
            Some("http://169.254.170.2/v3/tok")
        );
        assert_eq!(
            get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
            Some("/v2/credentials/cred")
        );
        assert_eq!(get("AWS_ENDPOINT_URL"), Some("http://x:1"));
        assert_eq!(get("AWS_REGION"), Some("r"));
    }
}
