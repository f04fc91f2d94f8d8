//! CPU twin of `shaders/spectral.wgsl`: per-pixel change evidence from the band values of both
//! dates (after radiometric normalisation), and the visible-brightness planes that feed the
//! morphological building index.

use super::Driver;
use crate::change::contract::{CLASS_CHANGE, CLASS_FILLED, CLASS_GREEN};
use crate::change::{EvidenceKind, KernelParams};

/// Value of band `b` at pixel `i` of a band-sequential buffer with `n` pixels per band.
#[inline]
fn band(img: &[f32], n: usize, b: u32, i: usize) -> f32 {
    img[b as usize * n + i]
}

/// Normalised difference `(x - y) / (x + y)`, 0 where the sum is 0.
#[inline]
pub fn norm_diff(x: f32, y: f32) -> f32 {
    let s = x + y;
    if s == 0.0 { 0.0 } else { (x - y) / s }
}

/// The per-pixel evidence kernel. Returns NaN for pixels that are nodata in either date.
pub fn evidence_px(
    p: &KernelParams,
    before: &[f32],
    after: &[f32],
    valid: &[u32],
    i: usize,
) -> f32 {
    evidence_of(
        EvidenceKind::from_code(p.evidence),
        p,
        before,
        after,
        valid,
        i,
    )
}

/// [`evidence_px`] with the kind given; inlined so that each kind gets its own loop.
#[inline(always)]
fn evidence_of(
    kind: EvidenceKind,
    p: &KernelParams,
    before: &[f32],
    after: &[f32],
    valid: &[u32],
    i: usize,
) -> f32 {
    if valid[i] == 0 {
        return f32::NAN;
    }
    let n = p.pixels();
    if p.cloud > 0.0 || p.dark > 0.0 {
        if let Some(e) = screened(
            p,
            visible_mean_px(p, after, i),
            visible_mean_px(p, before, i),
        ) {
            return e;
        }
    }
    match kind {
        EvidenceKind::Brightness | EvidenceKind::LogRatio => {
            let mut sa = 0.0f32;
            let mut sb = 0.0f32;
            for b in 0..p.bands {
                sa += band(before, n, b, i);
                sb += band(after, n, b, i);
            }
            let k = p.bands as f32;
            let (ma, mb) = (sa / k, sb / k);
            if kind == EvidenceKind::Brightness {
                (mb - ma).abs()
            } else {
                // +1 keeps zero amplitudes finite; the ratio of means is the classic SAR detector.
                ((mb + 1.0) / (ma + 1.0)).max(1e-30).ln().abs()
            }
        }
        EvidenceKind::Cva => {
            let mut s = 0.0f32;
            for b in 0..p.bands {
                let d = band(after, n, b, i) - band(before, n, b, i);
                s += d * d;
            }
            s.sqrt()
        }
        EvidenceKind::Sam => {
            let (mut na, mut nb) = (0.0f32, 0.0f32);
            for b in 0..p.bands {
                let (x, y) = (band(before, n, b, i), band(after, n, b, i));
                na += x * x;
                nb += y * y;
            }
            if na == 0.0 || nb == 0.0 {
                return 0.0;
            }
            let (la, lb) = (na.sqrt(), nb.sqrt());
            // The angle from the chord between the unit vectors: well conditioned for the small
            // angles that matter, unlike acos of the cosine.
            let mut chord = 0.0f32;
            for b in 0..p.bands {
                let d = band(after, n, b, i) / lb - band(before, n, b, i) / la;
                chord += d * d;
            }
            2.0 * (0.5 * chord.sqrt()).min(1.0).asin()
        }
        EvidenceKind::Ndvi => {
            let nd = |img: &[f32]| norm_diff(band(img, n, p.nir, i), band(img, n, p.red, i));
            // Vegetation loss is positive: construction replaces green cover.
            nd(before) - nd(after)
        }
        EvidenceKind::Ndbi => {
            let nd = |img: &[f32]| norm_diff(band(img, n, p.swir, i), band(img, n, p.nir, i));
            nd(after) - nd(before)
        }
        EvidenceKind::Conversion => conversion_score(
            p.bright,
            (
                band(before, n, p.red, i),
                band(before, n, p.nir, i),
                visible_mean_px(p, before, i),
            ),
            (
                band(after, n, p.red, i),
                band(after, n, p.nir, i),
                visible_mean_px(p, after, i),
            ),
        ),
        // Produced by the line-opening kernels or a model, never by this one.
        EvidenceKind::Mbi | EvidenceKind::Msi | EvidenceKind::Model => f32::NAN,
    }
}

/// The evidence the cloud and shadow screens give a pixel whose visible means are `after` and
/// `before`, or None when it passes them. Cloud in either date
/// ([`crate::change::CLOUD_EVIDENCE`]): under a cloud now nothing can be seen, and under a
/// cloud then nothing tells what stood there before the quarter. Dark in both dates: a dark
/// surface (dense forest, water), seen and unchanged (0); dark only in the after date, a
/// shadow fell on it ([`crate::change::SHADOW_EVIDENCE`]). Dark only in the before date is not
/// screened: a filled pond built over looks just like a shadow that moved away.
#[inline(always)]
fn screened(p: &KernelParams, after: f32, before: f32) -> Option<f32> {
    if p.cloud > 0.0 && (after >= p.cloud || before >= p.cloud) {
        Some(crate::change::CLOUD_EVIDENCE)
    } else if after < p.dark {
        Some(if before < p.dark {
            0.0
        } else {
            crate::change::SHADOW_EVIDENCE
        })
    } else {
        None
    }
}

/// The conversion score of a pixel from its (red, NIR, visible mean) before and after, and the
/// bright arm's rise in band units (0: off) ([`EvidenceKind::Conversion`]; WGSL twin in
/// `shaders/spectral.wgsl`).
#[inline(always)]
fn conversion_score(
    bright: f32,
    (red_b, nir_b, vis_b): (f32, f32, f32),
    (red_a, nir_a, vis_a): (f32, f32, f32),
) -> f32 {
    use crate::change::conversion::*;
    let (nd_b, nd_a) = (norm_diff(nir_b, red_b), norm_diff(nir_a, red_a));
    let bare = ((BARE_NDVI - nd_a) / BARE_SOFT).min((BARE_NDVI - nd_b) / BARE_SOFT);
    let lit = if bright > 0.0 && vis_b > 0.0 {
        ((vis_a - vis_b) / bright)
            .min((vis_a / vis_b - 1.0) / BRIGHT_RATIO)
            .min(bare)
    } else {
        f32::MIN
    };
    let loss = ((nd_b - nd_a) / LOSS_DROP).min((BARE_NDVI - nd_a) / BARE_SOFT);
    let nir_rise = if nir_b > 0.0 {
        nir_a / nir_b - 1.0
    } else {
        0.0
    };
    let gain = ((nd_a - nd_b) / GAIN_RISE)
        .min(nir_rise / GAIN_NIR)
        .min((nd_a - GAIN_DENSE_NDVI) / GAIN_DENSE_SOFT);
    loss.max(gain).max(lit)
}

/// [`evidence_px`] for the conversion kind, row by row on band slices: the same arithmetic in
/// the same order, in passes over whole rows (visible means, scores, screens, nodata) that
/// the compiler turns into vector code, without the index arithmetic, bounds checks and
/// per-pixel branches of the per-pixel kernel.
fn conversion_rows(
    p: &KernelParams,
    before: &[f32],
    after: &[f32],
    valid: &[u32],
    out: &mut [f32],
) {
    use rayon::prelude::*;
    let (n, w) = (p.pixels(), (p.width as usize).max(1));
    let plane = |b: u32| b as usize * n..(b as usize + 1) * n;
    let (rb, nb) = (&before[plane(p.red)], &before[plane(p.nir)]);
    let (ra, na) = (&after[plane(p.red)], &after[plane(p.nir)]);
    let visible: Vec<u32> = visible_bands(p).collect();
    let scratch = || (vec![0.0f32; w], vec![0.0f32; w]);
    out.par_chunks_mut(w)
        .enumerate()
        .for_each_init(scratch, |(va, vb), (y, row)| {
            let r = y * w..y * w + row.len();
            let (va, vb) = (&mut va[..row.len()], &mut vb[..row.len()]);
            visible_mean_row(after, n, &visible, r.clone(), va);
            visible_mean_row(before, n, &visible, r.clone(), vb);
            let bands = [
                &rb[r.clone()],
                &nb[r.clone()],
                &*vb,
                &ra[r.clone()],
                &na[r.clone()],
                &*va,
            ];
            conversion_row(p, bands, &valid[r], row);
        });
}

super::avx2_twin! {
    /// Scores, screens and nodata of one row from its band slices (red, NIR and visible mean
    /// of the before date, then of the after date), compiled for AVX2 where the CPU has it
    /// (its divisions then run eight at a time).
    fn conversion_row => conversion_row_with(
        p: &KernelParams,
        bands: [&[f32]; 6],
        valid: &[u32],
        row: &mut [f32],
    )
}

#[inline(always)]
fn conversion_row_with(p: &KernelParams, bands: [&[f32]; 6], valid: &[u32], row: &mut [f32]) {
    // Every slice cut to the row's length, so the loops run without bounds checks.
    let len = row.len();
    let [rb, nb, vb, ra, na, va] = bands.map(|b| &b[..len]);
    let valid = &valid[..len];
    for x in 0..len {
        row[x] = conversion_score(p.bright, (rb[x], nb[x], vb[x]), (ra[x], na[x], va[x]));
    }
    if p.cloud > 0.0 || p.dark > 0.0 {
        for x in 0..len {
            if let Some(e) = screened(p, va[x], vb[x]) {
                row[x] = e;
            }
        }
    }
    for (o, v) in row.iter_mut().zip(valid) {
        if *v == 0 {
            *o = f32::NAN;
        }
    }
}

/// [`mean_of`] the `visible` bands of `img` (planes of `n` pixels) over the pixel range `r`,
/// into `out`: summed band by band in band order, as the per-pixel kernel sums them.
fn visible_mean_row(
    img: &[f32],
    n: usize,
    visible: &[u32],
    r: std::ops::Range<usize>,
    out: &mut [f32],
) {
    out.fill(0.0);
    for &b in visible {
        let at = b as usize * n;
        for (o, v) in out.iter_mut().zip(&img[at + r.start..at + r.end]) {
            *o += v;
        }
    }
    let k = (visible.len() as f32).max(1.0);
    for o in out {
        *o /= k;
    }
}

/// The change class of mask value `m` at pixel `i` ([`crate::change::MASK_CLASSES`]): with the
/// conversion evidence a change pixel whose NDVI rose by the gain arm's `GAIN_RISE` is new
/// green cover (2), any other detected pixel 1, and a pixel filled by closing or joining
/// [`CLASS_FILLED`] (the vote decides it). A filled pixel is one whose evidence is not above
/// the threshold: the same comparison as the threshold kernel, so both devices agree.
pub fn change_class_px(
    p: &KernelParams,
    before: &[f32],
    after: &[f32],
    evidence: &[f32],
    m: u32,
    i: usize,
) -> u32 {
    if m != CLASS_CHANGE || p.evidence != EvidenceKind::Conversion.code() {
        return m;
    }
    // NaN evidence is never above the threshold (the threshold kernel's comparison).
    if evidence[i].partial_cmp(&p.threshold) != Some(std::cmp::Ordering::Greater) {
        return CLASS_FILLED;
    }
    let n = p.pixels();
    let nd = |img: &[f32]| norm_diff(band(img, n, p.nir, i), band(img, n, p.red, i));
    if nd(after) - nd(before) >= crate::change::conversion::GAIN_RISE {
        CLASS_GREEN
    } else {
        CLASS_CHANGE
    }
}

/// Mean of the visible bands (all bands when none is known) at pixel `i`: the cloud test.
pub fn visible_mean_px(p: &KernelParams, img: &[f32], i: usize) -> f32 {
    let n = p.pixels();
    mean_of(visible_bands(p).map(|b| band(img, n, b, i)))
}

/// The visible bands (all bands when none is known), in band order.
fn visible_bands(p: &KernelParams) -> impl Iterator<Item = u32> + '_ {
    (0..p.bands).filter(|b| p.visible == 0 || (p.visible >> b) & 1 == 1)
}

/// The mean of `values`, summed in their order (the shader's order), 0 for none.
#[inline(always)]
fn mean_of(values: impl Iterator<Item = f32>) -> f32 {
    let (mut s, mut k) = (0.0f32, 0.0f32);
    for v in values {
        s += v;
        k += 1.0;
    }
    s / k.max(1.0)
}

/// Brightness for the building index: the maximum of the visible bands (all bands when the
/// mapping names no visible band), as in Huang & Zhang's MBI; negated for the shadow index,
/// whose black top-hats are the white top-hats of the inverted brightness.
pub fn visible_max_px(p: &KernelParams, img: &[f32], i: usize) -> f32 {
    let n = p.pixels();
    let m = visible_bands(p).fold(-super::BIG, |m, b| m.max(band(img, n, b, i)));
    if p.evidence == EvidenceKind::Msi.code() {
        -m
    } else {
        m
    }
}

/// Evidence for every pixel of the tile.
pub fn evidence(
    driver: Driver,
    p: &KernelParams,
    before: &[f32],
    after: &[f32],
    valid: &[u32],
    out: &mut [f32],
) {
    let w = p.width as usize;
    if driver == Driver::Rayon && p.evidence == EvidenceKind::Conversion.code() {
        return conversion_rows(p, before, after, valid, out);
    }
    // One loop per kind, the kind a constant inside it, so the per-pixel branch folds away.
    macro_rules! each {
        ($($k:ident),*) => {
            match EvidenceKind::from_code(p.evidence) {
                $(EvidenceKind::$k => driver.fill(out, w, |i| {
                    evidence_of(EvidenceKind::$k, p, before, after, valid, i)
                }),)*
            }
        };
    }
    each!(
        Brightness, Cva, Sam, Ndvi, Ndbi, LogRatio, Mbi, Msi, Conversion, Model
    );
}

/// Visible brightness of both dates, for the building index.
pub fn visible_max(
    driver: Driver,
    p: &KernelParams,
    before: &[f32],
    after: &[f32],
    out_before: &mut [f32],
    out_after: &mut [f32],
) {
    driver.fill(out_before, p.width as usize, |i| {
        visible_max_px(p, before, i)
    });
    driver.fill(out_after, p.width as usize, |i| visible_max_px(p, after, i));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_index_inverts_the_visible_brightness() {
        // Two bands, one pixel: visible maximum 30.
        let img = [10.0f32, 30.0];
        let p = KernelParams {
            width: 1,
            height: 1,
            bands: 2,
            ..KernelParams::default()
        };
        assert_eq!(visible_max_px(&p, &img, 0), 30.0);
        let msi = KernelParams {
            evidence: EvidenceKind::Msi.code(),
            ..p
        };
        assert_eq!(visible_max_px(&msi, &img, 0), -30.0);
        // Only band 0 visible.
        let vis = KernelParams { visible: 1, ..p };
        assert_eq!(visible_max_px(&vis, &img, 0), 10.0);
    }

    #[test]
    fn the_bright_arm_sees_new_roofs_on_bare_ground_not_drying_soil_or_haze() {
        // Reflectance x 10000; (red, NIR, visible mean) before and after.
        let bright = (crate::change::conversion::BRIGHT_RISE * 10_000.0) as f32;
        let score = |b: (f32, f32, f32), a: (f32, f32, f32)| conversion_score(bright, b, a);
        let soil = (1800.0, 2200.0, 1500.0);
        // A grey roof on bare soil: neither NDVI arm moves, the bright arm does.
        assert!(score(soil, (3600.0, 3700.0, 3500.0)) >= 1.0);
        assert!(conversion_score(0.0, soil, (3600.0, 3700.0, 3500.0)) < 1.0);
        // Soil drying by 0.08 and a 30 % haze gain stay under the threshold.
        assert!(score(soil, (2600.0, 3000.0, 2300.0)) < 1.0);
        assert!(score(soil, (2340.0, 2860.0, 1950.0)) < 1.0);
        // Dark wet soil drying to twice its brightness (+0.08) neither.
        assert!(score((900.0, 1100.0, 800.0), (1700.0, 2000.0, 1600.0)) < 1.0);
        // A brightening field that was green before is the loss arm's business, not this one's.
        let crop = (500.0, 3500.0, 600.0);
        assert!(score(crop, (3600.0, 3700.0, 3500.0)) >= 1.0);
        assert!(conversion_score(0.0, crop, (3600.0, 3700.0, 3500.0)) >= 1.0);
    }

    #[test]
    fn dark_now_is_shadow_and_dark_in_both_dates_is_a_dark_surface() {
        // Six pixels, bands B, G, R, NIR (visible = the first three): dark after a bright
        // before (a shadow fell), dark in both (forest, water), bright now (passes), cloud now,
        // cloud before (what stood there then is unknown), dark only before (a pond filled
        // and built over: not screened).
        let (w, n) = (6usize, 6usize);
        let plane = |v: [f32; 6]| v.to_vec();
        let vis_b = plane([2000.0, 300.0, 2000.0, 2000.0, 5000.0, 300.0]);
        let vis_a = plane([300.0, 300.0, 2000.0, 5000.0, 2000.0, 2500.0]);
        let stack = |vis: &[f32]| {
            let mut img = Vec::new();
            for _ in 0..3 {
                img.extend_from_slice(vis);
            }
            img.extend_from_slice(&[3000.0; 6]);
            img
        };
        let (before, after) = (stack(&vis_b), stack(&vis_a));
        let p = KernelParams {
            width: w as u32,
            height: 1,
            bands: 4,
            evidence: EvidenceKind::Conversion.code(),
            red: 2,
            nir: 3,
            visible: 0b111,
            cloud: 4000.0,
            dark: 450.0,
            ..KernelParams::default()
        };
        let valid = vec![1u32; n];
        for driver in [Driver::Sequential, Driver::Rayon] {
            let mut out = vec![0.0f32; n];
            evidence(driver, &p, &before, &after, &valid, &mut out);
            assert_eq!(out[0], crate::change::SHADOW_EVIDENCE);
            assert_eq!(out[1], 0.0);
            assert!(!crate::change::is_screened(out[2]));
            assert_eq!(out[3], crate::change::CLOUD_EVIDENCE);
            assert_eq!(out[4], crate::change::CLOUD_EVIDENCE);
            assert!(!crate::change::is_screened(out[5]));
        }
        // The per-pixel path of the other kinds screens alike.
        let cva = KernelParams {
            evidence: EvidenceKind::Cva.code(),
            ..p
        };
        let pixel = |i| evidence_px(&cva, &before, &after, &valid, i);
        assert_eq!(pixel(0), crate::change::SHADOW_EVIDENCE);
        assert_eq!(pixel(1), 0.0);
        assert_eq!(pixel(4), crate::change::CLOUD_EVIDENCE);
        assert!(pixel(5) > 0.0);
    }

    #[test]
    fn conversion_rows_match_the_per_pixel_kernel() {
        // 4 bands (B, G, R, NIR) of random reflectance x 10000, nodata, screens on.
        let (w, h, n) = (37usize, 23usize, 37 * 23);
        let mut rng = crate::synth::world::Rng::new(3);
        let mut img = || -> Vec<f32> { (0..4 * n).map(|_| (rng.unit() * 6000.0) as f32).collect() };
        let (before, after) = (img(), img());
        let valid: Vec<u32> = (0..n).map(|i| u32::from(i % 11 != 4)).collect();
        let p = KernelParams {
            width: w as u32,
            height: h as u32,
            bands: 4,
            evidence: EvidenceKind::Conversion.code(),
            red: 2,
            nir: 3,
            visible: 0b111,
            cloud: 4000.0,
            dark: 450.0,
            bright: 1000.0,
            ..KernelParams::default()
        };
        for p in [
            p,
            KernelParams {
                cloud: 0.0,
                dark: 0.0,
                bright: 0.0,
                visible: 0,
                ..p
            },
        ] {
            let (mut seq, mut rows) = (vec![0.0f32; n], vec![0.0f32; n]);
            evidence(Driver::Sequential, &p, &before, &after, &valid, &mut seq);
            evidence(Driver::Rayon, &p, &before, &after, &valid, &mut rows);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&seq), bits(&rows));
            // The row kernel as built for the baseline CPU and as its AVX2 twin (the one the
            // rayon driver ran, where the CPU has AVX2) give the same bits.
            let plane = |img: &[f32], b: u32| img[b as usize * n..][..w].to_vec();
            let mean =
                |img: &[f32]| -> Vec<f32> { (0..w).map(|x| visible_mean_px(&p, img, x)).collect() };
            let bands = [
                plane(&before, p.red),
                plane(&before, p.nir),
                mean(&before),
                plane(&after, p.red),
                plane(&after, p.nir),
                mean(&after),
            ];
            let bands = [0, 1, 2, 3, 4, 5].map(|k| bands[k].as_slice());
            let (mut twin, mut base) = (vec![0.0f32; w], vec![0.0f32; w]);
            conversion_row(&p, bands, &valid[..w], &mut twin);
            conversion_row_with(&p, bands, &valid[..w], &mut base);
            assert_eq!(bits(&twin), bits(&base));
            assert_eq!(bits(&twin), bits(&seq[..w]));
            assert!(seq.contains(&crate::change::CLOUD_EVIDENCE) || p.cloud == 0.0);
            assert!(seq.contains(&crate::change::SHADOW_EVIDENCE) || p.dark == 0.0);
        }
    }
}
