// 2-d convolution of one image for the model engine (src/model): one thread per output value,
// the sum over input channels and kernel taps in the order of the CPU twin
// model::conv::conv_px. Layouts as ONNX: input c x h x w, weight o x (c/group) x kh x kw.

@group(0) @binding(0) var<uniform> cp: ConvParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn conv2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * 64u;
    if (i >= cp.o * cp.oh * cp.ow) {
        return;
    }
    let ox = i % cp.ow;
    let oy = (i / cp.ow) % cp.oh;
    let oc = i / (cp.ow * cp.oh);
    let cg = cp.c / cp.group;
    let c0 = (oc / (cp.o / cp.group)) * cg;
    var s = 0.0;
    if (cp.has_bias == 1u) {
        s = bias[oc];
    }
    for (var ci = 0u; ci < cg; ci++) {
        for (var ky = 0u; ky < cp.kh; ky++) {
            let y = i32(oy * cp.sh + ky * cp.dh) - i32(cp.ph);
            if (y < 0 || y >= i32(cp.h)) {
                continue;
            }
            for (var kx = 0u; kx < cp.kw; kx++) {
                let x = i32(ox * cp.sw + kx * cp.dw) - i32(cp.pw);
                if (x < 0 || x >= i32(cp.w)) {
                    continue;
                }
                let v = src[((c0 + ci) * cp.h + u32(y)) * cp.w + u32(x)];
                s += v * weight[((oc * cg + ci) * cp.kh + ky) * cp.kw + kx];
            }
        }
    }
    dst[i] = s;
}
