//! Hyperdrive and Vectorize bindings: the config or index exists.

use super::{Out, Remote};
use crate::assess::finding::{Kind, Severity};

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv) = (r.w, r.inv);
    for b in &w.other_bindings {
        let (list, kind, what, fix) = match b.kind.as_str() {
            "hyperdrive" => (
                inv.hyperdrive.as_ref(),
                Kind::HyperdriveMissing,
                "Hyperdrive config",
                format!(
                    "wrangler hyperdrive create <name> --connection-string=<postgres url>, then set id for `{}`",
                    b.binding
                ),
            ),
            "vectorize" => (
                inv.vectorize.as_ref(),
                Kind::VectorizeMissing,
                "Vectorize index",
                format!(
                    "wrangler vectorize create {} --dimensions=<n> --metric=<cosine|euclidean|dot-product>",
                    b.target.as_deref().unwrap_or("<name>")
                ),
            ),
            _ => continue,
        };
        let (Some(list), Some(target)) = (list, b.target.as_deref()) else {
            continue;
        };
        match list {
            Err(why) => out.inconclusive(
                &format!("{what} binding `{}`", b.binding),
                why,
                Some(&b.location),
            ),
            Ok(list) if !list.iter().any(|x| x == target) => out.at(
                kind,
                Severity::Error,
                &b.location,
                format!("binding `{}`: {what} `{target}` does not exist", b.binding),
                fix,
            ),
            Ok(_) => {}
        }
    }
}
