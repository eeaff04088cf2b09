//! ACM PCA's ARNs: a CA's, a certificate's, a template's.

use berth_awsproto::{ApiError, Context};

use crate::errors::{invalid_arn, not_found};

/// The resource part of a CA's ARN before its id.
const CA_RESOURCE: &str = "certificate-authority/";

/// A CA's ARN, read: `arn:aws:acm-pca:<region>:<account>:certificate-authority/<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CaArn {
    pub arn: String,
    pub region: String,
    pub account: String,
    pub id: String,
}

impl CaArn {
    /// A new CA's ARN in the caller's account and region.
    pub(crate) fn new(ctx: &Context, id: &str) -> CaArn {
        CaArn {
            arn: ctx.arn("acm-pca", &format!("{CA_RESOURCE}{id}")),
            region: ctx.region.clone(),
            account: ctx.account.clone(),
            id: id.to_string(),
        }
    }

    /// Reads a CA's ARN; anything else is `InvalidArnException`.
    pub(crate) fn parse(arn: &str) -> Result<CaArn, ApiError> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [a, partition, service, region, account, resource] = parts[..] else {
            return Err(invalid_arn(arn));
        };
        let id = resource.strip_prefix(CA_RESOURCE).unwrap_or_default();
        let ok = a == "arn"
            && !partition.is_empty()
            && service == "acm-pca"
            && !region.is_empty()
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && is_uuid(id);
        if !ok {
            return Err(invalid_arn(arn));
        }
        Ok(CaArn {
            arn: arn.to_string(),
            region: region.to_string(),
            account: account.to_string(),
            id: id.to_string(),
        })
    }

    /// Reads a CA's ARN the caller names: one of another account or region is not
    /// found (berth shares no CA across accounts).
    pub(crate) fn of_caller(ctx: &Context, arn: &str) -> Result<CaArn, ApiError> {
        let a = CaArn::parse(arn)?;
        if a.account != ctx.account || a.region != ctx.region {
            return Err(not_found(arn));
        }
        Ok(a)
    }

    /// The ARN of a certificate this CA issued, `<ca-arn>/certificate/<id>`.
    pub(crate) fn certificate(&self, cert_id: &str) -> String {
        format!("{}/certificate/{cert_id}", self.arn)
    }

    /// The id of a certificate of this CA from its ARN.
    pub(crate) fn certificate_id<'a>(&self, cert_arn: &'a str) -> Option<&'a str> {
        let id = cert_arn
            .strip_prefix(&self.arn)?
            .strip_prefix("/certificate/")?;
        (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then_some(id)
    }
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let lens: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    lens == [8, 4, 4, 4, 12]
        && groups
            .iter()
            .all(|g| g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Whether `arn` has the shape of a certificate's ARN (of any CA).
pub(crate) fn looks_like_certificate(arn: &str) -> bool {
    arn.split_once("/certificate/")
        .is_some_and(|(ca, _)| CaArn::parse(ca).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str =
        "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/0b1c2d3e-4f50-4a1b-8c2d-3e4f5a6b7c8d";

    #[test]
    fn ca_arns_are_read_or_refused() {
        let a = CaArn::parse(CA).unwrap();
        assert_eq!(
            (a.region.as_str(), a.account.as_str()),
            ("us-east-1", "123456789012")
        );
        for bad in [
            "",
            "arn:aws:acm-pca:us-east-1:123456789012",
            "arn:aws:acm:us-east-1:123456789012:certificate-authority/0b1c2d3e-4f50-4a1b-8c2d-3e4f5a6b7c8d",
            "arn:aws:acm-pca:us-east-1:1234:certificate-authority/0b1c2d3e-4f50-4a1b-8c2d-3e4f5a6b7c8d",
            "arn:aws:acm-pca:us-east-1:123456789012:certificate-authority/nope",
            "arn:aws:acm-pca:us-east-1:123456789012:template/x",
        ] {
            let e = CaArn::parse(bad).unwrap_err();
            assert_eq!(e.code, crate::errors::INVALID_ARN, "{bad}");
        }
    }

    #[test]
    fn certificate_arns_belong_to_their_ca() {
        let a = CaArn::parse(CA).unwrap();
        let id = "0123456789abcdef0123456789abcdef";
        let cert = a.certificate(id);
        assert_eq!(a.certificate_id(&cert), Some(id));
        assert!(looks_like_certificate(&cert));
        assert_eq!(a.certificate_id(&format!("{CA}/certificate/xyz")), None);
        assert_eq!(a.certificate_id("arn:aws:acm-pca:x"), None);
    }
}
