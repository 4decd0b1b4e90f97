//! Cursor pagination: an opaque base64url token naming the last row seen, and the page size
//! rules. Opaque so clients cannot build cursors and we can change what they contain.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

/// A page of results; `next_cursor` is absent on the last page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Position after a row ordered by (time, id), the order every list uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct After {
    pub at: i64,
    pub id: String,
}

/// Encodes a position.
#[must_use]
pub fn encode<T: Serialize>(pos: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(pos).unwrap_or_default())
}

/// Decodes a cursor from a client.
///
/// # Errors
/// A message when the cursor was not made by `encode` (tampered, truncated, other list).
pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, String> {
    if cursor.len() > 512 {
        return Err("cursor is too long".into());
    }
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| "cursor is not one this API issued".into())
}

/// The page size to use: the default when absent, clamped to `1..=MAX_LIMIT`.
#[must_use]
pub fn limit(requested: Option<u32>) -> u32 {
    requested.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// Cuts a result fetched with `limit + 1` rows into a page: the extra row only proves there
/// is more, and the cursor points after the last row returned.
pub fn paginate<T, P: Serialize>(mut rows: Vec<T>, limit: u32, pos: impl Fn(&T) -> P) -> Page<T> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode(&pos(r)))
    } else {
        None
    };
    Page {
        items: rows,
        next_cursor,
    }
}

/// Where a list ordered by `(time, id)` resumes: the client's cursor decoded into the two SQL
/// parameters of the keyset condition (both NULL on the first page) and the page size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    pub after_at: Option<i64>,
    pub after_id: Option<String>,
    pub limit: u32,
}

impl Resume {
    /// # Errors
    /// A message when the cursor was not made by this API (see [`decode`]).
    pub fn from_query(cursor: Option<&str>, requested_limit: Option<u32>) -> Result<Self, String> {
        let after: Option<After> = cursor.map(decode).transpose()?;
        let (after_at, after_id) = after.map_or((None, None), |a| (Some(a.at), Some(a.id)));
        Ok(Self {
            after_at,
            after_id,
            limit: limit(requested_limit),
        })
    }

    /// How many rows to fetch: one more than a page, to learn whether another page exists.
    #[must_use]
    pub fn fetch(&self) -> i64 {
        i64::from(self.limit) + 1
    }

    /// The page of `rows` (fetched with [`Self::fetch`]); `position` names a row's time and id.
    pub fn page<T>(&self, rows: Vec<T>, position: impl Fn(&T) -> (i64, &str)) -> Page<T> {
        paginate(rows, self.limit, |r| {
            let (at, id) = position(r);
            After {
                at,
                id: id.to_owned(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let pos = After {
            at: 5,
            id: "d-1".into(),
        };
        let c = encode(&pos);
        assert_eq!(decode::<After>(&c).unwrap(), pos);
        assert!(decode::<After>("not base64!").is_err());
        assert!(decode::<After>(&encode(&42)).is_err());
    }

    #[test]
    fn a_resume_point_round_trips_through_its_page() {
        let first = Resume::from_query(None, Some(2)).unwrap();
        assert_eq!((first.after_at, first.fetch()), (None, 3));
        let page = first.page(vec![(30, "c"), (20, "b"), (10, "a")], |r| (r.0, r.1));
        assert_eq!(page.items.len(), 2);
        let next = Resume::from_query(page.next_cursor.as_deref(), Some(2)).unwrap();
        assert_eq!(
            (next.after_at, next.after_id.as_deref()),
            (Some(20), Some("b"))
        );
        assert!(Resume::from_query(Some("garbage!"), None).is_err());
    }

    #[test]
    fn paginate_uses_the_extra_row() {
        let page = paginate(vec![1, 2, 3], 2, |n| *n);
        assert_eq!(page.items, vec![1, 2]);
        assert_eq!(
            decode::<i32>(page.next_cursor.as_deref().unwrap()).unwrap(),
            2
        );
        let last = paginate(vec![1, 2], 2, |n| *n);
        assert!(last.next_cursor.is_none());
        assert_eq!(limit(None), DEFAULT_LIMIT);
        assert_eq!(limit(Some(0)), 1);
        assert_eq!(limit(Some(10_000)), MAX_LIMIT);
    }
}
