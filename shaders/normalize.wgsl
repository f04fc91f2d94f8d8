// Relative radiometric normalisation: after' = after * gain[b] + offset[b], in place.
// CPU twin: src/change/cpu/normalize.rs.

// KernelParams and the shared constants come from the prelude (src/change/contract.rs), nan()
// from common.wgsl; both are prepended at load.

@group(0) @binding(0) var<uniform> p: KernelParams;
@group(0) @binding(1) var<storage, read> coeffs: array<f32>;
@group(0) @binding(2) var<storage, read_write> after: array<f32>;

@compute @workgroup_size(16, 16)
fn normalize(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let n = p.width * p.height;
    let i = id.y * p.width + id.x;
    for (var b = 0u; b < p.bands; b++) {
        let scaled = after[b * n + i] * coeffs[2u * b];
        after[b * n + i] = scaled + coeffs[2u * b + 1u];
    }
}
