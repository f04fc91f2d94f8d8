//! A polygon's own measures — ground area and perimeter (planar, geodesic or in pixels),
//! extent, evidence, shape — as the first fields of every change layer ([`FIELDS`]) and as the
//! [`Measured`] that typing starts from.

use super::Measured;
use crate::MU_M2;
use crate::output::vector::{FieldKind, Value, decimals, significant};
use crate::vectorize::assemble::PixelPolygon;
use crate::vectorize::geometry::GeoTransform;
use crate::vectorize::stitch::Component;
use geo::{Euclidean, GeodesicArea, Length, MultiPolygon};

/// The attribute schema of polygon layers.
pub const FIELDS: [(&str, FieldKind); 16] = [
    ("area_m2", FieldKind::Real),
    ("area_mu", FieldKind::Real),
    ("pixels", FieldKind::Integer),
    ("perim_m", FieldKind::Real),
    ("xmin", FieldKind::Real),
    ("ymin", FieldKind::Real),
    ("xmax", FieldKind::Real),
    ("ymax", FieldKind::Real),
    ("ev_mean", FieldKind::Real),
    ("ev_max", FieldKind::Real),
    ("comp_id", FieldKind::Integer),
    // Shape (crate::classify::shape): minimum-rotated-rectangle elongation, its long side and
    // the mean width in metres, compactness, convexity.
    ("elong", FieldKind::Real),
    ("length_m", FieldKind::Real),
    ("width_m", FieldKind::Real),
    ("compact", FieldKind::Real),
    ("convex", FieldKind::Real),
];

/// How ground measures are taken for a raster's CRS.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ground {
    /// Projected: metres per CRS unit.
    Projected(f64),
    /// Geographic (degrees): geodesic on the ellipsoid.
    Geodesic,
    /// No georeference: pixel units.
    Pixels,
}

pub fn ground(projection: &str, has_gt: bool) -> Ground {
    if !has_gt {
        return Ground::Pixels;
    }
    match gdal::spatial_ref::SpatialRef::from_wkt(projection) {
        Ok(s) if s.is_geographic() => Ground::Geodesic,
        Ok(s) if s.is_projected() => Ground::Projected(s.linear_units()),
        _ => Ground::Pixels,
    }
}

/// Total length of every ring under a metric.
fn rings_length(geom: &MultiPolygon<f64>, metric: &impl Length<f64>) -> f64 {
    geom.0
        .iter()
        .map(|p| {
            metric.length(p.exterior())
                + p.interiors().iter().map(|r| metric.length(r)).sum::<f64>()
        })
        .sum()
}

/// Shape fields; lengths in metres through the polygon's own ground/planar area ratio, so the
/// same code serves projected, geographic and pixel grids.
fn shape_measures(
    (polys, gt, geom): (&[PixelPolygon], &GeoTransform, &MultiPolygon<f64>),
    (area_m2, planar_perimeter): (f64, f64),
    evidence: Option<f64>,
) -> Measured {
    use geo::Area;
    let planar_area = geom.unsigned_area();
    let finite = |v: f64| v.is_finite().then_some(v);
    let base = Measured {
        area_m2,
        evidence,
        ..Measured::default()
    };
    match crate::classify::shape::shape(polys, gt, planar_area, planar_perimeter) {
        Some(s) => {
            let m_per_unit = (area_m2 / planar_area).sqrt();
            Measured {
                elongation: finite(s.elongation),
                length_m: finite(s.length * m_per_unit),
                rect_width_m: finite(s.width * m_per_unit),
                compactness: finite(s.compactness),
                convexity: finite(s.convexity),
                ..base
            }
        }
        None => base,
    }
}

fn shape_values(m: &Measured) -> [Value; 5] {
    let v = |x: Option<f64>, places| x.map_or(Value::Null, |x| Value::Real(decimals(x, places)));
    [
        v(m.elongation, 4),
        v(m.length_m, 2),
        v(m.rect_width_m, 2),
        v(m.compactness, 4),
        v(m.convexity, 4),
    ]
}

/// Attributes of one component in [`FIELDS`] order, and its measures for typing.
pub fn attributes(
    c: &Component,
    geom: &MultiPolygon<f64>,
    gt: &GeoTransform,
    g: Ground,
) -> (Measured, Vec<Value>) {
    // The rings' length in CRS units serves the perimeter and the shape measures.
    let planar_perimeter = rings_length(geom, &Euclidean);
    let (area_m2, perim_m) = match g {
        Ground::Projected(unit) => (
            c.pixels as f64 * gt.pixel_area() * unit * unit,
            planar_perimeter * unit,
        ),
        Ground::Geodesic => (
            geom.geodesic_area_unsigned(),
            rings_length(geom, &geo::Geodesic),
        ),
        Ground::Pixels => (
            c.pixels as f64,
            crate::vectorize::geometry::perimeter_px(&c.polygons),
        ),
    };
    use geo::BoundingRect;
    let b = geom.bounding_rect();
    let (xmin, ymin, xmax, ymax) = b.map_or((f64::NAN, f64::NAN, f64::NAN, f64::NAN), |r| {
        (r.min().x, r.min().y, r.max().x, r.max().y)
    });
    let mean = c.evidence.mean();
    // Written to what the unit means (0.01 m², 0.0001 mu, 1 cm, six digits of evidence); the
    // measures typing uses keep full precision.
    let ev_mean = mean.map_or(Value::Null, |m| Value::Real(significant(m, 6)));
    let ev_max = if c.evidence.max.is_finite() {
        Value::Real(significant(c.evidence.max as f64, 6))
    } else {
        Value::Null
    };
    let m = shape_measures((&c.polygons, gt, geom), (area_m2, planar_perimeter), mean);
    let [elong, length, width, compact, convex] = shape_values(&m);
    let named = [
        ("area_m2", Value::Real(decimals(area_m2, 2))),
        ("area_mu", Value::Real(decimals(area_m2 / MU_M2, 4))),
        ("pixels", Value::Integer(c.pixels as i64)),
        ("perim_m", Value::Real(decimals(perim_m, 2))),
        ("xmin", Value::Real(xmin)),
        ("ymin", Value::Real(ymin)),
        ("xmax", Value::Real(xmax)),
        ("ymax", Value::Real(ymax)),
        ("ev_mean", ev_mean),
        ("ev_max", ev_max),
        ("comp_id", Value::Integer(c.first as i64)),
        ("elong", elong),
        ("length_m", length),
        ("width_m", width),
        ("compact", compact),
        ("convex", convex),
    ];
    debug_assert!(
        named
            .iter()
            .map(|(n, _)| *n)
            .eq(FIELDS.iter().map(|(n, _)| *n))
    );
    (m, named.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectorize::stitch::{PolygonizeOptions, polygonize_mask};

    #[test]
    fn values_follow_the_schema_by_name() {
        // A 3 x 2 block of 0.5 m pixels.
        let mask = [0u8, 0, 0, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0];
        let c = &polygonize_mask(&mask, 4, 4, 4, PolygonizeOptions::default())[0];
        let gt = GeoTransform([500_000.0, 0.5, 0.0, 3_000_000.0, 0.0, -0.5]);
        let geom = crate::vectorize::geometry::to_world(&c.polygons, &gt);
        let (m, values) = attributes(c, &geom, &gt, Ground::Projected(1.0));
        assert_eq!(values.len(), FIELDS.len());
        let at = |name: &str| &values[FIELDS.iter().position(|(n, _)| *n == name).unwrap()];
        assert_eq!(at("area_m2"), &Value::Real(1.5));
        assert_eq!(at("pixels"), &Value::Integer(6));
        assert_eq!(at("perim_m"), &Value::Real(5.0));
        assert_eq!(at("xmin"), &Value::Real(500_000.5));
        assert_eq!(at("ymax"), &Value::Real(2_999_999.5));
        assert_eq!(at("ev_mean"), &Value::Null);
        assert_eq!(m.area_m2, 1.5);
    }
}
