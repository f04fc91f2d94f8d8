//! Opening two dates as one co-registered pair: band selection, nodata/mask handling, grid
//! checks, the overlap window, optional warping of the after image onto the before grid.
//!
//! Output of [`ScenePair::read`]: a [`TileInput`] for any window of the overlap, with `valid`
//! 0 wherever either date is nodata (GDAL mask band: nodata value, alpha band or .msk mask) or
//! not a finite number.

use super::bands::{
    BandChoice, Pairing, Role, common_by_role, pair_by_role, parse_bands, role_list, roles_of,
};
use super::fill;
use super::grid::Window;
pub use super::values::value_scale;
use super::values::{self, ValueRange};
use crate::change::{BandRoles, TileInput};
use crate::error::{Error, Result};
use gdal::Dataset;
use gdal::raster::ColorInterpretation;
use std::path::{Path, PathBuf};

/// How to open a pair.
#[derive(Clone, Debug, Default)]
pub struct PairOptions {
    /// `--bands` for the before image (None: every non-alpha band).
    pub bands_before: Option<String>,
    /// `--after-bands` (None: the same mapping as the before image).
    pub bands_after: Option<String>,
    /// Warp the after image onto the before grid when the grids differ.
    pub resample: bool,
    /// Where a warped copy of the after image may be written (deleted on drop).
    pub scratch_dir: Option<PathBuf>,
    /// Measure the shift between the dates and warp the after image to remove it (`detect
    /// --coregister`; see [`crate::raster::registration`]).
    pub coregister: bool,
    /// Move the after image's content by minus this shift (px, x east, y south) onto the before
    /// grid, bilinear: what `coregister` applies once the shift is measured.
    pub shift_after: Option<(f64, f64)>,
    /// Only this window of the overlap (pixels of the overlap grid): the pair then is that
    /// window, with its own geotransform (a plan's task detects one county's part of a scene).
    pub window: Option<Window>,
    /// Read pixels 0 in every band as imagery even in blocks ([`super::fill`]: by default an
    /// image that declares no nodata has such blocks read as fill, nodata).
    pub zero_is_data: bool,
}

/// The file a dataset was opened from (its description), or `path`.
fn ds_source(path: &Path, ds: &Dataset) -> PathBuf {
    use gdal::Metadata;
    let d = ds.description().unwrap_or_default();
    if d.is_empty() {
        path.into()
    } else {
        PathBuf::from(d)
    }
}

impl DateImage {
    fn reopen(&self) -> Result<DateImage> {
        let ds = Dataset::open(&self.source).map_err(|e| Error::Open {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        Ok(DateImage {
            path: self.path.clone(),
            source: self.source.clone(),
            ds,
            bands: self.bands.clone(),
            masked: self.masked.clone(),
            fill: self.fill.clone(),
            offset: self.offset,
            scale: self.scale,
            linear: self.linear.clone(),
        })
    }
}

/// One opened date.
struct DateImage {
    /// The user's path, for messages.
    path: PathBuf,
    /// The file actually read (the warped copy when the after image was warped).
    source: PathBuf,
    ds: Dataset,
    bands: Vec<usize>,
    /// Per selected band: whether its mask must be read (false when GDAL says all valid).
    masked: Vec<bool>,
    /// Pixel offset of the overlap in this file.
    offset: (usize, usize),
    /// The value of reflectance 1.0 in the user's file ([`DateImage::value_scale`]; a warped copy
    /// is float but keeps its source's scale).
    scale: f64,
    /// Per selected band: the band's own scale and offset, applied at read time (None: the
    /// raw values are the file's convention already).
    linear: Vec<Linear>,
    /// Per selected band, what a stored 0 reads as, when the file's blocks of 0 are read as
    /// fill ([`super::fill::mask_fill`]): None when it declares nodata or `zero_is_data`.
    fill: Option<Vec<f32>>,
}

/// Two dates on one pixel grid, restricted to their overlap.
pub struct ScenePair {
    before: DateImage,
    after: DateImage,
    /// Overlap size in pixels.
    pub width: usize,
    pub height: usize,
    /// Geotransform of the overlap (None for files without georeference).
    pub geo_transform: Option<[f64; 6]>,
    /// CRS of the before image as WKT ("" when none).
    pub projection: String,
    pub roles: BandRoles,
    /// Things the user should know (assumed band roles, warping), one line each.
    pub notes: Vec<String>,
    warped: Option<PathBuf>,
}

impl Drop for ScenePair {
    fn drop(&mut self) {
        if let Some(p) = &self.warped {
            let _ = std::fs::remove_file(p);
        }
    }
}

fn open_dataset(path: &Path) -> Result<Dataset> {
    let ds = super::open_dataset(path)?;
    if ds.raster_count() == 0 {
        return Err(Error::Open {
            path: path.into(),
            reason: "not a raster (no bands)".into(),
        });
    }
    Ok(ds)
}

/// Open an image to read its pixel values: a raster with bands, a paletted one expanded to its
/// colours ([`expand_palette`]; the bands it now has, when it was).
///
/// # Errors
/// [`Error::Open`] naming `path`.
pub fn open_image(path: &Path) -> Result<(Dataset, Option<&'static str>)> {
    expand_palette(open_dataset(path)?, path)
}

/// An image whose only band indexes a colour table (a paletted PNG or GIF, an 8-bit GeoTIFF
/// with a palette), opened through an in-memory VRT that expands it to red, green and blue
/// (and alpha where the table is transparent), as `gdal_translate -expand` does: the
/// difference of two palette indices is no measure of change. Returns the dataset and, when
/// expanded, the bands it now has ("R, G, B" or "R, G, B, A").
fn expand_palette(ds: Dataset, path: &Path) -> Result<(Dataset, Option<&'static str>)> {
    let table_alpha = match ds.rasterband(1) {
        Ok(band)
            if ds.raster_count() == 1
                && band.color_interpretation() == ColorInterpretation::PaletteIndex =>
        {
            band.color_table()
                .map(|t| (0..t.entry_count()).any(|i| t.entry_as_rgb(i).is_some_and(|e| e.a < 255)))
        }
        _ => None,
    };
    let Some(alpha) = table_alpha else {
        return Ok((ds, None));
    };
    let (expand, what) = if alpha {
        ("rgba", "R, G, B, A")
    } else {
        ("rgb", "R, G, B")
    };
    let fail = |reason: String| Error::Open {
        path: path.into(),
        reason: format!("cannot expand its colour table: {reason}"),
    };
    let mut args =
        super::GdalArgs::new(&["-of", "VRT", "-expand", expand]).expect("no NUL in the arguments");
    // SAFETY: `args` holds a NULL-terminated array of C strings that outlive the calls;
    // GDALTranslate reads the open dataset handle of `ds`, which is alive, and returns a new
    // dataset (the VRT, reading the source file by name) that the returned `Dataset` owns;
    // the options are freed once, after the call.
    let handle = unsafe {
        let opts = gdal_sys::GDALTranslateOptionsNew(args.argv(), std::ptr::null_mut());
        if opts.is_null() {
            return Err(fail("GDAL refused the expansion options".into()));
        }
        let mut usage_error = 0;
        let h = gdal_sys::GDALTranslate(c"".as_ptr(), ds.c_dataset(), opts, &mut usage_error);
        gdal_sys::GDALTranslateOptionsFree(opts);
        h
    };
    if handle.is_null() {
        return Err(fail(super::gdal_last_error()));
    }
    // SAFETY: a non-null handle just returned by GDALTranslate, owned by nobody else.
    let vrt = unsafe { Dataset::from_c_dataset(handle) };
    // That VRT reads through `ds`'s handle; its XML names the file instead, so the dataset
    // opened from it stands alone (and every reader thread may open the file itself).
    use gdal::Metadata;
    let xml = vrt
        .metadata_domain("xml:VRT")
        .and_then(|lines| lines.into_iter().next())
        .ok_or_else(|| fail("the VRT driver gave no XML".into()))?;
    drop(vrt);
    let expanded = Dataset::open(Path::new(&xml)).map_err(|e| fail(e.to_string()))?;
    Ok((expanded, Some(what)))
}

/// The role a band description names: "Red", "green band", "B4 NIR", "Near Infrared", "SWIR1",
/// ...
fn role_of_description(d: &str) -> Option<Role> {
    let d = d.to_ascii_lowercase();
    if d.contains("near infrared") || d.contains("near-infrared") {
        return Some(Role::Nir);
    }
    let words: Vec<&str> = d
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let has = |w: &str| words.contains(&w);
    // Short-wave infrared: the 1.6 µm band (SWIR 1) is the built-up index's; SWIR 2 is not.
    let short_wave = d.contains("short-wave infrared") || d.contains("shortwave infrared");
    if short_wave || has("swir") || has("swir1") {
        return (!has("2") && !has("swir2")).then_some(Role::Swir);
    }
    // Sentinel-2's red-edge bands are not red.
    if has("edge") {
        return None;
    }
    match (has("nir"), has("red"), has("green"), has("blue")) {
        (true, false, false, false) => Some(Role::Nir),
        (false, true, false, false) => Some(Role::Red),
        (false, false, true, false) => Some(Role::Green),
        (false, false, false, true) => Some(Role::Blue),
        _ => None,
    }
}

fn band_role(ds: &Dataset, n: usize) -> Option<Role> {
    let band = ds.rasterband(n).ok()?;
    match band.color_interpretation() {
        ColorInterpretation::RedBand => Some(Role::Red),
        ColorInterpretation::GreenBand => Some(Role::Green),
        ColorInterpretation::BlueBand => Some(Role::Blue),
        // GeoTIFF has no colour interpretation for near infrared before GDAL 3.10, and many
        // products leave it undefined for every band: they name the band in its description.
        _ => {
            use gdal::Metadata;
            role_of_description(&band.description().unwrap_or_default())
        }
    }
}

/// The selected bands of `ds`: the user's mapping, else every band that is not alpha.
fn select(ds: &Dataset, path: &Path, spec: Option<&str>) -> Result<Vec<BandChoice>> {
    let count = ds.raster_count();
    let mut choice = match spec {
        Some(s) => parse_bands(s, count, path)?,
        None => (1..=count)
            .filter(|&n| {
                ds.rasterband(n)
                    .map(|b| b.color_interpretation() != ColorInterpretation::AlphaBand)
                    .unwrap_or(false)
            })
            .map(|number| BandChoice { number, role: None })
            .collect(),
    };
    if choice.is_empty() {
        // An image of nothing but alpha (or no band at all) would detect nothing, silently.
        return Err(Error::Open {
            path: path.to_path_buf(),
            reason: format!(
                "no image band: {}; name the bands to use with --bands",
                if count == 0 {
                    "the file has no raster band".to_string()
                } else {
                    format!("its {count} band(s) are all alpha (transparency)")
                }
            ),
        });
    }
    if choice.len() > MAX_BANDS {
        // The kernels' band masks (visible bands) are 32 bits wide.
        return Err(Error::Open {
            path: path.to_path_buf(),
            reason: format!(
                "{} bands selected; tuban reads at most {MAX_BANDS} per image: name the ones to use with --bands (e.g. --bands R=3,G=2,B=1,NIR=4)",
                choice.len()
            ),
        });
    }
    for c in &mut choice {
        if c.role.is_none() {
            c.role = band_role(ds, c.number);
        }
    }
    Ok(choice)
}

/// Most bands read from one image (the kernels carry band sets as 32-bit masks).
pub const MAX_BANDS: usize = 32;

fn geo(ds: &Dataset) -> Option<[f64; 6]> {
    ds.geo_transform()
        .ok()
        .filter(|g| *g != [0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
}

/// Why a geotransform cannot place pixels on the ground (a zero or non-finite pixel size,
/// or a non-finite origin), if it cannot: areas, tile sizes in metres and every reprojection
/// divide by the pixel size.
fn degenerate(g: &[f64; 6]) -> Option<String> {
    if g.iter().any(|v| !v.is_finite()) {
        return Some(format!("the geotransform has a non-finite value: {g:?}"));
    }
    // The pixel's extent along x and y (rotated grids included).
    let (px, py) = (g[1].hypot(g[4]), g[2].hypot(g[5]));
    if px == 0.0 || py == 0.0 || g[1] * g[5] - g[2] * g[4] == 0.0 {
        return Some(format!(
            "the geotransform gives pixels no area (pixel size {} x {}): fix its georeference (gdal_edit.py -tr or -a_ullr)",
            g[1], g[5]
        ));
    }
    None
}

impl ScenePair {
    /// Open and check a pair.
    ///
    /// # Errors
    /// [`Error::Open`] for a missing or unreadable file; [`Error::BandMapping`] /
    /// [`Error::BandCount`] for band problems; [`Error::Coregistration`] when CRS, pixel size or
    /// grid alignment differ (without `resample`); [`Error::NoOverlap`].
    pub fn open(before: &Path, after: &Path, opts: &PairOptions) -> Result<Self> {
        let (ds_b, palette_b) = open_image(before)?;
        let (mut ds_a, palette_a) = open_image(after)?;
        // Taken before any warp: the warped copy is Float32 whatever the source was (a 16-bit
        // image read as float reflectance put every pixel over the cloud threshold).
        let (scale_b, scale_a) = (scale_of(&ds_b, 1), scale_of(&ds_a, 1));
        // The bands' own scale and offset (raw value x scale + offset = the physical value),
        // also taken before any warp (a warped copy does not carry them).
        let (linear_b, linear_a) = (linear_of(&ds_b), linear_of(&ds_a));
        for (ds, path) in [(&ds_b, before), (&ds_a, after)] {
            if let Some(reason) = geo(ds).and_then(|g| degenerate(&g)) {
                return Err(Error::Open {
                    path: path.into(),
                    reason,
                });
            }
        }
        let mut notes: Vec<String> = [(palette_b, before), (palette_a, after)]
            .into_iter()
            .filter_map(|(expanded, path)| {
                expanded.map(|what| {
                    format!(
                        "{}: one band of colour-table indices, read as its colours ({what})",
                        path.display()
                    )
                })
            })
            .collect();
        let mut warped = None;
        if geo(&ds_b).is_some() != geo(&ds_a).is_some() {
            return Err(Error::Ungeoreferenced {
                before: before.into(),
                after: after.into(),
                what: "one image is georeferenced and the other is not".into(),
            });
        }
        let mismatch = grid_mismatch((&ds_b, before), (&ds_a, after), &mut notes);
        if let Some(what) = &mismatch {
            if !opts.resample {
                return Err(Error::Coregistration {
                    before: before.into(),
                    after: after.into(),
                    what: what.clone(),
                });
            }
            let dir = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
            let tmp = dir.join(format!(".tuban-warped-{}.tif", std::process::id()));
            ds_a = warp_onto(&ds_a, &ds_b, &tmp).map_err(|reason| Error::Open {
                path: after.into(),
                reason,
            })?;
            notes.push(format!(
                "{}: {what}; warped onto the grid of {} (bilinear)",
                after.display(),
                before.display()
            ));
            warped = Some(tmp);
        }
        if let Some((dx, dy)) = opts.shift_after {
            if geo(&ds_a).is_none() {
                return Err(Error::Ungeoreferenced {
                    before: before.into(),
                    after: after.into(),
                    what: "co-registration warps the after image: it needs a georeference".into(),
                });
            }
            let err = |reason: String| Error::Open {
                path: after.into(),
                reason,
            };
            // Moved back by the shift and warped onto the before grid.
            let dir = opts.scratch_dir.clone().unwrap_or_else(std::env::temp_dir);
            let tmp = dir.join(format!(".tuban-coregistered-{}.tif", std::process::id()));
            let coregistered = {
                // The VRT reads through `ds_a`: it is closed before `ds_a` is replaced.
                let moved = crate::raster::moved_vrt(&ds_a, (-dx, -dy)).map_err(err)?;
                warp_onto(&moved, &ds_b, &tmp).map_err(err)?
            };
            ds_a = coregistered;
            if let Some(old) = warped.replace(tmp) {
                let _ = std::fs::remove_file(old);
            }
        }
        let spec_b = opts.bands_before.as_deref();
        let spec_a = opts.bands_after.as_deref().or(spec_b);
        let mut choice_b = select(&ds_b, before, spec_b)?;
        let mut choice_a = select(&ds_a, after, spec_a)?;
        if choice_a.len() != choice_b.len() {
            // Without --bands, files of different band counts compare the roles both declare.
            let common = (spec_b.is_none() && spec_a.is_none())
                .then(|| common_by_role(&choice_b, &choice_a))
                .flatten();
            let Some((b, a)) = common else {
                return Err(Error::BandCount {
                    path: after.into(),
                    got: choice_a.len(),
                    want: choice_b.len(),
                });
            };
            notes.push(format!(
                "{} has bands {} and {} {}: compared on the roles both declare, {} (before bands {}, after bands {})",
                before.display(),
                role_list(&choice_b),
                after.display(),
                role_list(&choice_a),
                role_list(&b),
                numbers(&b),
                numbers(&a)
            ));
            (choice_b, choice_a) = (b, a);
        }
        if spec_b.is_none() && spec_a.is_none() {
            pair_bands((&mut choice_b, before), (&mut choice_a, after), &mut notes)?;
            drop_mask_band(
                (&mut choice_b, &ds_b, before),
                (&mut choice_a, &ds_a),
                &mut notes,
            );
        }
        let known = roles_of(&choice_b);
        if known == BandRoles::NONE {
            assume_roles(&mut choice_b, before, &mut notes);
        } else if choice_b.len() == 4
            && known.nir.is_none()
            && [known.blue, known.green, known.red]
                .iter()
                .all(Option::is_some)
        {
            // Blue, green and red marked and one band left: the NIR of every 4-band product.
            if let Some(c) = choice_b.iter_mut().find(|c| c.role.is_none()) {
                c.role = Some(Role::Nir);
                notes.push(format!(
                    "{}: band {} has no colour interpretation beside blue, green and red; taken as NIR (override with --bands)",
                    before.display(),
                    c.number
                ));
            }
        }
        let roles = roles_of(&choice_b);
        let Overlap {
            mut width,
            mut height,
            offset_before: mut off_b,
            offset_after: mut off_a,
            geo_transform: mut gt,
        } = overlap(&ds_b, &ds_a, before, after)?;
        if let Some(w) = opts.window {
            if w.width == 0 || w.height == 0 || w.x + w.width > width || w.y + w.height > height {
                return Err(Error::Open {
                    path: before.into(),
                    reason: format!(
                        "window {}x{} at ({}, {}) lies outside the {width}x{height} px overlap of the two dates",
                        w.width, w.height, w.x, w.y
                    ),
                });
            }
            (width, height) = (w.width, w.height);
            off_b = (off_b.0 + w.x, off_b.1 + w.y);
            off_a = (off_a.0 + w.x, off_a.1 + w.y);
            gt = gt.map(|g| super::moved_origin(g, (w.x as f64, w.y as f64)));
        }
        let projection = ds_b.projection();
        let mk = |path: &Path,
                  ds: Dataset,
                  choice: &[BandChoice],
                  offset,
                  scale: f64,
                  all_linear: &[Linear]|
         -> Result<DateImage> {
            let bands: Vec<usize> = choice.iter().map(|c| c.number).collect();
            let (linear, scale) = applied_linear(path, &bands, all_linear, scale)?;
            let masked = bands
                .iter()
                .map(|&n| {
                    let band = ds.rasterband(n).map_err(|e| Error::Open {
                        path: path.into(),
                        reason: e.to_string(),
                    })?;
                    Ok(!band.mask_flags().map(|f| f.is_all_valid()).unwrap_or(false))
                })
                .collect::<Result<Vec<bool>>>()?;
            let fill = (!opts.zero_is_data && !masked.iter().any(|&m| m)).then(|| {
                linear
                    .iter()
                    .map(|l| l.map_or(0.0, |(_, o)| o as f32))
                    .collect()
            });
            Ok(DateImage {
                path: path.into(),
                source: ds_source(path, &ds),
                ds,
                bands,
                masked,
                fill,
                offset,
                scale,
                linear,
            })
        };
        let before_date = mk(before, ds_b, &choice_b, off_b, scale_b, &linear_b)?;
        let after_date = mk(after, ds_a, &choice_a, off_a, scale_a, &linear_a)?;
        for d in [&before_date, &after_date] {
            if d.linear.iter().any(Option::is_some) {
                notes.push(format!(
                    "{}: band values read through the bands' own scale and offset ({}), as {}",
                    d.path.display(),
                    d.linear
                        .iter()
                        .zip(&d.bands)
                        .filter_map(|(l, b)| l.map(|(s, o)| format!("band {b}: x {s} {o:+}")))
                        .collect::<Vec<_>>()
                        .join(", "),
                    ScenePair::scale_name(d.scale)
                ));
            }
        }
        Ok(ScenePair {
            before: before_date,
            after: after_date,
            width,
            height,
            geo_transform: gt,
            projection,
            roles,
            notes,
            warped,
        })
    }

    /// Another handle on the same pair, for a second reader thread (a GDAL dataset must not be
    /// used from two threads at once). The original keeps ownership of any warped copy.
    ///
    /// # Errors
    /// [`Error::Open`] when a file cannot be opened again.
    pub fn try_clone(&self) -> Result<ScenePair> {
        Ok(ScenePair {
            before: self.before.reopen()?,
            after: self.after.reopen()?,
            width: self.width,
            height: self.height,
            geo_transform: self.geo_transform,
            projection: self.projection.clone(),
            roles: self.roles,
            notes: self.notes.clone(),
            warped: None,
        })
    }

    /// Number of bands used per date.
    pub fn bands(&self) -> usize {
        self.before.bands.len()
    }

    /// Paths of the two dates.
    pub fn paths(&self) -> (&Path, &Path) {
        (&self.before.path, &self.after.path)
    }

    /// Ground size of a pixel in metres, when the georeference says: the geometric mean of its
    /// two sides (projected CRS in its linear unit, or geographic degrees converted at the
    /// scene's central latitude, where a degree of latitude is longer than one of longitude).
    pub fn pixel_size_m(&self) -> Option<f64> {
        ground_pixel_m(&self.geo_transform?, &self.projection, self.height)
    }

    /// The band value that stands for reflectance 1.0, from the before image's data type:
    /// 255 for 8-bit products (display-stretched), 10000 for 16/32-bit integers (the
    /// reflectance x 10000 convention of GF, ZY, Sentinel-2 and Landsat surface products), 1 for
    /// floating point (reflectance as is).
    pub fn value_scale(&self) -> f64 {
        self.before.value_scale()
    }

    /// [`ScenePair::value_scale`] of the after image (the cloud and shadow screens read it).
    pub fn after_value_scale(&self) -> f64 {
        self.after.value_scale()
    }

    /// The convention a [`ScenePair::value_scale`] stands for, in words.
    pub fn scale_name(scale: f64) -> &'static str {
        values::scale_name(scale)
    }

    /// Read each date on the scale its values show ([`values::settled_scale`]: over windows
    /// spread over the scene), where its data type said reflectance and its bands have no
    /// scale of their own. Two dates their data types put on one scale are judged together, so
    /// that one source's pair stays on one scale (judged alone, a dark before date fell under
    /// 255 while its after date did not). Returns a note for each date whose scale changed.
    pub fn settle_scales(&mut self, [before, after]: [ValueRange; 2]) -> Vec<String> {
        let joint = self.before.scale == self.after.scale;
        let ranges = if joint {
            [before.joined(after); 2]
        } else {
            [before, after]
        };
        let nir = self.roles.nir.is_some();
        let mut notes = Vec::new();
        for (d, range) in [&mut self.before, &mut self.after].into_iter().zip(ranges) {
            if d.linear.iter().any(Option::is_some) {
                continue;
            }
            let Some((scale, why)) = values::settled_scale(d.scale, nir, range) else {
                continue;
            };
            notes.push(format!(
                "{}: {why}{}: read as {}, not {}{}; give reflectance x 10000 (or float reflectance) for them",
                d.path.display(),
                if joint { ", the two dates together" } else { "" },
                values::scale_name(scale),
                values::scale_name(d.scale),
                if values::is_reflectance(scale) {
                    ""
                } else {
                    ", so without the cloud and shadow screens"
                },
            ));
            d.scale = scale;
        }
        notes
    }

    /// Read `w` (in overlap pixel coordinates) from both dates.
    ///
    /// # Errors
    /// [`Error::Open`] naming the file when GDAL fails to read.
    pub fn read(&self, w: Window) -> Result<TileInput> {
        self.read_into(w, [Vec::new(), Vec::new()])
    }

    /// One date of `w` into buffers taken from `pool`: its bands (band-sequential f32) and its
    /// validity (1 where the date has data). Reading each date on its own thread, through its
    /// own dataset handle, tile after tile, lets GDAL's block cache serve the halo blocks the
    /// previous tile decoded (readers taking whole tiles in turn decoded them twice).
    ///
    /// # Errors
    /// As [`ScenePair::read`].
    pub fn read_date_pooled(&self, date: DateOf, w: Window, pool: &BufferPool) -> Result<DateTile> {
        let d = self.date(date);
        let mut valid = pool.take_valid();
        valid.clear();
        valid.resize(w.pixels(), 1);
        let data = read_date(d, w, self.size(), &mut valid, pool.take())?;
        Ok(DateTile { data, valid })
    }

    /// What a stored 0 reads as in each band of `date` (its offset where the band is read
    /// through its own scale and offset), for counting undeclared fill
    /// ([`super::fill::ZeroFill`]); None when the file declares nodata or blocks of 0 are read
    /// as data (`zero_is_data`).
    pub fn fill_values(&self, date: DateOf) -> Option<Vec<f32>> {
        self.date(date).fill.clone()
    }

    /// The block grid of one date's file, in overlap pixel coordinates: the block size and the
    /// overlap's offset in the file (a block's first pixel is at a multiple of the block size
    /// minus the offset).
    pub fn blocking(&self, date: DateOf) -> ((usize, usize), (usize, usize)) {
        let d = self.date(date);
        let block = d
            .bands
            .first()
            .and_then(|&b| d.ds.rasterband(b).ok())
            .map_or((256, 256), |b| b.block_size());
        ((block.0.max(1), block.1.max(1)), d.offset)
    }

    fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn date(&self, date: DateOf) -> &DateImage {
        match date {
            DateOf::Before => &self.before,
            DateOf::After => &self.after,
        }
    }

    /// [`ScenePair::read`] into the buffers `[before, after]` (whatever they held is replaced).
    fn read_into(&self, w: Window, [before, after]: [Vec<f32>; 2]) -> Result<TileInput> {
        let n = w.pixels();
        let bands = self.bands();
        let mut valid = vec![1u32; n];
        let before = read_date(&self.before, w, self.size(), &mut valid, before)?;
        let after = read_date(&self.after, w, self.size(), &mut valid, after)?;
        Ok(TileInput {
            width: w.width,
            height: w.height,
            bands,
            before,
            after,
            valid,
        })
    }
}

/// Two more handles on a pair, one per date, reading a window's two dates side by side. The
/// statistics pass reads its windows through them and the detection stream then takes them
/// over as its two date readers, so the blocks the statistics decoded are still in their
/// caches.
pub struct DateReaders {
    handles: [ScenePair; 2],
}

impl DateReaders {
    /// The readers of `pair` (opened without GDAL's own decoding threads: the two readers
    /// already decode side by side).
    ///
    /// # Errors
    /// [`Error::Open`] when a file cannot be opened again.
    pub fn open(pair: &ScenePair) -> Result<Self> {
        let _ = gdal::config::set_thread_local_config_option("GDAL_NUM_THREADS", "1");
        let handles = pair.try_clone().and_then(|b| Ok([b, pair.try_clone()?]));
        let _ = gdal::config::clear_thread_local_config_option("GDAL_NUM_THREADS");
        Ok(DateReaders { handles: handles? })
    }

    /// Both dates of `w` (overlap coordinates), as [`ScenePair::read`] gives them; the after
    /// date on a second thread.
    ///
    /// # Errors
    /// As [`ScenePair::read`].
    pub fn read(&mut self, w: Window) -> Result<TileInput> {
        let pool = BufferPool::default();
        let [before, after] = &mut self.handles;
        let bands = before.bands();
        let (b, a) = std::thread::scope(|s| {
            let pool = &pool;
            let after: &mut ScenePair = after;
            let other = s.spawn(move || after.read_date_pooled(DateOf::After, w, pool));
            let b = before.read_date_pooled(DateOf::Before, w, pool);
            (b, other.join())
        });
        let a = a.unwrap_or_else(|_| {
            Err(Error::Open {
                path: self.handles[1].after.path.clone(),
                reason: "the reading thread failed".into(),
            })
        });
        Ok(DateTile::pair(w.width, w.height, bands, b?, a?, &pool))
    }

    /// The pair read (for its size, bands and paths).
    pub fn pair(&self) -> &ScenePair {
        &self.handles[0]
    }

    /// The handles: the first has read the before date of every window so far, the second
    /// the after date.
    pub fn into_handles(self) -> [ScenePair; 2] {
        self.handles
    }
}

/// Which date of a pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DateOf {
    Before,
    After,
}

/// One date of a window: bands band-sequential as f32, and 1 where the date has data.
pub struct DateTile {
    pub data: Vec<f32>,
    pub valid: Vec<u32>,
}

impl DateTile {
    /// The tile of a `width` x `height` window from its two dates: valid where both are.
    pub fn pair(
        width: usize,
        height: usize,
        bands: usize,
        before: DateTile,
        after: DateTile,
        pool: &BufferPool,
    ) -> TileInput {
        let mut valid = before.valid;
        for (v, a) in valid.iter_mut().zip(&after.valid) {
            *v &= *a;
        }
        pool.give_valid(after.valid);
        TileInput {
            width,
            height,
            bands,
            before: before.data,
            after: after.data,
            valid,
        }
    }
}

/// Of four bands, the one a 4-band product would have as NIR (the 4th when no band has a role;
/// the one left when blue, green and red are marked) is left out when, in both dates, it
/// holds nothing but 0 and full-scale values ([`mask_like`]): an RGBA image's unmarked alpha
/// band or a padding band, read as NIR, ran the conversion evidence on a constant and gave a
/// wrong mask with no error. Without it the image is R, G, B ([`assume_roles`]).
fn drop_mask_band(
    (choice_b, ds_b, before): (&mut Vec<BandChoice>, &Dataset, &Path),
    (choice_a, ds_a): (&mut Vec<BandChoice>, &Dataset),
    notes: &mut Vec<String>,
) {
    if choice_b.len() != 4 || choice_a.len() != 4 {
        return;
    }
    let known = roles_of(choice_b);
    let candidate = if known == BandRoles::NONE {
        Some(3)
    } else if known.nir.is_none()
        && [known.blue, known.green, known.red]
            .iter()
            .all(Option::is_some)
    {
        choice_b.iter().position(|c| c.role.is_none())
    } else {
        None
    };
    let Some(k) = candidate else {
        return;
    };
    if !(mask_like(ds_b, choice_b[k].number) && mask_like(ds_a, choice_a[k].number)) {
        return;
    }
    let number = choice_b[k].number;
    choice_b.remove(k);
    choice_a.remove(k);
    notes.push(format!(
        "{}: band {number} has no colour interpretation and holds only 0 and full-scale values (255 or 65535) in both dates: a transparency mask or padding, not near infrared; left out (mark it as alpha, e.g. gdal_edit.py -colorinterp_{number} alpha FILE, so that transparent pixels are nodata, or name it with --bands if it is NIR)",
        before.display()
    ));
}

/// Pair the after image's bands with the before image's by the roles both files declare
/// ([`pair_by_role`]): a file whose bands stand in another order is read in the before image's
/// order (band 1 of an R, G, B, NIR file compared with band 3 of a B, G, R, NIR one was change on
/// every pixel), with a note; a before image without roles takes the after image's.
///
/// # Errors
/// [`Error::BandRoles`] when the files declare different roles for bands that would be compared.
fn pair_bands(
    (choice_b, before): (&mut [BandChoice], &Path),
    (choice_a, after): (&mut Vec<BandChoice>, &Path),
    notes: &mut Vec<String>,
) -> Result<()> {
    match pair_by_role(choice_b, choice_a) {
        Pairing::InOrder => {}
        Pairing::Reordered(paired) => {
            notes.push(format!(
                "{}: its bands declare the roles {} and {}'s {}: compared by role, the after image's bands {} with the before image's {}",
                after.display(),
                role_list(choice_a),
                before.display(),
                role_list(choice_b),
                numbers(&paired),
                numbers(choice_b),
            ));
            *choice_a = paired;
        }
        Pairing::Conflict {
            position,
            before: rb,
            after: ra,
        } => {
            return Err(Error::BandRoles {
                before: before.into(),
                after: after.into(),
                what: format!(
                    "the two dates declare different bands (before {}, after {}): band {} of the before image is {} where the after image has {}",
                    role_list(choice_b),
                    role_list(choice_a),
                    choice_b[position].number,
                    rb.short(),
                    ra.short()
                ),
            });
        }
    }
    if choice_b.iter().all(|c| c.role.is_none()) && choice_a.iter().any(|c| c.role.is_some()) {
        for (b, a) in choice_b.iter_mut().zip(choice_a.iter()) {
            b.role = a.role;
        }
        notes.push(format!(
            "{}: bands carry no colour interpretation; taking {}'s ({})",
            before.display(),
            after.display(),
            role_list(choice_b)
        ));
    }
    Ok(())
}

/// Band numbers as a comma list.
fn numbers(choice: &[BandChoice]) -> String {
    choice
        .iter()
        .map(|c| c.number.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Side (px) of the windows [`mask_like`] reads, on a 5 x 5 grid over the image.
const MASK_PROBE_PX: usize = 16;

/// Whether band `n` of `ds` holds nothing but 0, 255 and 65535 in 25 small windows spread over
/// the image (at least 256 pixels read): the values of a transparency mask or a padding band,
/// never all of a real image band's. False when it cannot tell (a tiny image, a read error).
fn mask_like(ds: &Dataset, n: usize) -> bool {
    let Ok(band) = ds.rasterband(n) else {
        return false;
    };
    let (w, h) = ds.raster_size();
    let Some(mut windows) = probe_windows(w, h) else {
        return false;
    };
    windows.all(|(x, y, side)| {
        band.read_as::<f64>((x as isize, y as isize), (side, side), (side, side), None)
            .is_ok_and(|b| {
                b.data()
                    .iter()
                    .all(|&v| v == 0.0 || v == 255.0 || v == 65535.0)
            })
    })
}

/// The 25 windows `(x, y, side)` the probes read, on a 5 x 5 grid over a `w` x `h` image,
/// corners and edges included; None when they would read under 256 pixels (too few to tell).
fn probe_windows(w: usize, h: usize) -> Option<impl Iterator<Item = (usize, usize, usize)>> {
    let side = MASK_PROBE_PX.min(w).min(h);
    (side * side * 25 >= 256)
        .then(|| (0..25).map(move |k| ((w - side) * (k % 5) / 4, (h - side) * (k / 5) / 4, side)))
}

/// When no role is known: 4 bands are taken as B, G, R, NIR (the order of GF-2, ZY-3, Planet and
/// most Chinese 4-band products) and 3 bands as R, G, B, with a note; otherwise roles stay
/// unknown (the building index then uses every band).
fn assume_roles(choice: &mut [BandChoice], path: &Path, notes: &mut Vec<String>) {
    let order: &[Role] = match choice.len() {
        4 => &[Role::Blue, Role::Green, Role::Red, Role::Nir],
        3 => &[Role::Red, Role::Green, Role::Blue],
        _ => return,
    };
    for (c, r) in choice.iter_mut().zip(order) {
        c.role = Some(*r);
    }
    notes.push(format!(
        "{}: bands carry no colour interpretation; assuming {} (override with --bands)",
        path.display(),
        if order.len() == 4 {
            "B,G,R,NIR"
        } else {
            "R,G,B"
        }
    ));
}

/// Image and validity buffers of finished tiles, for the next tiles to read into. A tile's
/// bands are tens of MB, above what glibc keeps in its heap (32 MB at most): freshly
/// allocated, each would be mapped and zeroed page by page again, a fifth of a run's time.
#[derive(Clone)]
pub struct BufferPool {
    images: (Sender<Vec<f32>>, Receiver<Vec<f32>>),
    valid: (Sender<Vec<u32>>, Receiver<Vec<u32>>),
}

use crossbeam_channel::{Receiver, Sender};

impl Default for BufferPool {
    /// A pool keeping up to eight image and validity buffers: as many as the tiles in flight
    /// hold at once (each date's reader, its queue and the kernels), so that none is freed and
    /// mapped again, and memory stays at what the pipeline needs.
    fn default() -> Self {
        BufferPool {
            images: crossbeam_channel::bounded(8),
            valid: crossbeam_channel::bounded(8),
        }
    }
}

impl BufferPool {
    /// A kept image buffer, or a new empty one.
    pub fn take(&self) -> Vec<f32> {
        self.images.1.try_recv().unwrap_or_default()
    }

    /// Keep `buf` for a later tile (dropped when the pool is full).
    pub fn give(&self, buf: Vec<f32>) {
        let _ = self.images.0.try_send(buf);
    }

    /// A kept validity buffer, or a new empty one.
    pub fn take_valid(&self) -> Vec<u32> {
        self.valid.1.try_recv().unwrap_or_default()
    }

    /// Keep a validity buffer for a later tile.
    pub fn give_valid(&self, buf: Vec<u32>) {
        let _ = self.valid.0.try_send(buf);
    }
}

impl DateImage {
    /// The value of reflectance 1.0 in the user's file.
    fn value_scale(&self) -> f64 {
        self.scale
    }
}

/// Ground size of a pixel of an image (geotransform `gt`, CRS `projection`, `height` rows) in
/// metres: the geometric mean of its two sides, in a projected CRS's linear unit or from
/// degrees at the image's central latitude; `None` without a usable CRS.
pub fn ground_pixel_m(gt: &[f64; 6], projection: &str, height: usize) -> Option<f64> {
    let srs = gdal::spatial_ref::SpatialRef::from_wkt(projection).ok()?;
    if srs.is_projected() {
        Some((gt[1] * gt[5]).abs().sqrt() * srs.linear_units())
    } else if srs.is_geographic() {
        let lat = gt[3] + gt[5] * height as f64 / 2.0;
        Some(degree_pixel_m(gt[1], gt[5], lat))
    } else {
        None
    }
}

/// The ground size (geometric mean of the sides) of a pixel of `dx` x `dy` degrees at latitude
/// `lat_deg`, by the lengths of a degree on the WGS 84 / CGCS2000 ellipsoid (series to 1 cm).
pub fn degree_pixel_m(dx: f64, dy: f64, lat_deg: f64) -> f64 {
    let p = lat_deg.to_radians();
    let per_lat = 111_132.954 - 559.822 * (2.0 * p).cos() + 1.175 * (4.0 * p).cos();
    let per_lon = 111_412.84 * p.cos() - 93.5 * (3.0 * p).cos() + 0.118 * (5.0 * p).cos();
    ((dx * per_lon) * (dy * per_lat)).abs().sqrt()
}

/// A band's own scale and offset (GDAL's: raw x scale + offset = physical value); None for a
/// band without them (or with the identity).
type Linear = Option<(f64, f64)>;

/// Every band's [`Linear`].
fn linear_of(ds: &Dataset) -> Vec<Linear> {
    (1..=ds.raster_count())
        .map(|b| {
            let band = ds.rasterband(b).ok()?;
            let (s, o) = (band.scale().unwrap_or(1.0), band.offset().unwrap_or(0.0));
            (s.is_finite() && o.is_finite() && s != 0.0 && (s != 1.0 || o != 0.0)).then_some((s, o))
        })
        .collect()
}

/// The scale and offset to apply to the selected `bands` and the value of reflectance 1.0 after
/// them. A small scale (Sentinel-2 L2A 0.0001 with offset -0.1, Landsat Collection 2 0.0000275
/// with -0.2) makes the values reflectance itself (1.0); a scale near 1 with an offset
/// (-1000 for Sentinel-2 processing baseline 04 kept in digital numbers) keeps the file's
/// convention.
///
/// # Errors
/// [`Error::Open`] when some selected bands have a scale and offset and others do not: their
/// values would not be on one scale.
fn applied_linear(
    path: &Path,
    bands: &[usize],
    all: &[Linear],
    scale: f64,
) -> Result<(Vec<Linear>, f64)> {
    let linear: Vec<Linear> = bands
        .iter()
        .map(|&b| all.get(b - 1).copied().flatten())
        .collect();
    let with: Vec<usize> = bands
        .iter()
        .zip(&linear)
        .filter(|(_, l)| l.is_some())
        .map(|(b, _)| *b)
        .collect();
    if with.is_empty() {
        return Ok((linear, scale));
    }
    let to_reflectance = |l: &Linear| l.is_some_and(|(s, _)| s.abs() < 0.01);
    let small = linear.iter().filter(|l| to_reflectance(l)).count();
    if with.len() < bands.len() || (small > 0 && small < bands.len()) {
        return Err(Error::Open {
            path: path.into(),
            reason: format!(
                "bands {with:?} have their own scale/offset and the other selected bands ({bands:?}) do not, or not alike: their values are not on one scale; set the same kind on every band (gdal_edit.py -scale S -offset O) or unset them"
            ),
        });
    }
    Ok((linear, if small > 0 { 1.0 } else { scale }))
}

/// The value of reflectance 1.0 by the data type of band `band` of `ds`.
fn scale_of(ds: &Dataset, band: usize) -> f64 {
    ds.rasterband(band)
        .map_or(10_000.0, |b| value_scale(b.band_type()))
}

/// One date of `w` (overlap coordinates) in a `scene`-sized overlap: its bands, and `valid`
/// cleared where the date is nodata, not finite or undeclared fill.
fn read_date(
    d: &DateImage,
    w: Window,
    scene: (usize, usize),
    valid: &mut [u32],
    buf: Vec<f32>,
) -> Result<Vec<f32>> {
    let n = w.pixels();
    let err = |e: gdal::errors::GdalError| Error::Open {
        path: d.path.clone(),
        reason: e.to_string(),
    };
    let origin = ((d.offset.0 + w.x) as isize, (d.offset.1 + w.y) as isize);
    let size = (w.width, w.height);
    let data = read_values(d, w, buf)?;
    if let Some(fill) = &d.fill {
        mask_fill_exact(d, fill, w, scene, &data, valid)?;
    }
    let mut mask = Vec::new();
    for (k, (&b, &masked)) in d.bands.iter().zip(&d.masked).enumerate() {
        let band = d.ds.rasterband(b).map_err(err)?;
        if masked {
            mask.resize(n, 0u8);
            band.open_mask_band()
                .map_err(err)?
                .read_into_slice(origin, size, size, &mut mask, None)
                .map_err(err)?;
            for (v, m) in valid.iter_mut().zip(&mask) {
                if *m == 0 {
                    *v = 0;
                }
            }
        }
        // Integer values are always finite: the test is for floating-point images.
        if !band.band_type().is_integer() {
            for (v, x) in valid.iter_mut().zip(&data[k * n..(k + 1) * n]) {
                if !x.is_finite() {
                    *v = 0;
                }
            }
        }
    }
    Ok(data)
}

/// The bands of `w` (overlap coordinates) as band-sequential f32, through their own scale and
/// offset where they have them.
fn read_values(d: &DateImage, w: Window, buf: Vec<f32>) -> Result<Vec<f32>> {
    let origin = ((d.offset.0 + w.x) as isize, (d.offset.1 + w.y) as isize);
    let mut data =
        read_bands(&d.ds, &d.bands, origin, (w.width, w.height), buf).map_err(|reason| {
            Error::Open {
                path: d.path.clone(),
                reason,
            }
        })?;
    for (plane, l) in data.chunks_exact_mut(w.pixels().max(1)).zip(&d.linear) {
        if let Some((s, o)) = *l {
            let (s, o) = (s as f32, o as f32);
            for x in plane {
                *x = *x * s + o;
            }
        }
    }
    Ok(data)
}

/// Clear `valid` at the undeclared fill of `w` ([`fill::mask_fill`]); when a square of fill
/// may cross an edge of `w` inside the scene, the window grown by the squares' reach is read
/// too, so the answer is the one the whole scene gives.
fn mask_fill_exact(
    d: &DateImage,
    fill: &[f32],
    w: Window,
    scene: (usize, usize),
    data: &[f32],
    valid: &mut [u32],
) -> Result<()> {
    let open = fill::OpenEdges::of(w, scene);
    if !fill::mask_fill(data, fill, (w.width, w.height), valid, open) {
        return Ok(());
    }
    let g = w.grown(fill::FILL_BLOCK_PX - 1, scene);
    let more = read_values(d, g, Vec::new())?;
    let mut grown = vec![1u32; g.pixels()];
    fill::mask_fill(
        &more,
        fill,
        (g.width, g.height),
        &mut grown,
        fill::OpenEdges::default(),
    );
    let (ox, oy) = (w.x - g.x, w.y - g.y);
    for (y, row) in valid.chunks_exact_mut(w.width).enumerate() {
        let from = &grown[(oy + y) * g.width + ox..][..w.width];
        for (v, &f) in row.iter_mut().zip(from) {
            *v &= f;
        }
    }
    Ok(())
}

/// Read `bands` of a window as band-sequential f32 in one dataset-level RasterIO call: GDAL
/// then decodes each (pixel-interleaved) block once, with its multi-threaded decoder, instead of
/// once per band through the block cache.
fn read_bands(
    ds: &Dataset,
    bands: &[usize],
    origin: (isize, isize),
    size: (usize, usize),
    mut data: Vec<f32>,
) -> std::result::Result<Vec<f32>, String> {
    let n = size.0 * size.1;
    let len = n * bands.len();
    // GDAL writes every value, so the buffer is not zeroed first: the first tiles would
    // otherwise write every page of their fresh buffers twice (a tenth of a short run's time).
    data.clear();
    data.reserve_exact(len);
    let band_list: Vec<i32> = bands.iter().map(|&b| b as i32).collect();
    let to_i32 = |v: usize| i32::try_from(v).map_err(|_| format!("window of {v} px is too large"));
    let (x, y) = (origin.0 as i32, origin.1 as i32);
    let (w, h) = (to_i32(size.0)?, to_i32(size.1)?);
    // SAFETY: `data` has room for exactly `bands.len()` planes of `w * h` f32 laid out with the
    // pixel, line and band spacings passed; `band_list` outlives the call; the dataset handle is
    // valid for the lifetime of `ds`, which is only used from this thread.
    let rv = unsafe {
        gdal_sys::GDALDatasetRasterIOEx(
            ds.c_dataset(),
            gdal_sys::GDALRWFlag::GF_Read,
            x,
            y,
            w,
            h,
            data.spare_capacity_mut().as_mut_ptr().cast(),
            w,
            h,
            gdal_sys::GDALDataType::GDT_Float32,
            band_list.len() as i32,
            band_list.as_ptr().cast_mut(),
            4,
            4 * size.0 as i64,
            4 * n as i64,
            std::ptr::null_mut(),
        )
    };
    if rv != gdal_sys::CPLErr::CE_None {
        let msg = super::gdal_last_error().trim().to_string();
        if !msg.is_empty() {
            return Err(msg);
        }
        // GDAL's multi-threaded decoder reports on its worker's thread: read the first band of
        // the window again on this thread, from a handle opened without worker threads.
        let _ = gdal::config::set_thread_local_config_option("GDAL_NUM_THREADS", "1");
        let again =
            Dataset::open(gdal::Metadata::description(ds).unwrap_or_default()).and_then(|d| {
                d.rasterband(bands.first().copied().unwrap_or(1))
                    .and_then(|b| b.read_as::<f32>(origin, size, size, None).map(|_| ()))
            });
        let _ = gdal::config::clear_thread_local_config_option("GDAL_NUM_THREADS");
        return Err(match again {
            Err(gdal::errors::GdalError::CplError { msg, .. }) if !msg.trim().is_empty() => msg,
            _ => format!(
                "GDAL failed to read the window of {w}x{h} px at ({x}, {y}) without a reason (a truncated or corrupt file? gdalinfo -checksum shows where)"
            ),
        });
    }
    // SAFETY: GDAL wrote all `len` values (the call succeeded for the whole window).
    unsafe { data.set_len(len) };
    Ok(data)
}

/// Why the two grids differ, or None when the after image can be read on the before grid by a
/// whole-pixel offset.
///
/// A CRS written differently in the two files (an EPSG code and a PROJ string of the same
/// projection) that places the grid at the same coordinates is one CRS, with a note.
fn grid_mismatch(
    (b, path_b): (&Dataset, &Path),
    (a, path_a): (&Dataset, &Path),
    notes: &mut Vec<String>,
) -> Option<String> {
    match (geo(b), geo(a)) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => {
            Some("one image is georeferenced and the other is not".into())
        }
        (Some(gb), Some(ga)) => {
            use super::crs::{CrsMatch, compare};
            match compare(&b.projection(), &a.projection(), gb, b.raster_size()) {
                CrsMatch::Same => {}
                CrsMatch::Equivalent { shift_px } => notes.push(format!(
                    "{} and {}: their coordinate reference systems are written differently but place the before image's corners and centre within {shift_px:.1e} px of each other: read as one",
                    path_b.display(),
                    path_a.display()
                )),
                CrsMatch::Differ { first, second } => {
                    return Some(format!(
                        "coordinate reference systems differ ({first} and {second})"
                    ));
                }
            }
            if gb[2] != 0.0 || gb[4] != 0.0 || ga[2] != 0.0 || ga[4] != 0.0 {
                return Some("a geotransform is rotated".into());
            }
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1e-300);
            if !close(gb[1], ga[1]) || !close(gb[5], ga[5]) {
                return Some(format!(
                    "pixel sizes differ ({} x {} vs {} x {})",
                    gb[1], gb[5], ga[1], ga[5]
                ));
            }
            let dx = (ga[0] - gb[0]) / gb[1];
            let dy = (ga[3] - gb[3]) / gb[5];
            if (dx - dx.round()).abs() > 1e-3 || (dy - dy.round()).abs() > 1e-3 {
                return Some(format!(
                    "grids are offset by a fraction of a pixel ({dx:.3}, {dy:.3} px)"
                ));
            }
            None
        }
    }
}

/// Where two grid-aligned images overlap: its size in pixels, its first pixel in each file,
/// and its geotransform (None for two images without georeference on the same pixel grid).
struct Overlap {
    width: usize,
    height: usize,
    offset_before: (usize, usize),
    offset_after: (usize, usize),
    geo_transform: Option<[f64; 6]>,
}

/// The overlap of two grid-aligned images: size, offsets in each, and its geotransform.
fn overlap(b: &Dataset, a: &Dataset, pb: &Path, pa: &Path) -> Result<Overlap> {
    let (wb, hb) = b.raster_size();
    let (wa, ha) = a.raster_size();
    let Some(gb) = geo(b) else {
        if (wb, hb) != (wa, ha) {
            return Err(Error::Ungeoreferenced {
                before: pb.into(),
                after: pa.into(),
                what: format!("pixel grids differ ({wb}x{hb} vs {wa}x{ha})"),
            });
        }
        return Ok(Overlap {
            width: wb,
            height: hb,
            offset_before: (0, 0),
            offset_after: (0, 0),
            geo_transform: None,
        });
    };
    let ga = geo(a).expect("grid_mismatch guarantees both are georeferenced");
    // Offset of the after image's origin in before pixels (whole pixels, checked before).
    let dx = ((ga[0] - gb[0]) / gb[1]).round() as i64;
    let dy = ((ga[3] - gb[3]) / gb[5]).round() as i64;
    let x0 = dx.max(0);
    let y0 = dy.max(0);
    let x1 = (wb as i64).min(dx + wa as i64);
    let y1 = (hb as i64).min(dy + ha as i64);
    if x1 <= x0 || y1 <= y0 {
        return Err(Error::NoOverlap {
            before: pb.into(),
            after: pa.into(),
        });
    }
    let mut gt = gb;
    gt[0] = gb[0] + x0 as f64 * gb[1];
    gt[3] = gb[3] + y0 as f64 * gb[5];
    Ok(Overlap {
        width: (x1 - x0) as usize,
        height: (y1 - y0) as usize,
        offset_before: (x0 as usize, y0 as usize),
        offset_after: ((x0 - dx) as usize, (y0 - dy) as usize),
        geo_transform: Some(gt),
    })
}

/// Warp `src` onto the grid of `grid` into a Float32 GeoTIFF at `path` (NaN outside `src`).
fn warp_onto(src: &Dataset, grid: &Dataset, path: &Path) -> std::result::Result<Dataset, String> {
    let gt = geo(grid).ok_or("the before image has no georeference to warp onto")?;
    if geo(src).is_none() {
        return Err("the after image has no georeference to warp from".into());
    }
    let (w, h) = grid.raster_size();
    let drv = gdal::DriverManager::get_driver_by_name("GTiff").map_err(|e| e.to_string())?;
    let opts = gdal::raster::RasterCreationOptions::from_iter([
        "TILED=YES",
        "COMPRESS=ZSTD",
        "BIGTIFF=IF_SAFER",
    ]);
    let mut dst = drv
        .create_with_band_type_with_options::<f32, _>(path, w, h, src.raster_count(), &opts)
        .map_err(|e| e.to_string())?;
    dst.set_geo_transform(&gt).map_err(|e| e.to_string())?;
    dst.set_projection(&grid.projection())
        .map_err(|e| e.to_string())?;
    for b in 1..=src.raster_count() {
        let mut band = dst.rasterband(b).map_err(|e| e.to_string())?;
        band.set_no_data_value(Some(f64::NAN))
            .map_err(|e| e.to_string())?;
        band.fill(f64::NAN, None).map_err(|e| e.to_string())?;
        if let Ok(sb) = src.rasterband(b) {
            let _ = band.set_color_interpretation(sb.color_interpretation());
        }
    }
    gdal::raster::reproject(src, &dst).map_err(|e| e.to_string())?;
    dst.flush_cache().map_err(|e| e.to_string())?;
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degree_pixels_are_measured_on_both_sides() {
        // At the equator a degree of longitude is 111.32 km, of latitude 110.57 km.
        let d = 1.0 / 111_320.0;
        assert!((degree_pixel_m(d, -d, 0.0) - (110_574.0f64 / 111_320.0).sqrt()).abs() < 1e-3);
        // At 31.7° N a square-degree pixel is 0.744 m wide and 0.887 m tall: 0.812 m.
        let g = degree_pixel_m(0.000_007_85, -0.000_007_85, 31.7);
        assert!((g - (0.7437f64 * 0.8706).sqrt()).abs() < 2e-3, "{g}");
    }

    #[test]
    fn band_scales_apply_alike_or_not_at_all() {
        let p = Path::new("x.tif");
        let s2 = Some((0.0001, -0.1));
        // Small scales: the values become reflectance (1.0).
        assert_eq!(
            applied_linear(p, &[1, 2], &[s2, s2, None], 10_000.0).unwrap(),
            (vec![s2, s2], 1.0)
        );
        // Digital numbers with an offset keep the file's convention.
        let pb04 = Some((1.0, -1000.0));
        assert_eq!(
            applied_linear(p, &[2], &[None, pb04], 10_000.0).unwrap(),
            (vec![pb04], 10_000.0)
        );
        // None selected: as before.
        assert_eq!(
            applied_linear(p, &[3], &[s2, s2, None], 10_000.0).unwrap(),
            (vec![None], 10_000.0)
        );
        // Some bands with, some without, or of two kinds: refused, naming the file.
        for all in [[s2, None], [s2, pb04]] {
            let e = applied_linear(p, &[1, 2], &all, 10_000.0).unwrap_err();
            assert!(
                e.to_string().contains("x.tif") && e.to_string().contains("not on one scale"),
                "{e}"
            );
        }
    }

    #[test]
    fn band_descriptions_name_roles() {
        for (d, r) in [
            ("NIR", Some(Role::Nir)),
            ("Near Infrared", Some(Role::Nir)),
            ("B4 (nir)", Some(Role::Nir)),
            ("Red", Some(Role::Red)),
            ("green band", Some(Role::Green)),
            ("Blue", Some(Role::Blue)),
            ("Red Edge 1", None),
            ("", None),
            ("Band 1", None),
            ("red green", None),
            ("SWIR1", Some(Role::Swir)),
            ("SWIR 1", Some(Role::Swir)),
            ("Short-wave infrared 1", Some(Role::Swir)),
            ("SWIR 2", None),
            ("swir2", None),
        ] {
            assert_eq!(role_of_description(d), r, "{d:?}");
        }
    }
}
