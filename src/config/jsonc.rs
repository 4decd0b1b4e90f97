//! A small JSONC reader (JSON plus `//` and `/* */` comments and trailing commas), the dialect
//! wrangler accepts for both `wrangler.json` and `wrangler.jsonc`. It records the line:column
//! of every key so later errors point at the exact key, which `serde_json` cannot do.

use serde_json::{Map, Number, Value};

use super::source::{child_path, index_path, LineIndex, SourceMap};
use super::ConfigError;

/// Deep nesting is never a real config; the bound keeps a hostile input from overflowing the
/// stack of the Worker.
const MAX_DEPTH: usize = 128;

/// Parses JSONC text into a value and the positions of its keys.
pub(crate) fn parse(text: &str, file: &str) -> Result<(Value, SourceMap), ConfigError> {
    let mut p = Parser {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        index: LineIndex::new(text),
        map: SourceMap::default(),
        file,
        depth: 0,
    };
    // A UTF-8 byte order mark is legal at the start of a file saved by some editors.
    if text.starts_with('\u{feff}') {
        p.pos = '\u{feff}'.len_utf8();
    }
    p.skip_trivia()?;
    let value = p.value("")?;
    p.skip_trivia()?;
    if p.pos < p.bytes.len() {
        return Err(p.error_at(
            p.pos,
            "unexpected content after the end of the document",
            Some("end of file"),
            None,
        ));
    }
    Ok((value, p.map))
}

struct Parser<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    index: LineIndex<'a>,
    map: SourceMap,
    file: &'a str,
    depth: usize,
}

impl Parser<'_> {
    fn error_at(
        &self,
        offset: usize,
        message: &str,
        expected: Option<&str>,
        key_path: Option<&str>,
    ) -> ConfigError {
        let (line, column) = self.index.line_col(offset);
        ConfigError {
            file: self.file.to_owned(),
            line: Some(line),
            column: Some(column),
            key_path: key_path.filter(|p| !p.is_empty()).map(str::to_owned),
            message: message.to_owned(),
            expected: expected.map(str::to_owned),
        }
    }

    /// An error at the current position naming what was found there.
    fn unexpected(&self, expected: &str, path: &str) -> ConfigError {
        let found = match self.text[self.pos..].chars().next() {
            None => "unexpected end of file".to_owned(),
            Some(c) => format!("unexpected character `{c}`"),
        };
        self.error_at(self.pos, &found, Some(expected), Some(path))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn record(&mut self, path: &str, offset: usize) {
        let (line, column) = self.index.line_col(offset);
        self.map.insert(path.to_owned(), line, column);
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), ConfigError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r') => self.pos += 1,
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'/') => {
                    while let Some(b) = self.peek() {
                        if b == b'\n' {
                            break;
                        }
                        self.pos += 1;
                    }
                }
                Some(b'/') if self.bytes.get(self.pos + 1) == Some(&b'*') => {
                    let start = self.pos;
                    match self.text[self.pos + 2..].find("*/") {
                        Some(end) => self.pos += 2 + end + 2,
                        None => {
                            return Err(self.error_at(
                                start,
                                "unterminated block comment",
                                Some("`*/`"),
                                None,
                            ))
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, path: &str) -> Result<Value, ConfigError> {
        match self.peek() {
            Some(b'{') => self.nested(path, true),
            Some(b'[') => self.nested(path, false),
            Some(b'"') => Ok(Value::String(self.string(path)?)),
            Some(b't') => self.literal("true", Value::Bool(true), path),
            Some(b'f') => self.literal("false", Value::Bool(false), path),
            Some(b'n') => self.literal("null", Value::Null, path),
            Some(b'-' | b'0'..=b'9') => self.number(path),
            Some(b'\'') => Err(self.error_at(
                self.pos,
                "single-quoted strings are not JSON",
                Some("a double-quoted string"),
                Some(path),
            )),
            _ => Err(self.unexpected(
                "a value (object, array, string, number, true, false or null)",
                path,
            )),
        }
    }

    fn nested(&mut self, path: &str, object: bool) -> Result<Value, ConfigError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(self.pos, "nesting is too deep", None, Some(path)));
        }
        let value = if object {
            self.object(path)
        } else {
            self.array(path)
        };
        self.depth -= 1;
        value
    }

    fn object(&mut self, path: &str) -> Result<Value, ConfigError> {
        self.pos += 1; // `{`
        let mut map = Map::new();
        self.skip_trivia()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.unexpected("a double-quoted key or `}`", path));
            }
            let key_start = self.pos;
            let key = self.string(path)?;
            let key_path = child_path(path, &key);
            self.record(&key_path, key_start);
            self.skip_trivia()?;
            if self.peek() != Some(b':') {
                return Err(self.unexpected("`:` after the key", &key_path));
            }
            self.pos += 1;
            self.skip_trivia()?;
            let value = self.value(&key_path)?;
            // JSON.parse keeps the last duplicate; wrangler reads it the same way.
            map.insert(key, value);
            self.skip_trivia()?;
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_trivia()?;
                    if self.peek() == Some(b'}') {
                        self.pos += 1;
                        return Ok(Value::Object(map));
                    }
                }
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.unexpected("`,` or `}`", path)),
            }
        }
    }

    fn array(&mut self, path: &str) -> Result<Value, ConfigError> {
        self.pos += 1; // `[`
        let mut items = Vec::new();
        self.skip_trivia()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            let item_path = index_path(path, items.len());
            self.record(&item_path, self.pos);
            items.push(self.value(&item_path)?);
            self.skip_trivia()?;
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    self.skip_trivia()?;
                    if self.peek() == Some(b']') {
                        self.pos += 1;
                        return Ok(Value::Array(items));
                    }
                }
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected("`,` or `]`", path)),
            }
        }
    }

    fn literal(&mut self, word: &str, value: Value, path: &str) -> Result<Value, ConfigError> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.unexpected(
                "a value (object, array, string, number, true, false or null)",
                path,
            ))
        }
    }

    fn number(&mut self, path: &str) -> Result<Value, ConfigError> {
        let start = self.pos;
        while let Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let raw = &self.text[start..self.pos];
        let number = if let Ok(i) = raw.parse::<i64>() {
            Some(Number::from(i))
        } else if let Ok(u) = raw.parse::<u64>() {
            Some(Number::from(u))
        } else {
            raw.parse::<f64>().ok().and_then(Number::from_f64)
        };
        // JSON forbids leading zeros and a bare `-`; Rust's parser is laxer, so check the shape.
        let well_formed = {
            let digits = raw.strip_prefix('-').unwrap_or(raw);
            digits.starts_with(|c: char| c.is_ascii_digit())
                && !(digits.len() > 1
                    && digits.starts_with('0')
                    && digits.as_bytes()[1].is_ascii_digit())
                && !digits.ends_with('.')
        };
        match number {
            Some(n) if well_formed => Ok(Value::Number(n)),
            _ => Err(self.error_at(
                start,
                &format!("invalid number `{raw}`"),
                Some("a JSON number"),
                Some(path),
            )),
        }
    }

    fn string(&mut self, path: &str) -> Result<String, ConfigError> {
        let start = self.pos;
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let run_start = self.pos;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            out.push_str(&self.text[run_start..self.pos]);
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc_start = self.pos;
                    self.pos += 1;
                    let c = match self.peek() {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            self.pos += 1;
                            let c = self.unicode_escape(esc_start, path)?;
                            out.push(c);
                            continue;
                        }
                        _ => {
                            return Err(self.error_at(
                                esc_start,
                                "invalid escape sequence in string",
                                Some("one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX"),
                                Some(path),
                            ))
                        }
                    };
                    self.pos += 1;
                    out.push(c);
                }
                Some(b'\n' | b'\r') | None => {
                    return Err(self.error_at(
                        start,
                        "unterminated string",
                        Some("a closing `\"` on the same line"),
                        Some(path),
                    ))
                }
                Some(_) => {
                    return Err(self.error_at(
                        self.pos,
                        "control character in string",
                        Some("an escape such as \\t"),
                        Some(path),
                    ))
                }
            }
        }
    }

    /// Reads the 4 hex digits after `\u` (and a following low surrogate when needed).
    fn unicode_escape(&mut self, esc_start: usize, path: &str) -> Result<char, ConfigError> {
        let bad = |p: &Self| {
            p.error_at(
                esc_start,
                "invalid unicode escape in string",
                Some("\\u followed by 4 hex digits"),
                Some(path),
            )
        };
        let hex4 = |p: &mut Self| -> Option<u32> {
            let s = p.text.get(p.pos..p.pos + 4)?;
            let v = u32::from_str_radix(s, 16).ok()?;
            p.pos += 4;
            Some(v)
        };
        let hi = hex4(self).ok_or_else(|| bad(self))?;
        let code = if (0xD800..0xDC00).contains(&hi) {
            if !self.text[self.pos..].starts_with("\\u") {
                return Err(bad(self));
            }
            self.pos += 2;
            let lo = hex4(self).ok_or_else(|| bad(self))?;
            if !(0xDC00..0xE000).contains(&lo) {
                return Err(bad(self));
            }
            0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
        } else {
            hi
        };
        char::from_u32(code).ok_or_else(|| bad(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_trailing_commas_and_positions() {
        let text = "// top\n{\n  /* block */ \"name\": \"a\", // after\n  \"list\": [1, 2.5, {\"x\": true,},],\n}\n";
        let (v, map) = parse(text, "w.jsonc").unwrap();
        assert_eq!(v["name"], "a");
        assert_eq!(v["list"][1], 2.5);
        assert_eq!(v["list"][2]["x"], true);
        assert_eq!(map.get_exact("name"), Some((3, 15)));
        assert_eq!(map.get_exact("list[2].x"), Some((4, 21)));
    }

    #[test]
    fn block_comment_directly_before_brace() {
        let (v, _) = parse("/* c */{\"a\": \"\\u00e9\\ud83d\\ude00\"}", "w.json").unwrap();
        assert_eq!(v["a"], "é😀");
    }

    #[test]
    fn syntax_errors_carry_position_and_expectation() {
        let err = parse("{\n  \"a\": 1\n  \"b\": 2\n}", "w.jsonc").unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(3)));
        assert_eq!(err.expected.as_deref(), Some("`,` or `}`"));
        assert_eq!(
            err.to_string(),
            "w.jsonc:3:3: unexpected character `\"` (expected `,` or `}`)"
        );

        let err = parse("{\"a\": [1, }", "w.json").unwrap_err();
        assert_eq!((err.line, err.column), (Some(1), Some(11)));
        assert_eq!(err.key_path.as_deref(), Some("a[1]"));

        let err = parse("{\"a\": 1 /* open", "w.json").unwrap_err();
        assert_eq!(err.message, "unterminated block comment");
        assert!(parse("{\"a\": 01}", "w.json").is_err());
        assert!(parse("{\"a\": 'x'}", "w.json").is_err());
        assert!(parse("{} x", "w.json").is_err());
        assert!(parse(&"[".repeat(500), "w.json").is_err());
    }
}
