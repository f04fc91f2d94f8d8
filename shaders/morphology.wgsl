// Binary erosion / dilation of the change mask with a square of radius p.half, or with a digital
// line of 2 * p.half + 1 steps along direction p.dir (0..8), and the two per-pixel steps of the
// joining of linear fragments. Nodata (255) is skipped inside windows and stays nodata. CPU
// twin: src/change/cpu/morphology.rs.

// struct Params, BIG, MASK_NODATA and nan() come from common.wgsl, prepended at load.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read_write> dst: array<u32>;
@group(0) @binding(3) var<storage, read> aux: array<u32>;

// The binary rule of every structuring element here: erosion ends at the first valid 0,
// dilation at the first valid 1; nodata never counts (twin: cpu::morphology::binary_over).
fn decides(v: u32, erode: bool) -> bool {
    return (erode && v == 0u) || (!erode && v == 1u);
}

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
            if (decides(v, erode)) {
                return v;
            }
        }
    }
    return select(0u, 1u, erode);
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

// Offset of step k along line direction dir (twin: cpu::morphology::line_offset; i32 division
// truncates towards zero in WGSL and in Rust alike).
fn line_offset(dir: u32, k: i32) -> vec2<i32> {
    switch dir % 8u {
        case 0u: { return vec2<i32>(k, 0); }
        case 1u: { return vec2<i32>(k, k / 2); }
        case 2u: { return vec2<i32>(k, k); }
        case 3u: { return vec2<i32>(k / 2, k); }
        case 4u: { return vec2<i32>(0, k); }
        case 5u: { return vec2<i32>(-(k / 2), k); }
        case 6u: { return vec2<i32>(-k, k); }
        default: { return vec2<i32>(-k, k / 2); }
    }
}

fn line_binary_px(x: i32, y: i32, erode: bool) -> u32 {
    let w = i32(p.width);
    let h = i32(p.height);
    let centre = src[u32(y * w + x)];
    if (centre == MASK_NODATA) {
        return MASK_NODATA;
    }
    let half = i32(p.half);
    for (var k = -half; k <= half; k++) {
        let o = line_offset(p.dir, k);
        let xx = x + o.x;
        let yy = y + o.y;
        if (xx < 0 || yy < 0 || xx >= w || yy >= h) {
            continue;
        }
        let v = src[u32(yy * w + xx)];
        if (decides(v, erode)) {
            return v;
        }
    }
    return select(0u, 1u, erode);
}

@compute @workgroup_size(16, 16)
fn erode_line_mask(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    dst[id.y * p.width + id.x] = line_binary_px(i32(id.x), i32(id.y), true);
}

@compute @workgroup_size(16, 16)
fn dilate_line_mask(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    dst[id.y * p.width + id.x] = line_binary_px(i32(id.x), i32(id.y), false);
}

// The thin parts: change in src (the mask) outside aux (its opening).
@compute @workgroup_size(16, 16)
fn thin_seeds(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let i = id.y * p.width + id.x;
    var v = 0u;
    if (src[i] == MASK_NODATA) {
        v = MASK_NODATA;
    } else if (src[i] == 1u && aux[i] != 1u) {
        v = 1u;
    }
    dst[i] = v;
}

// dst |= src on change pixels; nodata in dst stays nodata.
@compute @workgroup_size(16, 16)
fn or_into(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let i = id.y * p.width + id.x;
    if (dst[i] != MASK_NODATA && src[i] == 1u) {
        dst[i] = 1u;
    }
}


// Majority of the change classes 1 and 2 in the (2 * p.half + 1)^2 window of a change pixel
// (ties keep class 2, else 1, so filled pixels, class 3, always end as 1 or 2); 0 and nodata
// stay. Twin: cpu::morphology::class_majority_px.
@compute @workgroup_size(16, 16)
fn class_majority(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let w = i32(p.width);
    let h = i32(p.height);
    let x = i32(id.x);
    let y = i32(id.y);
    let i = id.y * p.width + id.x;
    let own = src[i];
    if (own == 0u || own == MASK_NODATA) {
        dst[i] = own;
        return;
    }
    let r = i32(p.half);
    var n1 = 0u;
    var n2 = 0u;
    for (var yy = max(y - r, 0); yy <= min(y + r, h - 1); yy++) {
        for (var xx = max(x - r, 0); xx <= min(x + r, w - 1); xx++) {
            let v = src[u32(yy * w + xx)];
            if (v == 1u) {
                n1++;
            } else if (v == 2u) {
                n2++;
            }
        }
    }
    var c = 1u;
    if (n2 > n1 || (n2 == n1 && own == 2u)) {
        c = 2u;
    }
    dst[i] = c;
}

// Arrays of rows: a pixel becomes class 3 when, along its row or its column, a window of
// 2 * p.half + 1 pixels centred on it, ending at it or starting at it alternates between built
// change (class 1) and anything else at least 6 times (built 20-80 % of it), and the pixel is
// built or lies between built pixels (each side within p.half). Nodata stays; elsewhere the
// class stays. Twin: cpu::morphology::rows_px.
fn striped(lo: i32, hi: i32, base: i32, step: i32) -> bool {
    var built = 0u;
    var turns = 0u;
    var prev = src[u32(base + lo * step)] == 1u;
    for (var k = lo; k <= hi; k++) {
        let b = src[u32(base + k * step)] == 1u;
        if (b) {
            built++;
        }
        if (b != prev) {
            turns++;
        }
        prev = b;
    }
    let n = u32(hi - lo + 1);
    return turns >= 6u && 5u * built >= n && 5u * built <= 4u * n;
}

fn any_built(lo: i32, hi: i32, base: i32, step: i32) -> bool {
    for (var k = lo; k <= hi; k++) {
        if (src[u32(base + k * step)] == 1u) {
            return true;
        }
    }
    return false;
}

// Along one axis: pos the pixel's coordinate, len the axis length, base + k * step the index.
fn in_rows(own: u32, pos: i32, len: i32, base: i32, step: i32, r: i32) -> bool {
    let between = own == 1u
        || (any_built(max(pos - r, 0), pos - 1, base, step)
            && any_built(pos + 1, min(pos + r, len - 1), base, step));
    if (!between) {
        return false;
    }
    return striped(max(pos - r, 0), min(pos + r, len - 1), base, step)
        || striped(max(pos - 2 * r, 0), pos, base, step)
        || striped(pos, min(pos + 2 * r, len - 1), base, step);
}

@compute @workgroup_size(16, 16)
fn rows(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let w = i32(p.width);
    let h = i32(p.height);
    let x = i32(id.x);
    let y = i32(id.y);
    let i = id.y * p.width + id.x;
    let own = src[i];
    if (own == MASK_NODATA) {
        dst[i] = own;
        return;
    }
    let r = i32(p.half);
    if (in_rows(own, x, w, y * w, 1, r) || in_rows(own, y, h, x, w, r)) {
        dst[i] = 3u;
    } else {
        dst[i] = own;
    }
}
