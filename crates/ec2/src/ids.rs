//! Resource ids: how EC2 makes them (`vpc-` and 17 hexadecimal digits), which ones it
//! takes (any `prefix-` and letters or digits, so imported ids such as `sg-EXAMPLE`
//! work), and the error codes of each kind of id.

use berth_awsproto::{random_string, ApiError, HEX};

/// One kind of resource id: its prefix and how EC2 answers a malformed or unknown one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IdKind {
    /// `vpc`, `subnet`, `sg`, ...
    pub prefix: &'static str,
    /// The code of an id that names nothing.
    pub not_found: &'static str,
    /// The code of an id of the wrong shape.
    pub malformed: &'static str,
    /// How the not-found message names the id (`The vpc ID 'vpc-1' does not exist`).
    pub noun: &'static str,
    /// The `resourceType` of DescribeTags.
    pub resource_type: &'static str,
}

pub(crate) const VPC: IdKind = IdKind {
    prefix: "vpc",
    not_found: "InvalidVpcID.NotFound",
    malformed: "InvalidVpcID.Malformed",
    noun: "vpc ID",
    resource_type: "vpc",
};

pub(crate) const SUBNET: IdKind = IdKind {
    prefix: "subnet",
    not_found: "InvalidSubnetID.NotFound",
    malformed: "InvalidSubnetID.Malformed",
    noun: "subnet ID",
    resource_type: "subnet",
};

pub(crate) const GROUP: IdKind = IdKind {
    prefix: "sg",
    not_found: "InvalidGroup.NotFound",
    malformed: "InvalidGroupId.Malformed",
    noun: "security group",
    resource_type: "security-group",
};

pub(crate) const RULE: IdKind = IdKind {
    prefix: "sgr",
    not_found: "InvalidSecurityGroupRuleId.NotFound",
    malformed: "InvalidSecurityGroupRuleId.Malformed",
    noun: "security group rule ID",
    resource_type: "security-group-rule",
};

pub(crate) const ENI: IdKind = IdKind {
    prefix: "eni",
    not_found: "InvalidNetworkInterfaceID.NotFound",
    malformed: "InvalidNetworkInterfaceID.Malformed",
    noun: "networkInterface ID",
    resource_type: "network-interface",
};

/// Every kind of id that can carry tags.
pub(crate) const TAGGABLE: &[IdKind] = &[VPC, SUBNET, GROUP, RULE, ENI];

/// Prefixes of ids berth makes that are no resources of their own.
pub(crate) const CIDR_ASSOCIATION: &str = "vpc-cidr-assoc";
pub(crate) const DHCP_OPTIONS: &str = "dopt";

impl IdKind {
    /// A new random id of this kind.
    pub fn new_id(&self) -> String {
        new_id(self.prefix)
    }

    /// True when `id` is `prefix-` followed by letters and digits.
    pub fn well_formed(&self, id: &str) -> bool {
        id.strip_prefix(self.prefix)
            .and_then(|rest| rest.strip_prefix('-'))
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
    }

    /// `Ok` for a well-formed id, else this kind's malformed error.
    pub fn check(&self, id: &str) -> Result<(), ApiError> {
        if self.well_formed(id) {
            Ok(())
        } else {
            Err(ApiError::new(
                400,
                self.malformed,
                format!("Invalid id: \"{id}\" (expecting \"{}-...\")", self.prefix),
            ))
        }
    }

    /// The error for a well-formed id that names nothing.
    pub fn not_found(&self, id: &str) -> ApiError {
        ApiError::new(
            400,
            self.not_found,
            format!("The {} '{id}' does not exist", self.noun),
        )
    }

    /// The kind whose prefix `id` has (the longest prefix wins: `sgr-` over `sg-`).
    pub fn of(id: &str) -> Option<IdKind> {
        TAGGABLE.iter().copied().find(|k| k.well_formed(id))
    }
}

/// `prefix-` and 17 random hexadecimal digits, as EC2 makes ids.
pub(crate) fn new_id(prefix: &str) -> String {
    format!("{prefix}-{}", random_string(17, HEX))
}

/// A random MAC address of the locally administered kind EC2 gives interfaces.
pub(crate) fn new_mac() -> String {
    let tail = random_string(10, HEX);
    let pairs: Vec<&str> = (0..5).map(|i| &tail[2 * i..2 * i + 2]).collect();
    format!("02:{}", pairs.join(":"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_take_the_shape_ec2_gives_them() {
        let id = VPC.new_id();
        assert_eq!(id.len(), "vpc-".len() + 17, "{id}");
        assert!(VPC.well_formed(&id));
        assert!(new_mac().starts_with("02:"));
        assert_eq!(new_mac().len(), 17);
    }

    #[test]
    fn imported_ids_are_well_formed_and_others_are_not() {
        for (kind, id, ok) in [
            (GROUP, "sg-34692f46", true),
            (GROUP, "sg-EXAMPLE", true),
            (SUBNET, "subnet-EXAMPLEf", true),
            (GROUP, "sg-", false),
            (GROUP, "sg-a_b", false),
            (GROUP, "sgr-0123", false),
            (GROUP, "web", false),
            (RULE, "sgr-0123", true),
            (VPC, "vpc-cidr-assoc-1", false),
        ] {
            assert_eq!(kind.well_formed(id), ok, "{id}");
        }
        let e = GROUP.check("web").unwrap_err();
        assert_eq!(e.code, "InvalidGroupId.Malformed");
        assert!(e.message.contains("\"web\""), "{}", e.message);
        let e = VPC.not_found("vpc-1");
        assert_eq!(e.code, "InvalidVpcID.NotFound");
        assert_eq!(e.message, "The vpc ID 'vpc-1' does not exist");
    }

    #[test]
    fn the_kind_of_an_id_is_its_prefix() {
        assert_eq!(IdKind::of("sgr-1"), Some(RULE));
        assert_eq!(IdKind::of("sg-1"), Some(GROUP));
        assert_eq!(IdKind::of("eni-1"), Some(ENI));
        assert_eq!(IdKind::of("i-1"), None);
    }
}
