//! Availability zones: three per region (`<region>a`, `b`, `c`), with ids in EC2's
//! style (`use1-az1`), and DescribeAvailabilityZones.

use berth_awsproto::{ApiError, Context};
use serde::{Deserialize, Serialize};

use crate::errors::invalid;
use crate::filter::{one, FilterIn, Filterable, Filters, Getter};
use crate::records::{Tag, ZoneState};

/// The zone letters of every region.
const LETTERS: [char; 3] = ['a', 'b', 'c'];

/// An availability zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Zone {
    /// `us-east-1a`.
    pub zone_name: String,
    /// `use1-az1`.
    pub zone_id: String,
    /// The region.
    pub region_name: String,
    /// Always `available`.
    pub zone_state: ZoneState,
    /// Always `opt-in-not-required`.
    pub opt_in_status: &'static str,
    /// The region (zones are their own group).
    pub group_name: String,
    /// The region.
    pub network_border_group: String,
    /// Always `availability-zone`.
    pub zone_type: &'static str,
    /// Always empty.
    pub message_set: Vec<String>,
}

/// The zones of `region`.
pub fn zones(region: &str) -> Vec<Zone> {
    let code = region_code(region);
    LETTERS
        .iter()
        .enumerate()
        .map(|(i, letter)| Zone {
            zone_name: format!("{region}{letter}"),
            zone_id: format!("{code}-az{}", i + 1),
            region_name: region.to_string(),
            zone_state: ZoneState::Available,
            opt_in_status: "opt-in-not-required",
            group_name: region.to_string(),
            network_border_group: region.to_string(),
            zone_type: "availability-zone",
            message_set: Vec::new(),
        })
        .collect()
}

/// The zone of `region` named `name` or with id `name`.
pub(crate) fn zone(region: &str, name: &str) -> Option<Zone> {
    zones(region)
        .into_iter()
        .find(|z| z.zone_name == name || z.zone_id == name)
}

/// EC2's short region code: `us-east-1` → `use1`, `ap-southeast-2` → `apse2`,
/// `eu-central-1` → `euc1`.
fn region_code(region: &str) -> String {
    let parts: Vec<&str> = region.split('-').collect();
    let Some((last, rest)) = parts.split_last() else {
        return region.to_string();
    };
    let mut code = String::new();
    for (i, part) in rest.iter().enumerate() {
        if i == 0 {
            code.push_str(part);
            continue;
        }
        for compass in ["north", "south"] {
            if let Some(side) = part.strip_prefix(compass) {
                code.push_str(&compass[..1]);
                code.push_str(&side[..side.len().min(1)]);
            }
        }
        if !part.starts_with("north") && !part.starts_with("south") {
            code.push_str(&part[..part.len().min(1)]);
        }
    }
    code.push_str(last);
    code
}

impl Filterable for Zone {
    const FIELDS: &'static [(&'static str, Getter<Self>)] = &[
        ("zone-name", |z, _| one(&z.zone_name)),
        ("zone-id", |z, _| one(&z.zone_id)),
        ("region-name", |z, _| one(&z.region_name)),
        ("state", |z, _| one(z.zone_state.as_str())),
        ("zone-type", |z, _| one(z.zone_type)),
        ("group-name", |z, _| one(&z.group_name)),
        ("opt-in-status", |z, _| one(z.opt_in_status)),
    ];
    fn tags(&self) -> &[Tag] {
        &[]
    }
}

/// DescribeAvailabilityZones's input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DescribeZonesIn {
    #[serde(rename = "ZoneName", default)]
    zone_names: Vec<String>,
    #[serde(rename = "ZoneId", default)]
    zone_ids: Vec<String>,
    #[serde(rename = "AllAvailabilityZones")]
    _all: Option<bool>,
    #[serde(rename = "Filter", default)]
    filters: Vec<FilterIn>,
    #[serde(rename = "DryRun")]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
pub(crate) struct DescribeZonesOut {
    #[serde(rename = "availabilityZoneInfo")]
    zones: Vec<Zone>,
}

/// DescribeAvailabilityZones: the region's zones, by name, id and filters.
pub(crate) fn describe(ctx: &Context, i: DescribeZonesIn) -> Result<DescribeZonesOut, ApiError> {
    let filters = Filters::<Zone>::new(&i.filters)?;
    let all = zones(&ctx.region);
    for wanted in i.zone_names.iter().chain(&i.zone_ids) {
        if zone(&ctx.region, wanted).is_none() {
            return Err(invalid(format!("Invalid availability zone: [{wanted}]")));
        }
    }
    let named = |z: &Zone| {
        (i.zone_names.is_empty() && i.zone_ids.is_empty())
            || i.zone_names.contains(&z.zone_name)
            || i.zone_ids.contains(&z.zone_id)
    };
    let zones = all.into_iter().filter(|z| named(z)).collect();
    Ok(DescribeZonesOut {
        zones: filters.keep(zones, ctx),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_follow_ec2s_region_codes() {
        for (region, code) in [
            ("us-east-1", "use1"),
            ("us-west-2", "usw2"),
            ("eu-central-1", "euc1"),
            ("ap-southeast-2", "apse2"),
            ("ap-northeast-1", "apne1"),
            ("sa-east-1", "sae1"),
            ("us-gov-west-1", "usgw1"),
        ] {
            assert_eq!(region_code(region), code, "{region}");
        }
        let z = zones("us-east-1");
        let names: Vec<_> = z
            .iter()
            .map(|z| (z.zone_name.as_str(), z.zone_id.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                ("us-east-1a", "use1-az1"),
                ("us-east-1b", "use1-az2"),
                ("us-east-1c", "use1-az3")
            ]
        );
        assert_eq!(
            zone("us-east-1", "use1-az2").unwrap().zone_name,
            "us-east-1b"
        );
        assert!(zone("us-east-1", "us-east-1d").is_none());
    }
}
