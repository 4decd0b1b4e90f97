//! KV bindings: the namespace id exists in the account.

use super::{Out, Remote};
use crate::assess::finding::{Kind, Severity};

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv, env_flag) = (r.w, r.inv, &r.env_flag);
    for b in &w.kv_namespaces {
        let check = || format!("KV binding `{}`", b.binding);
        let Some(list) = out.read(inv.kv.as_ref(), check, Some(&b.location)) else {
            continue;
        };
        match b.id.as_deref() {
            Some(id) if !list.iter().any(|n| n.id == id) => {
                let similar = list.iter().find(|n| n.title.ends_with(&b.binding));
                out.at(
                    Kind::KvMissing,
                    Severity::Error,
                    &b.location,
                    format!("KV binding `{}`: no namespace with id `{id}` in the account", b.binding),
                    match similar {
                        Some(n) => format!("set id = \"{}\" (namespace `{}`), or run: wrangler kv namespace create {}{env_flag}", n.id, n.title, b.binding),
                        None => format!("wrangler kv namespace create {}{env_flag}, then set id to the id it prints", b.binding),
                    },
                );
            }
            Some(_) => {}
            None => out.at(
                Kind::KvMissing,
                Severity::Warning,
                &b.location,
                format!("KV binding `{}` has no id; wrangler would create a namespace during the deploy", b.binding),
                format!("wrangler kv namespace create {}{env_flag}, then set id", b.binding),
            ),
        }
    }
}
