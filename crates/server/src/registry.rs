//! The services behind the front, found by the keys each protocol routes on.

use std::sync::Arc;

use berth_awsproto::{Api, JsonVersion, QueryApi};

/// Two services claim the same routing key.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Both answer the same `X-Amz-Target` prefix.
    #[error("services {first} and {second} both answer X-Amz-Target prefix {key}")]
    JsonTarget {
        /// The prefix.
        key: &'static str,
        /// The service registered first.
        first: &'static str,
        /// The one refused.
        second: &'static str,
    },
    /// Both answer the same RPCv2-CBOR service name.
    #[error("services {first} and {second} both answer RPCv2-CBOR service {key}")]
    CborService {
        /// The service name.
        key: &'static str,
        /// The service registered first.
        first: &'static str,
        /// The one refused.
        second: &'static str,
    },
    /// One signing name answers the same query `Version` twice.
    #[error("service {first} is registered twice for query Version {key}")]
    QueryVersion {
        /// The version.
        key: &'static str,
        /// The service registered first.
        first: &'static str,
        /// The one refused.
        second: &'static str,
    },
}

/// Every service the front serves. Adding one is one [`Registry::register`] call.
#[derive(Default)]
pub struct Registry {
    services: Vec<Arc<dyn Api>>,
}

impl Registry {
    /// Adds a service, unless one already answers any of its routing keys.
    pub fn register(&mut self, api: Arc<dyn Api>) -> Result<(), RegistryError> {
        let new = api.service();
        let second = new.signing_name;
        for old in &self.services {
            let old = old.service();
            let first = old.signing_name;
            if let (Some((a, _)), Some((b, _))) = (old.json(), new.json()) {
                if a == b {
                    return Err(RegistryError::JsonTarget {
                        key: a,
                        first,
                        second,
                    });
                }
            }
            if let (Some(a), Some(b)) = (old.cbor(), new.cbor()) {
                if a == b {
                    return Err(RegistryError::CborService {
                        key: a,
                        first,
                        second,
                    });
                }
            }
            if let (Some(a), Some(b)) = (old.query(), new.query()) {
                if a.version == b.version && first == second {
                    return Err(RegistryError::QueryVersion {
                        key: a.version,
                        first,
                        second,
                    });
                }
            }
        }
        self.services.push(api);
        Ok(())
    }

    /// The service answering `X-Amz-Target` prefix `prefix`.
    pub fn by_json_target(&self, prefix: &str) -> Option<(&Arc<dyn Api>, JsonVersion)> {
        self.services.iter().find_map(|api| {
            let (p, version) = api.service().json()?;
            (p == prefix).then_some((api, version))
        })
    }

    /// The service answering RPCv2-CBOR requests to `/service/<name>/...`.
    pub fn by_cbor_service(&self, name: &str) -> Option<&Arc<dyn Api>> {
        self.services
            .iter()
            .find(|api| api.service().cbor() == Some(name))
    }

    /// The query service answering `Version=<version>`: the only one, or the one the
    /// request's SigV4 signing name names when several share the version.
    pub fn by_query_version(
        &self,
        version: &str,
        signing_name: Option<&str>,
    ) -> Option<(&Arc<dyn Api>, QueryApi)> {
        let mut matching = self.services.iter().filter_map(|api| {
            let q = api.service().query()?;
            (q.version == version).then_some((api, q))
        });
        let first = matching.next()?;
        let Some(second) = matching.next() else {
            return Some(first);
        };
        let signing_name = signing_name?;
        [first, second]
            .into_iter()
            .chain(matching)
            .find(|(api, _)| api.service().signing_name == signing_name)
    }

    /// The query service whose signing name is `signing_name`: what an unroutable
    /// query request is answered as, when its signature names a service.
    pub fn query_by_signing_name(&self, signing_name: &str) -> Option<(&Arc<dyn Api>, QueryApi)> {
        self.services.iter().find_map(|api| {
            let s = api.service();
            (s.signing_name == signing_name)
                .then(|| s.query())
                .flatten()
                .map(|q| (api, q))
        })
    }
}

#[cfg(test)]
mod tests {
    use berth_awsproto::{ApiError, Context, Input, OutputShape, Protocol, QueryFlavour, Service};
    use serde_json::Value;

    use super::*;

    struct Fake(&'static Service);

    impl Api for Fake {
        fn service(&self) -> &'static Service {
            self.0
        }
        fn invoke(&self, _: &Context, op: &str, _: Input) -> Result<Value, ApiError> {
            Err(ApiError::unknown_operation(op))
        }
    }

    static A: Service = Service {
        signing_name: "alpha",
        protocols: &[
            Protocol::Json {
                target_prefix: "Alpha_2020",
                version: JsonVersion::V1_0,
            },
            Protocol::Query(QueryApi {
                version: "2020-01-01",
                xml_namespace: "urn:alpha",
                flavour: QueryFlavour::Query,
            }),
        ],
        error_message_key: "message",
        query_compatible: false,
        output: OutputShape::PLAIN,
    };

    static B: Service = Service {
        signing_name: "beta",
        protocols: &[
            Protocol::Cbor {
                service: "Beta_2020",
                blobs: &[],
            },
            Protocol::Query(QueryApi {
                version: "2020-01-01",
                xml_namespace: "urn:beta",
                flavour: QueryFlavour::Ec2,
            }),
        ],
        error_message_key: "message",
        query_compatible: false,
        output: OutputShape::PLAIN,
    };

    #[test]
    fn routes_by_each_protocols_keys() {
        let mut r = Registry::default();
        r.register(Arc::new(Fake(&A))).unwrap();
        r.register(Arc::new(Fake(&B))).unwrap();
        let (api, v) = r.by_json_target("Alpha_2020").unwrap();
        assert_eq!(api.service().signing_name, "alpha");
        assert_eq!(v, JsonVersion::V1_0);
        assert!(r.by_json_target("Beta_2020").is_none());
        assert_eq!(
            r.by_cbor_service("Beta_2020")
                .unwrap()
                .service()
                .signing_name,
            "beta"
        );
        // One version, two services: the signing name decides.
        let (api, q) = r.by_query_version("2020-01-01", Some("beta")).unwrap();
        assert_eq!(api.service().signing_name, "beta");
        assert_eq!(q.flavour, QueryFlavour::Ec2);
        assert!(r.by_query_version("2020-01-01", None).is_none());
        assert!(r.by_query_version("2020-01-01", Some("gamma")).is_none());
        assert!(r.by_query_version("1999-01-01", Some("alpha")).is_none());
        assert_eq!(
            r.query_by_signing_name("alpha").unwrap().1.xml_namespace,
            "urn:alpha"
        );
    }

    #[test]
    fn a_key_claimed_twice_is_refused() {
        let mut r = Registry::default();
        r.register(Arc::new(Fake(&A))).unwrap();
        let e = r.register(Arc::new(Fake(&A))).unwrap_err();
        assert!(
            matches!(
                e,
                RegistryError::JsonTarget {
                    key: "Alpha_2020",
                    ..
                }
            ),
            "{e}"
        );
        r.register(Arc::new(Fake(&B))).unwrap();
        let e = r.register(Arc::new(Fake(&B))).unwrap_err();
        assert!(matches!(e, RegistryError::CborService { .. }), "{e}");
    }
}
