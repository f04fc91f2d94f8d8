// Morphological building index: line erosion/dilation in four directions, the telescoped
// top-hat profile, and the change of the index between dates. Min and max are exact, so this
// agrees bit for bit with the CPU twin: src/change/cpu/mbi.rs.

// KernelParams and the shared constants come from the prelude (src/change/contract.rs), nan()
// from common.wgsl; both are prepended at load.

@group(0) @binding(0) var<uniform> p: KernelParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@group(0) @binding(4) var<storage, read> small: array<f32>;
@group(0) @binding(5) var<storage, read> large: array<f32>;
@group(0) @binding(6) var<storage, read_write> acc: array<f32>;
@group(0) @binding(7) var<storage, read> acc_before: array<f32>;
@group(0) @binding(8) var<storage, read> acc_after: array<f32>;
@group(0) @binding(9) var<storage, read_write> evidence_out: array<f32>;

fn direction(dir: u32) -> vec2<i32> {
    switch dir {
        case 0u: { return vec2<i32>(1, 0); }
        case 1u: { return vec2<i32>(0, 1); }
        case 2u: { return vec2<i32>(1, 1); }
        default: { return vec2<i32>(1, -1); }
    }
}

fn line_extreme(x: i32, y: i32, erode: bool) -> f32 {
    let w = i32(p.width);
    let h = i32(p.height);
    let d = direction(p.dir);
    let half = i32(p.half);
    var m = -BIG;
    if (erode) {
        m = BIG;
    }
    for (var k = -half; k <= half; k++) {
        let xx = x + k * d.x;
        let yy = y + k * d.y;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) {
            continue;
        }
        let j = u32(yy * w + xx);
        if (valid[j] == 0u) {
            continue;
        }
        if (erode) {
            m = min(m, src[j]);
        } else {
            m = max(m, src[j]);
        }
    }
    return m;
}

@compute @workgroup_size(16, 16)
fn erode_line(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    dst[id.y * p.width + id.x] = line_extreme(i32(id.x), i32(id.y), true);
}

@compute @workgroup_size(16, 16)
fn dilate_line(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    dst[id.y * p.width + id.x] = line_extreme(i32(id.x), i32(id.y), false);
}

@compute @workgroup_size(16, 16)
fn accumulate(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let i = id.y * p.width + id.x;
    acc[i] = acc[i] + (small[i] - large[i]);
}

@compute @workgroup_size(16, 16)
fn mbi_change(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let i = id.y * p.width + id.x;
    if (valid[i] == 0u) {
        evidence_out[i] = nan();
        return;
    }
    evidence_out[i] = abs((acc_after[i] - acc_before[i]) * 0.25);
}
