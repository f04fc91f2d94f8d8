//! Change types (TBLX) and the per-polygon features they are decided from. So far: the shape
//! descriptors every change polygon carries (see [`shape`]); the typing rules come with the
//! spectral features.

pub mod shape;
