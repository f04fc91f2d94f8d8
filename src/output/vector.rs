//! Polygon layers through GDAL: GeoPackage (spatial index, batched transactions), Shapefile
//! (UTF-8 with a .cpg) and FlatGeobuf, chosen by the file extension.
//!
//! Everything is written into a hidden `.NAME.partial/` folder beside the target and moved into
//! place by [`VectorWriter::finish`]; an error or interruption leaves no file that looks done.

use crate::error::{Error, Result};
use gdal::vector::{LayerAccess, LayerOptions, OGRFieldType, OGRwkbGeometryType};
use gdal::{Dataset, DriverManager};
use geo::{LineString, MultiPolygon, Polygon};
use std::path::{Path, PathBuf};

/// Features buffered per transaction.
const BATCH: usize = 20_000;

/// A supported output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VectorFormat {
    GeoPackage,
    Shapefile,
    FlatGeobuf,
}

impl VectorFormat {
    /// The format for a file name (.gpkg, .shp, .fgb).
    ///
    /// # Errors
    /// [`Error::Write`] naming the path when the extension is not one of those.
    pub fn from_path(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("gpkg") => Ok(VectorFormat::GeoPackage),
            Some("shp") => Ok(VectorFormat::Shapefile),
            Some("fgb") => Ok(VectorFormat::FlatGeobuf),
            _ => Err(Error::Write {
                path: path.into(),
                reason: "unknown vector format: use .gpkg, .shp or .fgb".into(),
            }),
        }
    }

    fn driver(self) -> &'static str {
        match self {
            VectorFormat::GeoPackage => "GPKG",
            VectorFormat::Shapefile => "ESRI Shapefile",
            VectorFormat::FlatGeobuf => "FlatGeobuf",
        }
    }

    fn layer_options(self) -> &'static [&'static str] {
        match self {
            VectorFormat::GeoPackage => &["SPATIAL_INDEX=YES", "FID=fid"],
            VectorFormat::Shapefile => &["ENCODING=UTF-8", "SPATIAL_INDEX=YES"],
            VectorFormat::FlatGeobuf => &["SPATIAL_INDEX=YES"],
        }
    }
}

/// The type of an attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    Real,
    Integer,
    Text,
}

/// `x` rounded to `places` decimal places: the double nearest that decimal, so it is written
/// without float noise (`59.2`, not `59.2000000085682`). Non-finite values stay as they are.
pub fn decimals(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    if !x.is_finite() || (x * f).abs() >= 1e15 {
        return x;
    }
    (x * f).round() / f
}

/// `x` rounded to `digits` significant digits (for values of any magnitude, such as evidence).
pub fn significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let places = digits - 1 - x.abs().log10().floor() as i32;
    decimals(x, places.clamp(-300, 300))
}

/// A value of an attribute.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Real(f64),
    Integer(i64),
    Text(String),
    Null,
}

fn write_features(layer: &gdal::vector::Layer, batch: Vec<Encoded>, path: &Path) -> Result<()> {
    for Encoded { blob, values, .. } in batch {
        let mut f = gdal::vector::Feature::new(layer.defn()).map_err(|e| Error::write(path, e))?;
        // Through WKB: one FFI call per geometry instead of one per vertex.
        let g = gdal::vector::Geometry::from_wkb(&blob).map_err(|e| Error::write(path, e))?;
        f.set_geometry(g).map_err(|e| Error::write(path, e))?;
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Value::Real(x) if x.is_finite() => f.set_field_double(i, x),
                Value::Integer(n) => f.set_field_integer64(i, n),
                Value::Text(t) => f.set_field_string(i, &t),
                _ => f.set_field_null(i),
            }
            .map_err(|e| Error::write(path, e))?;
        }
        f.create(layer).map_err(|e| Error::write(path, e))?;
    }
    Ok(())
}

/// ISO WKB (little endian) of a MultiPolygon.
pub fn wkb_multipolygon(mp: &MultiPolygon<f64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(wkb_len(mp));
    wkb_multipolygon_into(&mut out, mp);
    out
}

/// Bytes of [`wkb_multipolygon`]'s output.
pub fn wkb_len(mp: &MultiPolygon<f64>) -> usize {
    let rings: usize = mp.0.iter().map(|p| 1 + p.interiors().len()).sum();
    let points: usize =
        mp.0.iter()
            .map(|p| p.exterior().0.len() + p.interiors().iter().map(|r| r.0.len()).sum::<usize>())
            .sum();
    9 + mp.0.len() * 9 + rings * 4 + points * 16
}

/// [`wkb_multipolygon`] appended to `out` (a GeoPackage blob after its header).
pub fn wkb_multipolygon_into(out: &mut Vec<u8>, mp: &MultiPolygon<f64>) {
    out.reserve(wkb_len(mp));
    let head = |out: &mut Vec<u8>, kind: u32, n: usize| {
        out.push(1);
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&(n as u32).to_le_bytes());
    };
    head(out, 6, mp.0.len());
    for p in &mp.0 {
        head(out, 3, 1 + p.interiors().len());
        for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
            out.extend_from_slice(&(ring.0.len() as u32).to_le_bytes());
            for c in &ring.0 {
                out.extend_from_slice(&c.x.to_le_bytes());
                out.extend_from_slice(&c.y.to_le_bytes());
            }
        }
    }
}

/// The polygons of a WKB geometry (ISO or EWKB, either byte order; Polygon or MultiPolygon;
/// Z and M ordinates skipped); None for other types or truncated input.
pub fn parse_wkb(b: &[u8]) -> Option<MultiPolygon<f64>> {
    struct Reader<'a> {
        b: &'a [u8],
        at: usize,
    }
    impl Reader<'_> {
        fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
            let s = self.b.get(self.at..self.at + N)?;
            self.at += N;
            s.try_into().ok()
        }
        fn u32(&mut self, little: bool) -> Option<u32> {
            let v = self.take::<4>()?;
            Some(if little {
                u32::from_le_bytes(v)
            } else {
                u32::from_be_bytes(v)
            })
        }
        fn f64(&mut self, little: bool) -> Option<f64> {
            let v = self.take::<8>()?;
            Some(if little {
                f64::from_le_bytes(v)
            } else {
                f64::from_be_bytes(v)
            })
        }
        /// Byte order, base type and ordinates per point of the next geometry header.
        fn head(&mut self) -> Option<(bool, u32, usize)> {
            let little = self.take::<1>()?[0] == 1;
            let code = self.u32(little)?;
            // EWKB flags Z 0x8000_0000, M 0x4000_0000, SRID 0x2000_0000.
            let (ewkb_z, ewkb_m) = (code & 0x8000_0000 != 0, code & 0x4000_0000 != 0);
            if code & 0x2000_0000 != 0 {
                self.u32(little)?;
            }
            let iso = code & 0x0FFF_FFFF;
            let (base, z, m) = (
                iso % 1000,
                iso / 1000 == 1 || iso / 1000 == 3,
                iso / 1000 >= 2,
            );
            let dims = 2 + usize::from(z || ewkb_z) + usize::from(m || ewkb_m);
            Some((little, base, dims))
        }
        fn polygon(&mut self, little: bool, dims: usize) -> Option<Polygon<f64>> {
            let rings = self.u32(little)? as usize;
            let mut out: Vec<LineString<f64>> = Vec::with_capacity(rings.min(1 << 16));
            for _ in 0..rings {
                let n = self.u32(little)? as usize;
                let mut pts = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    let (x, y) = (self.f64(little)?, self.f64(little)?);
                    for _ in 2..dims {
                        self.f64(little)?;
                    }
                    pts.push(geo::coord! { x: x, y: y });
                }
                out.push(LineString::new(pts));
            }
            let mut it = out.into_iter();
            let shell = it.next()?;
            Some(Polygon::new(shell, it.collect()))
        }
    }
    let mut r = Reader { b, at: 0 };
    let (little, base, dims) = r.head()?;
    match base {
        3 => Some(MultiPolygon::new(vec![r.polygon(little, dims)?])),
        6 => {
            let n = r.u32(little)? as usize;
            let mut polys = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                let (l, t, d) = r.head()?;
                if t != 3 {
                    return None;
                }
                polys.push(r.polygon(l, d)?);
            }
            Some(MultiPolygon::new(polys))
        }
        _ => None,
    }
}

/// A feature encoded for one layer: its geometry as the layer stores it (a GeoPackage blob, or
/// ISO WKB for OGR), its envelope (GeoPackage) and its attribute values.
pub struct Encoded {
    blob: Vec<u8>,
    envelope: Option<[f64; 4]>,
    values: Vec<Value>,
}

/// Encodes features for a [`VectorWriter`]; `Copy` and free of the writer, so the costly part
/// of writing (the geometry's bytes, dropping the geometry) runs where the features are made,
/// in parallel, and the writer's thread only inserts.
#[derive(Clone, Copy, Debug)]
pub struct Encoder {
    /// The GeoPackage layer's SRS id; None for layers written through OGR.
    gpkg_srs: Option<i32>,
}

impl Encoder {
    /// `geometry` and `values` encoded for the layer.
    pub fn encode(&self, geometry: &MultiPolygon<f64>, values: Vec<Value>) -> Encoded {
        let (blob, envelope) = match self.gpkg_srs {
            Some(srs) => super::gpkg::gpkg_blob(geometry, srs),
            None => (wkb_multipolygon(geometry), None),
        };
        Encoded {
            blob,
            envelope,
            values,
        }
    }
}

/// A polygon layer being written.
pub struct VectorWriter {
    /// Shapefile and FlatGeobuf go through OGR ...
    ds: Option<Dataset>,
    /// ... GeoPackage through SQLite directly.
    gpkg: Option<super::gpkg::GpkgWriter>,
    finished: bool,
    format: VectorFormat,
    fields: Vec<(String, FieldKind)>,
    batch: Vec<Encoded>,
    staging: PathBuf,
    path: PathBuf,
    pub written: u64,
}

impl VectorWriter {
    /// Create `path` with one layer `layer` in the CRS `projection` (WKT; "" for none).
    ///
    /// # Errors
    /// [`Error::Write`] naming `path` when it cannot be created.
    pub fn create(
        path: &Path,
        layer: &str,
        projection: &str,
        fields: &[(&str, FieldKind)],
    ) -> Result<Self> {
        Self::create_encoded(path, layer, projection, fields, "UTF-8")
    }

    /// As [`VectorWriter::create`]; a Shapefile's attributes are written in `encoding` ("GBK",
    /// "UTF-8", any code page GDAL knows), named in its .cpg so that GIS software reads them
    /// back. Other formats are always UTF-8.
    ///
    /// # Errors
    /// [`Error::Write`] naming `path` when it cannot be created.
    pub fn create_encoded(
        path: &Path,
        layer: &str,
        projection: &str,
        fields: &[(&str, FieldKind)],
        encoding: &str,
    ) -> Result<Self> {
        Self::create_with(
            path,
            layer,
            projection,
            fields,
            (encoding, super::gpkg::PAGE_SIZE),
        )
    }

    /// As [`VectorWriter::create`], for a layer that may run to hundreds of MB (polygons of a
    /// large raster): a GeoPackage gets SQLite pages of 64 KiB instead of 4 KiB. Measured on
    /// the 146,078 polygons of `tools/bench_polygonize.sh 16384`: `polygonize` 8 % faster (the
    /// inserts are its serial tail), the file 209 MB instead of 226 MB; but a near-empty file
    /// takes 1.2 MB instead of 0.3 MB, hence not for every layer.
    ///
    /// # Errors
    /// As [`VectorWriter::create`].
    pub fn create_large(
        path: &Path,
        layer: &str,
        projection: &str,
        fields: &[(&str, FieldKind)],
    ) -> Result<Self> {
        Self::create_with(
            path,
            layer,
            projection,
            fields,
            ("UTF-8", super::gpkg::LARGE_PAGE_SIZE),
        )
    }

    fn create_with(
        path: &Path,
        layer: &str,
        projection: &str,
        fields: &[(&str, FieldKind)],
        (encoding, page): (&str, u32),
    ) -> Result<Self> {
        let format = VectorFormat::from_path(path)?;
        let name = path
            .file_name()
            .ok_or_else(|| Error::write(path, "no file name"))?
            .to_string_lossy()
            .into_owned();
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !parent.is_dir() {
            return Err(Error::write(
                path,
                format!("folder {} does not exist", parent.display()),
            ));
        }
        let staging = super::partial_path(&parent.join(&name));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir(&staging).map_err(|e| Error::write(path, e))?;
        if format == VectorFormat::GeoPackage {
            let cols: Vec<(&str, super::gpkg::Column)> = fields
                .iter()
                .map(|(n, k)| {
                    let c = match k {
                        FieldKind::Real => super::gpkg::Column::Real,
                        FieldKind::Integer => super::gpkg::Column::Integer,
                        FieldKind::Text => super::gpkg::Column::Text,
                    };
                    (*n, c)
                })
                .collect();
            let gpkg = super::gpkg::GpkgWriter::create_paged(
                &staging.join(&name),
                (layer, projection, &cols),
                page,
            )
            .map_err(|e| Error::write(path, e))?;
            return Ok(Self::new(None, Some(gpkg), format, fields, staging, path));
        }
        let drv = DriverManager::get_driver_by_name(format.driver())
            .map_err(|e| Error::write(path, e))?;
        let mut ds = drv
            .create_vector_only(staging.join(&name))
            .map_err(|e| Error::write(path, e))?;
        let srs = if projection.is_empty() {
            None
        } else {
            let mut s = gdal::spatial_ref::SpatialRef::from_wkt(projection)
                .map_err(|e| Error::write(path, e))?;
            s.set_axis_mapping_strategy(
                gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder,
            );
            Some(s)
        };
        let stem = Path::new(&name)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let layer_name = if format == VectorFormat::Shapefile {
            stem.as_str()
        } else {
            layer
        };
        let enc = format!("ENCODING={encoding}");
        let options: Vec<&str> = format
            .layer_options()
            .iter()
            .map(|o| {
                if o.starts_with("ENCODING=") {
                    enc.as_str()
                } else {
                    o
                }
            })
            .collect();
        let lyr = ds
            .create_layer(LayerOptions {
                name: layer_name,
                srs: srs.as_ref(),
                ty: OGRwkbGeometryType::wkbMultiPolygon,
                options: Some(&options),
            })
            .map_err(|e| Error::write(path, e))?;
        let defs: Vec<(&str, u32)> = fields
            .iter()
            .map(|(n, k)| {
                let t = match k {
                    FieldKind::Real => OGRFieldType::OFTReal,
                    FieldKind::Integer => OGRFieldType::OFTInteger64,
                    FieldKind::Text => OGRFieldType::OFTString,
                };
                (*n, t)
            })
            .collect();
        for (n, t) in &defs {
            let fd = gdal::vector::FieldDefn::new(n, *t).map_err(|e| Error::write(path, e))?;
            if format == VectorFormat::Shapefile && *t == OGRFieldType::OFTString {
                // The dBASE maximum: the default (80) would cut the reasons short.
                fd.set_width(254);
            }
            if format == VectorFormat::Shapefile && *t == OGRFieldType::OFTReal {
                // dBASE numbers are text: GDAL's default 15 decimals write 215.04 as
                // 215.039999999999992. Six keep 0.01 m², 0.0001 mu and 0.1 m in degrees.
                fd.set_width(24);
                fd.set_precision(6);
            }
            fd.add_to_layer(&lyr).map_err(|e| Error::write(path, e))?;
        }
        Ok(Self::new(Some(ds), None, format, fields, staging, path))
    }

    fn new(
        ds: Option<Dataset>,
        gpkg: Option<super::gpkg::GpkgWriter>,
        format: VectorFormat,
        fields: &[(&str, FieldKind)],
        staging: PathBuf,
        path: &Path,
    ) -> Self {
        VectorWriter {
            ds,
            gpkg,
            finished: false,
            format,
            fields: fields.iter().map(|(n, k)| (n.to_string(), *k)).collect(),
            batch: Vec::new(),
            staging,
            path: path.into(),
            written: 0,
        }
    }

    /// Add one feature (written in batches).
    ///
    /// # Errors
    /// [`Error::Write`] when a batch fails.
    pub fn push(&mut self, geometry: MultiPolygon<f64>, values: Vec<Value>) -> Result<()> {
        let f = self.encoder().encode(&geometry, values);
        self.push_encoded(f)
    }

    /// What encodes features for this layer, on any thread (see [`Encoder`]).
    pub fn encoder(&self) -> Encoder {
        Encoder {
            gpkg_srs: self.gpkg.as_ref().map(super::gpkg::GpkgWriter::srs_id),
        }
    }

    /// Add one feature encoded by this layer's [`VectorWriter::encoder`].
    ///
    /// # Errors
    /// [`Error::Write`] when a batch fails.
    pub fn push_encoded(&mut self, f: Encoded) -> Result<()> {
        debug_assert_eq!(f.values.len(), self.fields.len());
        if let Some(g) = self.gpkg.as_mut() {
            use rusqlite::types::Value as Sql;
            let sql = f
                .values
                .into_iter()
                .map(|v| match v {
                    Value::Real(x) if x.is_finite() => Sql::Real(x),
                    Value::Integer(n) => Sql::Integer(n),
                    Value::Text(t) => Sql::Text(t),
                    _ => Sql::Null,
                })
                .collect();
            g.push_blob(f.blob, f.envelope, sql)?;
            self.written += 1;
            return Ok(());
        }
        self.batch.push(f);
        if self.batch.len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let path = self.path.clone();
        let ds = self.ds.as_mut().expect("flushed before finish");
        let batch = std::mem::take(&mut self.batch);
        let n = batch.len() as u64;
        if self.format == VectorFormat::GeoPackage {
            // One transaction per batch: SQLite-backed GeoPackage writes are fast only that way.
            let txn = ds.start_transaction().map_err(|e| Error::write(&path, e))?;
            write_features(
                &txn.layer(0).map_err(|e| Error::write(&path, e))?,
                batch,
                &path,
            )?;
            txn.commit().map_err(|e| Error::write(&path, e))?;
        } else {
            // Shapefile and FlatGeobuf have no transactions (GDAL would emulate one by copying).
            write_features(
                &ds.layer(0).map_err(|e| Error::write(&path, e))?,
                batch,
                &path,
            )?;
        }
        self.written += n;
        Ok(())
    }

    /// Features added so far (written or buffered).
    pub fn written_total(&self) -> u64 {
        self.written + self.batch.len() as u64
    }

    /// Flush, close and move the files into place.
    ///
    /// # Errors
    /// [`Error::Write`] naming the output when flushing, closing or moving fails.
    pub fn finish(mut self) -> Result<PathBuf> {
        if let Some(g) = self.gpkg.take() {
            g.finish()?;
        } else {
            self.flush()?;
            let ds = self.ds.take().expect("finished once");
            ds.close().map_err(|e| Error::write(&self.path, e))?;
        }
        let parent = self
            .staging
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let entries = std::fs::read_dir(&self.staging).map_err(|e| Error::write(&self.path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::write(&self.path, e))?;
            std::fs::rename(entry.path(), parent.join(entry.file_name()))
                .map_err(|e| Error::write(&self.path, e))?;
        }
        let _ = std::fs::remove_dir(&self.staging);
        self.finished = true;
        Ok(self.path.clone())
    }
}

impl Drop for VectorWriter {
    fn drop(&mut self) {
        // Not finished: an error or a panic. Close, then remove the staging folder.
        if !self.finished {
            self.ds.take();
            self.gpkg.take();
            let _ = std::fs::remove_dir_all(&self.staging);
        }
    }
}

/// Append layer `layer` of every source (that has it) to the GeoPackage `dest` (created by the
/// first): `ogr2ogr -append` through GDAL's own library call, fields and CRS as in the sources.
///
/// # Errors
/// [`Error::Write`] naming `dest` and GDAL's reason; [`Error::Open`] for an unreadable source.
pub fn append_layers(sources: &[PathBuf], layer: &str, dest: &Path) -> Result<()> {
    let werr = |reason: String| Error::Write {
        path: dest.into(),
        reason,
    };
    for src in sources {
        let ds = crate::raster::open_dataset(src)?;
        if ds.layer_by_name(layer).is_err() {
            continue;
        }
        let out = dest
            .exists()
            .then(|| {
                Dataset::open_ex(
                    dest,
                    gdal::DatasetOptions {
                        open_flags: gdal::GdalOpenFlags::GDAL_OF_UPDATE
                            | gdal::GdalOpenFlags::GDAL_OF_VECTOR,
                        ..Default::default()
                    },
                )
            })
            .transpose()
            .map_err(|e| werr(e.to_string()))?;
        let exists = out.as_ref().is_some_and(|o| o.layer_by_name(layer).is_ok());
        let mut args: Vec<&str> = vec!["-f", "GPKG", "-nln", layer];
        args.push(if exists { "-append" } else { "-update" });
        if out.is_none() {
            args.pop();
        }
        args.push(layer);
        vector_translate(&ds, dest, out.as_ref(), &args).map_err(|msg| {
            werr(format!(
                "appending layer {layer} of {}: {msg}",
                src.display()
            ))
        })?;
    }
    Ok(())
}

/// `ogr2ogr ARGS` from `ds` into a new dataset at `dest`.
///
/// # Errors
/// [`Error::Write`] naming `dest`, with GDAL's message.
pub fn translate(ds: &Dataset, dest: &Path, args: &[&str]) -> Result<()> {
    vector_translate(ds, dest, None, args).map_err(|reason| Error::Write {
        path: dest.into(),
        reason,
    })
}

/// GDALVectorTranslate of `ds` into `out` (open) or a new dataset at `dest`.
fn vector_translate(
    ds: &Dataset,
    dest: &Path,
    out: Option<&Dataset>,
    args: &[&str],
) -> std::result::Result<(), String> {
    use std::ffi::CString;
    let mut argv = crate::raster::GdalArgs::new(args).map_err(|e| e.to_string())?;
    let c_dest = CString::new(dest.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: `argv` holds a NULL-terminated array of NUL-terminated strings that outlive the
    // calls; the source and destination handles are valid while `ds` and `out` live; the
    // options are freed once, and a dataset GDALVectorTranslate created is closed once.
    unsafe {
        let opts = gdal_sys::GDALVectorTranslateOptionsNew(argv.argv(), std::ptr::null_mut());
        if opts.is_null() {
            return Err(format!(
                "bad options {args:?}: {}",
                crate::raster::gdal_last_error()
            ));
        }
        let mut src_h = ds.c_dataset();
        let dst_h = out.map_or(std::ptr::null_mut(), |o| o.c_dataset());
        let mut usage = 0;
        let r = gdal_sys::GDALVectorTranslate(
            if dst_h.is_null() {
                c_dest.as_ptr()
            } else {
                std::ptr::null()
            },
            dst_h,
            1,
            &mut src_h,
            opts,
            &mut usage,
        );
        gdal_sys::GDALVectorTranslateOptionsFree(opts);
        if r.is_null() {
            return Err(crate::raster::gdal_last_error());
        }
        if dst_h.is_null() {
            gdal_sys::GDALClose(r);
        }
    }
    Ok(())
}
