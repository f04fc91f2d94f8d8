//! The two stores a ledger lives in, behind one small SQL interface: a GeoPackage file
//! (SQLite, embedded, the default) or a PostgreSQL + PostGIS database (`postgres://...`, for
//! many users). The ledger's queries are written once, in SQLite's syntax with `?N` parameters
//! and a few markers that each backend spells its own way:
//!
//! | marker | SQLite (GeoPackage) | PostGIS |
//! |---|---|---|
//! | `GEOM(?N)` | `?N` (a GeoPackage blob) | `ST_Multi(ST_GeomFromWKB($N, srid))` |
//! | `WKB(expr)` | `expr` | `ST_AsBinary(expr)` |
//! | `SRC_ID(expr)` | `json_extract(expr, '$.SRC_ID')` | `((expr)::jsonb->>'SRC_ID')::bigint` |
//! | `BBOX(t, ?a, ?b, ?c, ?d)` | `t.fid IN` the R-tree's hits | `t.geom && ST_MakeEnvelope(...)` |
//!
//! (the box is min x, max x, min y, max y). Values cross as [`Val`]; geometries go in as
//! [`Val::Geom`] and come back through [`Row::geom`]. Write transactions are serialised: SQLite
//! by `BEGIN IMMEDIATE`, PostgreSQL by a lock on `ledger_meta` taken first.

use crate::output::gpkg::{gpkg_blob, parse_blob};
use crate::output::vector::{parse_wkb, wkb_multipolygon};
use geo::MultiPolygon;
use std::collections::HashMap;

/// A value crossing into or out of the store.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Geom(MultiPolygon<f64>),
}

impl From<i64> for Val {
    fn from(v: i64) -> Val {
        Val::Int(v)
    }
}
impl From<bool> for Val {
    fn from(v: bool) -> Val {
        Val::Int(i64::from(v))
    }
}
impl From<f64> for Val {
    fn from(v: f64) -> Val {
        Val::Real(v)
    }
}
impl From<&str> for Val {
    fn from(v: &str) -> Val {
        Val::Text(v.to_string())
    }
}
impl From<String> for Val {
    fn from(v: String) -> Val {
        Val::Text(v)
    }
}
impl From<&String> for Val {
    fn from(v: &String) -> Val {
        Val::Text(v.clone())
    }
}
impl<T: Into<Val>> From<Option<T>> for Val {
    fn from(v: Option<T>) -> Val {
        v.map_or(Val::Null, Into::into)
    }
}

/// `[Val]` from a list of anything convertible.
#[macro_export]
#[doc(hidden)]
macro_rules! vals {
    ($($v:expr),* $(,)?) => { &[$($crate::ledger::db::Val::from($v)),*] };
}
pub use vals;

/// One result row.
#[derive(Clone, Debug)]
pub struct Row(pub Vec<Val>);

impl Row {
    pub fn text(&self, i: usize) -> Option<String> {
        match self.0.get(i)? {
            Val::Text(s) => Some(s.clone()),
            Val::Int(v) => Some(v.to_string()),
            Val::Real(v) => Some(v.to_string()),
            _ => None,
        }
    }
    pub fn int(&self, i: usize) -> Option<i64> {
        match self.0.get(i)? {
            Val::Int(v) => Some(*v),
            Val::Text(s) => s.parse().ok(),
            _ => None,
        }
    }
    pub fn real(&self, i: usize) -> Option<f64> {
        match self.0.get(i)? {
            Val::Real(v) => Some(*v),
            Val::Int(v) => Some(*v as f64),
            _ => None,
        }
    }
    pub fn flag(&self, i: usize) -> bool {
        self.int(i).is_some_and(|v| v != 0)
    }
    /// A geometry column (a GeoPackage blob or WKB).
    pub fn geom(&self, i: usize) -> Option<MultiPolygon<f64>> {
        match self.0.get(i)? {
            Val::Blob(b) if b.starts_with(b"GP") => parse_blob(b),
            Val::Blob(b) => parse_wkb(b),
            Val::Geom(g) => Some(g.clone()),
            _ => None,
        }
    }
}

/// An open store.
pub enum Db {
    Sqlite(rusqlite::Connection),
    Postgres(Box<postgres::Client>),
}

/// A transaction on either store. `srid` is the SRS id geometries are written with.
pub enum Tx<'a> {
    Sqlite(rusqlite::Transaction<'a>, i32),
    Postgres(
        postgres::Transaction<'a>,
        i32,
        HashMap<String, postgres::Statement>,
    ),
}

/// A failure of the store, as text (the caller names the ledger).
pub type DbResult<T> = std::result::Result<T, String>;

impl Db {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// Begin a transaction; `write` serialises it against every other writer.
    pub fn begin(&mut self, write: bool, srid: i32) -> DbResult<Tx<'_>> {
        match self {
            Db::Sqlite(c) => {
                let behavior = if write {
                    rusqlite::TransactionBehavior::Immediate
                } else {
                    rusqlite::TransactionBehavior::Deferred
                };
                Ok(Tx::Sqlite(
                    c.transaction_with_behavior(behavior)
                        .map_err(|e| e.to_string())?,
                    srid,
                ))
            }
            Db::Postgres(c) => {
                let mut t = c.transaction().map_err(pg_err)?;
                if write {
                    // Writers one at a time, as SQLite does; readers are never blocked.
                    let exists = t
                        .query_one("SELECT to_regclass('ledger_meta') IS NOT NULL", &[])
                        .map_err(pg_err)?
                        .get::<_, bool>(0);
                    if exists {
                        t.batch_execute("LOCK TABLE ledger_meta IN SHARE ROW EXCLUSIVE MODE")
                            .map_err(pg_err)?;
                    }
                }
                Ok(Tx::Postgres(t, srid, HashMap::new()))
            }
        }
    }
}

fn pg_err(e: postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => d.message().to_string(),
        None => e.to_string(),
    }
}

/// `sql` (SQLite syntax, markers) in the backend's own spelling.
fn dialect(sql: &str, pg: bool, srid: i32) -> String {
    let mut s = sql.to_string();
    // Markers, innermost first is not needed: they do not nest.
    for marker in ["GEOM(", "WKB(", "SRC_ID(", "BBOX("] {
        while let Some(at) = find_marker(&s, marker) {
            let open = at + marker.len();
            let close = matching_paren(&s, open).expect("ledger SQL markers are balanced");
            let inner = s[open..close].to_string();
            let args: Vec<&str> = inner.split(',').map(str::trim).collect();
            let with = match (marker, pg) {
                ("GEOM(", false) | ("WKB(", false) => inner.clone(),
                ("GEOM(", true) => format!("ST_Multi(ST_GeomFromWKB({inner}, {srid}))"),
                ("WKB(", true) => format!("ST_AsBinary({inner})"),
                ("SRC_ID(", false) => format!("json_extract({inner}, '$.SRC_ID')"),
                ("SRC_ID(", true) => format!("(({inner})::jsonb->>'SRC_ID')::bigint"),
                ("BBOX(", false) => format!(
                    "{}.fid IN (SELECT id FROM ledger_envelopes WHERE minx <= {} AND maxx >= {} AND miny <= {} AND maxy >= {})",
                    args[0], args[2], args[1], args[4], args[3]
                ),
                (_, _) => format!(
                    "{}.geom && ST_MakeEnvelope({}, {}, {}, {}, {srid})",
                    args[0], args[1], args[3], args[2], args[4]
                ),
            };
            s.replace_range(at..=close, &with);
        }
    }
    if pg {
        // ?N -> $N (the ledger's SQL has no '?' inside string literals).
        s = s.replace('?', "$");
    }
    s
}

/// Position of `marker` as a word (not the tail of another identifier).
fn find_marker(s: &str, marker: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = s[from..].find(marker) {
        let at = from + i;
        let prev = s[..at].chars().next_back();
        if !prev.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Some(at);
        }
        from = at + marker.len();
    }
    None
}

fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

impl Tx<'_> {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Tx::Postgres(..))
    }

    /// The SRS id geometries are written with (set once the ledger has a CRS).
    pub fn set_srid(&mut self, id: i32) {
        match self {
            Tx::Sqlite(_, s) | Tx::Postgres(_, s, _) => *s = id,
        }
    }

    /// Run statements without parameters (schema).
    pub fn batch(&mut self, sql: &str) -> DbResult<()> {
        match self {
            Tx::Sqlite(t, _) => t.execute_batch(sql).map_err(|e| e.to_string()),
            Tx::Postgres(t, ..) => t.batch_execute(sql).map_err(pg_err),
        }
    }

    /// Run one statement; the rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Val]) -> DbResult<u64> {
        match self {
            Tx::Sqlite(t, srid) => {
                let p = sqlite_params(params, *srid);
                t.prepare_cached(&dialect(sql, false, *srid))
                    .and_then(|mut st| st.execute(rusqlite::params_from_iter(p)))
                    .map(|n| n as u64)
                    .map_err(|e| e.to_string())
            }
            Tx::Postgres(t, srid, cache) => {
                let st = pg_statement(t, cache, sql, *srid)?;
                let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                t.execute(&st, &p).map_err(pg_err)
            }
        }
    }

    /// Run a query; every row.
    pub fn query(&mut self, sql: &str, params: &[Val]) -> DbResult<Vec<Row>> {
        match self {
            Tx::Sqlite(t, srid) => {
                let p = sqlite_params(params, *srid);
                let mut st = t
                    .prepare_cached(&dialect(sql, false, *srid))
                    .map_err(|e| e.to_string())?;
                let n = st.column_count();
                let rows = st
                    .query_map(rusqlite::params_from_iter(p), |r| {
                        (0..n)
                            .map(|i| {
                                Ok(match r.get_ref(i)? {
                                    rusqlite::types::ValueRef::Null => Val::Null,
                                    rusqlite::types::ValueRef::Integer(v) => Val::Int(v),
                                    rusqlite::types::ValueRef::Real(v) => Val::Real(v),
                                    rusqlite::types::ValueRef::Text(t) => {
                                        Val::Text(String::from_utf8_lossy(t).into_owned())
                                    }
                                    rusqlite::types::ValueRef::Blob(b) => Val::Blob(b.to_vec()),
                                })
                            })
                            .collect::<rusqlite::Result<Vec<Val>>>()
                            .map(Row)
                    })
                    .map_err(|e| e.to_string())?;
                rows.collect::<rusqlite::Result<Vec<Row>>>()
                    .map_err(|e| e.to_string())
            }
            Tx::Postgres(t, srid, cache) => {
                let st = pg_statement(t, cache, sql, *srid)?;
                let p: Vec<&(dyn postgres::types::ToSql + Sync)> = params
                    .iter()
                    .map(|v| v as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                let rows = t.query(&st, &p).map_err(pg_err)?;
                rows.iter().map(pg_row).collect()
            }
        }
    }

    /// The first row, if any.
    pub fn query_one(&mut self, sql: &str, params: &[Val]) -> DbResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Commit.
    pub fn commit(self) -> DbResult<()> {
        match self {
            Tx::Sqlite(t, _) => t.commit().map_err(|e| e.to_string()),
            Tx::Postgres(t, ..) => t.commit().map_err(pg_err),
        }
    }
}

fn sqlite_params(params: &[Val], srid: i32) -> Vec<rusqlite::types::Value> {
    use rusqlite::types::Value as V;
    params
        .iter()
        .map(|v| match v {
            Val::Null => V::Null,
            Val::Int(i) => V::Integer(*i),
            Val::Real(r) => V::Real(*r),
            Val::Text(s) => V::Text(s.clone()),
            Val::Blob(b) => V::Blob(b.clone()),
            Val::Geom(g) => V::Blob(gpkg_blob(g, srid).0),
        })
        .collect()
}

fn pg_statement(
    t: &mut postgres::Transaction<'_>,
    cache: &mut HashMap<String, postgres::Statement>,
    sql: &str,
    srid: i32,
) -> DbResult<postgres::Statement> {
    if let Some(s) = cache.get(sql) {
        return Ok(s.clone());
    }
    let st = t.prepare(&dialect(sql, true, srid)).map_err(pg_err)?;
    cache.insert(sql.to_string(), st.clone());
    Ok(st)
}

fn pg_row(r: &postgres::Row) -> DbResult<Row> {
    use postgres::types::Type;
    (0..r.len())
        .map(|i| {
            let ty = r.columns()[i].type_().clone();
            let v = if ty == Type::INT8 {
                r.try_get::<_, Option<i64>>(i).map(|v| v.map(Val::Int))
            } else if ty == Type::INT4 {
                r.try_get::<_, Option<i32>>(i)
                    .map(|v| v.map(|v| Val::Int(v.into())))
            } else if ty == Type::INT2 {
                r.try_get::<_, Option<i16>>(i)
                    .map(|v| v.map(|v| Val::Int(v.into())))
            } else if ty == Type::BOOL {
                r.try_get::<_, Option<bool>>(i).map(|v| v.map(Val::from))
            } else if ty == Type::FLOAT8 {
                r.try_get::<_, Option<f64>>(i).map(|v| v.map(Val::Real))
            } else if ty == Type::FLOAT4 {
                r.try_get::<_, Option<f32>>(i)
                    .map(|v| v.map(|v| Val::Real(v.into())))
            } else if ty == Type::BYTEA {
                r.try_get::<_, Option<Vec<u8>>>(i).map(|v| v.map(Val::Blob))
            } else {
                r.try_get::<_, Option<String>>(i).map(|v| v.map(Val::Text))
            };
            v.map(|v| v.unwrap_or(Val::Null))
                .map_err(|e| format!("column {}: {e}", r.columns()[i].name()))
        })
        .collect::<DbResult<Vec<Val>>>()
        .map(Row)
}

impl postgres::types::ToSql for Val {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        match self {
            Val::Null => Ok(postgres::types::IsNull::Yes),
            Val::Int(v) if *ty == Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
            Val::Int(v) if *ty == Type::FLOAT8 => (*v as f64).to_sql(ty, out),
            Val::Int(v) if *ty == Type::TEXT => v.to_string().to_sql(ty, out),
            Val::Int(v) => v.to_sql(ty, out),
            Val::Real(v) => v.to_sql(ty, out),
            Val::Text(v) => v.to_sql(ty, out),
            Val::Blob(v) => v.to_sql(ty, out),
            Val::Geom(g) => wkb_multipolygon(g).to_sql(ty, out),
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::dialect;

    #[test]
    fn markers_are_spelled_per_backend() {
        let sql = "SELECT WKB(l.geom), SRC_ID(l.attrs) FROM leads l WHERE BBOX(l, ?1, ?2, ?3, ?4) AND l.geom = GEOM(?5)";
        assert_eq!(
            dialect(sql, false, 4527),
            "SELECT l.geom, json_extract(l.attrs, '$.SRC_ID') FROM leads l WHERE l.fid IN (SELECT id FROM ledger_envelopes WHERE minx <= ?2 AND maxx >= ?1 AND miny <= ?4 AND maxy >= ?3) AND l.geom = ?5"
        );
        assert_eq!(
            dialect(sql, true, 4527),
            "SELECT ST_AsBinary(l.geom), ((l.attrs)::jsonb->>'SRC_ID')::bigint FROM leads l WHERE l.geom && ST_MakeEnvelope($1, $3, $2, $4, 4527) AND l.geom = ST_Multi(ST_GeomFromWKB($5, 4527))"
        );
    }
}
