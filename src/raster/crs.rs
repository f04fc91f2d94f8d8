//! Whether two coordinate reference systems written differently are one: the same projection as
//! an EPSG code in one file and as a PROJ string or ESRI WKT in the other (datum names lost on
//! the way) places every point at the same coordinates, and the two images share a grid.

use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};

/// Largest shift (pixels) between the coordinates two CRS definitions give one point for them
/// to count as one CRS.
pub const SAME_CRS_PX: f64 = 0.01;

/// How two CRS definitions relate over an image's extent.
#[derive(Clone, Debug, PartialEq)]
pub enum CrsMatch {
    /// One CRS by GDAL's own comparison (or the same text).
    Same,
    /// Written differently, but every probe point keeps its coordinates within `shift_px`
    /// pixels (at most [`SAME_CRS_PX`]).
    Equivalent { shift_px: f64 },
    /// Different CRSs (or one that cannot be read): their names.
    Differ { first: String, second: String },
}

/// Compare `wkt` (the CRS of an image of `size` pixels on geotransform `gt`) with `other`: the
/// image's corners, edge midpoints and centre are carried from one CRS into the other, and the
/// two count as one when no point moves by more than [`SAME_CRS_PX`] of a pixel.
pub fn compare(wkt: &str, other: &str, gt: [f64; 6], size: (usize, usize)) -> CrsMatch {
    if wkt == other {
        return CrsMatch::Same;
    }
    let (Ok(mut a), Ok(mut b)) = (SpatialRef::from_wkt(wkt), SpatialRef::from_wkt(other)) else {
        return CrsMatch::Differ {
            first: name(wkt),
            second: name(other),
        };
    };
    if a == b {
        return CrsMatch::Same;
    }
    let differ = CrsMatch::Differ {
        first: a.name().unwrap_or_else(|| name(wkt)),
        second: b.name().unwrap_or_else(|| name(other)),
    };
    a.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    b.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let Ok(t) = CoordTransform::new(&a, &b) else {
        return differ;
    };
    let (w, h) = (size.0 as f64, size.1 as f64);
    let (mut xs, mut ys): (Vec<f64>, Vec<f64>) = (0..9)
        .map(|k| {
            let (px, py) = (w * f64::from(k % 3) / 2.0, h * f64::from(k / 3) / 2.0);
            (
                gt[0] + px * gt[1] + py * gt[2],
                gt[3] + px * gt[4] + py * gt[5],
            )
        })
        .unzip();
    let (x0, y0) = (xs.clone(), ys.clone());
    if t.transform_coords(&mut xs, &mut ys, &mut []).is_err() {
        return differ;
    }
    // A shift in pixels along each axis (the pixel's side on the ground).
    let (sx, sy) = (gt[1].hypot(gt[4]), gt[2].hypot(gt[5]));
    let shift_px = (0..9)
        .map(|k| {
            ((xs[k] - x0[k]) / sx)
                .abs()
                .max(((ys[k] - y0[k]) / sy).abs())
        })
        .fold(0.0, f64::max);
    if shift_px.is_finite() && shift_px <= SAME_CRS_PX {
        CrsMatch::Equivalent { shift_px }
    } else {
        differ
    }
}

/// A CRS's name for messages: the WKT's first quoted name, or "none" for an empty definition.
fn name(wkt: &str) -> String {
    if wkt.trim().is_empty() {
        return "none".into();
    }
    wkt.split('"').nth(1).unwrap_or(wkt).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wkt(def: &str) -> String {
        SpatialRef::from_definition(def).unwrap().to_wkt().unwrap()
    }

    #[test]
    fn one_projection_written_two_ways_is_one_crs() {
        let gt = [39_480_000.0, 0.8, 0.0, 3_510_000.0, 0.0, -0.8];
        let epsg = wkt("EPSG:4527");
        let proj = wkt(
            "+proj=tmerc +lat_0=0 +lon_0=117 +k=1 +x_0=39500000 +y_0=0 +ellps=GRS80 +units=m +no_defs",
        );
        assert_eq!(compare(&epsg, &epsg, gt, (1024, 1024)), CrsMatch::Same);
        match compare(&epsg, &proj, gt, (1024, 1024)) {
            CrsMatch::Equivalent { shift_px } => assert!(shift_px <= SAME_CRS_PX, "{shift_px}"),
            other => panic!("{other:?}"),
        }
        // The next zone's central meridian, or WGS 84 degrees: another CRS, named.
        let next = wkt(
            "+proj=tmerc +lat_0=0 +lon_0=120 +k=1 +x_0=39500000 +y_0=0 +ellps=GRS80 +units=m +no_defs",
        );
        assert!(matches!(
            compare(&epsg, &next, gt, (1024, 1024)),
            CrsMatch::Differ { .. }
        ));
        let CrsMatch::Differ { first, second } = compare(&epsg, &wkt("EPSG:4326"), gt, (64, 64))
        else {
            panic!("WGS 84 is not Gauss-Krüger");
        };
        assert!(first.contains("CGCS2000"), "{first}");
        assert_eq!(second, "WGS 84");
    }
}
