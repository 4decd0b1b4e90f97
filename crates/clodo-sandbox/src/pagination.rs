//! The three pagination modes of the API: page numbers, V4 page pagination and R2 cursors.

use base64::Engine;
use serde_json::{json, Value};

use super::error::SandboxError;

/// Decoded query string: the pairs in order, repeated names kept (`?name=a&name=b`).
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        Query(
            form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn get_all(&self, name: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("true") | Some("1"))
    }
}

/// A requested page: 1-based page number and page size after clamping to the endpoint's cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub page: usize,
    pub per_page: usize,
}

/// Reads `page` and `per_page`; a `per_page` above the cap is clamped to it and below 1 to 1,
/// `page` below 1 reads as 1 (wrangler sends `page=0` on some list calls). Non-numbers are 400.
pub fn page_request(
    query: &Query,
    default_per_page: usize,
    max_per_page: usize,
) -> Result<PageRequest, SandboxError> {
    let number = |name: &str| -> Result<Option<usize>, SandboxError> {
        match query.get(name) {
            None | Some("") => Ok(None),
            Some(raw) => raw
                .parse::<i64>()
                .map(|n| Some(n.max(0) as usize))
                .map_err(|_| {
                    SandboxError::rejected(
                        400,
                        1001,
                        format!("{name} must be an integer, got {raw:?}"),
                    )
                }),
        }
    };
    let page = number("page")?.unwrap_or(1).max(1);
    let per_page = number("per_page")?
        .unwrap_or(default_per_page)
        .clamp(1, max_per_page);
    Ok(PageRequest { page, per_page })
}

/// Cuts one page out of `items` and builds `result_info{page, per_page, count, total_count,
/// total_pages}`.
pub fn paginate<T: Clone>(items: &[T], request: PageRequest) -> (Vec<T>, Value) {
    let start = (request.page - 1).saturating_mul(request.per_page);
    let page: Vec<T> = items
        .iter()
        .skip(start)
        .take(request.per_page)
        .cloned()
        .collect();
    let total_pages = items.len().div_ceil(request.per_page);
    let info = json!({
        "page": request.page,
        "per_page": request.per_page,
        "count": page.len(),
        "total_count": items.len(),
        "total_pages": total_pages,
    });
    (page, info)
}

/// Encodes a cursor: the key of the last item returned, so the next page starts after it even
/// if items are added or removed in between.
pub fn encode_cursor(last_key: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(last_key.as_bytes())
}

fn decode_cursor(cursor: &str) -> Result<String, SandboxError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| SandboxError::rejected(400, 10033, "The cursor is invalid"))
}

/// One cursor page of `items`, which must be sorted by `key`. Returns the page and the cursor of
/// the next page, absent on the last one.
pub fn cursor_page<T: Clone>(
    items: &[T],
    key: impl Fn(&T) -> &str,
    cursor: Option<&str>,
    per_page: usize,
) -> Result<(Vec<T>, Option<String>), SandboxError> {
    let after = match cursor {
        Some(c) if !c.is_empty() => Some(decode_cursor(c)?),
        _ => None,
    };
    let rest: Vec<&T> = items
        .iter()
        .filter(|item| after.as_deref().is_none_or(|a| key(item) > a))
        .collect();
    let page: Vec<T> = rest.iter().take(per_page).map(|t| (*t).clone()).collect();
    let next = if rest.len() > per_page {
        page.last().map(|last| encode_cursor(key(last)))
    } else {
        None
    };
    Ok((page, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_caps() {
        let q = Query::parse(Some("page=2&per_page=2"));
        let req = page_request(&q, 20, 50).unwrap();
        let (page, info) = paginate(&[1, 2, 3, 4, 5], req);
        assert_eq!(page, vec![3, 4]);
        assert_eq!(info["total_count"], 5);
        assert_eq!(info["count"], 2);
        assert_eq!(info["total_pages"], 3);

        let capped = page_request(&Query::parse(Some("per_page=5000")), 20, 50).unwrap();
        assert_eq!(capped.per_page, 50);
        let zero = page_request(&Query::parse(Some("page=0&per_page=0")), 20, 50).unwrap();
        assert_eq!(
            zero,
            PageRequest {
                page: 1,
                per_page: 1
            }
        );
        assert!(page_request(&Query::parse(Some("page=x")), 20, 50).is_err());
    }

    #[test]
    fn page_past_the_end_is_empty() {
        let req = PageRequest {
            page: 9,
            per_page: 2,
        };
        let (page, info) = paginate(&[1, 2, 3], req);
        assert!(page.is_empty());
        assert_eq!(info["count"], 0);
    }

    #[test]
    fn cursor_walks_all_items_once() {
        let items: Vec<String> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut seen = vec![];
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) = cursor_page(&items, |s| s.as_str(), cursor.as_deref(), 2).unwrap();
            seen.extend(page);
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, items);
        assert!(cursor_page(&items, |s| s.as_str(), Some("!!"), 2).is_err());
    }

    #[test]
    fn repeated_query_names_are_kept() {
        let q = Query::parse(Some("name=q1&name=q2&x=%20y"));
        assert_eq!(q.get_all("name"), vec!["q1", "q2"]);
        assert_eq!(q.get("x"), Some(" y"));
    }
}
