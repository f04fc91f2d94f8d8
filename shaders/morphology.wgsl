// Binary erosion / dilation of the change mask with a square of radius p.half. Nodata (255) is
// skipped inside windows and stays nodata. CPU twin: src/change/cpu/morphology.rs.

// struct Params, BIG, MASK_NODATA and nan() come from common.wgsl, prepended at load.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;

fn binary_px(x: i32, y: i32, erode: bool) -> u32 {
    let w = i32(p.width);
    let h = i32(p.height);
    let centre = src[u32(y * w + x)];
    if (centre == MASK_NODATA) {
        return MASK_NODATA;
    }
    let r = i32(p.half);
    for (var yy = max(y - r, 0); yy <= min(y + r, h - 1); yy++) {
        for (var xx = max(x - r, 0); xx <= min(x + r, w - 1); xx++) {
            let v = src[u32(yy * w + xx)];
            if (v == MASK_NODATA) {
                continue;
            }
            if (erode && v == 0u) {
                return 0u;
            }
            if (!erode && v == 1u) {
                return 1u;
            }
        }
    }
    if (erode) {
        return 1u;
    }
    return 0u;
}

@compute @workgroup_size(16, 16)
fn erode(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    dst[id.y * p.width + id.x] = binary_px(i32(id.x), i32(id.y), true);
}

@compute @workgroup_size(16, 16)
fn dilate(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    dst[id.y * p.width + id.x] = binary_px(i32(id.x), i32(id.y), false);
}
