//! Change types (TBLX): per-polygon features (shape in [`shape`], spectra, texture, shadow and
//! width in [`features`]), readable TOML rules that turn them into a type, a confidence and the
//! reasons ([`rules`]), or an external class / probability raster from a model instead
//! ([`external`]).

pub mod branches;
#[cfg(feature = "gdal")]
pub mod classifier;
pub mod context;
#[cfg(feature = "gdal")]
pub mod external;
pub mod features;
#[cfg(feature = "gdal")]
pub mod measures;
pub mod near;
pub mod pixels;
pub mod rules;
pub mod shape;

pub use rules::{ClassifyConf, Decision};

/// Everything known about one polygon when it is typed.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Measured {
    pub area_m2: f64,
    /// Minimum-rotated-rectangle elongation, long side and mean width (m), compactness,
    /// convexity (None for degenerate polygons).
    pub elongation: Option<f64>,
    pub length_m: Option<f64>,
    pub rect_width_m: Option<f64>,
    pub compactness: Option<f64>,
    pub convexity: Option<f64>,
    pub features: features::Features,
    /// Ground size of a pixel, m (turns the distance-transform width into metres).
    pub pixel_m: f64,
    /// Mean change evidence.
    pub evidence: Option<f64>,
    /// Distance to the nearest existing road or railway and to the nearest village in the
    /// land-use survey, m (None without a survey layer; see [`context`]).
    pub road_m: Option<f64>,
    pub village_m: Option<f64>,
    /// The mask class the polygon was traced from, when the mask has classes
    /// ([`crate::change::MASK_CLASSES`]).
    pub mask_class: Option<u32>,
}

impl Measured {
    /// Mean width in metres: from the distance transform, else the rectangle's.
    pub fn width_m(&self) -> Option<f64> {
        self.features
            .width_px
            .map(|w| w * self.pixel_m)
            .or(self.rect_width_m)
    }

    /// Length of the polygon's skeleton (m): its area over its width.
    pub fn skeleton_m(&self) -> Option<f64> {
        self.width_m()
            .filter(|w| *w > 0.0)
            .map(|w| self.area_m2 / w)
    }

    /// Area over the square of the width: how many widths long the polygon is.
    pub fn slenderness(&self) -> Option<f64> {
        self.width_m()
            .filter(|w| *w > 0.0)
            .map(|w| self.area_m2 / (w * w))
    }

    /// Whether the polygon is an array of rows (its mask class), when the mask has classes.
    pub fn in_rows(&self) -> Option<bool> {
        self.mask_class.map(|c| c == crate::change::CLASS_ROWS)
    }

    /// The value of a rule feature ([`rules::FEATURES`]) by name (the rules a user writes
    /// name them; code uses the fields and methods).
    pub fn value(&self, name: &str) -> Option<f64> {
        let f = &self.features;
        let diff = |a: Option<f64>, b: Option<f64>| Some(a? - b?);
        match name {
            "area_m2" => Some(self.area_m2),
            "elong" => self.elongation,
            "length_m" => self.length_m,
            "width_m" => self.width_m(),
            "skel_m" => self.skeleton_m(),
            "slender" => self.slenderness(),
            "rectfill" => match (self.elongation, self.length_m) {
                (Some(e), Some(l)) if l > 0.0 => Some(self.area_m2 * e / (l * l)),
                _ => None,
            },
            "compact" => self.compactness,
            "convex" => self.convexity,
            "ndvi_before" => f.ndvi_before,
            "ndvi_after" => f.ndvi_after,
            "ndvi_drop" => diff(f.ndvi_before, f.ndvi_after),
            "ndbi_after" => f.ndbi_after,
            "ndbi_rise" => diff(f.ndbi_after, f.ndbi_before),
            "bright_before" => f.bright_before,
            "bright_after" => f.bright_after,
            "bright_rise" => diff(f.bright_after, f.bright_before),
            "texture" => f.texture_after,
            "spread" => f.spread_after,
            "water_after" => f.water_after,
            "water_before" => f.water_before,
            "green_after" => f.green_after,
            "shadow" => f.shadow,
            "blue_red" => f.blue_red,
            "evidence" => self.evidence,
            "road_m" => self.road_m,
            "rows" => self.in_rows().map(|r| f64::from(u8::from(r))),
            "village_m" => self.village_m,
            "nir" => Some(if f.ndvi_after.is_some() { 1.0 } else { 0.0 }),
            "pixel_m" => Some(self.pixel_m),
            _ => None,
        }
    }
}
