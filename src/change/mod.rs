//! Change kernels: from two co-registered tiles (before, after) to change evidence and a mask.
//!
//! Per tile, in order: radiometric normalisation of the after image ([`radiometry`] fits the
//! model once per scene), evidence ([`EvidenceKind`]), threshold ([`otsu`] picks it once per
//! scene), then morphological opening and closing. Each step is a WGSL shader in `shaders/`
//! (run by [`crate::gpu`]) with a CPU twin in [`cpu`] of the same name; [`crate::engine::Backend`]
//! picks one.
//!
//! Invariants: evidence is NaN and the mask is [`MASK_NODATA`] wherever either date is nodata;
//! every neighbourhood step reaches at most [`Plan::halo_px`] pixels; GPU and CPU masks are
//! identical (min/max/compare are exact; the few transcendental steps can differ by a few ulp,
//! and pixels that close to the threshold are counted, see [`TileResult::near_threshold`]).

pub mod contract;
pub mod cpu;
pub mod otsu;
pub mod profile;
pub mod radiometry;

use crate::error::{Error, Result};
pub use contract::KernelParams;

/// Mask value for pixels that are nodata in either date.
pub const MASK_NODATA: u32 = 255;

/// Change classes of the mask (`change.tif`; 0 is no change). Touching regions of different
/// classes become separate polygons, so a railway through a new golf course, or a building
/// beside one, are typed apart. (Splitting by width too, wide parts from thin ones, was
/// measured and dropped: it cut round objects into a core and a rim.)
pub const MASK_CLASSES: [(u32, &str); 3] = [
    (
        CLASS_CHANGE,
        "change (cover lost to built or bare ground, or any change of other evidence)",
    ),
    (
        CLASS_GREEN,
        "new green cover (the gain arm of the conversion evidence)",
    ),
    (
        CLASS_ROWS,
        "an array of rows: built change alternating with anything else, gaps included (solar panels, rows of greenhouses)",
    ),
];

pub use contract::{CLASS_CHANGE, CLASS_GREEN, CLASS_ROWS};

/// Band metadata key of `change.tif` that lists its change classes; readers that want a plain
/// mask (`tuban eval`) take every class as change.
pub const CHANGE_CLASSES_KEY: &str = "TUBAN_CHANGE_CLASSES";

/// True for a change pixel of the mask (any class).
#[inline]
pub fn is_change(m: u32) -> bool {
    m != 0 && m != MASK_NODATA
}
/// Band index meaning "this role is not mapped".
pub const NO_BAND: u32 = u32::MAX;

/// What change evidence is computed per pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EvidenceKind {
    /// |mean(after) - mean(before)| over the bands: the classic brightness difference.
    Brightness = 0,
    /// Change-vector magnitude: Euclidean distance between the band vectors.
    Cva = 1,
    /// Spectral angle between the band vectors (radians): insensitive to illumination.
    Sam = 2,
    /// NDVI(before) - NDVI(after): vegetation loss is positive. Needs R and NIR.
    Ndvi = 3,
    /// NDBI(after) - NDBI(before), NDBI = (SWIR - NIR) / (SWIR + NIR). Needs NIR and SWIR.
    Ndbi = 4,
    /// |ln((mean(after) + 1) / (mean(before) + 1))|: for SAR amplitude.
    LogRatio = 5,
    /// |MBI(after) - MBI(before)|, the change of the morphological building index: responds to
    /// buildings appearing or disappearing, not to spectral drift of fields.
    Mbi = 6,
    /// |MSI(after) - MSI(before)|, the change of the morphological shadow index (the building
    /// index of the inverted brightness: dark, compact structures such as the shadows new
    /// buildings cast, and dark roofs).
    Msi = 7,
    /// Vegetation conversion (needs R and NIR): how far a pixel is past the rules of green cover
    /// turned into built or bare ground (NDVI drop and a non-vegetated after date), into new
    /// managed turf (NDVI and NIR rise to dense vegetation), or of bare ground turned into a
    /// bright new surface (visible brightness rise, both dates non-vegetated). 1.0 is the edge of a rule, so the
    /// threshold is fixed at 1.0, not fitted; harvest and flooding (after NDVI above the bare
    /// limit) and seasonal drift stay below it. See [`conversion`] for the constants.
    Conversion = 8,
    /// The change probability of a learned model ([`crate::model`]), computed on the CPU before
    /// the kernels; the threshold, morphology and classes then run as for any other kind.
    /// Not in [`EvidenceKind::ALL`]: it needs a model file.
    Model = 9,
}

/// The rules behind [`EvidenceKind::Conversion`] (NDVI units); the shaders get them through
/// [`contract::wgsl_prelude`].
pub mod conversion {
    /// NDVI drop that scores 1.0 on the loss arm.
    pub const LOSS_DROP: f32 = 0.3;
    /// After-date NDVI at or under which a surface counts as non-vegetated (score 1.0 at
    /// `BARE_NDVI - BARE_SOFT`).
    pub const BARE_NDVI: f32 = 0.25;
    pub const BARE_SOFT: f32 = 0.1;
    /// The gain arm (new managed turf): scores 1.0 at an NDVI rise of `GAIN_RISE`, a NIR rise
    /// of `GAIN_NIR` (relative) and an after NDVI of `GAIN_DENSE_NDVI + GAIN_DENSE_SOFT`
    /// (dense, irrigated green, denser than crops in leaf).
    pub const GAIN_RISE: f32 = 0.02;
    pub const GAIN_NIR: f32 = 0.15;
    pub const GAIN_DENSE_NDVI: f32 = 0.6;
    pub const GAIN_DENSE_SOFT: f32 = 0.1;
    /// The bright arm (a new roof, concrete or a gravel pad on ground that was already bare:
    /// neither NDVI arm sees it): scores 1.0 where the visible brightness rose by `BRIGHT_RISE`
    /// (reflectance; [`super::Plan::bright_value`] in band units) and by `BRIGHT_RATIO` of
    /// itself, both dates under the bare NDVI. Soil drying and haze between dates stay under
    /// one or the other.
    pub const BRIGHT_RISE: f64 = 0.1;
    pub const BRIGHT_RATIO: f32 = 0.6;
    /// The fixed threshold of the score.
    pub const THRESHOLD: f32 = 1.0;
}

impl EvidenceKind {
    /// All kinds, in code order.
    pub const ALL: [EvidenceKind; 9] = [
        EvidenceKind::Brightness,
        EvidenceKind::Cva,
        EvidenceKind::Sam,
        EvidenceKind::Ndvi,
        EvidenceKind::Ndbi,
        EvidenceKind::LogRatio,
        EvidenceKind::Mbi,
        EvidenceKind::Msi,
        EvidenceKind::Conversion,
    ];

    /// True for the kinds computed by the line-opening kernels (`shaders/mbi.wgsl`).
    pub fn is_morphological(self) -> bool {
        matches!(self, EvidenceKind::Mbi | EvidenceKind::Msi)
    }

    /// The code the shaders switch on (`EV_*` in [`contract::wgsl_prelude`]): the explicit
    /// discriminant, so reordering the kinds changes no code.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The kind for a shader code (unknown codes and [`EvidenceKind::Model`], which no shader
    /// computes, map to brightness).
    pub fn from_code(code: u32) -> Self {
        Self::ALL
            .into_iter()
            .find(|k| k.code() == code)
            .unwrap_or(EvidenceKind::Brightness)
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            EvidenceKind::Brightness => "brightness",
            EvidenceKind::Cva => "cva",
            EvidenceKind::Sam => "sam",
            EvidenceKind::Ndvi => "ndvi",
            EvidenceKind::Ndbi => "ndbi",
            EvidenceKind::LogRatio => "logratio",
            EvidenceKind::Mbi => "mbi",
            EvidenceKind::Msi => "msi",
            EvidenceKind::Conversion => "conversion",
            EvidenceKind::Model => "model",
        }
    }

    /// Relative error a GPU may add to this evidence (Vulkan allows a few ulp for division and
    /// sqrt, and up to 4096 ulp for asin); decisions closer than this to the threshold are
    /// counted as "near" and the evidence tolerance in the GPU tests is this value.
    pub fn rounding_rel(self) -> f32 {
        match self {
            EvidenceKind::Sam => 5e-4,
            // A network sums thousands of products per pixel, in another order on the GPU.
            EvidenceKind::Model => 1e-4,
            _ => 1e-5,
        }
    }

    /// True for the kinds built on normalised-difference indices (NDVI, NDBI, conversion): a
    /// ratio cancels the sensor gain between dates, and the linear radiometric fit, which
    /// matches band distributions, would remove the very seasonal vegetation signal these rules
    /// read (a county where a third of the fields were harvested moves the NIR distribution).
    /// Detection leaves their after image as it is. A model scales each date itself.
    pub fn is_ratio_index(self) -> bool {
        matches!(
            self,
            EvidenceKind::Ndvi | EvidenceKind::Ndbi | EvidenceKind::Conversion
        ) || self == EvidenceKind::Model
    }

    /// The fixed threshold of a kind whose evidence is a rule score (1.0 at the rule's edge);
    /// None for the kinds whose threshold is fitted per scene.
    pub fn rule_threshold(self) -> Option<f32> {
        match self {
            EvidenceKind::Conversion => Some(conversion::THRESHOLD),
            _ => None,
        }
    }

    /// Parse a command-line name.
    ///
    /// # Errors
    /// [`Error::Param`] naming the accepted values.
    pub fn parse(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| Error::Param {
                name: "evidence",
                reason: format!(
                    "{s:?} is not one of {}",
                    Self::ALL.map(|k| k.name()).join(", ")
                ),
            })
    }
}

/// Which selected band plays which role (0-based indices into the selected bands).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BandRoles {
    pub red: Option<usize>,
    pub green: Option<usize>,
    pub blue: Option<usize>,
    pub nir: Option<usize>,
    pub swir: Option<usize>,
}

impl BandRoles {
    /// No roles known.
    pub const NONE: BandRoles = BandRoles {
        red: None,
        green: None,
        blue: None,
        nir: None,
        swir: None,
    };

    /// Bit mask of the visible bands (0 when none is known: then all bands count as visible).
    pub fn visible_mask(&self) -> u32 {
        [self.red, self.green, self.blue]
            .into_iter()
            .flatten()
            .fold(0, |m, b| m | (1 << b))
    }
}

/// How a threshold is chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// The evidence kind's own rule threshold when it has one ([`EvidenceKind::rule_threshold`]),
    /// else Otsu.
    Auto,
    /// Otsu's method on the histogram of evidence sampled over the whole scene.
    Otsu,
    /// A fixed evidence value from the user.
    Value(f32),
}

/// The user-facing pipeline configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct PipelineConfig {
    pub evidence: EvidenceKind,
    /// Fit and apply radiometric normalisation of the after image.
    pub normalize: bool,
    pub threshold: Threshold,
    /// Square opening radius in pixels (0 = none), removes specks.
    pub open_px: u32,
    /// Square closing radius in pixels (0 = none), fills pinholes.
    pub close_px: u32,
    /// Half-lengths in pixels of the shortest and longest line of the building index.
    pub mbi_half_px: (u32, u32),
    /// Joining of linear fragments ([`cpu::morphology::join_lines`]): half-length in pixels of
    /// the line that opens and closes along each direction (0 = off), and the radius of the
    /// square whose opening marks the wide parts that are never joined.
    pub join_half_px: u32,
    pub join_wide_px: u32,
    /// Half-length in pixels of the row and column windows of the rows test
    /// ([`cpu::morphology::rows_px`]; 0 = off; conversion evidence only).
    pub rows_half_px: u32,
    /// How far (pixels) a learned model's evidence of one pixel reaches (its tile overlap):
    /// part of the halo, so that the evidence does not depend on the detection tile.
    pub model_reach_px: u32,
}

impl Default for PipelineConfig {
    /// The default pipeline: the configuration that scored best on the real pairs in
    /// `shared/data/realcd` (see README, "Accuracy").
    fn default() -> Self {
        PipelineConfig {
            evidence: EvidenceKind::Mbi,
            normalize: true,
            threshold: Threshold::Auto,
            open_px: 1,
            close_px: 1,
            mbi_half_px: (2, 22),
            join_half_px: 0,
            join_wide_px: 0,
            rows_half_px: 0,
            model_reach_px: 0,
        }
    }
}

/// Everything a kernel needs for one scene, resolved: the configuration, the band layout and
/// the scene-wide statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub config: PipelineConfig,
    pub bands: usize,
    pub roles: BandRoles,
    /// `[gain_0, offset_0, gain_1, offset_1, ..]` mapping the after image onto the before one.
    pub coeffs: Vec<f32>,
    /// The evidence threshold (resolved from Otsu or the user's value).
    pub threshold: f32,
    /// Cloud test of the spectral kernels: after visible brightness in band units (0 = off).
    pub cloud_value: f32,
    /// Shadow test: after visible brightness in band units under which evidence is 0 (0 = off).
    pub dark_value: f32,
    /// The conversion evidence's bright arm: visible brightness rise in band units that scores
    /// 1.0 (0 = off; see [`conversion::BRIGHT_RISE`]).
    pub bright_value: f32,
}

impl Plan {
    /// A plan with identity radiometry and threshold 0, before statistics are known.
    pub fn new(config: PipelineConfig, bands: usize, roles: BandRoles) -> Self {
        let coeffs = (0..bands).flat_map(|_| [1.0, 0.0]).collect();
        Plan {
            config,
            bands,
            roles,
            coeffs,
            threshold: 0.0,
            cloud_value: 0.0,
            dark_value: 0.0,
            bright_value: 0.0,
        }
    }

    /// [`Plan::coeffs`] as `[gain, offset]` per band.
    pub fn radiometry(&self) -> Vec<[f32; 2]> {
        self.coeffs.chunks(2).map(|c| [c[0], c[1]]).collect()
    }

    /// Set [`Plan::coeffs`] from `[gain, offset]` per band.
    pub fn set_radiometry(&mut self, radiometry: &[[f32; 2]]) {
        self.coeffs = radiometry.iter().flatten().copied().collect();
    }

    /// How far (pixels) the evidence of one pixel reaches.
    pub fn evidence_reach_px(&self) -> usize {
        match self.config.evidence {
            // An opening is an erosion then a dilation, each reaching `half`.
            k if k.is_morphological() => {
                2 * self.config.mbi_half_px.1.max(self.config.mbi_half_px.0) as usize
            }
            EvidenceKind::Model => self.config.model_reach_px as usize,
            _ => 0,
        }
    }

    /// The halo every tile needs so that results do not depend on the tile size.
    pub fn halo_px(&self) -> usize {
        let join = if self.config.join_half_px > 0 {
            2 * self.config.join_wide_px as usize + 4 * self.config.join_half_px as usize
        } else {
            0
        };
        self.evidence_reach_px()
            + 2 * self.config.open_px as usize
            + 2 * self.config.close_px as usize
            + join
            + contract::CLASS_VOTE_PX as usize
            + 2 * self.config.rows_half_px as usize
    }

    /// Kernel parameters for a `width` x `height` tile.
    pub fn params(&self, width: usize, height: usize) -> KernelParams {
        let role = |r: Option<usize>| r.map_or(NO_BAND, |b| b as u32);
        KernelParams {
            width: width as u32,
            height: height as u32,
            bands: self.bands as u32,
            evidence: self.config.evidence.code(),
            red: role(self.roles.red),
            nir: role(self.roles.nir),
            swir: role(self.roles.swir),
            visible: self.roles.visible_mask(),
            threshold: self.threshold,
            near_rel: self.config.evidence.rounding_rel(),
            dir: 0,
            half: 0,
            cloud: self.cloud_value,
            dark: self.dark_value,
            bright: self.bright_value,
            pad: 0,
        }
    }

    /// Check that the evidence kind has the bands it needs.
    ///
    /// # Errors
    /// [`Error::MissingRole`] naming `path` and the missing role.
    pub fn check_roles(&self, path: &std::path::Path) -> Result<()> {
        let need = |role: Option<usize>, name: &'static str| match role {
            Some(_) => Ok(()),
            None => Err(Error::MissingRole {
                path: path.to_path_buf(),
                evidence: self.config.evidence.name(),
                role: name,
            }),
        };
        match self.config.evidence {
            EvidenceKind::Ndvi | EvidenceKind::Conversion => {
                need(self.roles.red, "red").and(need(self.roles.nir, "NIR"))
            }
            EvidenceKind::Ndbi => need(self.roles.nir, "NIR").and(need(self.roles.swir, "SWIR")),
            _ => Ok(()),
        }
    }
}

/// Evidence of a pixel the cloud test took out: below any threshold, so never change, and
/// counted apart ([`crate::pipeline::detect::DetectSummary::cloud_px`]).
pub const CLOUD_EVIDENCE: f32 = -contract::BIG;
/// Evidence of a pixel the shadow test took out: never change, and counted apart (coverage:
/// nothing under a shadow can be seen). Half of [`CLOUD_EVIDENCE`], exact in f32, as the WGSL
/// twin writes it.
pub const SHADOW_EVIDENCE: f32 = -contract::BIG * 0.5;

/// Whether an evidence value is a screen's code ([`CLOUD_EVIDENCE`], [`SHADOW_EVIDENCE`])
/// rather than a measure.
#[inline]
pub fn is_screened(v: f32) -> bool {
    v <= SHADOW_EVIDENCE
}
/// Reflectance of the visible mean under which an after pixel is in shadow (cast shadows and
/// cloud shadows stay under it; the darkest asphalt and panels above), applied with the cloud
/// test.
pub const DARK_REFLECTANCE: f64 = 0.045;
/// Reflectance of the visible mean from which an after pixel is cloud (the brightness test of
/// Fmask-like screens; the brightest roofs stay under it). Applied to reflectance products
/// (16-bit or float) with the conversion evidence; 8-bit display images are never tested.
pub const CLOUD_REFLECTANCE: f64 = 0.4;

impl KernelParams {
    /// Pixels per band plane.
    pub fn pixels(&self) -> usize {
        self.width as usize * self.height as usize
    }
}

/// One tile's pixels: both dates band-sequential as f32, and per-pixel validity in both dates.
#[derive(Clone, Debug, PartialEq)]
pub struct TileInput {
    pub width: usize,
    pub height: usize,
    pub bands: usize,
    pub before: Vec<f32>,
    pub after: Vec<f32>,
    /// 1 where both dates have data, 0 elsewhere.
    pub valid: Vec<u32>,
}

impl TileInput {
    /// Number of pixels.
    pub fn pixels(&self) -> usize {
        self.width * self.height
    }
}

/// What the kernels produce for a tile's read window.
#[derive(Clone, Debug, PartialEq)]
pub struct TileResult {
    /// Evidence (NaN where nodata).
    pub evidence: Vec<f32>,
    /// 0 no change, a change class of [`MASK_CLASSES`], [`MASK_NODATA`] where nodata; empty
    /// when only evidence was asked for.
    pub mask: Vec<u32>,
    /// Pixels whose evidence is within [`EvidenceKind::rounding_rel`] of the threshold: the only ones whose
    /// decision could differ between devices.
    pub near_threshold: u64,
    /// Seconds per kernel step (CPU), or of the whole dispatch and readback (GPU).
    pub timings: crate::timing::Timings,
}
