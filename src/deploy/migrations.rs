//! D1 migrations, pure: which files of a `migrations_dir` are pending (wrangler's rule), and
//! which statements of a pending migration destroy data or break the code still running
//! (DROP TABLE, DROP COLUMN, RENAME, a table rebuild that leaves columns behind). The schema
//! the earlier migrations built is replayed so a rebuild can be judged column by column.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

/// The table wrangler records applied migrations in unless `migrations_table` says otherwise.
pub const DEFAULT_MIGRATIONS_TABLE: &str = "d1_migrations";

/// One `.sql` file of a migrations directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    pub name: String,
    pub sql: String,
}

/// The migration files not yet applied, in the order wrangler applies them: by the number
/// before the first `_` (files without one sort first, as wrangler's `parseInt` gives NaN),
/// then by name. Only `*.sql` files count.
#[must_use]
pub fn pending<'a>(files: &'a [MigrationFile], applied: &[String]) -> Vec<&'a MigrationFile> {
    let mut out: Vec<&MigrationFile> = files
        .iter()
        .filter(|f| f.name.ends_with(".sql") && !applied.contains(&f.name))
        .collect();
    out.sort_by_key(|f| order_key(&f.name));
    out
}

fn order_key(name: &str) -> (Option<u64>, String) {
    let number = name.split('_').next().and_then(|n| n.parse::<u64>().ok());
    (number, name.to_owned())
}

/// A statement that loses data or breaks code written for the schema before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destructive {
    DropTable {
        table: String,
    },
    DropColumn {
        table: String,
        column: String,
    },
    RenameTable {
        table: String,
        to: String,
    },
    RenameColumn {
        table: String,
        column: String,
        to: String,
    },
    /// `CREATE TABLE new …; INSERT INTO new SELECT … FROM old; DROP TABLE old`, where the copy
    /// leaves columns of `old` behind (`lost` empty: the old columns are unknown, so nothing
    /// proves the copy complete).
    TableRebuild {
        table: String,
        lost: Vec<String>,
    },
}

impl fmt::Display for Destructive {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Destructive::DropTable { table } => write!(f, "DROP TABLE {table}"),
            Destructive::DropColumn { table, column } => {
                write!(f, "ALTER TABLE {table} DROP COLUMN {column}")
            }
            Destructive::RenameTable { table, to } => {
                write!(f, "ALTER TABLE {table} RENAME TO {to}")
            }
            Destructive::RenameColumn { table, column, to } => {
                write!(f, "ALTER TABLE {table} RENAME COLUMN {column} TO {to}")
            }
            Destructive::TableRebuild { table, lost } if lost.is_empty() => write!(
                f,
                "table rebuild of {table} (its old columns are unknown, so the copy may lose data)"
            ),
            Destructive::TableRebuild { table, lost } => write!(
                f,
                "table rebuild of {table} that drops column(s) {}",
                lost.join(", ")
            ),
        }
    }
}

/// What one pending migration does that the running code may not survive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationReport {
    pub name: String,
    pub destructive: Vec<Destructive>,
}

/// Replays `all` (every migration file, applied or not) in order to know each table's columns,
/// and reports the destructive statements of the pending ones.
#[must_use]
pub fn analyse(all: &[MigrationFile], applied: &[String]) -> Vec<MigrationReport> {
    let mut schema = Schema::default();
    let ordered = pending(all, &[]);
    let mut out = Vec::new();
    for file in ordered {
        let found = schema.apply(&file.sql);
        if !applied.contains(&file.name) {
            out.push(MigrationReport {
                name: file.name.clone(),
                destructive: found,
            });
        }
    }
    out
}

/// Destructive statements of one SQL text against an empty schema (tables created earlier
/// are unknown: a rebuild of one of them is flagged).
#[must_use]
pub fn destructive_statements(sql: &str) -> Vec<Destructive> {
    Schema::default().apply(sql)
}

/// Tables and their columns, as far as the migrations tell.
#[derive(Debug, Default)]
struct Schema {
    tables: BTreeMap<String, Vec<String>>,
}

/// A copy `INSERT INTO target … SELECT … FROM source` seen in the current migration.
struct Copy {
    target: String,
    source: String,
    /// Source columns copied; `None`: `SELECT *`.
    columns: Option<BTreeSet<String>>,
}

impl Schema {
    /// Applies one migration's statements, returning the destructive ones.
    fn apply(&mut self, sql: &str) -> Vec<Destructive> {
        let mut found = Vec::new();
        let mut copies: Vec<Copy> = Vec::new();
        let mut rebuilt: BTreeSet<String> = BTreeSet::new();
        for statement in statements(sql) {
            let words = tokens(&statement);
            let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
            let kw = |i: usize| upper.get(i).map_or("", String::as_str);
            match (kw(0), kw(1)) {
                ("CREATE", _) if upper.iter().take(4).any(|w| w == "TABLE") => {
                    if let Some((name, columns)) = create_table(&statement) {
                        self.tables.insert(name, columns);
                    }
                }
                ("INSERT" | "REPLACE", _) => {
                    if let Some(copy) = insert_select(&words, &upper) {
                        copies.push(copy);
                    }
                }
                ("DROP", "TABLE") => {
                    let at = if kw(2) == "IF" && kw(3) == "EXISTS" {
                        4
                    } else {
                        2
                    };
                    let Some(table) = words.get(at).map(|w| ident(w)) else {
                        continue;
                    };
                    let old = self.tables.remove(&table);
                    match copies.iter().find(|c| c.source == table) {
                        Some(copy) => {
                            rebuilt.insert(copy.target.clone());
                            let lost = match (&old, &copy.columns) {
                                (Some(_), None) => Some(Vec::new()),
                                (Some(old), Some(kept)) => Some(
                                    old.iter().filter(|c| !kept.contains(*c)).cloned().collect(),
                                ),
                                (None, _) => None,
                            };
                            match lost {
                                Some(lost) if lost.is_empty() => {}
                                Some(lost) => found.push(Destructive::TableRebuild { table, lost }),
                                None => found.push(Destructive::TableRebuild {
                                    table,
                                    lost: Vec::new(),
                                }),
                            }
                        }
                        None => found.push(Destructive::DropTable { table }),
                    }
                }
                ("ALTER", "TABLE") => {
                    let Some(table) = words.get(2).map(|w| ident(w)) else {
                        continue;
                    };
                    match (kw(3), kw(4)) {
                        ("DROP", _) => {
                            let at = if kw(4) == "COLUMN" { 5 } else { 4 };
                            if let Some(column) = words.get(at).map(|w| ident(w)) {
                                if let Some(cols) = self.tables.get_mut(&table) {
                                    cols.retain(|c| *c != column);
                                }
                                found.push(Destructive::DropColumn { table, column });
                            }
                        }
                        ("RENAME", "TO") => {
                            let Some(to) = words.get(5).map(|w| ident(w)) else {
                                continue;
                            };
                            let columns = self.tables.remove(&table).unwrap_or_default();
                            self.tables.insert(to.clone(), columns);
                            // The last step of a rebuild puts the new table under the old name.
                            if !rebuilt.contains(&table) {
                                found.push(Destructive::RenameTable { table, to });
                            }
                        }
                        ("RENAME", _) => {
                            let at = if kw(4) == "COLUMN" { 5 } else { 4 };
                            let (Some(column), Some(to)) = (
                                words.get(at).map(|w| ident(w)),
                                words.get(at + 2).map(|w| ident(w)),
                            ) else {
                                continue;
                            };
                            if let Some(cols) = self.tables.get_mut(&table) {
                                for c in cols.iter_mut().filter(|c| **c == column) {
                                    c.clone_from(&to);
                                }
                            }
                            found.push(Destructive::RenameColumn { table, column, to });
                        }
                        ("ADD", _) => {
                            let at = if kw(4) == "COLUMN" { 5 } else { 4 };
                            if let (Some(column), Some(cols)) =
                                (words.get(at).map(|w| ident(w)), self.tables.get_mut(&table))
                            {
                                cols.push(column);
                            }
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        found
    }
}

/// The statements of a SQL text: comments removed, split on `;` outside quotes, whitespace
/// collapsed, empty ones dropped.
fn statements(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '-' if chars.peek() == Some(&'-') => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
                current.push(' ');
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = ' ';
                for n in chars.by_ref() {
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
                current.push(' ');
            }
            '\'' | '"' | '`' => {
                current.push(c);
                for n in chars.by_ref() {
                    current.push(n);
                    if n == c {
                        break;
                    }
                }
            }
            '[' => {
                current.push(c);
                for n in chars.by_ref() {
                    current.push(n);
                    if n == ']' {
                        break;
                    }
                }
            }
            ';' => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out.into_iter()
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Words and punctuation of one statement: identifiers (quoted ones whole), `(`, `)`, `,`.
fn tokens(statement: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut chars = statement.chars();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '(' | ')' | ',' | '=' => {
                flush(&mut word, &mut out);
                out.push(c.to_string());
            }
            '\'' | '"' | '`' | '[' => {
                let close = if c == '[' { ']' } else { c };
                word.push(c);
                for n in chars.by_ref() {
                    word.push(n);
                    if n == close {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// An identifier without its quotes and schema prefix, lowercased (SQLite names are
/// case-insensitive).
fn ident(word: &str) -> String {
    let last = word.rsplit('.').next().unwrap_or(word);
    last.trim_matches(|c| matches!(c, '"' | '`' | '[' | ']' | '\''))
        .to_ascii_lowercase()
}

const CONSTRAINTS: [&str; 5] = ["PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT"];

/// `CREATE [TEMP] TABLE [IF NOT EXISTS] name (col …, …)`: the name and column names.
fn create_table(statement: &str) -> Option<(String, Vec<String>)> {
    let words = tokens(statement);
    let open = words.iter().position(|w| w == "(")?;
    let name = ident(words.get(open.checked_sub(1)?)?);
    let mut columns = Vec::new();
    let mut depth = 0usize;
    let mut at_item_start = true;
    for w in &words[open + 1..] {
        match w.as_str() {
            "(" => depth += 1,
            ")" if depth == 0 => break,
            ")" => depth -= 1,
            "," if depth == 0 => at_item_start = true,
            _ if at_item_start && depth == 0 => {
                at_item_start = false;
                if !CONSTRAINTS.contains(&w.to_ascii_uppercase().as_str()) {
                    columns.push(ident(w));
                }
            }
            _ => {}
        }
    }
    Some((name, columns))
}

/// `INSERT INTO target [(cols)] SELECT a, b FROM source …`: the copy it makes.
fn insert_select(words: &[String], upper: &[String]) -> Option<Copy> {
    let into = upper.iter().position(|w| w == "INTO")?;
    let target = ident(words.get(into + 1)?);
    let select = upper.iter().position(|w| w == "SELECT")?;
    let from = select + upper[select..].iter().position(|w| w == "FROM")?;
    let source = ident(words.get(from + 1)?);
    let list = &words[select + 1..from];
    let columns = if list.len() == 1 && (list[0] == "*" || list[0].ends_with(".*")) {
        None
    } else {
        // Each item's first word when the item is a plain column (`a`, `t.a`, `a AS b`).
        let mut kept = BTreeSet::new();
        for item in list.split(|w| w == ",") {
            if let Some(first) = item.first() {
                if first != "(" && !first.starts_with('\'') {
                    kept.insert(ident(first));
                }
            }
        }
        Some(kept)
    };
    Some(Copy {
        target,
        source,
        columns,
    })
}

#[cfg(test)]
#[path = "migrations_tests.rs"]
mod tests;
