// Per-pixel change evidence from both dates' band values, and the visible-brightness planes that
// feed the building index. CPU twin: src/change/cpu/spectral.rs (same arithmetic, same order).

// KernelParams and the shared constants come from the prelude (src/change/contract.rs), nan()
// from common.wgsl; both are prepended at load.

@group(0) @binding(0) var<uniform> p: KernelParams;
@group(0) @binding(1) var<storage, read> before: array<f32>;
@group(0) @binding(2) var<storage, read> after: array<f32>;
@group(0) @binding(3) var<storage, read> valid: array<u32>;
@group(0) @binding(4) var<storage, read_write> evidence_out: array<f32>;
@group(0) @binding(5) var<storage, read_write> base_before: array<f32>;
@group(0) @binding(6) var<storage, read_write> base_after: array<f32>;
@group(0) @binding(7) var<storage, read_write> mask: array<u32>;

fn norm_diff(x: f32, y: f32) -> f32 {
    let s = x + y;
    if (s == 0.0) {
        return 0.0;
    }
    return (x - y) / s;
}

// The visible mean of pixel `i` in the after date, or the before date (`before_date`: the
// conversion evidence's bright arm); summed in band order, as the CPU twin.
fn visible_mean_of(i: u32, before_date: bool) -> f32 {
    let n = p.width * p.height;
    var s = 0.0;
    var k = 0.0;
    for (var b = 0u; b < p.bands; b++) {
        if (p.visible == 0u || ((p.visible >> b) & 1u) == 1u) {
            if (before_date) {
                s += before[b * n + i];
            } else {
                s += after[b * n + i];
            }
            k += 1.0;
        }
    }
    return s / max(k, 1.0);
}

fn visible_mean(i: u32) -> f32 {
    return visible_mean_of(i, false);
}

fn evidence_px(i: u32) -> f32 {
    if (valid[i] == 0u) {
        return nan();
    }
    let n = p.width * p.height;
    if (p.cloud > 0.0 || p.dark > 0.0) {
        let v = visible_mean(i);
        let vb = visible_mean_of(i, true);
        // Cloud in either date (CLOUD_EVIDENCE of the CPU twin): nothing seen now, or nothing
        // telling what stood there before.
        if (p.cloud > 0.0 && (v >= p.cloud || vb >= p.cloud)) {
            return -BIG;
        }
        if (v < p.dark) {
            // Dark in both dates: a dark surface (dense forest, water), seen, unchanged. Dark
            // only now: a shadow fell on it (SHADOW_EVIDENCE of the CPU twin).
            if (vb < p.dark) {
                return 0.0;
            }
            return -0.5 * BIG;
        }
    }
    if (p.evidence == EV_BRIGHTNESS || p.evidence == EV_LOGRATIO) {
        var sa = 0.0;
        var sb = 0.0;
        for (var b = 0u; b < p.bands; b++) {
            sa += before[b * n + i];
            sb += after[b * n + i];
        }
        let k = f32(p.bands);
        let ma = sa / k;
        let mb = sb / k;
        if (p.evidence == EV_BRIGHTNESS) {
            return abs(mb - ma);
        }
        return abs(log(max((mb + 1.0) / (ma + 1.0), 1e-30)));
    }
    if (p.evidence == EV_CVA) {
        var s = 0.0;
        for (var b = 0u; b < p.bands; b++) {
            let d = after[b * n + i] - before[b * n + i];
            s += d * d;
        }
        return sqrt(s);
    }
    if (p.evidence == EV_SAM) {
        var na = 0.0;
        var nb = 0.0;
        for (var b = 0u; b < p.bands; b++) {
            let x = before[b * n + i];
            let y = after[b * n + i];
            na += x * x;
            nb += y * y;
        }
        if (na == 0.0 || nb == 0.0) {
            return 0.0;
        }
        let la = sqrt(na);
        let lb = sqrt(nb);
        var chord = 0.0;
        for (var b = 0u; b < p.bands; b++) {
            let d = after[b * n + i] / lb - before[b * n + i] / la;
            chord += d * d;
        }
        return 2.0 * asin(min(0.5 * sqrt(chord), 1.0));
    }
    if (p.evidence == EV_NDVI) {
        let nd_b = norm_diff(before[p.nir * n + i], before[p.red * n + i]);
        let nd_a = norm_diff(after[p.nir * n + i], after[p.red * n + i]);
        return nd_b - nd_a;
    }
    if (p.evidence == EV_NDBI) {
        let nd_b = norm_diff(before[p.swir * n + i], before[p.nir * n + i]);
        let nd_a = norm_diff(after[p.swir * n + i], after[p.nir * n + i]);
        return nd_a - nd_b;
    }
    if (p.evidence == EV_CONVERSION) {
        let nd_b = norm_diff(before[p.nir * n + i], before[p.red * n + i]);
        let nd_a = norm_diff(after[p.nir * n + i], after[p.red * n + i]);
        let loss = min((nd_b - nd_a) / LOSS_DROP, (BARE_NDVI - nd_a) / BARE_SOFT);
        let nir_b = before[p.nir * n + i];
        let nir_a = after[p.nir * n + i];
        var nir_rise = 0.0;
        if (nir_b > 0.0) {
            nir_rise = nir_a / nir_b - 1.0;
        }
        let gain = min(min((nd_a - nd_b) / GAIN_RISE, nir_rise / GAIN_NIR),
                       (nd_a - GAIN_DENSE_NDVI) / GAIN_DENSE_SOFT);
        let bare = min((BARE_NDVI - nd_a) / BARE_SOFT, (BARE_NDVI - nd_b) / BARE_SOFT);
        let vis_b = visible_mean_of(i, true);
        var lit = -BIG;
        if (p.bright > 0.0 && vis_b > 0.0) {
            let vis_a = visible_mean(i);
            lit = min(min((vis_a - vis_b) / p.bright, (vis_a / vis_b - 1.0) / BRIGHT_RATIO), bare);
        }
        return max(max(loss, gain), lit);
    }
    return nan();
}

@compute @workgroup_size(16, 16)
fn evidence(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let i = id.y * p.width + id.x;
    evidence_out[i] = evidence_px(i);
}

@compute @workgroup_size(16, 16)
fn visible_max(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let n = p.width * p.height;
    let i = id.y * p.width + id.x;
    var mb = -BIG;
    var ma = -BIG;
    for (var b = 0u; b < p.bands; b++) {
        if (p.visible == 0u || ((p.visible >> b) & 1u) == 1u) {
            mb = max(mb, before[b * n + i]);
            ma = max(ma, after[b * n + i]);
        }
    }
    // The shadow index works on the inverted brightness.
    if (p.evidence == EV_MSI) {
        mb = -mb;
        ma = -ma;
    }
    base_before[i] = mb;
    base_after[i] = ma;
}

// Change class of the mask (twin: cpu::spectral::change_class_px): 3 where closing or joining
// filled the pixel (CLASS_FILLED), CLASS_GREEN where the NDVI of a detected pixel rose by
// GAIN_RISE, else CLASS_CHANGE.
@compute @workgroup_size(16, 16)
fn change_class(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let i = id.y * p.width + id.x;
    if (mask[i] != CLASS_CHANGE || p.evidence != EV_CONVERSION) {
        return;
    }
    // Filled by closing or joining: undecided, the vote gives it its neighbours' class.
    if (!(evidence_out[i] > p.threshold)) {
        mask[i] = CLASS_FILLED;
        return;
    }
    let n = p.width * p.height;
    let nd_b = norm_diff(before[p.nir * n + i], before[p.red * n + i]);
    let nd_a = norm_diff(after[p.nir * n + i], after[p.red * n + i]);
    if (nd_a - nd_b >= GAIN_RISE) {
        mask[i] = CLASS_GREEN;
    }
}
