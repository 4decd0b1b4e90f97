//! TOML → `serde_json::Value` with the position of every key, via `toml`'s spanned parser.

use serde_json::{Map, Number, Value};
use toml::de::{DeTable, DeValue};

use super::source::{child_path, index_path, LineIndex, SourceMap};
use super::ConfigError;

/// Parses TOML text into a value and the positions of its keys.
pub(crate) fn parse(text: &str, file: &str) -> Result<(Value, SourceMap), ConfigError> {
    let index = LineIndex::new(text);
    let doc = DeTable::parse(text).map_err(|e| {
        let (line, column) = match e.span() {
            Some(span) => {
                let (l, c) = index.line_col(span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        let (message, expected) = split_expected(e.message());
        ConfigError {
            file: file.to_owned(),
            line,
            column,
            key_path: None,
            message,
            expected,
        }
    })?;
    let mut map = SourceMap::default();
    let value = table(doc.get_ref(), "", &index, &mut map);
    Ok((value, map))
}

/// `toml` phrases some errors as "..., expected X"; keep X apart so the error reads
/// `file:line:col: message (expected X)` like every other config error.
fn split_expected(message: &str) -> (String, Option<String>) {
    let message = message.trim();
    if let Some(i) = message.find(", expected ") {
        let (m, e) = message.split_at(i);
        return (m.to_owned(), Some(e[", expected ".len()..].to_owned()));
    }
    (message.to_owned(), None)
}

fn table(t: &DeTable<'_>, path: &str, index: &LineIndex<'_>, map: &mut SourceMap) -> Value {
    let mut out = Map::new();
    for (key, value) in t.iter() {
        let key_path = child_path(path, key.get_ref());
        let (line, column) = index.line_col(key.span().start);
        map.insert(key_path.clone(), line, column);
        out.insert(
            key.get_ref().to_string(),
            convert(value.get_ref(), &key_path, index, map),
        );
    }
    Value::Object(out)
}

fn convert(v: &DeValue<'_>, path: &str, index: &LineIndex<'_>, map: &mut SourceMap) -> Value {
    match v {
        DeValue::String(s) => Value::String(s.to_string()),
        DeValue::Integer(i) => {
            let n = i64::from_str_radix(i.as_str(), i.radix())
                .map(Number::from)
                .or_else(|_| u64::from_str_radix(i.as_str(), i.radix()).map(Number::from));
            match n {
                Ok(n) => Value::Number(n),
                // Out of range for JSON numbers: keep the text rather than fail a whole config.
                Err(_) => Value::String(i.as_str().to_owned()),
            }
        }
        DeValue::Float(f) => {
            let raw = f.as_str().replace('_', "");
            raw.parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map_or_else(|| Value::String(f.as_str().to_owned()), Value::Number)
        }
        DeValue::Boolean(b) => Value::Bool(*b),
        DeValue::Datetime(d) => Value::String(d.to_string()),
        DeValue::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let item_path = index_path(path, i);
                    let (line, column) = index.line_col(item.span().start);
                    map.insert(item_path.clone(), line, column);
                    convert(item.get_ref(), &item_path, index, map)
                })
                .collect(),
        ),
        DeValue::Table(t) => table(t, path, index, map),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_positions() {
        let text = "name = 'w'\n[[d1_databases]]\nbinding = \"DB\"\n\n[env.prod]\nroutes = [\n  \"a/*\",\n]\n";
        let (v, map) = parse(text, "wrangler.toml").unwrap();
        assert_eq!(v["name"], "w");
        assert_eq!(v["d1_databases"][0]["binding"], "DB");
        assert_eq!(map.get_exact("d1_databases[0].binding"), Some((3, 1)));
        assert_eq!(map.get_exact("env.prod.routes"), Some((6, 1)));
        assert_eq!(map.get_exact("env.prod.routes[0]"), Some((7, 3)));
    }

    #[test]
    fn syntax_error_has_position() {
        let err = parse("name = \"w\"\nmain = \n", "wrangler.toml").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.column.is_some());
        assert!(err.to_string().starts_with("wrangler.toml:2:"), "{err}");
    }
}
