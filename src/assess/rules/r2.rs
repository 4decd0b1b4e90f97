//! R2 bindings: the bucket exists in its jurisdiction.

use super::{Out, Remote};
use crate::assess::finding::{Kind, Severity};

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv) = (r.w, r.inv);
    for b in &w.r2_buckets {
        let jurisdiction = b.jurisdiction.clone();
        let check = || format!("R2 binding `{}`", b.binding);
        let Some(list) = out.read(inv.r2.get(&jurisdiction), check, Some(&b.location)) else {
            continue;
        };
        let j_flag = jurisdiction
            .as_deref()
            .map(|j| format!(" -J {j}"))
            .unwrap_or_default();
        match b.bucket_name.as_deref() {
            Some(bucket) if !list.iter().any(|n| n == bucket) => out.at(
                Kind::R2Missing,
                Severity::Error,
                &b.location,
                format!(
                    "R2 binding `{}`: bucket `{bucket}` does not exist{}",
                    b.binding,
                    jurisdiction.as_deref().map(|j| format!(" in jurisdiction {j}")).unwrap_or_default()
                ),
                format!("wrangler r2 bucket create {bucket}{j_flag}"),
            ),
            Some(_) => {}
            None => out.at(
                Kind::R2Missing,
                Severity::Warning,
                &b.location,
                format!("R2 binding `{}` has no bucket_name; wrangler would create a bucket during the deploy", b.binding),
                format!("wrangler r2 bucket create <name>{j_flag}, then set bucket_name"),
            ),
        }
    }
}
