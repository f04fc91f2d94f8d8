// Prepended to every shader in this folder (see src/gpu/kernels.rs): the uniform parameters
// and shared constants. CPU twin of Params: change::KernelParams (a test checks the layout).

struct Params {
    width: u32, height: u32, bands: u32, evidence: u32,
    red: u32, nir: u32, swir: u32, visible: u32,
    threshold: f32, near_rel: f32, dir: u32, half: u32,
    cloud: f32, dark: f32, bright: f32, pad0: u32,
}

// Largest finite f32: the neutral element of min/max (WGSL has no infinity literal).
const BIG: f32 = 3.4028235e38;
const MASK_NODATA: u32 = 255u;

fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}
