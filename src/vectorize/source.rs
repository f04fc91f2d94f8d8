//! Reading a mask raster (and an optional evidence raster on the same grid) as rows of
//! [`MaskTile`]s through GDAL, with the rule that decides which pixels are foreground.

use super::tile::MaskTile;
use crate::error::{Error, Result};
use crate::raster::grid::{TileGrid, Window};
use gdal::Dataset;
use gdal::raster::GdalDataType;
use std::path::{Path, PathBuf};

/// Which pixel values are foreground.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Foreground {
    /// Any value other than 0 and nodata (integer masks; tuban's change.tif).
    NonZero,
    /// Exactly this value.
    Value(f64),
    /// This value or more (probability or score rasters, e.g. a deep model's output).
    AtLeast(f64),
    /// Each value `v` (1..=31) whose bit `1 << v` is set, on its own (a class raster such as
    /// tuban's change.tif, with the classes that occur in it): regions of different values are
    /// separate polygons even where they touch. One pass per class, so classes that do not
    /// occur are best left out.
    Classes(u32),
}

/// A byte mask's foreground rule in the form the common cases take: one value (a class), or
/// all values but one or two (0, and nodata), decided by comparisons the compiler vectorizes;
/// any other rule by its 256-entry table.
enum ByteRule {
    Is(u8),
    IsNot(u8, u8),
    Table,
}

impl ByteRule {
    fn of(lut: &[u8]) -> ByteRule {
        let pick =
            |want: u8| -> Vec<u8> { (0..=255u8).filter(|&v| lut[v as usize] == want).collect() };
        match (pick(1).as_slice(), pick(0).as_slice()) {
            ([k], _) => ByteRule::Is(*k),
            (_, [a]) => ByteRule::IsNot(*a, *a),
            (_, [a, b]) => ByteRule::IsNot(*a, *b),
            _ => ByteRule::Table,
        }
    }

    /// The flags of `src` into `dst`.
    fn apply(&self, dst: &mut [u8], src: &[u8], lut: &[u8]) {
        let pairs = dst.iter_mut().zip(src);
        match *self {
            ByteRule::Is(k) => pairs.for_each(|(d, &v)| *d = u8::from(v == k)),
            ByteRule::IsNot(a, b) => {
                pairs.for_each(|(d, &v)| *d = u8::from(v != a) & u8::from(v != b))
            }
            ByteRule::Table => pairs.for_each(|(d, &v)| *d = lut[v as usize]),
        }
    }
}

/// The evidence of a tile where it is needed: in the blocks of the evidence raster that hold a
/// foreground pixel of `fg` (the tile's halo raster); elsewhere 0, which nothing reads. Changes
/// are sparse, and each class pass of a class raster reads the evidence again: decoding all of
/// it (float32, hard to compress) took longer than tracing.
fn read_evidence(
    e: &Dataset,
    core: Window,
    fg: &[u8],
) -> std::result::Result<Vec<f32>, gdal::errors::GdalError> {
    let band = e.rasterband(1)?;
    let (bw, bh) = band.block_size();
    let (bw, bh) = (bw.max(1), bh.max(1));
    let stride = core.width + 2;
    let mut ev = vec![0.0f32; core.pixels()];
    let mut buf = Vec::new();
    let (cx1, cy1) = (core.x + core.width, core.y + core.height);
    for by in (core.y / bh * bh..cy1).step_by(bh) {
        for bx in (core.x / bw * bw..cx1).step_by(bw) {
            let (x0, y0) = (bx.max(core.x), by.max(core.y));
            let (x1, y1) = ((bx + bw).min(cx1), (by + bh).min(cy1));
            let row = |y: usize| {
                let start = (y - core.y + 1) * stride + (x0 - core.x + 1);
                &fg[start..start + (x1 - x0)]
            };
            if !(y0..y1).any(|y| row(y).contains(&1)) {
                continue;
            }
            let size = (x1 - x0, y1 - y0);
            buf.resize(size.0 * size.1, 0.0f32);
            band.read_into_slice((x0 as isize, y0 as isize), size, size, &mut buf, None)?;
            for (y, src) in (y0..y1).zip(buf.chunks_exact(size.0)) {
                let start = (y - core.y) * core.width + (x0 - core.x);
                ev[start..start + size.0].copy_from_slice(src);
            }
        }
    }
    Ok(ev)
}

impl Foreground {
    #[inline]
    fn test(self, v: f64) -> bool {
        match self {
            Foreground::NonZero => v != 0.0,
            Foreground::Value(x) => v == x,
            Foreground::AtLeast(x) => v >= x,
            Foreground::Classes(set) => {
                (1.0..32.0).contains(&v) && v.fract() == 0.0 && set >> (v as u32) & 1 == 1
            }
        }
    }

    /// The single-rule passes this foreground is traced in.
    pub fn passes(self) -> Vec<Foreground> {
        match self {
            // Nothing to trace still takes one (empty) pass.
            Foreground::Classes(0) => vec![self],
            Foreground::Classes(set) => (1..32u32)
                .filter(|v| set >> v & 1 == 1)
                .map(|v| Foreground::Value(f64::from(v)))
                .collect(),
            rule => vec![rule],
        }
    }
}

/// An opened mask.
pub struct MaskSource {
    path: PathBuf,
    ds: Dataset,
    evidence: Option<(PathBuf, Dataset)>,
    rule: Foreground,
    nodata: Option<f64>,
    pub width: usize,
    pub height: usize,
    pub geo_transform: Option<[f64; 6]>,
    pub projection: String,
}

impl MaskSource {
    /// Open band 1 of `path` as a mask, and optionally `evidence` (same size) for statistics.
    ///
    /// # Errors
    /// [`Error::Open`] for unreadable files; [`Error::Param`] for a non-integer mask without an
    /// explicit rule; [`Error::GridMismatch`] when the evidence raster's size differs.
    pub fn open(path: &Path, rule: Foreground, evidence: Option<&Path>) -> Result<Self> {
        let ds = crate::raster::open_dataset(path)?;
        if ds.raster_count() == 0 {
            return Err(Error::Open {
                path: path.into(),
                reason: "not a raster (no bands)".into(),
            });
        }
        let band = ds.rasterband(1).map_err(|e| Error::Open {
            path: path.into(),
            reason: e.to_string(),
        })?;
        // An RGB photo read as a mask made one polygon over the whole scene.
        let count = ds.raster_count();
        if count > 1 && rule == Foreground::NonZero {
            return Err(Error::Param {
                name: "mask",
                reason: format!(
                    "{}: {count} bands: an image, not a class mask; polygonize reads band 1 of a mask (pass --min-value X or --value V to polygonize band 1 anyway)",
                    path.display()
                ),
            });
        }
        let float = matches!(
            band.band_type(),
            GdalDataType::Float32 | GdalDataType::Float64
        );
        if float && rule == Foreground::NonZero {
            return Err(Error::Param {
                name: "mask",
                reason: format!(
                    "{}: {} values are not a class mask; pass --min-value X (foreground: value >= X) or --value V",
                    path.display(),
                    band.band_type()
                ),
            });
        }
        let nodata = band.no_data_value();
        let (width, height) = ds.raster_size();
        let geo_transform = ds.geo_transform().ok();
        let projection = ds.projection();
        let evidence = match evidence {
            Some(p) => {
                let e = crate::raster::open_dataset(p)?;
                if e.raster_size() != (width, height) {
                    return Err(Error::GridMismatch {
                        first: path.into(),
                        second: p.into(),
                        what: format!(
                            "mask is {width}x{height}, evidence is {}x{}",
                            e.raster_size().0,
                            e.raster_size().1
                        ),
                    });
                }
                Some((p.to_path_buf(), e))
            }
            None => None,
        };
        Ok(MaskSource {
            path: path.into(),
            ds,
            evidence,
            rule,
            nodata,
            width,
            height,
            geo_transform,
            projection,
        })
    }

    /// Read the tiles of grid row `row` (cores from `grid`, each with a one-pixel halo).
    ///
    /// # Errors
    /// [`Error::Open`] naming the file when GDAL fails.
    pub fn read_row(&self, grid: &TileGrid, row: usize) -> Result<Vec<MaskTile>> {
        let mut passes = self.read_row_passes(grid, row, &[self.rule])?;
        Ok(passes.pop().unwrap_or_default())
    }

    /// The tiles of grid row `row` for each of `rules` (the passes of a class raster): the
    /// mask and the evidence are read and decoded once for all of them.
    ///
    /// # Errors
    /// [`Error::Open`] naming the file when GDAL fails.
    pub fn read_row_passes(
        &self,
        grid: &TileGrid,
        row: usize,
        rules: &[Foreground],
    ) -> Result<Vec<Vec<MaskTile>>> {
        let (cols, _) = grid.dims();
        let mut passes: Vec<Vec<MaskTile>> = rules.iter().map(|_| Vec::new()).collect();
        for c in 0..cols {
            for (pass, tile) in passes
                .iter_mut()
                .zip(self.read_tiles(grid.tile(c, row).core, rules)?)
            {
                pass.push(tile);
            }
        }
        Ok(passes)
    }

    /// The tile of `core` (with a one-pixel halo) for each of `rules`.
    fn read_tiles(&self, core: Window, rules: &[Foreground]) -> Result<Vec<MaskTile>> {
        let err = |p: &Path, e: gdal::errors::GdalError| Error::Open {
            path: p.into(),
            reason: e.to_string(),
        };
        // The halo window, clipped to the scene; outside stays background.
        let x0 = core.x.saturating_sub(1);
        let y0 = core.y.saturating_sub(1);
        let x1 = (core.x + core.width + 1).min(self.width);
        let y1 = (core.y + core.height + 1).min(self.height);
        let (rw, rh) = (x1 - x0, y1 - y0);
        let band = self.ds.rasterband(1).map_err(|e| err(&self.path, e))?;
        let window = ((x0 as isize, y0 as isize), (rw, rh));
        let stride = core.width + 2;
        // Offset of the read window inside the halo raster (0 or 1 on each side).
        let (ox, oy) = (x0 + 1 - core.x, y0 + 1 - core.y);
        let is_fg = |rule: Foreground, v: f64| {
            let is_nodata = self
                .nodata
                .is_some_and(|nd| v == nd || (nd.is_nan() && v.is_nan()));
            !is_nodata && !v.is_nan() && rule.test(v)
        };
        let mut fgs: Vec<Vec<u8>> = rules
            .iter()
            .map(|_| vec![0u8; stride * (core.height + 2)])
            .collect();
        // Byte masks (the common case) are read as bytes and decided by a table; everything
        // else as f64, exact for every integer type up to 32 bits.
        if band.band_type() == GdalDataType::UInt8 {
            thread_local! {
                /// The reading thread's byte buffer, reused tile after tile (GDAL writes
                /// every byte of it).
                static BYTES: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
            }
            let mut b = BYTES.take();
            b.resize(rw * rh, 0);
            band.read_into_slice(window.0, window.1, window.1, &mut b, None)
                .map_err(|e| err(&self.path, e))?;
            for (fg, &rule) in fgs.iter_mut().zip(rules) {
                let lut: Vec<u8> = (0..=255u8)
                    .map(|v| u8::from(is_fg(rule, f64::from(v))))
                    .collect();
                let decide = ByteRule::of(&lut);
                for y in 0..rh {
                    let dst = &mut fg[(y + oy) * stride + ox..(y + oy) * stride + ox + rw];
                    decide.apply(dst, &b[y * rw..(y + 1) * rw], &lut);
                }
            }
            BYTES.set(b);
        } else {
            let mut v = vec![0.0f64; rw * rh];
            band.read_into_slice(window.0, window.1, window.1, &mut v, None)
                .map_err(|e| err(&self.path, e))?;
            for (fg, &rule) in fgs.iter_mut().zip(rules) {
                for y in 0..rh {
                    for x in 0..rw {
                        if is_fg(rule, v[y * rw + x]) {
                            fg[(y + oy) * stride + x + ox] = 1;
                        }
                    }
                }
            }
        }
        // The evidence once, where any pass has foreground.
        let evidence = match &self.evidence {
            Some((p, e)) => {
                let any = match fgs.as_slice() {
                    [one] => std::borrow::Cow::Borrowed(one),
                    all => {
                        let mut any = vec![0u8; stride * (core.height + 2)];
                        for fg in all {
                            for (a, &f) in any.iter_mut().zip(fg) {
                                *a |= f;
                            }
                        }
                        std::borrow::Cow::Owned(any)
                    }
                };
                Some(std::sync::Arc::<[f32]>::from(
                    read_evidence(e, core, &any).map_err(|x| err(p, x))?,
                ))
            }
            None => None,
        };
        Ok(fgs
            .into_iter()
            .map(|fg| MaskTile {
                core,
                // Only a pass with foreground here reads the evidence.
                evidence: evidence.clone().filter(|_| fg.contains(&1)),
                fg,
            })
            .collect())
    }
}

/// Flag-plane bytes one pass over a raster's tile rows may hold: each value traced in the pass
/// fills a plane the size of a tile (1 MB) per tile column, so a wide raster with many values
/// traces them in several passes (synth's land use, thirty-four values with two counties:
/// 0.57 GB per tile row of a 16384² scene, 2.3 GB at 65536², in one pass).
const PASS_PLANES_BYTES: usize = 256 << 20;

/// The components of each of `values` in the raster `mask` (8-connected, with `evidence`
/// statistics when given), in that order (see [`components_each`]).
///
/// # Errors
/// [`Error::Open`] naming the file when GDAL fails.
pub fn components(
    mask: &Path,
    values: &[f64],
    evidence: Option<&Path>,
) -> Result<Vec<Vec<super::stitch::Component>>> {
    let mut out = vec![Vec::new(); values.len()];
    components_each(mask, values, evidence, |k, c| {
        out[k].push(c);
        Ok(())
    })?;
    Ok(out)
}

/// Hand `each` every component of each of `values` in the raster `mask` (8-connected, with
/// `evidence` statistics when given) with the index of its value, as the tile rows complete
/// them: nothing is held past its row. Every row of the raster (and of `evidence`) is decoded
/// once for as many values as [`PASS_PLANES_BYTES`] allows (all of them, but on very wide
/// rasters), one polygonizer per value, on a reader thread one tile row ahead of the tracing
/// (two rows of flag planes at most; synth 4096² −10 %, 16384² −5 % and 0.18 GB more peak).
/// (One pass per value decoded synth's survey raster thirty times: most of synth's time.)
///
/// # Errors
/// [`Error::Open`] naming the file when GDAL fails; the first error of `each`.
pub fn components_each(
    mask: &Path,
    values: &[f64],
    evidence: Option<&Path>,
    mut each: impl FnMut(usize, super::stitch::Component) -> Result<()>,
) -> Result<()> {
    use super::stitch::{PolygonizeOptions, Polygonizer};
    let rules: Vec<Foreground> = values.iter().map(|&v| Foreground::Value(v)).collect();
    let Some(&first) = rules.first() else {
        return Ok(());
    };
    let src = MaskSource::open(mask, first, evidence)?;
    let tile = 1024;
    let grid = TileGrid::new(src.width, src.height, tile, 1);
    let (cols, rows) = grid.dims();
    let per_value = cols * (tile + 2) * (tile + 2);
    let group = (PASS_PLANES_BYTES / per_value.max(1)).max(1);
    let width = src.width;
    let passes: Vec<&[Foreground]> = rules.chunks(group).collect();
    // A reader thread (which takes the raster) decodes the next tile row while this one traces
    // the last: (pass, row) in order, the polygonizers of a pass made at its first row.
    std::thread::scope(|scope| -> Result<()> {
        let (grid, passes) = (&grid, &passes);
        let items = (0..passes.len()).flat_map(|g| (0..rows).map(move |r| (g, r)));
        let rx = crate::stream::reader(scope, 0, items, move |(g, r)| {
            src.read_row_passes(grid, r, passes[g]).map(|t| (g, r, t))
        });
        let mut polys: Vec<Polygonizer> = Vec::new();
        for read in rx {
            let (g, r, tiles) = read?;
            if r == 0 {
                polys = passes[g]
                    .iter()
                    .map(|_| Polygonizer::new(width, tile, PolygonizeOptions::default()))
                    .collect();
            }
            for (k, (p, tiles)) in polys.iter_mut().zip(tiles).enumerate() {
                for c in p.push_row(&tiles, r + 1 == rows) {
                    each(g * group + k, c)?;
                }
            }
        }
        Ok(())
    })
}
