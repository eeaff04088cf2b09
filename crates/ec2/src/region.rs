//! A network import written for no region in particular (an example's), made in the
//! region its user works in.

use crate::import::NetworkImport;

impl NetworkImport {
    /// The document in `region` when it names none: its region set, and each subnet's
    /// zone named in another region (`us-east-1a`) moved to the same letter of
    /// `region`'s (`eu-west-1a`). A document that names a region is kept as it is.
    pub fn in_region(mut self, region: &str) -> NetworkImport {
        if self.region.is_some() {
            return self;
        }
        for subnet in self.vpcs.iter_mut().flat_map(|v| v.subnets.iter_mut()) {
            let zone = &subnet.availability_zone;
            let letter = zone.chars().last().filter(|c| c.is_ascii_lowercase());
            let is_name = zone
                .chars()
                .rev()
                .nth(1)
                .is_some_and(|c| c.is_ascii_digit());
            if let (Some(letter), true) = (letter, is_name) {
                subnet.availability_zone = format!("{region}{letter}");
            }
        }
        self.region = Some(region.to_string());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{SubnetImport, VpcImport};

    fn doc(region: Option<&str>, zone: &str) -> NetworkImport {
        NetworkImport {
            region: region.map(str::to_string),
            vpcs: vec![VpcImport {
                vpc_id: "vpc-1".into(),
                cidr_block: "10.0.0.0/16".into(),
                subnets: vec![SubnetImport {
                    subnet_id: "subnet-1".into(),
                    cidr_block: "10.0.0.0/24".into(),
                    availability_zone: zone.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn a_document_without_a_region_moves_to_the_users() {
        let moved = doc(None, "us-east-1b").in_region("eu-west-1");
        assert_eq!(moved.region.as_deref(), Some("eu-west-1"));
        assert_eq!(moved.vpcs[0].subnets[0].availability_zone, "eu-west-1b");
        let by_id = doc(None, "use1-az1").in_region("eu-west-1");
        assert_eq!(by_id.vpcs[0].subnets[0].availability_zone, "use1-az1");
        let kept = doc(Some("us-east-1"), "us-east-1b").in_region("eu-west-1");
        assert_eq!(kept.region.as_deref(), Some("us-east-1"));
        assert_eq!(kept.vpcs[0].subnets[0].availability_zone, "us-east-1b");
    }
}
