//! Pixel masks of a change polygon: which pixels of a window it covers, the ring of pixels
//! around it, and its distance transform (for the mean width and the skeleton length).
//!
//! Polygons here are the polygonizer's own outlines in pixel-corner coordinates (axis-parallel
//! staircases), so "the pixel's centre is inside" is exact: a row of centres at `y + 0.5` is
//! crossed only by vertical edges.

use crate::vectorize::assemble::PixelPolygon;

/// Pixel bounding box `[x0, x1) x [y0, y1)` of polygons.
pub fn bbox(polys: &[PixelPolygon]) -> Option<(i64, i64, i64, i64)> {
    let mut it = polys.iter().flat_map(|p| p.exterior.iter());
    let &(x, y) = it.next()?;
    Some(it.fold((x, y, x, y), |(a, b, c, d), &(x, y)| {
        (a.min(x), b.min(y), c.max(x), d.max(y))
    }))
}

/// Per row `y0..y1` of pixel centres, the x-extent `[lo, hi)` of the polygons' pixels
/// (`(i64::MAX, i64::MIN)` for a row without any).
pub fn row_extents(polys: &[PixelPolygon], y0: i64, y1: i64) -> Vec<(i64, i64)> {
    let mut ext = vec![(i64::MAX, i64::MIN); (y1 - y0).max(0) as usize];
    // Hole edges lie inside the outer ring's extent and change nothing.
    for (ya, yb, x) in vertical_edges(polys) {
        let (a, b) = (
            (ya.max(y0) - y0) as usize,
            (yb.min(y1) - y0).max(0) as usize,
        );
        for e in ext.iter_mut().take(b).skip(a) {
            *e = (e.0.min(x), e.1.max(x));
        }
    }
    ext
}

/// The vertical edges of the rings as `(y_min, y_max, x)`, sorted by `y_min`: the only edges a
/// row of pixel centres can cross.
fn vertical_edges(polys: &[PixelPolygon]) -> Vec<(i64, i64, i64)> {
    let rings = polys
        .iter()
        .flat_map(|p| std::iter::once(&p.exterior).chain(p.holes.iter()));
    let mut edges = Vec::new();
    for ring in rings {
        let n = ring.len();
        for k in 0..n {
            let (a, b) = (ring[k], ring[(k + 1) % n]);
            if a.0 == b.0 && a.1 != b.1 {
                edges.push((a.1.min(b.1), a.1.max(b.1), a.0));
            }
        }
    }
    edges.sort_unstable();
    edges
}

/// Inside mask (1 = covered) of the window `[x0, x0 + w) x [y0, y0 + h)`: a scanline sweep over
/// the vertical edges (each row costs the edges it crosses, not every edge of a long railway).
/// Pixels between consecutive crossings of a row are inside (even-odd over exteriors and holes).
pub fn rasterize(polys: &[PixelPolygon], x0: i64, y0: i64, w: usize, h: usize) -> Vec<u8> {
    let mut m = vec![0u8; w * h];
    let edges = vertical_edges(polys);
    let mut next = edges.partition_point(|e| e.0 <= y0);
    // Edges that start at or before the first row and still span it.
    let mut active: Vec<(i64, i64, i64)> =
        edges[..next].iter().filter(|e| e.1 > y0).copied().collect();
    let mut xs = Vec::new();
    for r in 0..h {
        let y = y0 + r as i64;
        while next < edges.len() && edges[next].0 <= y {
            active.push(edges[next]);
            next += 1;
        }
        active.retain(|e| e.1 > y);
        xs.clear();
        xs.extend(active.iter().map(|e| e.2));
        xs.sort_unstable();
        for pair in xs.chunks_exact(2) {
            let a = (pair[0] - x0).clamp(0, w as i64) as usize;
            let b = (pair[1] - x0).clamp(0, w as i64) as usize;
            m[r * w + a..r * w + b].fill(1);
        }
    }
    m
}

/// Pixels within `r` (chessboard distance) of the inside but not inside: the ring where a
/// building's shadow falls. The square dilation of the mask by or-ed shifted rows
/// ([`crate::change::cpu::chains::square_par`]: a window as large as a county-long road's took
/// `r` reads per pixel before), or per pixel beyond the sweeps' reach.
pub fn ring(inside: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    dilate_square(inside, w, h, r)
        .iter()
        .zip(inside)
        .map(|(&n, &i)| u8::from(n == 1 && i == 0))
        .collect()
}

/// The square dilation (chessboard distance `r`) of a 0/1 mask.
pub fn dilate_square(inside: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    use crate::change::cpu::chains::{MAX_HALF, square_par};
    match u32::try_from(r) {
        Ok(r) if r <= MAX_HALF => {
            let mut near = vec![0u8; w * h];
            square_par((w, h), r, false, inside, &mut near);
            near
        }
        _ => dilate_direct(inside, w, h, r),
    }
}

/// The square dilation of a 0/1 mask, pixel by pixel (rows, then columns).
fn dilate_direct(inside: &[u8], w: usize, h: usize, r: usize) -> Vec<u8> {
    let mut rows = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let (a, b) = (x.saturating_sub(r), (x + r).min(w - 1));
            rows[y * w + x] = inside[y * w + a..=y * w + b]
                .iter()
                .copied()
                .max()
                .unwrap_or(0);
        }
    }
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        let (a, b) = (y.saturating_sub(r), (y + r).min(h - 1));
        for x in 0..w {
            out[y * w + x] = u8::from((a..=b).any(|yy| rows[yy * w + x] == 1));
        }
    }
    out
}

/// Chamfer (3, 4) distance from each inside pixel to the nearest outside pixel, in pixels (the
/// window's border counts as outside).
pub fn distance(inside: &[u8], w: usize, h: usize) -> Vec<f32> {
    const BIG: u32 = u32::MAX / 4;
    let mut d: Vec<u32> = inside
        .iter()
        .map(|&v| if v == 1 { BIG } else { 0 })
        .collect();
    let at = |d: &[u32], x: i64, y: i64| -> u32 {
        if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 {
            0
        } else {
            d[y as usize * w + x as usize]
        }
    };
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let i = y as usize * w + x as usize;
            if d[i] == 0 {
                continue;
            }
            let v = (at(&d, x - 1, y) + 3)
                .min(at(&d, x, y - 1) + 3)
                .min(at(&d, x - 1, y - 1) + 4)
                .min(at(&d, x + 1, y - 1) + 4);
            d[i] = d[i].min(v);
        }
    }
    for y in (0..h as i64).rev() {
        for x in (0..w as i64).rev() {
            let i = y as usize * w + x as usize;
            if d[i] == 0 {
                continue;
            }
            let v = (at(&d, x + 1, y) + 3)
                .min(at(&d, x, y + 1) + 3)
                .min(at(&d, x + 1, y + 1) + 4)
                .min(at(&d, x - 1, y + 1) + 4);
            d[i] = d[i].min(v);
        }
    }
    d.into_iter().map(|v| v as f32 / 3.0).collect()
}

/// Mean width (pixels) from the distance transform: twice the mean distance on the ridge (the
/// pixels not smaller than both neighbours across a row or a column, and larger than one: the
/// medial axis). A ridge
/// pixel at distance `d` from the nearest outside centre lies `d - 1/2` from the edge on that
/// side and `d - 1/2` or `d + 1/2` on the other (odd or even widths): width `2d - 1/2` on
/// average.
pub fn ridge_width(dist: &[f32], w: usize, h: usize) -> Option<f64> {
    let at = |x: i64, y: i64| -> f32 {
        if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 {
            0.0
        } else {
            dist[y as usize * w + x as usize]
        }
    };
    let (mut sum, mut n) = (0.0f64, 0u64);
    for y in 0..h as i64 {
        for x in 0..w as i64 {
            let v = at(x, y);
            if v <= 0.0 {
                continue;
            }
            // A maximum across a row or a column that is not flat there (a flat profile runs
            // along the strip, not across it).
            let peak = |a: f32, b: f32| v >= a && v >= b && (v > a || v > b);
            let across_row = peak(at(x - 1, y), at(x + 1, y));
            let across_col = peak(at(x, y - 1), at(x, y + 1));
            if across_row || across_col {
                sum += v as f64;
                n += 1;
            }
        }
    }
    (n > 0).then(|| (2.0 * sum / n as f64 - 0.5).max(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x0: i64, y0: i64, x1: i64, y1: i64) -> PixelPolygon {
        PixelPolygon {
            exterior: vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1)],
            holes: vec![],
        }
    }

    #[test]
    fn rasterize_ring_and_width_of_a_strip() {
        let mut p = rect(2, 3, 42, 13);
        p.holes.push(vec![(10, 5), (10, 8), (14, 8), (14, 5)]);
        let polys = [p];
        assert_eq!(bbox(&polys), Some((2, 3, 42, 13)));
        let (w, h) = (50, 20);
        let m = rasterize(&polys, 0, 0, w, h);
        assert_eq!(m.iter().filter(|&&v| v == 1).count(), 40 * 10 - 12);
        assert_eq!(m[4 * w + 2], 1);
        assert_eq!(m[6 * w + 11], 0);
        // A window that starts inside the polygon (a strip) sees the same rows.
        let strip = rasterize(&polys, 0, 5, w, 4);
        assert_eq!(strip[..], m[5 * w..9 * w]);
        let r = ring(&m, w, h, 2);
        // The ring: (44 x 14) - (40 x 10) outside, plus the 12-pixel hole.
        assert_eq!(r.iter().filter(|&&v| v == 1).count(), 44 * 14 - 400 + 12);
        // The sweeps and the direct dilation agree, the ring clipped by the window too.
        for k in [1, 2, 7, 30] {
            let direct: Vec<u8> = dilate_direct(&m, w, h, k)
                .iter()
                .zip(&m)
                .map(|(&n, &i)| u8::from(n == 1 && i == 0))
                .collect();
            assert_eq!(ring(&m, w, h, k), direct, "radius {k}");
        }
        // A long strip: the skeleton's branches into the corners (which lower the mean near
        // the ends) weigh little, as on a road.
        let (w, h) = (220, 20);
        let full = rasterize(&[rect(2, 3, 202, 13)], 0, 0, w, h);
        let d = distance(&full, w, h);
        let width = ridge_width(&d, w, h).unwrap();
        assert!((width - 10.0).abs() < 1.0, "{width}");
    }
}
