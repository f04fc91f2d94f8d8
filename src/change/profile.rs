//! The automatic profile: the evidence kind, opening, line joining and rows test `detect`
//! uses for a pixel size and the band roles it finds.

use super::{BandRoles, EvidenceKind};

/// Pixel size from which the default evidence switches from the building index to the change
/// vector: at 5 m and coarser a building is a few pixels and line openings lose their meaning.
pub const COARSE_GSD_M: f64 = 5.0;

/// Ground length of the gaps joined between fragments of a linear change (a road crossing an
/// existing road or a stream, a stretch under tree shadow) in the automatic profile.
pub const JOIN_GAP_M: f64 = 50.0;

/// Half-width from which a change counts as wide (never joined as a line): the widest roads and
/// railway embankments in the automatic profile.
pub const JOIN_WIDE_M: f64 = 16.0;

/// The automatic settings for a pixel size and band roles.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Profile {
    pub evidence: EvidenceKind,
    pub open_px: u32,
    pub join_half_px: u32,
    pub join_wide_px: u32,
    /// Half-length of the rows test's windows (conversion evidence only; 0 = off).
    pub rows_half_px: u32,
}

/// Length of the row and column windows of the rows test: three periods of a wide panel-row
/// pitch (about 13 m; rows stand farther apart the farther north).
pub const ROWS_WINDOW_M: f64 = 40.0;

/// The automatic profile. Sub-5 m imagery (or imagery without georeference, taken as 0.8 m):
/// vegetation conversion when red and NIR are mapped, else the building index — which
/// [`crate::pipeline::detect::detect`] replaces by the built-in RGB model (pixel trees averaged
/// with the building index) when red, green and blue are known (cross-validated on real pairs
/// it did not train on: LEVIR-CD pixel F1 0.55 against 0.34, README, "Learned evidence"); a
/// 1-px opening
/// against speckle; linear fragments joined over [`JOIN_GAP_M`]. Coarser imagery: the change
/// vector, no opening, no joining (a road is a pixel wide there).
pub fn auto_profile(pixel_size_m: Option<f64>, roles: &BandRoles) -> Profile {
    match pixel_size_m {
        Some(gsd) if gsd >= COARSE_GSD_M => Profile {
            evidence: EvidenceKind::Cva,
            open_px: 0,
            join_half_px: 0,
            join_wide_px: 0,
            rows_half_px: 0,
        },
        gsd => {
            let spectral = roles.red.is_some() && roles.nir.is_some();
            let (join_half_px, join_wide_px) = join_px(JOIN_GAP_M, gsd);
            Profile {
                evidence: if spectral {
                    EvidenceKind::Conversion
                } else {
                    EvidenceKind::Mbi
                },
                open_px: 1,
                join_half_px,
                join_wide_px,
                rows_half_px: if spectral {
                    let g = gsd.filter(|g| *g > 0.0).unwrap_or(0.8);
                    (ROWS_WINDOW_M / 2.0 / g).round().clamp(3.0, 64.0) as u32
                } else {
                    0
                },
            }
        }
    }
}

/// The joining line's half-length and the wide-part radius in pixels for gaps of `gap_m`
/// metres (imagery without a pixel size is taken as 0.8 m).
pub fn join_px(gap_m: f64, pixel_size_m: Option<f64>) -> (u32, u32) {
    let gsd = pixel_size_m.filter(|g| *g > 0.0).unwrap_or(0.8);
    (
        (gap_m / 2.0 / gsd).round().clamp(1.0, 200.0) as u32,
        (JOIN_WIDE_M / gsd).ceil().clamp(1.0, 200.0) as u32,
    )
}
