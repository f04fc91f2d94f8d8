// Binary erosion / dilation of the change mask with a square of radius p.half, or with a digital
// line of 2 * p.half + 1 steps along direction p.dir (0..8), and the two per-pixel steps of the
// joining of linear fragments. Nodata (255) is skipped inside windows and stays nodata. CPU
// twin: src/change/cpu/morphology.rs.

// KernelParams and the shared constants come from the prelude (src/change/contract.rs), nan()
// from common.wgsl; both are prepended at load.

@group(0) @binding(0) var<uniform> p: KernelParams;
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
// (ties keep CLASS_GREEN, else CLASS_CHANGE, so CLASS_FILLED pixels always end as one of them); 0 and nodata
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
            if (v == CLASS_CHANGE) {
                n1++;
            } else if (v == CLASS_GREEN) {
                n2++;
            }
        }
    }
    var c = CLASS_CHANGE;
    if (n2 > n1 || (n2 == n1 && own == CLASS_GREEN)) {
        c = CLASS_GREEN;
    }
    dst[i] = c;
}

// Arrays of rows (twin: cpu::morphology::rows_px / rows_at). Along a line of the mask,
// position k is built when its class is 1; a row is a built run of at most p.half positions.
fn line_built(base: i32, step: i32, k: i32) -> bool {
    return src[u32(base + k * step)] == CLASS_CHANGE;
}

// Whether the built run holding k is at most r long.
fn short_run(base: i32, step: i32, len: i32, r: i32, k: i32) -> bool {
    var start = k;
    var end = k;
    while (start > 0 && end - start < r && line_built(base, step, start - 1)) {
        start--;
    }
    while (end + 1 < len && end - start < r && line_built(base, step, end + 1)) {
        end++;
    }
    return end - start < r;
}

// A window [lo, hi] looks like rows: it touches at least ROWS_MIN_RUNS rows and is 20-80 % built.
fn rows_window(base: i32, step: i32, len: i32, r: i32, lo: i32, hi: i32) -> bool {
    var runs = 0u;
    var built = 0u;
    for (var k = lo; k <= hi; k++) {
        let b = line_built(base, step, k);
        if (b) {
            built++;
            if ((k == lo || !line_built(base, step, k - 1)) && short_run(base, step, len, r, k)) {
                runs++;
            }
        }
    }
    let n = u32(hi - lo + 1);
    return runs >= ROWS_MIN_RUNS && 5u * built >= n && 5u * built <= 4u * n;
}

// The run of equal flags holding k decides as one: a run of at most r at its middle (built, or
// a gap between built runs), a longer built run position by position; a longer gap never.
fn rows_at(base: i32, step: i32, len: i32, r: i32, k: i32) -> bool {
    let b = line_built(base, step, k);
    var start = k;
    while (start > 0 && k - start <= r && line_built(base, step, start - 1) == b) {
        start--;
    }
    var end = k;
    while (end + 1 < len && end - k <= r && line_built(base, step, end + 1) == b) {
        end++;
    }
    let is_short = end - start < r;
    var at = k;
    if (is_short) {
        at = (start + end) / 2;
    }
    let inside = b || (is_short && start > 0 && end + 1 < len);
    if (!inside) {
        return false;
    }
    return rows_window(base, step, len, r, max(at - r, 0), min(at + r, len - 1))
        || rows_window(base, step, len, r, max(at - 2 * r, 0), at)
        || rows_window(base, step, len, r, at, min(at + 2 * r, len - 1));
}

// A pixel in an array of rows along its row or its column becomes CLASS_ROWS (solar panels with
// grass between, greenhouse rows), gaps included; nodata stays, elsewhere the class stays.
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
    if (rows_at(y * w, 1, w, r, x) || rows_at(x, w, h, r, y)) {
        dst[i] = CLASS_ROWS;
    } else {
        dst[i] = own;
    }
}
