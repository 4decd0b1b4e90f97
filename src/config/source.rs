//! Source positions shared by the TOML and JSONC readers: byte offset → line:column, and a map
//! from key path (`env.production.d1_databases[0].database_id`) to where that key was written.

use std::collections::HashMap;

/// Line starts of a text, to turn byte offsets into 1-based line:column.
pub(crate) struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { text, starts }
    }

    /// 1-based line and column; the column counts characters, not bytes, so a position after
    /// non-ASCII comments matches what an editor shows.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[line];
        let column = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count());
        (line + 1, column + 1)
    }
}

/// Where each key path's key (or array element) was written, 1-based line:column.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceMap {
    positions: HashMap<String, (usize, usize)>,
}

impl SourceMap {
    pub(crate) fn insert(&mut self, path: String, line: usize, column: usize) {
        // The first occurrence wins: with duplicate keys the earliest is where the reader looks.
        self.positions.entry(path).or_insert((line, column));
    }

    /// The position of `path`, or of its closest ancestor that has one (a value built by
    /// inheritance or a default still points somewhere useful).
    pub(crate) fn get(&self, path: &str) -> Option<(usize, usize)> {
        let mut p = path;
        loop {
            if let Some(&pos) = self.positions.get(p) {
                return Some(pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
            if p.is_empty() {
                return None;
            }
        }
    }

    /// The position of exactly `path`, without falling back to an ancestor.
    pub(crate) fn get_exact(&self, path: &str) -> Option<(usize, usize)> {
        self.positions.get(path).copied()
    }
}

/// Appends an object key to a key path: `a.b`, or `a["odd key"]` when the key is not a plain
/// identifier (so paths stay unambiguous).
pub(crate) fn child_path(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{}]", serde_json::Value::String(key.to_owned())),
    }
}

/// Appends an array index to a key path: `a[3]`.
pub(crate) fn index_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let idx = LineIndex::new("ab\n# 中文\nx = 1");
        assert_eq!(idx.line_col(0), (1, 1));
        assert_eq!(idx.line_col(3), (2, 1));
        let x = "ab\n# 中文\n".len();
        assert_eq!(idx.line_col(x), (3, 1));
        assert_eq!(idx.line_col(x - 1), (2, 5));
    }

    #[test]
    fn paths_and_ancestor_lookup() {
        let mut m = SourceMap::default();
        m.insert(child_path("", "env"), 3, 1);
        let p = index_path(&child_path(&child_path("env", "prod"), "routes"), 0);
        assert_eq!(p, "env.prod.routes[0]");
        assert_eq!(m.get(&p), Some((3, 1)));
        assert_eq!(m.get_exact(&p), None);
        assert_eq!(child_path("vars", "a.b"), "vars[\"a.b\"]");
    }
}
