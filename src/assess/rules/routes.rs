//! Routes and custom domains: the zone exists and is active, and the route or hostname is not
//! another Worker's (nor held by DNS records for a custom domain).

use super::{Out, Remote};
use crate::assess::finding::{Kind, Severity};
use crate::assess::inventory::zone_for_host;

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv, name) = (r.w, r.inv, r.name.clone());
    for r in &w.routes {
        let host = route_host(&r.pattern);
        let zones = match inv.zones.as_ref() {
            None => continue,
            Some(Err(why)) => {
                out.inconclusive(
                    &format!("the zone of `{}`", r.pattern),
                    why,
                    Some(&r.location),
                );
                continue;
            }
            Some(Ok(z)) => z,
        };
        let zone = match (&r.zone_id, &r.zone_name) {
            (Some(id), _) => zones.iter().find(|z| &z.id == id),
            (None, Some(n)) => zones.iter().find(|z| z.name.eq_ignore_ascii_case(n)),
            (None, None) => zone_for_host(zones, &host),
        };
        let what = if r.custom_domain {
            "custom domain"
        } else {
            "route"
        };
        let Some(zone) = zone else {
            out.at(
                Kind::ZoneMissing,
                Severity::Error,
                &r.location,
                format!("{what} `{}`: no zone for `{host}` in the account", r.pattern),
                format!("add the domain to the account (https://dash.cloudflare.com/?to=/:account/add-site) or fix the {what}"),
            );
            continue;
        };
        if zone.status != "active" {
            out.at(
                Kind::ZoneInactive,
                Severity::Warning,
                &r.location,
                format!("{what} `{}`: zone `{}` is {}; no traffic reaches the Worker until it is active", r.pattern, zone.name, zone.status),
                format!("finish the zone setup of `{}` (point its nameservers to Cloudflare)", zone.name),
            );
        }
        if r.custom_domain {
            if let Some(Ok(domains)) = &inv.custom_domains {
                if let Some(other) = domains
                    .iter()
                    .find(|d| d.hostname.eq_ignore_ascii_case(&host) && d.service != name)
                {
                    out.at(
                        Kind::CustomDomainConflict,
                        Severity::Error,
                        &r.location,
                        format!("custom domain `{host}` is attached to Worker `{}`; a non-interactive `wrangler deploy` would silently take it over, cutting `{}` off that hostname", other.service, other.service),
                        format!("detach it from `{}` first (dashboard: Workers > {} > Settings > Domains), or choose another hostname", other.service, other.service),
                    );
                    continue;
                }
            } else if let Some(Err(why)) = &inv.custom_domains {
                out.inconclusive(&format!("custom domain `{host}`"), why, Some(&r.location));
                continue;
            }
            let ours = matches!(&inv.custom_domains, Some(Ok(d)) if d.iter().any(|d| d.hostname.eq_ignore_ascii_case(&host) && d.service == name));
            match inv.dns_records.get(&host) {
                Some(Err(why)) => {
                    out.inconclusive(&format!("DNS records of `{host}`"), why, Some(&r.location))
                }
                Some(Ok(records)) if !ours => {
                    let conflicting: Vec<String> = records
                        .iter()
                        .filter(|d| {
                            d.name.eq_ignore_ascii_case(&host)
                                && matches!(d.record_type.as_str(), "A" | "AAAA" | "CNAME")
                        })
                        .map(|d| format!("{} {}", d.record_type, d.content))
                        .collect();
                    if !conflicting.is_empty() {
                        out.at(
                            Kind::CustomDomainConflict,
                            Severity::Error,
                            &r.location,
                            format!("custom domain `{host}` already has DNS records ({}); Cloudflare refuses the domain (error 100117)", conflicting.join(", ")),
                            format!("delete the DNS records of `{host}` in zone `{}`, or attach it with override_existing_dns_record", zone.name),
                        );
                    }
                }
                _ => {}
            }
        } else {
            match inv.zone_routes.get(&zone.id) {
                Some(Err(why)) => {
                    out.inconclusive(&format!("route `{}`", r.pattern), why, Some(&r.location))
                }
                Some(Ok(routes)) => {
                    if let Some(other) = routes.iter().find(|x| {
                        x.pattern == r.pattern && x.script.as_deref().is_some_and(|s| s != name)
                    }) {
                        out.at(
                            Kind::RouteConflict,
                            Severity::Error,
                            &r.location,
                            format!("route `{}` is assigned to Worker `{}`", r.pattern, other.script.as_deref().unwrap_or_default()),
                            format!("remove the route from `{}` (wrangler triggers deploy there without it), or use another pattern", other.script.as_deref().unwrap_or_default()),
                        );
                    }
                }
                None => {}
            }
        }
    }
}

/// The host of a route pattern: before the first `/`, without a leading `*.` or `*`.
#[must_use]
pub fn route_host(pattern: &str) -> String {
    let without_scheme = pattern
        .strip_prefix("https://")
        .or_else(|| pattern.strip_prefix("http://"))
        .unwrap_or(pattern);
    let host = without_scheme.split('/').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    host.trim_start_matches("*.")
        .trim_start_matches('*')
        .to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use crate::assess::inventory::{CustomDomain, ZoneInfo};
    use crate::assess::rules::fixtures::*;

    #[test]
    fn a_custom_domain_of_another_worker_is_an_error() {
        let w = worker(&CONFIG.replace(
            "main = \"src/index.js\"",
            "main = \"src/index.js\"\nroutes = [{ pattern = \"shop.example.com\", custom_domain = true }]",
        ));
        let mut inv = inventory();
        inv.zones = Some(Ok(vec![ZoneInfo {
            id: "z1".into(),
            name: "example.com".into(),
            status: "active".into(),
        }]));
        inv.custom_domains = Some(Ok(vec![CustomDomain {
            hostname: "shop.example.com".into(),
            service: "legacy-shop".into(),
            ..CustomDomain::default()
        }]));
        let found = remote(&w, &inv, &[]);
        let f = found
            .iter()
            .find(|f| f.kind == Kind::CustomDomainConflict)
            .unwrap_or_else(|| panic!("{found:?}"));
        assert_eq!(f.severity, Severity::Error);
        assert!(f.message.contains("legacy-shop") && f.message.contains("take it over"));
        // Its own domain is no conflict.
        inv.custom_domains = Some(Ok(vec![CustomDomain {
            hostname: "shop.example.com".into(),
            service: "api".into(),
            ..CustomDomain::default()
        }]));
        assert!(!kinds(&remote(&w, &inv, &[])).contains(&Kind::CustomDomainConflict));
    }
}
