//! D1 bindings: the database exists (by id, else by name) and its id and name agree.

use super::{Out, Remote};
use crate::assess::finding::{Kind, Severity};

pub(super) fn check(r: &Remote<'_>, out: &mut Out<'_>) {
    let (w, inv) = (r.w, r.inv);
    for b in &w.d1_databases {
        let check = || format!("D1 binding `{}`", b.binding);
        let Some(list) = out.read(inv.d1.as_ref(), check, Some(&b.location)) else {
            continue;
        };
        let by_name = b
            .database_name
            .as_deref()
            .and_then(|n| list.iter().find(|d| d.name == n));
        match b.database_id.as_deref() {
            Some(id) => match list.iter().find(|d| d.uuid == id) {
                Some(found) => {
                    if let Some(wanted) = b.database_name.as_deref() {
                        if found.name != wanted {
                            out.at(
                                Kind::D1NameMismatch,
                                Severity::Warning,
                                &b.location,
                                format!(
                                    "D1 binding `{}`: database_id {id} is the database `{}`, not `{wanted}`; the id wins, so the Worker uses `{}`",
                                    b.binding, found.name, found.name
                                ),
                                match by_name {
                                    Some(other) => format!("set database_id = \"{}\" (the id of `{wanted}`), or database_name = \"{}\"", other.uuid, found.name),
                                    None => format!("set database_name = \"{}\"", found.name),
                                },
                            );
                        }
                    }
                }
                None => {
                    let fix = match (by_name, b.database_name.as_deref()) {
                        (Some(existing), _) => format!(
                            "set database_id = \"{}\" (the id of the existing database `{}`)",
                            existing.uuid, existing.name
                        ),
                        (None, Some(n)) => format!(
                            "wrangler d1 create {n}, then set database_id to the id it prints"
                        ),
                        (None, None) => {
                            "wrangler d1 create <name>, then set database_name and database_id"
                                .to_owned()
                        }
                    };
                    out.at(
                        Kind::D1Missing,
                        Severity::Error,
                        &b.location,
                        format!(
                            "D1 binding `{}`: no database with id `{id}` in the account",
                            b.binding
                        ),
                        fix,
                    );
                }
            },
            None => {
                if let (None, Some(n)) = (by_name, b.database_name.as_deref()) {
                    out.at(
                        Kind::D1Missing,
                        Severity::Warning,
                        &b.location,
                        format!("D1 binding `{}`: database `{n}` does not exist; wrangler would create it during the deploy", b.binding),
                        format!("wrangler d1 create {n} (and set database_id), so the deploy changes nothing you did not plan"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::assess::rules::fixtures::*;

    #[test]
    fn a_d1_id_of_another_database_name_is_a_mismatch() {
        let w = worker(&CONFIG.replace("database_name = \"app-db\"", "database_name = \"other\""));
        let found = remote(&w, &inventory(), &[]);
        assert!(kinds(&found).contains(&Kind::D1NameMismatch), "{found:?}");
    }
}
