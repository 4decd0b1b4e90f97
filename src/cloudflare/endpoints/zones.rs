//! Zones, their Workers routes and DNS records.

use serde::{Deserialize, Serialize};

use super::{or_default, ListEndpoint, Paging};
use crate::cloudflare::path::{api_path, InvalidSegment};

/// `GET /zones?account.id={a}`: the account's zones (Cloudflare caps `per_page` at 50 here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListZones {
    pub account: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneInfo {
    #[serde(default, deserialize_with = "or_default")]
    pub id: String,
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    /// `active`, `pending`, ...
    #[serde(default, deserialize_with = "or_default")]
    pub status: String,
}

impl ListEndpoint for ListZones {
    type Item = ZoneInfo;
    const PAGING: Paging = Paging::Pages { per_page: 50 };
    fn path(&self) -> Result<String, InvalidSegment> {
        api_path(&["zones"])
    }
    fn query(&self) -> Vec<(&'static str, String)> {
        vec![("account.id", self.account.clone())]
    }
}

/// `GET /zones/{z}/workers/routes`: the zone's route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListZoneRoutes {
    pub zone: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteInfo {
    #[serde(default, deserialize_with = "or_default")]
    pub pattern: String,
    /// The Worker it runs; `None` for a route that disables Workers.
    #[serde(default)]
    pub script: Option<String>,
}

impl ListEndpoint for ListZoneRoutes {
    type Item = RouteInfo;
    const PAGING: Paging = Paging::Whole;
    fn path(&self) -> Result<String, InvalidSegment> {
        api_path(&["zones", &self.zone, "workers", "routes"])
    }
}

/// `GET /zones/{z}/dns_records?name={host}`: the records of one hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDnsRecords {
    pub zone: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsRecord {
    #[serde(default, rename(deserialize = "type"), deserialize_with = "or_default")]
    pub record_type: String,
    #[serde(default, deserialize_with = "or_default")]
    pub name: String,
    #[serde(default, deserialize_with = "or_default")]
    pub content: String,
}

impl ListEndpoint for ListDnsRecords {
    type Item = DnsRecord;
    const PAGING: Paging = Paging::Whole;
    fn path(&self) -> Result<String, InvalidSegment> {
        api_path(&["zones", &self.zone, "dns_records"])
    }
    fn query(&self) -> Vec<(&'static str, String)> {
        vec![("name", self.name.clone())]
    }
}
