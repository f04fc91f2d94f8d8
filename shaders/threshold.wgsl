// Evidence to a 0/1 change mask (255 = nodata), counting pixels within the rounding band of the
// threshold. CPU twin: src/change/cpu/threshold.rs.

// KernelParams and the shared constants come from the prelude (src/change/contract.rs), nan()
// from common.wgsl; both are prepended at load.

@group(0) @binding(0) var<uniform> p: KernelParams;
@group(0) @binding(1) var<storage, read> evidence: array<f32>;
@group(0) @binding(2) var<storage, read> valid: array<u32>;
@group(0) @binding(3) var<storage, read_write> mask: array<u32>;
@group(0) @binding(4) var<storage, read_write> near_count: atomic<u32>;

@compute @workgroup_size(16, 16)
fn threshold(@builtin(global_invocation_id) id: vec3<u32>) {
    if (id.x >= p.width || id.y >= p.height) {
        return;
    }
    let i = id.y * p.width + id.x;
    if (valid[i] == 0u) {
        mask[i] = MASK_NODATA;
        return;
    }
    let ev = evidence[i];
    if (ev > p.threshold) {
        mask[i] = 1u;
    } else {
        mask[i] = 0u;
    }
    if (abs(ev - p.threshold) <= p.near_rel * max(abs(p.threshold), 1e-30)) {
        atomicAdd(&near_count, 1u);
    }
}
