//! Typing polygons as they are written: the polygonizer hands each component to a
//! [`Classifier`], which measures it on the image pair and decides its TBLX with the rules or
//! an external class raster; pseudo-changes go to a separate layer.

use crate::classify::external::External;
use crate::classify::features::{Features, Measurer};
use crate::classify::{ClassifyConf, Decision, Measured};
use crate::error::Result;
use crate::output::vector::{FieldKind, Value};
use crate::vectorize::assemble::PixelPolygon;
use std::path::PathBuf;

/// The type fields of a typed change layer, after the polygonizer's own.
pub const CLASS_FIELDS: [(&str, FieldKind); 14] = [
    ("TBLX", FieldKind::Text),
    ("confidence", FieldKind::Real),
    // 类型依据: the rule and the feature values behind the type.
    ("LXYJ", FieldKind::Text),
    ("ndvi_b", FieldKind::Real),
    ("ndvi_a", FieldKind::Real),
    ("bright_b", FieldKind::Real),
    ("bright_a", FieldKind::Real),
    ("texture", FieldKind::Real),
    ("water_a", FieldKind::Real),
    ("green_a", FieldKind::Real),
    ("shadow", FieldKind::Real),
    ("blue_red", FieldKind::Real),
    ("width_dt", FieldKind::Real),
    ("skel_m", FieldKind::Real),
];

/// Measures and types polygons; shared by the polygonizer's worker threads.
pub struct Classifier {
    pub conf: ClassifyConf,
    pub measurer: Measurer,
    /// A class or probability raster that decides instead of the rules.
    pub external: Option<External>,
    /// Ground size of a pixel, m.
    pub pixel_m: f64,
    /// Where pseudo-changes are written (GeoPackage, layer `rejected`).
    pub rejected: PathBuf,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("rejected", &self.rejected)
            .field("external", &self.external.is_some())
            .finish()
    }
}

impl Classifier {
    /// Measure and decide one component; `base` carries area, shape and evidence already known.
    ///
    /// # Errors
    /// An image read failure, naming the file.
    pub fn decide(&self, polys: &[PixelPolygon], base: Measured) -> Result<(Measured, Decision)> {
        let m = Measured {
            features: self.measurer.measure(polys)?,
            pixel_m: self.pixel_m,
            ..base
        };
        let d = match &self.external {
            Some(x) => x.decide(polys, &m)?,
            None => self.conf.decide(&m),
        };
        Ok((m, d))
    }
}

/// The values of [`CLASS_FIELDS`] for one polygon.
pub fn class_values(m: &Measured, d: &Decision) -> Vec<Value> {
    let real = |v: Option<f64>| match v {
        Some(x) if x.is_finite() => Value::Real((x * 10_000.0).round() / 10_000.0),
        _ => Value::Null,
    };
    let f: &Features = &m.features;
    let reasons = match &d.pseudo {
        Some(p) => format!("pseudo-change {p}: {}", d.reasons),
        None => d.reasons.clone(),
    };
    vec![
        Value::Text(d.tblx.clone()),
        real(Some(d.confidence)),
        Value::Text(reasons),
        real(f.ndvi_before),
        real(f.ndvi_after),
        real(f.bright_before),
        real(f.bright_after),
        real(f.texture_after),
        real(f.water_after),
        real(f.green_after),
        real(f.shadow),
        real(f.blue_red),
        real(m.value("width_m")),
        real(m.value("skel_m")),
    ]
}
