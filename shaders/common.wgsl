// Functions every shader shares, prepended to each after the prelude that
// src/change/contract.rs writes (the uniform structs and the shared constants).

fn nan() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}
