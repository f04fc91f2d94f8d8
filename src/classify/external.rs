//! Types from a model instead of the rules: a raster on the change grid holding either one band
//! of class codes (0 or nodata = no change; names from `CLASS_<code>=<TBLX>` band metadata, as
//! `tuban synth` writes, else the code itself) or one band per type of probabilities (the band
//! description is the TBLX; 8-bit bands are read as 0-255 = 0-1).
//!
//! Per polygon: codes -> the majority class of its pixels, confidence = that class's share;
//! probabilities -> the type of the highest mean, confidence = that mean. A polygon that the
//! model marks mostly "no change" (codes: 0; probabilities: a band described "none" has the
//! highest mean) is set aside as a pseudo-change ("model: no change").

use super::pixels;
use super::{Decision, Measured};
use crate::error::{Error, Result};
use crate::raster::pool::Pool;
use crate::vectorize::assemble::PixelPolygon;
use gdal::{Dataset, Metadata};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the raster holds.
#[derive(Clone, Debug, PartialEq)]
pub enum Content {
    /// Class codes and their TBLX names.
    Codes(BTreeMap<i64, String>),
    /// One TBLX per band, and the value of probability 1.
    Probabilities(Vec<String>, f64),
}

/// An external class or probability raster.
pub struct External {
    path: PathBuf,
    pool: Pool<Dataset>,
    pub content: Content,
    /// Offset of the change grid's origin in this raster, pixels.
    offset: (usize, usize),
    size: (usize, usize),
    nodata: Option<f64>,
}

impl External {
    /// Open `path` and check it lies on the change grid (`geo_transform` of the grid's origin,
    /// `width` x `height` pixels).
    ///
    /// # Errors
    /// [`Error::Open`] naming the file: unreadable, no bands, a different pixel size or a
    /// misaligned origin, or not covering the grid.
    pub fn open(
        path: &Path,
        geo_transform: Option<[f64; 6]>,
        width: usize,
        height: usize,
    ) -> Result<Self> {
        let ds = crate::raster::open_dataset(path)?;
        let bad = |reason: String| Error::Open {
            path: path.into(),
            reason,
        };
        let count = ds.raster_count();
        if count == 0 {
            return Err(bad("not a raster (no bands)".into()));
        }
        let offset = match (geo_transform, ds.geo_transform().ok()) {
            (Some(g), Some(e)) => {
                if (g[1] - e[1]).abs() > 1e-9 * g[1].abs()
                    || (g[5] - e[5]).abs() > 1e-9 * g[5].abs()
                {
                    return Err(bad(format!(
                        "pixel size {} x {} differs from the imagery's {} x {}; warp it onto the image grid first",
                        e[1], e[5], g[1], g[5]
                    )));
                }
                let ox = (g[0] - e[0]) / e[1];
                let oy = (g[3] - e[3]) / e[5];
                if ox < -1e-6
                    || oy < -1e-6
                    || (ox - ox.round()).abs() > 1e-3
                    || (oy - oy.round()).abs() > 1e-3
                {
                    return Err(bad(format!(
                        "its pixels are not aligned with the imagery's (origin offset {ox:.3}, {oy:.3} pixels)"
                    )));
                }
                (ox.round() as usize, oy.round() as usize)
            }
            _ => (0, 0),
        };
        let size = ds.raster_size();
        if offset.0 + width > size.0 || offset.1 + height > size.1 {
            return Err(bad(format!(
                "{}x{} pixels do not cover the imagery's {width}x{height} (offset {}, {})",
                size.0, size.1, offset.0, offset.1
            )));
        }
        let (nodata, content) = {
            let band = ds.rasterband(1).map_err(|e| bad(e.to_string()))?;
            let content = if count == 1 {
                let mut names = BTreeMap::new();
                for e in band.metadata() {
                    if let Some(code) = e
                        .key
                        .strip_prefix("CLASS_")
                        .and_then(|c| c.parse::<i64>().ok())
                    {
                        names.insert(code, e.value);
                    }
                }
                Content::Codes(names)
            } else {
                let mut types = Vec::new();
                for b in 1..=count {
                    let d = ds
                        .rasterband(b)
                        .map_err(|e| bad(e.to_string()))?
                        .description()
                        .unwrap_or_default();
                    if d.trim().is_empty() {
                        return Err(bad(format!(
                            "band {b} has no description: a probability raster names each band's TBLX in its description"
                        )));
                    }
                    types.push(d.trim().to_string());
                }
                let one = match band.band_type() {
                    gdal::raster::GdalDataType::UInt8 => 255.0,
                    _ => 1.0,
                };
                Content::Probabilities(types, one)
            };
            (band.no_data_value(), content)
        };
        Ok(External {
            path: path.into(),
            pool: Pool::new(vec![ds]),
            content,
            offset,
            size,
            nodata,
        })
    }

    fn read(
        &self,
        ds: &Dataset,
        band: usize,
        x: usize,
        y: usize,
        w: usize,
        h: usize,
    ) -> Result<Vec<f64>> {
        let b = ds
            .rasterband(band)
            .map_err(|e| Error::open(&self.path, e))?;
        let buf = b
            .read_as::<f64>(
                ((self.offset.0 + x) as isize, (self.offset.1 + y) as isize),
                (w, h),
                (w, h),
                None,
            )
            .map_err(|e| Error::open(&self.path, e))?;
        Ok(buf.data().to_vec())
    }

    /// Decide one polygon from the raster.
    ///
    /// # Errors
    /// [`Error::Open`] naming the raster when a read fails.
    pub fn decide(&self, polys: &[PixelPolygon], _m: &Measured) -> Result<Decision> {
        self.pool.with(
            || crate::raster::open_dataset(&self.path),
            |ds| self.decide_with(ds, polys),
        )
    }

    fn decide_with(&self, ds: &Dataset, polys: &[PixelPolygon]) -> Result<Decision> {
        let name = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let Some((x0, y0, x1, y1)) = pixels::bbox(polys) else {
            return Ok(no_change(&name, 0.0));
        };
        let width = self.size.0 - self.offset.0;
        let height = self.size.1 - self.offset.1;
        let xa = x0.max(0) as usize;
        let xb = (x1.max(0) as usize).min(width);
        if xb <= xa {
            return Ok(no_change(&name, 0.0));
        }
        let w = xb - xa;
        let mut counts: BTreeMap<i64, u64> = BTreeMap::new();
        let mut sums = vec![0.0f64; self.bands()];
        let mut n = 0u64;
        for (y, rows, _) in super::features::strips(y0, y1, 0, height, w) {
            let inside = pixels::rasterize(polys, xa as i64, y as i64, w, rows);
            match &self.content {
                Content::Codes(_) => {
                    let v = self.read(ds, 1, xa, y, w, rows)?;
                    for (i, _) in inside.iter().enumerate().filter(|(_, m)| **m == 1) {
                        n += 1;
                        let c = v[i];
                        if Some(c) == self.nodata || !c.is_finite() || c == 0.0 {
                            continue;
                        }
                        *counts.entry(c as i64).or_default() += 1;
                    }
                }
                Content::Probabilities(_, one) => {
                    let inside_n = inside.iter().filter(|m| **m == 1).count() as u64;
                    n += inside_n;
                    for (b, s) in sums.iter_mut().enumerate() {
                        let v = self.read(ds, b + 1, xa, y, w, rows)?;
                        *s += inside
                            .iter()
                            .zip(&v)
                            .filter(|(m, x)| **m == 1 && x.is_finite() && Some(**x) != self.nodata)
                            .map(|(_, x)| x / one)
                            .sum::<f64>();
                    }
                }
            }
        }
        if n == 0 {
            return Ok(no_change(&name, 0.0));
        }
        Ok(match &self.content {
            Content::Codes(names) => {
                let best = counts
                    .iter()
                    .max_by_key(|(c, k)| (**k, std::cmp::Reverse(**c)));
                let changed: u64 = counts.values().sum();
                match best {
                    Some((code, k)) if changed * 2 >= n => {
                        let tblx = names.get(code).cloned().unwrap_or_else(|| code.to_string());
                        let share = *k as f64 / n as f64;
                        Decision {
                            reasons: format!(
                                "model {name}: class {tblx} on {:.1} % of the pixels",
                                100.0 * share
                            ),
                            tblx,
                            confidence: share,
                            pseudo: None,
                        }
                    }
                    _ => no_change(&name, 1.0 - changed as f64 / n as f64),
                }
            }
            Content::Probabilities(types, _) => {
                let means: Vec<f64> = sums.iter().map(|s| s / n as f64).collect();
                let (k, p) = means
                    .iter()
                    .copied()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .unwrap_or((0, 0.0));
                // A band named "none" is a model's no-change class (`[output] classes`).
                if types[k].eq_ignore_ascii_case(crate::model::config::NO_CHANGE) {
                    return Ok(no_change(&name, p.clamp(0.0, 1.0)));
                }
                Decision {
                    tblx: types[k].clone(),
                    confidence: p.clamp(0.0, 1.0),
                    reasons: format!("model {name}: mean probability of {} {:.3}", types[k], p),
                    pseudo: None,
                }
            }
        })
    }

    fn bands(&self) -> usize {
        match &self.content {
            Content::Codes(_) => 1,
            Content::Probabilities(t, _) => t.len(),
        }
    }
}

fn no_change(name: &str, share: f64) -> Decision {
    Decision {
        tblx: String::new(),
        confidence: share,
        reasons: format!(
            "model {name}: no change on {:.1} % of the pixels",
            100.0 * share
        ),
        pseudo: Some("model: no change".into()),
    }
}
