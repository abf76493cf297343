//! The JSON text of what Vigil keeps (item bodies, queue messages). A value that does not
//! serialize is a bug on our side, hence an internal error, never the caller's.

use serde::Serialize;

use crate::{Error, Result};

pub(crate) fn to_json<T: Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
}
