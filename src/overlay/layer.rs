//! Reading reference and change layers from any OGR source (GeoPackage, Shapefile with its .cpg
//! code page, FileGDB, GeoJSON, PostGIS, ...) into the working CRS, in batches.
//!
//! Checks at this edge, each naming the source and layer: the layer exists (else the layers it
//! has are listed), every mapped field exists (else the fields it has are listed), the layer
//! has a CRS (or the job gives one), and projected Gauss-Krüger coordinates agree with their
//! CRS about the zone prefix. Both CRSs use the GIS axis order (easting/longitude first), so
//! EPSG:4490's latitude-first definition never swaps coordinates.

use super::index::RefFeature;
use crate::error::{Error, Result};
use crate::geom::AreaMethod;
use crate::job::LayerSource;
use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
use gdal::vector::{Geometry, LayerAccess};
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use geo::{MultiPolygon, Rect};

/// Features per batch handed to the intersection workers.
pub const BATCH: usize = 2048;

/// The working CRS: the change polygons' CRS.
pub struct WorkCrs {
    pub wkt: String,
    pub name: String,
    pub area: AreaMethod,
}

impl WorkCrs {
    /// # Errors
    /// [`Error::Layer`] when the WKT is not a CRS or is neither projected nor geographic.
    pub fn from_wkt(wkt: &str, source_name: &str) -> Result<WorkCrs> {
        let srs = SpatialRef::from_wkt(wkt).map_err(|e| layer_err(source_name, None, e))?;
        let area = if srs.is_geographic() {
            AreaMethod::Geodesic
        } else if srs.is_projected() {
            AreaMethod::Planar {
                metres_per_unit: srs.linear_units(),
            }
        } else {
            return Err(layer_err(
                source_name,
                None,
                "CRS is neither projected nor geographic; areas cannot be measured on the ground",
            ));
        };
        Ok(WorkCrs {
            wkt: wkt.to_string(),
            name: srs.name().unwrap_or_else(|| "unnamed CRS".into()),
            area,
        })
    }

    fn srs(&self) -> Result<SpatialRef> {
        let mut s =
            SpatialRef::from_wkt(&self.wkt).map_err(|e| layer_err("working CRS", None, e))?;
        s.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        Ok(s)
    }
}

fn layer_err(source: &str, layer: Option<&str>, reason: impl std::fmt::Display) -> Error {
    Error::Layer {
        source_name: source.to_string(),
        layer: layer.map(str::to_string),
        reason: reason.to_string(),
    }
}

/// What was read from a layer.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LayerStats {
    pub layer: String,
    pub crs: String,
    pub features: u64,
    pub empty: u64,
    pub not_polygons: u64,
    pub reprojected: bool,
    /// What was assumed in reading it (a code page the source did not give).
    pub notes: Vec<String>,
}

/// One mapped attribute: its role (for messages), its name, and whether the layer must have
/// it (a field the user named) or may lack it (a conventional default such as PZWH).
#[derive(Clone, Debug)]
pub struct FieldSpec {
    pub role: &'static str,
    pub name: String,
    pub required: bool,
}

impl FieldSpec {
    /// The user's field when named (required), else the survey's conventional name (optional).
    pub fn mapped(role: &'static str, configured: &Option<String>, default: &str) -> FieldSpec {
        FieldSpec {
            role,
            name: configured.clone().unwrap_or_else(|| default.to_string()),
            required: configured.is_some(),
        }
    }
}

/// Attribute names and OGR field types.
pub type Schema = Vec<(String, u32)>;

/// What [`read_layer`] found besides the features.
pub struct LayerRead {
    pub stats: LayerStats,
    /// The read fields (name, OGR type), in the order of each feature's `attrs`.
    pub schema: Schema,
    /// The layer's CRS as WKT.
    pub wkt: String,
}

/// Which attributes to read.
pub enum Fields<'a> {
    /// These fields, in this order; an optional field the layer lacks reads as `None`.
    Named(&'a [FieldSpec]),
    /// Every field (its name and OGR type come back in the schema).
    All,
}

/// Open a vector source, with the code page override when given, or the one
/// [`super::encoding::guess`] found for a Shapefile that does not say its own (with its note).
pub(crate) fn open(src: &LayerSource) -> Result<(Dataset, Option<String>)> {
    let guessed = super::encoding::guess(src)?;
    let enc = src
        .encoding
        .as_deref()
        .or(guessed.as_ref().map(|g| g.0))
        .map(|e| format!("ENCODING={e}"));
    let opts: Vec<&str> = enc.iter().map(String::as_str).collect();
    Dataset::open_ex(
        &src.path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            open_options: (!opts.is_empty()).then_some(opts.as_slice()),
            ..Default::default()
        },
    )
    .map_err(|e| {
        layer_err(
            &src.path,
            None,
            format!("cannot open as a vector source: {e}"),
        )
    })
    .map(|ds| (ds, guessed.map(|g| g.1)))
}

/// The zone prefix check: Gauss-Krüger eastings with a zone prefix are 8 digits (39 500 000),
/// without one 6 digits. A mismatch with the CRS's false easting means the wrong EPSG code.
fn check_zone_prefix(srs: &SpatialRef, min_x: f64, max_x: f64) -> std::result::Result<(), String> {
    if !srs.is_projected() {
        return Ok(());
    }
    // SAFETY: a valid SRS handle and a NUL-terminated key; OSRGetProjParm only reads them.
    let fe = unsafe {
        let key = std::ffi::CString::new("false_easting").expect("static");
        let mut err = 0;
        gdal_sys::OSRGetProjParm(srs.to_c_hsrs(), key.as_ptr(), 0.0, &mut err)
    };
    let name = srs.name().unwrap_or_default();
    let zone = (min_x / 1e6).floor();
    let prefixed_data = min_x >= 1e7 && max_x < 1e8;
    if fe < 1e6 && prefixed_data {
        let hint = if (25.0..=45.0).contains(&zone) {
            format!(
                " (CGCS2000 3-degree zone {zone} with prefix is EPSG:{})",
                4513 + zone as i32 - 25
            )
        } else {
            String::new()
        };
        return Err(format!(
            "eastings from {min_x:.0} carry a zone prefix but the CRS {name:?} has false easting \
             {fe:.0}: set crs = \"EPSG:...\" for the prefixed zone in the job{hint}"
        ));
    }
    if fe >= 1e6 && max_x < 1e6 {
        return Err(format!(
            "eastings up to {max_x:.0} have no zone prefix but the CRS {name:?} has false \
             easting {fe:.0}: set crs = \"EPSG:...\" for the zone without prefix in the job \
             (CGCS2000 3-degree zones: EPSG:4534-4554)"
        ));
    }
    Ok(())
}

/// Polygons of a geometry (multi, collection or single); curves are linearised.
fn polygons_of(g: &Geometry) -> Option<MultiPolygon<f64>> {
    let converted = match g.to_geo() {
        Ok(x) => x,
        Err(_) => {
            // Curve types: linearise through OGR first.
            // SAFETY: `lin` is a new geometry we own; it is exported to WKB and destroyed.
            let wkb = unsafe {
                let lin =
                    gdal_sys::OGR_G_GetLinearGeometry(g.c_geometry(), 0.0, std::ptr::null_mut());
                if lin.is_null() {
                    return None;
                }
                let mut buf = vec![0u8; gdal_sys::OGR_G_WkbSize(lin).max(0) as usize];
                let rc = gdal_sys::OGR_G_ExportToIsoWkb(
                    lin,
                    gdal_sys::OGRwkbByteOrder::wkbNDR,
                    buf.as_mut_ptr(),
                );
                gdal_sys::OGR_G_DestroyGeometry(lin);
                (rc == gdal_sys::OGRErr::OGRERR_NONE).then_some(buf)?
            };
            Geometry::from_wkb(&wkb).ok()?.to_geo().ok()?
        }
    };
    let mut polys = vec![];
    let mut stack = vec![converted];
    while let Some(x) = stack.pop() {
        match x {
            geo::Geometry::Polygon(p) => polys.push(p),
            geo::Geometry::MultiPolygon(m) => polys.extend(m.0),
            geo::Geometry::GeometryCollection(c) => stack.extend(c.0),
            geo::Geometry::Rect(r) => polys.push(r.to_polygon()),
            _ => {}
        }
    }
    (!polys.is_empty()).then(|| MultiPolygon::new(polys))
}

/// The layer the source names, else the kind's conventional name, else its only layer.
pub(crate) fn choose_layer<'d>(
    ds: &'d Dataset,
    src: &LayerSource,
    default_layer: &str,
) -> Result<(gdal::vector::Layer<'d>, String)> {
    let names: Vec<String> = ds.layers().map(|l| l.name()).collect();
    let chosen = match &src.layer {
        Some(l) => l.clone(),
        None if names.iter().any(|n| n == default_layer) => default_layer.to_string(),
        None if names.len() == 1 => names[0].clone(),
        None => {
            return Err(layer_err(
                &src.path,
                None,
                format!(
                    "no layer {default_layer:?} and more than one layer: set layer = one of {}",
                    names.join(", ")
                ),
            ));
        }
    };
    let layer = ds.layer_by_name(&chosen).map_err(|_| {
        layer_err(
            &src.path,
            Some(&chosen),
            format!("no such layer; the source has: {}", names.join(", ")),
        )
    })?;
    Ok((layer, chosen))
}

/// The field names of a source's layer (to check a mapping before any work starts).
///
/// # Errors
/// [`Error::Layer`] when the source or layer cannot be opened.
pub fn layer_fields(src: &LayerSource, default_layer: &str) -> Result<Vec<String>> {
    let (ds, _) = open(src)?;
    let (layer, _) = choose_layer(&ds, src, default_layer)?;
    Ok(layer.defn().fields().map(|f| f.name()).collect())
}

/// The positions of the wanted fields in the layer (None: optional and absent).
fn select_fields(
    src: &LayerSource,
    chosen: &str,
    available: &Schema,
    fields: Fields,
) -> Result<(Schema, Vec<Option<usize>>)> {
    Ok(match fields {
        Fields::All => (available.clone(), (0..available.len()).map(Some).collect()),
        Fields::Named(list) => {
            let mut out = (vec![], vec![]);
            for f in list {
                let at = available
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case(&f.name));
                if at.is_none() && f.required {
                    return Err(Error::Field {
                        source_name: src.path.clone(),
                        layer: chosen.to_string(),
                        field: f.name.clone(),
                        role: f.role,
                        available: available.iter().map(|(n, _)| n.clone()).collect(),
                    });
                }
                out.0
                    .push(at.map_or((f.name.clone(), 0), |i| available[i].clone()));
                out.1.push(at);
            }
            out
        }
    })
}

/// The layer's CRS (the job's `crs` first), in GIS axis order.
fn layer_crs(
    src: &LayerSource,
    layer: &gdal::vector::Layer,
) -> std::result::Result<SpatialRef, String> {
    let mut srs = match (&src.crs, layer.spatial_ref()) {
        (Some(c), _) => SpatialRef::from_definition(c)
            .map_err(|e| format!("crs {c:?} is not a CRS GDAL knows: {e}"))?,
        (None, Some(s)) => s,
        (None, None) => {
            return Err("has no CRS; set crs = \"EPSG:....\" for this layer in the job".into());
        }
    };
    srs.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    Ok(srs)
}

/// Read only features over `r` (working CRS; `work` given when the layer is reprojected).
fn restrict(
    layer: &mut gdal::vector::Layer,
    r: &Rect<f64>,
    work: Option<&WorkCrs>,
    layer_srs: &SpatialRef,
) -> Result<()> {
    // The extent in the layer's CRS, a little wider for curved reprojected edges.
    let pad = 0.01 * (r.width() + r.height()).max(1e-9);
    let bounds = [
        r.min().x - pad,
        r.min().y - pad,
        r.max().x + pad,
        r.max().y + pad,
    ];
    let b = match work {
        Some(w) => CoordTransform::new(&w.srs()?, layer_srs)
            .and_then(|t| t.transform_bounds(&bounds, 21))
            .unwrap_or([f64::MIN, f64::MIN, f64::MAX, f64::MAX]),
        None => bounds,
    };
    if b[0] > f64::MIN {
        layer.set_spatial_filter_rect(b[0], b[1], b[2], b[3]);
    }
    Ok(())
}

/// Clear this thread's last GDAL error.
fn reset_gdal_error() {
    // SAFETY: resets thread-local error state; no pointers involved.
    unsafe { gdal_sys::CPLErrorReset() }
}

/// The message of the last GDAL failure on this thread since [`reset_gdal_error`], if any.
fn gdal_failure() -> Option<String> {
    // SAFETY: reads thread-local error state.
    if unsafe { gdal_sys::CPLGetLastErrorType() } < gdal_sys::CPLErr::CE_Failure {
        return None;
    }
    Some(crate::raster::gdal_last_error())
}

/// Read a layer in batches of [`BATCH`] features, reprojected into `work`, restricted to
/// `extent` (in the working CRS) when given. `sink` gets each batch; the schema (name, OGR
/// field type) of the read fields is returned with the statistics.
///
/// # Errors
/// [`Error::Layer`] / [`Error::Field`] naming the source and layer (see the module doc), and
/// whatever `sink` returns.
pub fn read_layer(
    src: &LayerSource,
    default_layer: &str,
    fields: Fields,
    work: Option<&WorkCrs>,
    extent: Option<Rect<f64>>,
    progress: &dyn Fn(u64, u64),
    mut sink: impl FnMut(Vec<RefFeature>) -> Result<()>,
) -> Result<LayerRead> {
    let (ds, encoding_note) = open(src)?;
    let (mut layer, chosen) = choose_layer(&ds, src, default_layer)?;
    let lerr = |reason: String| layer_err(&src.path, Some(&chosen), reason);
    let available: Vec<(String, u32)> = layer
        .defn()
        .fields()
        .map(|f| (f.name(), f.field_type()))
        .collect();
    let (wanted, idx) = select_fields(src, &chosen, &available, fields)?;
    let layer_srs = layer_crs(src, &layer).map_err(lerr)?;
    let mut stats = LayerStats {
        layer: chosen.clone(),
        crs: layer_srs.name().unwrap_or_default(),
        notes: encoding_note.into_iter().collect(),
        ..Default::default()
    };
    if let Ok(Some(e)) = layer.try_get_extent()
        && e.MaxX >= e.MinX
    {
        check_zone_prefix(&layer_srs, e.MinX, e.MaxX).map_err(lerr)?;
    }
    let transform = match work {
        Some(w) => {
            let wsrs = w.srs()?;
            if wsrs == layer_srs {
                None
            } else {
                stats.reprojected = true;
                Some(
                    CoordTransform::new(&layer_srs, &wsrs)
                        .map_err(|e| lerr(format!("cannot reproject to {}: {e}", w.name)))?,
                )
            }
        }
        None => None,
    };
    if let Some(r) = extent {
        restrict(
            &mut layer,
            &r,
            work.filter(|_| transform.is_some()),
            &layer_srs,
        )?;
    }
    if let Some(f) = &src.filter {
        layer
            .set_attribute_filter(f)
            .map_err(|e| lerr(format!("filter {f:?}: {e}")))?;
    }
    // SQL drivers (GeoPackage, PostGIS) take any filter text and fail only when they run it:
    // GDAL then prints an error and the layer reads as empty. A failure while counting, or a
    // read that ends short of the count with one, is an error here.
    let failed = |when: &str| {
        gdal_failure().map(|msg| {
            let filter = src
                .filter
                .as_ref()
                .map_or(String::new(), |f| format!(" (filter {f:?})"));
            lerr(format!("{when} failed{filter}: {msg}"))
        })
    };
    reset_gdal_error();
    let total = layer.try_feature_count().unwrap_or(0);
    if let Some(e) = failed("counting the features") {
        return Err(e);
    }
    let mut batch = Vec::with_capacity(BATCH);
    let mut seen = 0u64;
    for feature in layer.features() {
        seen += 1;
        let Some(g) = feature.geometry() else {
            stats.empty += 1;
            continue;
        };
        if g.is_empty() {
            stats.empty += 1;
            continue;
        }
        let geom = match &transform {
            Some(t) => {
                let mut g = g.clone();
                g.transform_inplace(t).map_err(|e| {
                    lerr(format!(
                        "feature {}: reprojection failed: {e}",
                        feature.fid().unwrap_or(0)
                    ))
                })?;
                polygons_of(&g)
            }
            None => polygons_of(g),
        };
        let Some(geom) = geom else {
            stats.not_polygons += 1;
            continue;
        };
        let attrs = idx
            .iter()
            .map(|i| i.and_then(|i| feature.field_as_string(i).ok().flatten()))
            .collect();
        batch.push(RefFeature {
            fid: feature.fid().unwrap_or(seen - 1),
            geom,
            attrs,
        });
        stats.features += 1;
        if batch.len() == BATCH {
            sink(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))?;
            progress(seen, total.max(seen));
        }
    }
    // A reader that stopped short of the count with a GDAL failure (other failures while
    // reading, such as a driver's complaint about a null geometry, cost nothing).
    if seen < total
        && let Some(e) = failed("reading the features")
    {
        return Err(e);
    }
    if !batch.is_empty() {
        sink(batch)?;
    }
    progress(seen, seen);
    Ok(LayerRead {
        stats,
        schema: wanted,
        wkt: layer_srs.to_wkt().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_prefix_mismatches_are_caught_both_ways() {
        let mut no_prefix = SpatialRef::from_epsg(4545).unwrap(); // CM 117E, FE 500 000
        no_prefix.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
        let prefixed = SpatialRef::from_epsg(4527).unwrap(); // zone 39, FE 39 500 000
        assert!(check_zone_prefix(&no_prefix, 480_000.0, 520_000.0).is_ok());
        assert!(check_zone_prefix(&prefixed, 39_480_000.0, 39_520_000.0).is_ok());
        let e = check_zone_prefix(&no_prefix, 39_480_000.0, 39_520_000.0).unwrap_err();
        assert!(e.contains("EPSG:4527"), "{e}");
        let e = check_zone_prefix(&prefixed, 480_000.0, 520_000.0).unwrap_err();
        assert!(e.contains("no zone prefix"), "{e}");
        let geographic = SpatialRef::from_epsg(4490).unwrap();
        assert!(check_zone_prefix(&geographic, 117.0, 118.0).is_ok());
    }
}
