//! List endpoints: `?limit=&cursor=` in, `{"items":[...],"next_cursor":...}` out.

use serde::{Deserialize, Serialize};
use vigil_core::ports::Cursor;

use crate::ApiError;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page (1–200, default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page (only cursors this list issued are valid).
    pub cursor: Option<String>,
}

impl PageParams {
    /// The capped limit and decoded cursor.
    pub fn resolve(&self) -> Result<(u32, Option<Cursor>), ApiError> {
        let limit = match self.limit {
            None => DEFAULT_LIMIT,
            Some(0) => {
                return Err(ApiError::invalid(
                    "invalid_query",
                    "limit must be at least 1",
                ));
            }
            Some(n) if n > MAX_LIMIT => {
                return Err(ApiError::invalid(
                    "invalid_query",
                    format!("limit must be at most {MAX_LIMIT}"),
                ));
            }
            Some(n) => n,
        };
        let cursor = match &self.cursor {
            None => None,
            Some(text) if text.is_empty() => None,
            Some(text) => Some(Cursor::decode(text)?),
        };
        Ok((limit, cursor))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> ListResponse<T> {
    pub fn new(items: Vec<T>, next: Option<Cursor>) -> Self {
        Self {
            items,
            next_cursor: next.map(|c| c.encode()),
        }
    }
}
