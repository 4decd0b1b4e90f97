//! Zones, their Workers routes and DNS records.

use serde::{Deserialize, Serialize};

use super::{ListEndpoint, Paging};
use crate::cloudflare::path::{api_path, InvalidSegment};

/// A zone of the account; `status` is `active`, `pending`, ...
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ZoneInfo {
    pub id: String,
    pub name: String,
    pub status: String,
}

/// `GET /zones?account.id={a}`: the account's zones (Cloudflare caps `per_page` at 50 here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListZones {
    pub account: String,
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

/// A route of the zone's table; `script` is `None` for a route that disables Workers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteInfo {
    pub pattern: String,
    pub script: Option<String>,
    /// The route's id (what `clodo export` imports); not part of reports.
    #[serde(skip_serializing)]
    pub id: String,
}

/// `GET /zones/{z}/workers/routes`: the zone's route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListZoneRoutes {
    pub zone: String,
}

list_endpoint!(ListZoneRoutes => RouteInfo, Paging::Whole, |e| {
    api_path(&["zones", &e.zone, "workers", "routes"])
});

/// One DNS record: type (`A`, `CNAME`, ...), name and content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsRecord {
    #[serde(rename(deserialize = "type"))]
    pub record_type: String,
    pub name: String,
    pub content: String,
    #[serde(skip_serializing)]
    pub id: String,
    #[serde(skip_serializing)]
    pub proxied: bool,
}

/// `GET /zones/{z}/dns_records?name={host}`: the records of one hostname.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListDnsRecords {
    pub zone: String,
    pub name: String,
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
