//! The kernel contract: everything the WGSL kernels share with their Rust callers and CPU twins
//! — the uniform structs, the evidence codes, the mask classes and the rule constants — is
//! defined here (or named here from where it lives) once, and [`wgsl_prelude`] writes it as
//! WGSL declarations that every shader is compiled with. A shader never spells a shared
//! number itself; the tests parse the prelude with naga and compare every struct member's
//! name, type and offset with the Rust layout.

use super::{EvidenceKind, MASK_NODATA, NO_BAND, conversion};

/// One member of a uniform struct as both sides lay it out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field {
    pub name: &'static str,
    /// The scalar type, spelled the same in Rust and WGSL (`u32`, `i32` or `f32`).
    pub ty: &'static str,
    /// Byte offset in the Rust `#[repr(C)]` struct.
    pub offset: usize,
}

/// A `#[repr(C)]` struct passed to the kernels as a uniform buffer.
pub trait Uniform: bytemuck::Pod {
    /// The struct's name, in Rust and in WGSL.
    const NAME: &'static str;
    /// Its members in declaration order.
    const FIELDS: &'static [Field];
}

/// Declares a uniform struct of 4-byte scalars (`u32`, `i32`, `f32`) once: the Rust struct
/// (`#[repr(C)]`, `Pod`) and its [`Uniform`] description, from which the WGSL twin is written.
macro_rules! uniform_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* pub $field:ident : $ty:ident, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $crate::change::contract::Uniform for $name {
            const NAME: &'static str = stringify!($name);
            const FIELDS: &'static [$crate::change::contract::Field] = &[
                $( $crate::change::contract::Field {
                    name: stringify!($field),
                    ty: stringify!($ty),
                    offset: std::mem::offset_of!($name, $field),
                }, )*
            ];
        }
    };
}

uniform_struct! {
    /// Uniform parameters of the change kernels (`var<uniform> p: KernelParams` in every shader
    /// of the tile pipeline).
    pub struct KernelParams {
        pub width: u32,
        pub height: u32,
        pub bands: u32,
        /// [`EvidenceKind::code`] of the evidence computed.
        pub evidence: u32,
        /// Band index of each role, [`NO_BAND`] when unmapped.
        pub red: u32,
        pub nir: u32,
        pub swir: u32,
        /// Bit mask of visible bands (0: all bands).
        pub visible: u32,
        pub threshold: f32,
        pub near_rel: f32,
        /// Line direction: 0..4 for the building index, 0..8 for line joining.
        pub dir: u32,
        /// Half-length of a line, or radius of a square structuring element.
        pub half: u32,
        /// Visible brightness (band units) from which a pixel is cloud, in the after or the
        /// before image: its evidence is [`super::CLOUD_EVIDENCE`] (never change). 0 = no
        /// cloud test.
        pub cloud: f32,
        /// Visible brightness of the after image (band units) under which a pixel is in shadow
        /// when the before image was not as dark there: its evidence is
        /// [`super::SHADOW_EVIDENCE`] (never change: a shadow is not a surface, new buildings
        /// cast them, and what lies under it cannot be seen). Dark in both dates (dense forest,
        /// water): evidence 0. 0 = no test.
        pub dark: f32,
        /// Rise of the visible brightness (band units) at which the conversion evidence's
        /// bright arm scores 1.0 (a new roof or concrete on bare ground). 0 = no bright arm.
        pub bright: f32,
        pub pad: u32,
    }
}

uniform_struct! {
    /// Uniform parameters of the pixel-tree kernel (`shaders/trees.wgsl`).
    pub struct TreeParams {
        /// Feature rows scored.
        pub rows: u32,
        /// Values per row.
        pub features: u32,
        pub trees: u32,
        /// The score every row starts from (log-odds).
        pub base: f32,
    }
}

uniform_struct! {
    /// Uniform parameters of the convolution kernel (`shaders/conv.wgsl`): an input of
    /// `c` x `h` x `w`, `o` output channels of `oh` x `ow`, kernel `kh` x `kw`, strides,
    /// paddings and dilations per axis, channel groups, and whether a bias is given.
    pub struct ConvParams {
        pub c: u32,
        pub h: u32,
        pub w: u32,
        pub o: u32,
        pub kh: u32,
        pub kw: u32,
        pub sh: u32,
        pub sw: u32,
        pub ph: u32,
        pub pw: u32,
        pub dh: u32,
        pub dw: u32,
        pub oh: u32,
        pub ow: u32,
        pub group: u32,
        pub has_bias: u32,
    }
}

/// Mask class of a change pixel (before typing by the conversion evidence's arms, every
/// change pixel).
pub const CLASS_CHANGE: u32 = 1;
/// Mask class of new green cover (the gain arm of the conversion evidence).
pub const CLASS_GREEN: u32 = 2;
/// Mask class of an array of rows ([`super::cpu::morphology::rows_px`]).
pub const CLASS_ROWS: u32 = 3;
/// Transient class of a change pixel that closing or joining filled (its evidence is under the
/// threshold): the majority vote gives it its neighbours' class, so it never reaches a mask on
/// disk. Apart from every class of [`super::MASK_CLASSES`].
pub const CLASS_FILLED: u32 = 4;
/// Radius of the class majority vote, run by both tile pipelines after the classes.
pub const CLASS_VOTE_PX: u32 = 2;
/// A pixel-tree node whose feature is this is a leaf (its value in the split bits).
pub const TREE_LEAF: u32 = u32::MAX;
/// Largest finite f32: the neutral element of min/max (WGSL has no infinity literal). A valid
/// centre pixel is always in its own window, so the sentinel never reaches an output.
pub const BIG: f32 = f32::MAX;

/// The `u32` constants of the prelude, by their WGSL names.
pub fn u32_constants() -> Vec<(String, u32)> {
    let mut c: Vec<(String, u32)> = [
        ("MASK_NODATA", MASK_NODATA),
        ("CLASS_CHANGE", CLASS_CHANGE),
        ("CLASS_GREEN", CLASS_GREEN),
        ("CLASS_ROWS", CLASS_ROWS),
        ("CLASS_FILLED", CLASS_FILLED),
        ("NO_BAND", NO_BAND),
        ("TREE_LEAF", TREE_LEAF),
        ("ROWS_MIN_RUNS", super::cpu::morphology::ROWS_MIN_RUNS),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_string(), v))
    .collect();
    c.extend(
        EvidenceKind::ALL
            .iter()
            .map(|k| (format!("EV_{}", k.name().to_uppercase()), k.code())),
    );
    c
}

/// The `f32` constants of the prelude, by their WGSL names.
pub fn f32_constants() -> Vec<(&'static str, f32)> {
    use conversion::*;
    vec![
        ("BIG", BIG),
        ("LOSS_DROP", LOSS_DROP),
        ("BARE_NDVI", BARE_NDVI),
        ("BARE_SOFT", BARE_SOFT),
        ("GAIN_RISE", GAIN_RISE),
        ("GAIN_NIR", GAIN_NIR),
        ("GAIN_DENSE_NDVI", GAIN_DENSE_NDVI),
        ("GAIN_DENSE_SOFT", GAIN_DENSE_SOFT),
        ("BRIGHT_RATIO", BRIGHT_RATIO),
    ]
}

/// The WGSL declaration of a uniform struct.
pub fn wgsl_struct<U: Uniform>() -> String {
    let members: String = U::FIELDS
        .iter()
        .map(|f| format!("    {}: {},\n", f.name, f.ty))
        .collect();
    format!("struct {} {{\n{members}}}\n", U::NAME)
}

/// The declarations every shader is compiled with: the uniform structs and the shared
/// constants, written from their Rust definitions. An `f32` is written in scientific notation
/// with the digits Rust needs to read it back exactly, which a WGSL compiler reads to the same
/// value.
pub fn wgsl_prelude() -> String {
    let mut s = String::from(
        "// Written by tuban::change::contract::wgsl_prelude from the Rust definitions at start-up.\n",
    );
    for decl in [
        wgsl_struct::<KernelParams>(),
        wgsl_struct::<TreeParams>(),
        wgsl_struct::<ConvParams>(),
    ] {
        s.push_str(&decl);
    }
    for (name, v) in u32_constants() {
        s.push_str(&format!("const {name}: u32 = {v}u;\n"));
    }
    for (name, v) in f32_constants() {
        s.push_str(&format!("const {name}: f32 = {v:e};\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_packed_four_byte_scalars_in_order() {
        fn check<U: Uniform>() {
            for (k, f) in U::FIELDS.iter().enumerate() {
                assert_eq!(f.offset, 4 * k, "{}.{}", U::NAME, f.name);
                assert!(
                    matches!(f.ty, "u32" | "i32" | "f32"),
                    "{}.{}",
                    U::NAME,
                    f.name
                );
            }
            let size = std::mem::size_of::<U>();
            assert_eq!(size, 4 * U::FIELDS.len(), "{}", U::NAME);
            assert_eq!(
                size % 16,
                0,
                "{}: a uniform buffer is a multiple of 16 B",
                U::NAME
            );
        }
        check::<KernelParams>();
        check::<TreeParams>();
        check::<ConvParams>();
    }

    #[test]
    fn constant_names_are_unique_and_floats_read_back_exactly() {
        let mut names: Vec<String> = u32_constants().into_iter().map(|(n, _)| n).collect();
        names.extend(f32_constants().into_iter().map(|(n, _)| n.to_string()));
        let before = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), before);
        for (n, v) in f32_constants() {
            let text = format!("{v:e}");
            assert_eq!(text.parse::<f32>().ok(), Some(v), "{n} written as {text}");
        }
    }
}
