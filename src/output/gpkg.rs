//! A GeoPackage writer on SQLite directly: one feature table with a MultiPolygon column, its
//! R-tree spatial index (the `gpkg_rtree_index` extension with the standard triggers; packed in
//! one pass at the end, [`super::rtree`]), batched
//! transactions, prepared statements and geometry blobs encoded here (GeoPackage header with
//! envelope + ISO WKB). OGR reads it back like any GeoPackage (tested).

use crate::error::{Error, Result};
use geo::{BoundingRect, MultiPolygon};
use rusqlite::{Connection, params_from_iter, types::Value as SqlValue};
use std::path::{Path, PathBuf};

/// How many features go into one transaction.
const BATCH: usize = 20_000;

/// An attribute column of the feature table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Real,
    Integer,
    Text,
}

/// A yes/no attribute as the survey writes it (是 / 否).
pub fn yes_no(b: bool) -> SqlValue {
    SqlValue::Text(if b { "是" } else { "否" }.into())
}

/// SQLite's page size of a GeoPackage: SQLite's own default ...
pub const PAGE_SIZE: u32 = 4096;
/// ... and the one for layers that may run to hundreds of MB
/// ([`crate::output::vector::VectorWriter::create_large`]).
pub const LARGE_PAGE_SIZE: u32 = 65536;

/// A GeoPackage polygon layer being written.
pub struct GpkgWriter {
    conn: Connection,
    path: PathBuf,
    table: String,
    /// The prepared insert's SQL (the statement cache's key).
    insert: String,
    srs_id: i32,
    columns: usize,
    pending: usize,
    extent: Option<[f64; 4]>,
    /// The envelope of every feature, indexed in one packed R-tree at the end.
    envelopes: Vec<super::rtree::Entry>,
    pub written: u64,
}

fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The EPSG code of a CRS, when GDAL can identify one.
fn epsg_of(srs: &gdal::spatial_ref::SpatialRef) -> Option<i32> {
    let mut s = srs.clone();
    let _ = s.auto_identify_epsg();
    (s.auth_name().as_deref() == Some("EPSG"))
        .then(|| s.auth_code().ok())
        .flatten()
}

/// The EPSG code of a CRS given as WKT (None when it has none or is not a CRS).
pub fn epsg_code(projection: &str) -> Option<i32> {
    gdal::spatial_ref::SpatialRef::from_wkt(projection)
        .ok()
        .as_ref()
        .and_then(epsg_of)
}

/// The SRS row for a CRS: EPSG code when the CRS has one, else a custom id with the WKT.
fn srs_row(projection: &str) -> (i32, String, String, i32, String) {
    if projection.is_empty() {
        return (
            -1,
            "Undefined cartesian SRS".into(),
            "NONE".into(),
            -1,
            "undefined".into(),
        );
    }
    let srs = gdal::spatial_ref::SpatialRef::from_wkt(projection).ok();
    let wkt = srs
        .as_ref()
        .and_then(|s| s.to_wkt().ok())
        .unwrap_or_else(|| projection.to_string());
    let name = srs
        .as_ref()
        .and_then(|s| s.name())
        .unwrap_or_else(|| "custom".into());
    match srs.as_ref().and_then(epsg_of) {
        Some(code) => (code, name, "EPSG".into(), code, wkt),
        None => (100_000, name, "NONE".into(), 100_000, wkt),
    }
}

/// The GeoPackage geometry blob: header (magic, version, flags: little endian with an xy
/// envelope, SRS id, envelope minx maxx miny maxy) and ISO WKB.
pub fn gpkg_blob(geom: &MultiPolygon<f64>, srs_id: i32) -> (Vec<u8>, Option<[f64; 4]>) {
    let env = geom
        .bounding_rect()
        .map(|r| [r.min().x, r.max().x, r.min().y, r.max().y]);
    // The header: magic, version, flags, SRS id and (for a non-empty geometry) the envelope.
    let mut b = Vec::with_capacity(40 + super::vector::wkb_len(geom));
    b.extend_from_slice(b"GP");
    b.push(0);
    match env {
        Some(e) => {
            b.push(0b0000_0011);
            b.extend_from_slice(&srs_id.to_le_bytes());
            for v in e {
                b.extend_from_slice(&v.to_le_bytes());
            }
        }
        None => {
            // Empty geometry: flag bit 4, no envelope.
            b.push(0b0001_0001);
            b.extend_from_slice(&srs_id.to_le_bytes());
        }
    }
    super::vector::wkb_multipolygon_into(&mut b, geom);
    (b, env)
}

/// The GeoPackage's own tables (application id, version, SRS table with its three required
/// rows, contents, geometry columns, extensions); idempotent.
pub const CORE_TABLES: &str = r#"
    PRAGMA application_id = 1196444487;
    PRAGMA user_version = 10300;
    CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY,
        organization TEXT NOT NULL, organization_coordsys_id INTEGER NOT NULL,
        definition TEXT NOT NULL, description TEXT);
    INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
        ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
        ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
        ('WGS 84 geodetic', 4326, 'EPSG', 4326, 'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]', 'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');
    CREATE TABLE IF NOT EXISTS gpkg_contents (table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL,
        identifier TEXT UNIQUE, description TEXT DEFAULT '',
        last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
        min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
        CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
    CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (table_name TEXT NOT NULL, column_name TEXT NOT NULL,
        geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL, z TINYINT NOT NULL, m TINYINT NOT NULL,
        CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
        CONSTRAINT uk_gc_table_name UNIQUE (table_name),
        CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
        CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
    CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL,
        definition TEXT NOT NULL, scope TEXT NOT NULL,
        CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
"#;

/// Add the SRS of `projection` (WKT; empty: undefined) to the SRS table; its id.
///
/// # Errors
/// SQLite's.
pub fn register_srs(conn: &Connection, projection: &str) -> rusqlite::Result<i32> {
    let (srs_id, srs_name, org, org_id, wkt) = srs_row(projection);
    if srs_id > 0 && srs_id != 4326 {
        conn.execute(
            "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?1, ?2, ?3, ?4, ?5, NULL)",
            rusqlite::params![srs_name, srs_id, org, org_id, wkt],
        )?;
    }
    Ok(srs_id)
}

/// Register `table` (column `geom`, MultiPolygon) as a feature table in SRS `srs_id`.
///
/// # Errors
/// SQLite's.
pub fn register_table(conn: &Connection, table: &str, srs_id: i32) -> rusqlite::Result<()> {
    // GDAL's OGR_CURRENT_DATE (config option or environment) fixes the timestamp, as it does
    // for GDAL's own GeoPackages: a rerun then writes the same bytes.
    let now = gdal::config::get_config_option("OGR_CURRENT_DATE", "")
        .ok()
        .filter(|d| !d.is_empty());
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id, last_change) VALUES (?1, 'features', ?1, ?2, COALESCE(?3, strftime('%Y-%m-%dT%H:%M:%fZ','now')))",
        rusqlite::params![table, srs_id, now],
    )?;
    conn.execute(
        "INSERT INTO gpkg_geometry_columns VALUES (?1, 'geom', 'MULTIPOLYGON', ?2, 0, 0)",
        rusqlite::params![table, srs_id],
    )?;
    Ok(())
}

/// The polygons of a GeoPackage geometry blob (Polygon or MultiPolygon, 2D; Z/M ordinates
/// skipped); None for anything else or a truncated blob.
pub fn parse_blob(b: &[u8]) -> Option<MultiPolygon<f64>> {
    if b.len() < 8 || &b[..2] != b"GP" {
        return None;
    }
    let envelope = match (b[3] >> 1) & 0b111 {
        0 => 0,
        1 => 32,
        2 | 3 => 48,
        4 => 64,
        _ => return None,
    };
    super::vector::parse_wkb(b.get(8 + envelope..)?)
}

impl GpkgWriter {
    /// Create a GeoPackage at `path` with one table, or add the table to the GeoPackage already
    /// there (one writer at a time).
    ///
    /// # Errors
    /// [`Error::Write`] naming `path`.
    pub fn create(
        path: &Path,
        table: &str,
        projection: &str,
        fields: &[(&str, Column)],
    ) -> Result<Self> {
        Self::create_paged(path, (table, projection, fields), PAGE_SIZE)
    }

    /// As [`GpkgWriter::create`], a new file made with SQLite pages of `page_size` bytes (a
    /// power of two from 512 to 65536; a file already there keeps its own).
    ///
    /// # Errors
    /// [`Error::Write`] naming `path`.
    pub fn create_paged(
        path: &Path,
        (table, projection, fields): (&str, &str, &[(&str, Column)]),
        page_size: u32,
    ) -> Result<Self> {
        let conn = Connection::open(path).map_err(|e| Error::write(path, e))?;
        let t = quote(table);
        let cols: String = fields
            .iter()
            .map(|(n, c)| {
                let ty = match c {
                    Column::Real => "REAL",
                    Column::Integer => "INTEGER",
                    Column::Text => "TEXT",
                };
                format!(", {} {ty}", quote(n))
            })
            .collect();
        let rtree = quote(&format!("rtree_{table}_geom"));
        let sql = format!(
            r#"
            PRAGMA page_size = {page_size};
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            {CORE_TABLES}
            CREATE TABLE {t} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, geom MULTIPOLYGON{cols});
            CREATE VIRTUAL TABLE {rtree} USING rtree(id, minx, maxx, miny, maxy);
            "#
        );
        conn.execute_batch(&sql)
            .map_err(|e| Error::write(path, e))?;
        let srs_id = register_srs(&conn, projection).map_err(|e| Error::write(path, e))?;
        register_table(&conn, table, srs_id).map_err(|e| Error::write(path, e))?;
        conn.execute(
            "INSERT INTO gpkg_extensions VALUES (?1, 'geom', 'gpkg_rtree_index', 'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
            rusqlite::params![table],
        )
        .map_err(|e| Error::write(path, e))?;
        conn.execute_batch("BEGIN")
            .map_err(|e| Error::write(path, e))?;
        let marks = "?,".repeat(fields.len() + 1);
        Ok(GpkgWriter {
            conn,
            path: path.into(),
            table: table.into(),
            insert: format!(
                "INSERT INTO {t} VALUES (NULL, {})",
                marks.trim_end_matches(',')
            ),
            srs_id,
            columns: fields.len(),
            pending: 0,
            extent: None,
            envelopes: Vec::new(),
            written: 0,
        })
    }

    /// Add a feature.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file.
    pub fn push(&mut self, geom: &MultiPolygon<f64>, values: Vec<SqlValue>) -> Result<()> {
        let (blob, env) = gpkg_blob(geom, self.srs_id);
        self.push_blob(blob, env, values)
    }

    /// The SRS id geometry blobs of this layer carry (see [`gpkg_blob`]).
    pub fn srs_id(&self) -> i32 {
        self.srs_id
    }

    /// Add a feature whose geometry blob (of [`gpkg_blob`] with [`GpkgWriter::srs_id`]) and
    /// envelope were made beforehand, e.g. on another thread.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file.
    pub fn push_blob(
        &mut self,
        blob: Vec<u8>,
        env: Option<[f64; 4]>,
        values: Vec<SqlValue>,
    ) -> Result<()> {
        debug_assert_eq!(values.len(), self.columns);
        let mut all = Vec::with_capacity(self.columns + 1);
        all.push(SqlValue::Blob(blob));
        all.extend(values);
        let p = &self.path;
        self.conn
            .prepare_cached(&self.insert)
            .map_err(|e| Error::write(p, e))?
            .execute(params_from_iter(all))
            .map_err(|e| Error::write(p, e))?;
        if let Some(e) = env {
            self.envelopes.push((self.conn.last_insert_rowid(), e));
            self.extent = Some(match self.extent {
                None => e,
                Some(x) => [
                    x[0].min(e[0]),
                    x[1].max(e[1]),
                    x[2].min(e[2]),
                    x[3].max(e[3]),
                ],
            });
        }
        self.written += 1;
        self.pending += 1;
        if self.pending >= BATCH {
            self.conn
                .execute_batch("COMMIT; BEGIN")
                .map_err(|x| Error::write(p, x))?;
            self.pending = 0;
        }
        Ok(())
    }

    /// Commit, record the extent, add the R-tree maintenance triggers, and close.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file.
    pub fn finish(self) -> Result<()> {
        let p = &self.path;
        let t = &self.table;
        let (tq, rt) = (quote(t), quote(&format!("rtree_{t}_geom")));
        super::rtree::bulk_load(&self.conn, &format!("rtree_{t}_geom"), &self.envelopes)
            .map_err(|x| Error::write(p, x))?;
        if let Some(e) = self.extent {
            self.conn
                .execute(
                    "UPDATE gpkg_contents SET min_x = ?1, max_x = ?2, min_y = ?3, max_y = ?4 WHERE table_name = ?5",
                    rusqlite::params![e[0], e[1], e[2], e[3], t],
                )
                .map_err(|x| Error::write(p, x))?;
        }
        // The triggers of the GeoPackage 1.2 R-tree extension, so that later edits by any
        // GeoPackage client keep the index right.
        let n = |s: &str| quote(&format!("rtree_{t}_geom_{s}"));
        let triggers = format!(
            r#"
            CREATE TRIGGER {ins} AFTER INSERT ON {tq} WHEN (new.geom NOT NULL AND NOT ST_IsEmpty(NEW.geom))
            BEGIN INSERT OR REPLACE INTO {rt} VALUES (NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
            CREATE TRIGGER {upd1} AFTER UPDATE OF geom ON {tq} WHEN OLD.fid = NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
            BEGIN INSERT OR REPLACE INTO {rt} VALUES (NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
            CREATE TRIGGER {upd2} AFTER UPDATE OF geom ON {tq} WHEN OLD.fid = NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
            BEGIN DELETE FROM {rt} WHERE id = OLD.fid; END;
            CREATE TRIGGER {upd3} AFTER UPDATE ON {tq} WHEN OLD.fid != NEW.fid AND (NEW.geom NOTNULL AND NOT ST_IsEmpty(NEW.geom))
            BEGIN DELETE FROM {rt} WHERE id = OLD.fid; INSERT OR REPLACE INTO {rt} VALUES (NEW.fid, ST_MinX(NEW.geom), ST_MaxX(NEW.geom), ST_MinY(NEW.geom), ST_MaxY(NEW.geom)); END;
            CREATE TRIGGER {upd4} AFTER UPDATE ON {tq} WHEN OLD.fid != NEW.fid AND (NEW.geom ISNULL OR ST_IsEmpty(NEW.geom))
            BEGIN DELETE FROM {rt} WHERE id IN (OLD.fid, NEW.fid); END;
            CREATE TRIGGER {del} AFTER DELETE ON {tq} WHEN old.geom NOT NULL
            BEGIN DELETE FROM {rt} WHERE id = OLD.fid; END;
            COMMIT;
            "#,
            ins = n("insert"),
            upd1 = n("update1"),
            upd2 = n("update2"),
            upd3 = n("update3"),
            upd4 = n("update4"),
            del = n("delete"),
        );
        self.conn
            .execute_batch(&triggers)
            .map_err(|x| Error::write(p, x))?;
        self.conn.close().map_err(|(_, x)| Error::write(p, x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{LineString, Polygon};

    #[test]
    fn a_blob_reads_back_as_the_polygons_written() {
        let ring = |pts: &[(f64, f64)]| LineString::from(pts.to_vec());
        let mp = MultiPolygon::new(vec![
            Polygon::new(
                ring(&[
                    (0.0, 0.0),
                    (10.0, 0.0),
                    (10.0, 10.0),
                    (0.0, 10.0),
                    (0.0, 0.0),
                ]),
                vec![ring(&[(2.0, 2.0), (2.0, 4.0), (4.0, 4.0), (2.0, 2.0)])],
            ),
            Polygon::new(
                ring(&[(20.5, 1.25), (30.0, 1.25), (30.0, 5.0), (20.5, 1.25)]),
                vec![],
            ),
        ]);
        let (blob, env) = gpkg_blob(&mp, 4527);
        assert_eq!(env, Some([0.0, 30.0, 0.0, 10.0]));
        assert_eq!(parse_blob(&blob), Some(mp.clone()));
        // A big-endian single polygon, as other writers may store it.
        let p = &mp.0[1];
        let mut wkb = vec![0u8];
        wkb.extend_from_slice(&3u32.to_be_bytes());
        wkb.extend_from_slice(&1u32.to_be_bytes());
        wkb.extend_from_slice(&(p.exterior().0.len() as u32).to_be_bytes());
        for c in &p.exterior().0 {
            wkb.extend_from_slice(&c.x.to_be_bytes());
            wkb.extend_from_slice(&c.y.to_be_bytes());
        }
        let mut blob = b"GP\0\x00".to_vec();
        blob.extend_from_slice(&4527i32.to_le_bytes());
        blob.extend_from_slice(&wkb);
        assert_eq!(parse_blob(&blob), Some(MultiPolygon::new(vec![p.clone()])));
        // Truncated: no panic, no geometry.
        assert_eq!(parse_blob(&blob[..blob.len() - 3]), None);
        assert_eq!(parse_blob(b"GP"), None);
    }

    #[test]
    fn a_layer_of_large_pages_reads_back_through_gdal_with_its_index() {
        use crate::output::vector::{FieldKind, Value, VectorWriter};
        use gdal::vector::LayerAccess;
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("big.gpkg");
        let mut w =
            VectorWriter::create_large(&path, "changes", "", &[("n", FieldKind::Integer)]).unwrap();
        for k in 0..50 {
            let x = f64::from(k) * 10.0;
            let square = Polygon::new(
                LineString::from(vec![(x, 0.0), (x + 5.0, 0.0), (x + 5.0, 5.0), (x, 0.0)]),
                vec![],
            );
            w.push(
                MultiPolygon::new(vec![square]),
                vec![Value::Integer(i64::from(k))],
            )
            .unwrap();
        }
        w.finish().unwrap();
        let conn = Connection::open(&path).unwrap();
        let page: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page, 65536);
        drop(conn);
        let ds = gdal::Dataset::open(&path).unwrap();
        let mut layer = ds.layer_by_name("changes").unwrap();
        assert_eq!(layer.feature_count(), 50);
        // The R-tree answers a window: the squares from x = 100 to 195 (k = 10..19).
        layer.set_spatial_filter_rect(100.0, 0.0, 196.0, 5.0);
        assert_eq!(layer.features().count(), 10);
    }
}
