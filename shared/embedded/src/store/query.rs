//! A query of the port as one SQL statement: the partition, the sort-key condition, the page's
//! start after the cursor, the order, and one row more than the page to know if more follow.

use rusqlite::Connection;
use vigil_core::ports::{Cursor, Index, Order, Page, Query, SortKey, StoreError};

use super::rows::{COLUMNS, StoredRow};
use super::unavailable;

/// The smallest string greater than every string that starts with `prefix` (None: no bound).
pub(super) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut code = u32::from(last) + 1;
        if (0xD800..=0xDFFF).contains(&code) {
            code = 0xE000;
        }
        if let Some(next) = char::from_u32(code) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// A statement being built with its positional arguments.
struct Statement {
    sql: String,
    args: Vec<String>,
}

impl Statement {
    fn bound(&mut self, column: &str, op: &str, value: String) {
        self.sql.push_str(&format!(" AND {column} {op} ?"));
        self.args.push(value);
    }
}

/// The SELECT of one page of `query` (the query is valid: see `validate_query`).
fn page_statement(query: &Query) -> Result<Statement, StoreError> {
    let (pcol, scol) = match query.index {
        Index::Primary => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
        Index::Gsi2 => ("gsi2pk", "gsi2sk"),
    };
    let mut statement = Statement {
        sql: format!("SELECT {COLUMNS} FROM items WHERE {pcol} = ?"),
        args: vec![query.partition.clone()],
    };
    match &query.sort {
        SortKey::All => {}
        SortKey::BeginsWith(prefix) => {
            statement.bound(scol, ">=", prefix.clone());
            if let Some(upper) = prefix_upper_bound(prefix) {
                statement.bound(scol, "<", upper);
            }
        }
        SortKey::Between(low, high) => {
            statement.bound(scol, ">=", low.clone());
            statement.bound(scol, "<=", high.clone());
        }
        SortKey::GreaterOrEqual(low) => statement.bound(scol, ">=", low.clone()),
        SortKey::LessOrEqual(high) => statement.bound(scol, "<=", high.clone()),
    }
    let descending = query.order == Order::Descending;
    let (cmp, dir) = if descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(cursor) = &query.cursor {
        start_after(&mut statement, query.index, scol, cursor, descending, cmp)?;
    }
    match query.index {
        Index::Primary => statement.sql.push_str(&format!(" ORDER BY sk {dir}")),
        Index::Gsi1 | Index::Gsi2 => {
            let order = format!(" ORDER BY {scol} {dir}, pk {dir}, sk {dir}");
            statement.sql.push_str(&order);
        }
    }
    statement
        .sql
        .push_str(&format!(" LIMIT {}", query.page_size() + 1));
    Ok(statement)
}

/// Starts the page after the cursor's item.
fn start_after(
    statement: &mut Statement,
    index: Index,
    scol: &str,
    cursor: &Cursor,
    descending: bool,
    cmp: &str,
) -> Result<(), StoreError> {
    match index {
        Index::Primary => statement.bound(scol, cmp, cursor.key.sk.clone()),
        Index::Gsi1 | Index::Gsi2 => {
            let index_key = cursor.index_key.as_ref().ok_or(StoreError::InvalidCursor)?;
            // Index sort keys may repeat; the primary key breaks ties, as in the ORDER BY.
            let loose = if descending { "<=" } else { ">=" };
            statement.bound(scol, loose, index_key.sk.clone());
            statement
                .sql
                .push_str(&format!(" AND ({scol}, pk, sk) {cmp} (?, ?, ?)"));
            statement.args.extend([
                index_key.sk.clone(),
                cursor.key.pk.clone(),
                cursor.key.sk.clone(),
            ]);
        }
    }
    Ok(())
}

pub(super) fn run_query(conn: &Connection, query: &Query) -> Result<Page, StoreError> {
    let statement = page_statement(query)?;
    let rows = conn
        .prepare_cached(&statement.sql)
        .and_then(|mut s| {
            s.query_map(
                rusqlite::params_from_iter(statement.args.iter()),
                StoredRow::read,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(unavailable)?;
    let items = rows
        .into_iter()
        .map(StoredRow::into_item)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page::from_read_ahead(items, query))
}
