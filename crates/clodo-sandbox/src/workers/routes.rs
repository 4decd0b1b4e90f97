//! Script routes and Workers custom domains.

use super::*;

pub fn script_routes(st: &State, a: &str, s: &str) -> Vec<Value> {
    st.worker_routes
        .iter()
        .filter(|r| r.script.as_deref() == Some(s))
        .filter_map(|r| {
            let zone = st.zones.iter().find(|z| z.id == r.zone_id && z.account_id == a)?;
            Some(json!({ "id": r.id, "pattern": r.pattern, "script": s, "zone_id": zone.id, "zone_name": zone.name }))
        })
        .collect()
}

#[derive(Deserialize)]
pub struct ScriptRouteBody {
    pattern: String,
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    zone_name: Option<String>,
}

/// Finds the account zone a route or domain belongs to: by id, by name, or by its host.
pub fn resolve_zone(
    st: &State,
    a: &str,
    zone_id: Option<&str>,
    zone_name: Option<&str>,
    host: &str,
) -> Result<crate::state::Zone, SandboxError> {
    let zones: Vec<crate::state::Zone> = st
        .zones
        .iter()
        .filter(|z| z.account_id == a)
        .cloned()
        .collect();
    let found = match (zone_id, zone_name) {
        (Some(id), _) => zones.iter().find(|z| z.id == id),
        (None, Some(name)) => zones.iter().find(|z| z.name == name),
        (None, None) => zone_for_hostname(&zones, host),
    };
    found.cloned().ok_or_else(|| {
        SandboxError::rejected(
            400,
            10022,
            format!("Could not find a zone for {host} in this account"),
        )
    })
}

pub async fn put_script_routes(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: Vec<ScriptRouteBody> = req.json()?;
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Routes, Access::Edit)?;
            find_script(st, a, s)?;
            let mut planned = Vec::new();
            for r in &body {
                let zone = resolve_zone(
                    st,
                    a,
                    r.zone_id.as_deref(),
                    r.zone_name.as_deref(),
                    &pattern_host(&r.pattern),
                )?;
                check_route_free(st, &zone.id, &r.pattern, Some(s), None)?;
                planned.push(WorkerRoute {
                    id: hex_id(),
                    zone_id: zone.id.clone(),
                    pattern: r.pattern.clone(),
                    script: Some(s.to_string()),
                });
            }
            let account_zones: Vec<String> = st
                .zones
                .iter()
                .filter(|z| z.account_id == a)
                .map(|z| z.id.clone())
                .collect();
            st.worker_routes.retain(|r| {
                !(r.script.as_deref() == Some(s) && account_zones.contains(&r.zone_id))
            });
            st.worker_routes.extend(planned);
            Ok(Reply::ok(Value::Array(script_routes(st, a, s))))
        })
        .await
}

pub fn domain_json(d: &CustomDomain) -> Value {
    json!({
        "id": d.id, "hostname": d.hostname, "service": d.service, "environment": d.environment,
        "zone_id": d.zone_id, "zone_name": d.zone_name, "cert_id": d.cert_id,
    })
}

pub fn list_domains(
    st: &State,
    req: &ApiRequest,
    a: &str,
    paged: bool,
) -> Result<Reply, SandboxError> {
    let q = &req.query;
    let items: Vec<Value> = st
        .custom_domains
        .iter()
        .filter(|d| d.account_id == a)
        .filter(|d| q.get("hostname").is_none_or(|h| h == d.hostname))
        .filter(|d| q.get("service").is_none_or(|x| x == d.service))
        .filter(|d| q.get("zone_id").is_none_or(|x| x == d.zone_id))
        .filter(|d| q.get("zone_name").is_none_or(|x| x == d.zone_name))
        .filter(|d| q.get("environment").is_none_or(|x| x == d.environment))
        .map(domain_json)
        .collect();
    if paged {
        let (page, info) = paginate(&items, page_request(q, 20, 100)?);
        return Ok(Reply::page(Value::Array(page), info));
    }
    Ok(Reply::ok(Value::Array(items)))
}

pub fn valid_custom_hostname(host: &str) -> bool {
    !host.is_empty() && !host.contains('*') && !host.contains('/')
}

#[derive(Deserialize)]
pub struct DomainBody {
    hostname: String,
    service: String,
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    zone_name: Option<String>,
    #[serde(default)]
    environment: Option<String>,
}

pub async fn put_domain(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
) -> Result<Reply, SandboxError> {
    let body: DomainBody = req.json()?;
    if !valid_custom_hostname(&body.hostname) {
        return Err(invalid(
            "Custom domains take a hostname without wildcards or paths",
        ));
    }
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Routes, Access::Edit)?;
            find_script(st, a, &body.service)?;
            let zone = resolve_zone(
                st,
                a,
                body.zone_id.as_deref(),
                body.zone_name.as_deref(),
                &body.hostname,
            )?;
            let domain = upsert_domain(
                st,
                a,
                &body.hostname,
                &body.service,
                body.environment.as_deref(),
                &zone,
            );
            Ok(Reply::ok(domain_json(&domain)))
        })
        .await
}

pub fn upsert_domain(
    st: &mut State,
    a: &str,
    hostname: &str,
    service: &str,
    environment: Option<&str>,
    zone: &crate::state::Zone,
) -> CustomDomain {
    st.custom_domains
        .retain(|d| !(d.account_id == a && d.hostname == hostname));
    let domain = CustomDomain {
        id: hex_id(),
        account_id: a.to_string(),
        hostname: hostname.to_string(),
        service: service.to_string(),
        environment: environment.unwrap_or("production").to_string(),
        zone_id: zone.id.clone(),
        zone_name: zone.name.clone(),
        cert_id: hex_id(),
    };
    st.custom_domains.push(domain.clone());
    domain
}

#[derive(Deserialize)]
pub struct Origin {
    hostname: String,
    #[serde(default)]
    zone_id: Option<String>,
    #[serde(default)]
    zone_name: Option<String>,
}

/// Hostnames with DNS records of their own, which a custom domain would override (100117).
pub fn dns_conflicts(st: &State, hostname: &str) -> bool {
    st.dns_records
        .iter()
        .any(|r| r.name.eq_ignore_ascii_case(hostname))
}

pub fn domains_changeset(
    st: &State,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let origins: Vec<Origin> = req.json()?;
    let replace = req.query.flag("replace_state");
    let mut added = vec![];
    let mut updated = vec![];
    let mut conflicting = vec![];
    for o in &origins {
        match st.custom_domains.iter().find(|d| d.account_id == a && d.hostname == o.hostname) {
            Some(d) if d.service == s => {}
            Some(d) => updated.push(json!({ "id": d.id, "hostname": d.hostname, "service": d.service, "modified": true })),
            None if dns_conflicts(st, &o.hostname) => conflicting.push(json!({ "hostname": o.hostname })),
            None => added.push(json!({ "hostname": o.hostname, "zone_id": o.zone_id, "zone_name": o.zone_name })),
        }
    }
    let removed: Vec<Value> = if replace {
        st.custom_domains
            .iter()
            .filter(|d| {
                d.account_id == a
                    && d.service == s
                    && !origins.iter().any(|o| o.hostname == d.hostname)
            })
            .map(domain_json)
            .collect()
    } else {
        vec![]
    };
    Ok(Reply::ok(
        json!({ "added": added, "removed": removed, "updated": updated, "conflicting": conflicting }),
    ))
}

#[derive(Deserialize)]
pub struct DomainRecordsBody {
    #[serde(default)]
    override_scope: bool,
    #[serde(default)]
    override_existing_origin: bool,
    #[serde(default)]
    override_existing_dns_record: bool,
    origins: Vec<Origin>,
}

pub async fn put_domain_records(
    store: &Store,
    t: &Token,
    req: &ApiRequest,
    a: &str,
    s: &str,
) -> Result<Reply, SandboxError> {
    let body: DomainRecordsBody = req.json()?;
    for o in &body.origins {
        if !valid_custom_hostname(&o.hostname) {
            return Err(invalid(
                "Custom domains take a hostname without wildcards or paths",
            ));
        }
    }
    store
        .mutate(|st| {
            account_scope(st, t, req, a, Product::Routes, Access::Edit)?;
            find_script(st, a, s)?;
            let mut zones = Vec::new();
            for o in &body.origins {
                let zone = resolve_zone(st, a, o.zone_id.as_deref(), o.zone_name.as_deref(), &o.hostname)?;
                let current = st.custom_domains.iter().find(|d| d.account_id == a && d.hostname == o.hostname);
                match current {
                    Some(d) if d.service != s && !body.override_existing_origin => {
                        return Err(SandboxError::rejected(
                            409,
                            100116,
                            format!("Hostname {} is already attached to Worker {}", o.hostname, d.service),
                        ))
                    }
                    None if dns_conflicts(st, &o.hostname) && !body.override_existing_dns_record => {
                        return Err(SandboxError::rejected(
                            409,
                            100117,
                            format!("Hostname '{}' already has externally managed DNS records (A, CNAME, etc). Either delete them, try a different hostname, or use the option 'override_existing_dns_record' to override.", o.hostname),
                        ))
                    }
                    _ => {}
                }
                zones.push(zone);
            }
            if body.override_scope {
                st.custom_domains.retain(|d| !(d.account_id == a && d.service == s));
            }
            let mut out = Vec::new();
            for (o, zone) in body.origins.iter().zip(&zones) {
                if body.override_existing_dns_record {
                    st.dns_records.retain(|r| !r.name.eq_ignore_ascii_case(&o.hostname));
                }
                out.push(domain_json(&upsert_domain(st, a, &o.hostname, s, None, zone)));
            }
            Ok(Reply::ok(Value::Array(out)))
        })
        .await
}
