//! Writing a synthetic scene: streamed rendering into GeoTIFFs, statistics per change object.

use super::render::{Pixel, row};
use super::scene::{COUNTIES, Change, Dlbm, Scene};
use crate::error::{Error, Result};
use crate::raster::grid::Window;
use crate::raster::writer::{Georef, OutputRaster, RasterSpec};
use crate::stream::ProgressFn;
use rayon::prelude::*;
use serde::Serialize;
use std::path::PathBuf;

/// What to generate.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    pub size: usize,
    pub seed: u64,
    pub gsd_m: f64,
    pub out_dir: PathBuf,
    /// Counties the scene spans: 2 (default) or 4.
    pub counties: usize,
}

/// Per change object: where it is and what it occupies (before-date survey layers).
#[derive(Clone, Debug, Default, Serialize)]
pub struct ObjectStats {
    pub id: u32,
    pub tblx: &'static str,
    pub kind: &'static str,
    pub pixels: u64,
    pub area_m2: f64,
    /// Arable land (DLBM 0101-0103) occupied, m² (GDMJ).
    pub arable_m2: f64,
    /// Permanent basic farmland occupied, m² (YJJBNTMJ).
    pub pbf_m2: f64,
    /// Ecological red line occupied, m² (STHXMJ).
    pub redline_m2: f64,
    /// Majority county (XZQDM).
    pub county: &'static str,
    pub approval: Option<(String, String)>,
    /// Pixel bounding box: min x, min y, max x, max y (inclusive).
    pub bbox_px: [u64; 4],
    /// A lead under the rules: not approved, and >= 5 mu of basic farmland, >= 10 mu of arable
    /// land, or inside the red line.
    pub qualifies: bool,
}

/// What `synth` wrote.
#[derive(Clone, Debug, Serialize)]
pub struct SynthSummary {
    pub size: usize,
    pub seed: u64,
    pub gsd_m: f64,
    pub epsg: u32,
    pub before_date: &'static str,
    pub after_date: &'static str,
    pub haze_gain_offset_gradient: (f64, f64, f64),
    pub misregistration_px: (f64, f64),
    pub changed_px: u64,
    pub objects: Vec<ObjectStats>,
    /// What `truth.gpkg` holds.
    pub truth: super::vectors::TruthCount,
    pub seconds: f64,
}

/// Georeference: EPSG:4527 (CGCS2000 / 3-degree Gauss-Kruger zone 39, zone-prefixed eastings).
pub const EPSG: u32 = 4527;
const ORIGIN: (f64, f64) = (39_480_000.0, 3_510_000.0);
const BEFORE_DATE: &str = "2024-03-20";
const AFTER_DATE: &str = "2024-06-25";
use crate::MU_M2;
/// Rows rendered at once, and the GeoTIFF tile height, so each strip completes whole tiles
/// (bounded cache) and its pixels stay under glibc's mmap threshold (no page clearing).
const STRIP: usize = 128;

fn georef(gsd: f64) -> Result<Georef> {
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(EPSG).map_err(|e| Error::Param {
        name: "synth",
        reason: e.to_string(),
    })?;
    Ok(Georef {
        geo_transform: Some([ORIGIN.0, gsd, 0.0, ORIGIN.1, 0.0, -gsd]),
        projection: srs.to_wkt().map_err(|e| Error::Param {
            name: "synth",
            reason: e.to_string(),
        })?,
    })
}

/// The rasters written, band by band.
struct Outputs {
    before: OutputRaster,
    after: OutputRaster,
    truth: OutputRaster,
    pseudo: OutputRaster,
    clouds: OutputRaster,
    /// Survey rasters the reference layers are polygonized from (removed afterwards).
    aux: Aux,
}

struct Aux {
    /// Land class and county, coded by [`landuse_code`].
    landuse: OutputRaster,
    /// County index + 1 where the pixel is basic farmland.
    pbf: OutputRaster,
    redline: OutputRaster,
    /// County index + 1.
    county: OutputRaster,
    /// Change object id + 1.
    objects: OutputRaster,
}

/// Generate a scene.
///
/// # Errors
/// [`Error::Param`] for a size out of range, [`Error::Write`] when outputs cannot be written.
pub fn synth(opts: &SynthOptions, progress: ProgressFn) -> Result<SynthSummary> {
    if !(64..=65_536).contains(&opts.size) {
        return Err(Error::Param {
            name: "size",
            reason: format!("{} px: use 64 to 65536", opts.size),
        });
    }
    if !(opts.gsd_m > 0.05 && opts.gsd_m <= 10.0) {
        return Err(Error::Param {
            name: "gsd",
            reason: format!("{} m: use 0.05 to 10", opts.gsd_m),
        });
    }
    crate::output::prepare_out_dir(&opts.out_dir)?;
    // Strips write whole GeoTIFF tiles and the tracing reads a tile row at a time: a small
    // cache is as fast, and the peak half (16384²: 0.54 GB against 1.07 GB with 256 MiB).
    crate::raster::tune_gdal(64);
    let t0 = std::time::Instant::now();
    let n = opts.size;
    if opts.counties != 2 && opts.counties != 4 {
        return Err(Error::Param {
            name: "counties",
            reason: format!("{}: use 2 or 4", opts.counties),
        });
    }
    let mut scene = Scene::generate(n, n, opts.gsd_m, opts.seed);
    if opts.counties == 4 {
        scene.split_north_south();
    }
    let g = georef(opts.gsd_m)?;
    let dir = &opts.out_dir;
    let spec = |bands, nodata, predictor| RasterSpec {
        width: n,
        height: n,
        bands,
        nodata,
        predictor,
        tile_rows: STRIP,
        tile_cols: 512,
    };
    let aux = dir.join(".synth-aux");
    let _ = std::fs::remove_dir_all(&aux);
    std::fs::create_dir_all(&aux).map_err(|e| Error::Write {
        path: aux.clone(),
        reason: e.to_string(),
    })?;
    let byte = |name: &str| {
        OutputRaster::create_bands::<u8>(&aux.join(name), &spec(1, Some(0.0), "PREDICTOR=1"), &g)
    };
    let aux_out = Aux {
        landuse: byte("landuse.tif")?,
        pbf: byte("pbf.tif")?,
        redline: byte("redline.tif")?,
        county: byte("county.tif")?,
        objects: OutputRaster::create_bands::<u32>(
            &aux.join("objects.tif"),
            &spec(1, Some(0.0), "PREDICTOR=1"),
            &g,
        )?,
    };
    let out = Outputs {
        before: OutputRaster::create_bands::<u16>(
            &dir.join("before.tif"),
            &spec(4, None, "PREDICTOR=2"),
            &g,
        )?,
        after: OutputRaster::create_bands::<u16>(
            &dir.join("after.tif"),
            &spec(4, None, "PREDICTOR=2"),
            &g,
        )?,
        truth: OutputRaster::create_bands::<u8>(
            &dir.join("truth.tif"),
            &spec(1, None, "PREDICTOR=1"),
            &g,
        )?,
        pseudo: OutputRaster::create_bands::<u8>(
            &dir.join("pseudo.tif"),
            &spec(1, None, "PREDICTOR=1"),
            &g,
        )?,
        clouds: OutputRaster::create_bands::<u8>(
            &dir.join("clouds.tif"),
            &spec(1, None, "PREDICTOR=1"),
            &g,
        )?,
        aux: aux_out,
    };
    label_bands(&out)?;
    let px_m2 = opts.gsd_m * opts.gsd_m;
    let mut stats: Vec<[u64; 8]> = vec![[0; 8]; scene.changes.len()];
    let mut boxes: Vec<[u64; 4]> = vec![[u64::MAX, u64::MAX, 0, 0]; scene.changes.len()];
    let strip = STRIP;
    let strips = n.div_ceil(strip);
    let mut changed = 0u64;
    // Render strips here (in parallel, straight into the rasters' planes) while a writer thread
    // compresses the previous ones.
    let ((), out) = crate::stream::with_writer(
        2,
        dir,
        move |rx: crossbeam_channel::Receiver<Strip>| -> Result<Outputs> {
            let mut out = out;
            for strip in rx {
                write_strip(&mut out, strip)?;
            }
            Ok(out)
        },
        |tx| {
            for k in 0..strips {
                let (y0, h) = (k * strip, strip.min(n - k * strip));
                let mut planes = Strip::new(Window {
                    x: 0,
                    y: y0,
                    width: n,
                    height: h,
                });
                planes.render(&scene);
                for (i, &object) in planes.objects.iter().enumerate() {
                    if object > 0 {
                        let (x, y) = ((i % n) as u64, (y0 + i / n) as u64);
                        let b = &mut boxes[object as usize - 1];
                        *b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
                        let s = &mut stats[object as usize - 1];
                        let (dlbm, county) = landuse_parts(planes.landuse[i]);
                        let arable = Dlbm::ALL
                            .get(dlbm as usize - 1)
                            .is_some_and(|d| d.is_arable());
                        s[0] += 1;
                        s[1] += u64::from(arable);
                        s[2] += u64::from(planes.pbf[i] > 0);
                        s[3] += u64::from(planes.redline[i]);
                        s[4 + county as usize] += 1;
                        changed += 1;
                    }
                }
                if tx.send(planes).is_err() {
                    break;
                }
                progress("synth", k as u64 + 1, strips as u64);
            }
            Ok(())
        },
    )?;
    let objects: Vec<ObjectStats> = scene
        .changes
        .iter()
        .zip(stats.iter().zip(&boxes))
        .enumerate()
        .filter(|(_, (_, (s, _)))| s[0] > 0)
        .map(|(i, (c, (s, bbox)))| {
            let (area, arable, pbf, red) = (
                s[0] as f64 * px_m2,
                s[1] as f64 * px_m2,
                s[2] as f64 * px_m2,
                s[3] as f64 * px_m2,
            );
            let approved = c.approval.is_some();
            ObjectStats {
                id: i as u32 + 1,
                tblx: c.kind.tblx(),
                kind: c.kind.describe(),
                pixels: s[0],
                area_m2: area,
                arable_m2: arable,
                pbf_m2: pbf,
                redline_m2: red,
                // The majority county (the first of equals).
                county: COUNTIES[(0..scene.counties())
                    .rev()
                    .max_by_key(|&k| s[4 + k])
                    .unwrap_or(0)]
                .0,
                approval: c.approval.clone(),
                bbox_px: *bbox,
                qualifies: !approved && (pbf >= 5.0 * MU_M2 || arable >= 10.0 * MU_M2 || red > 0.0),
            }
        })
        .collect();
    let Aux {
        landuse,
        pbf,
        redline,
        county,
        objects: object_ids,
    } = out.aux;
    for o in [
        out.before, out.after, out.truth, out.pseudo, out.clouds, landuse, pbf, redline, county,
        object_ids,
    ] {
        o.finish()?;
    }
    let georef = g.clone();
    let truth =
        super::vectors::write_vectors(dir, &aux, &georef, &objects, scene.counties(), progress)?;
    super::vectors::write_job(dir, opts)?;
    let _ = std::fs::remove_dir_all(&aux);
    let summary = SynthSummary {
        size: n,
        seed: opts.seed,
        gsd_m: opts.gsd_m,
        epsg: EPSG,
        before_date: BEFORE_DATE,
        after_date: AFTER_DATE,
        haze_gain_offset_gradient: scene.haze,
        misregistration_px: scene.shift,
        changed_px: changed,
        objects,
        truth,
        seconds: t0.elapsed().as_secs_f64(),
    };
    crate::output::write_json(&dir.join("synth.json"), &summary)?;
    Ok(summary)
}

fn label_bands(out: &Outputs) -> Result<()> {
    use gdal::Metadata;
    use gdal::raster::ColorInterpretation as Ci;
    let werr = |e: gdal::errors::GdalError| Error::Write {
        path: "synth".into(),
        reason: e.to_string(),
    };
    for ds in [out.before.dataset(), out.after.dataset()] {
        for (b, ci) in [
            (1, Ci::BlueBand),
            (2, Ci::GreenBand),
            (3, Ci::RedBand),
            (4, Ci::Undefined),
        ] {
            let mut band = ds.rasterband(b).map_err(werr)?;
            band.set_color_interpretation(ci).map_err(werr)?;
            band.set_description(["Blue", "Green", "Red", "NIR"][b - 1])
                .map_err(werr)?;
        }
    }
    let mut t = out.truth.dataset().rasterband(1).map_err(werr)?;
    for c in Change::ALL {
        t.set_metadata_item(&format!("CLASS_{}", c.code()), c.tblx(), "")
            .map_err(werr)?;
    }
    Ok(())
}

/// The land-use raster's code of land class `dlbm` (`Dlbm::raster`) in county `county`.
pub(super) fn landuse_code(dlbm: u8, county: u8) -> u8 {
    dlbm + 16 * county
}

/// The land class and the county of a land-use code (see [`landuse_code`]).
fn landuse_parts(code: u8) -> (u8, u8) {
    (code % 16, code / 16)
}

/// One strip of the scene as the rasters take it: both dates pixel-interleaved, the rest one
/// plane each (the survey planes already coded as the reference rasters want them).
struct Strip {
    window: Window,
    before: Vec<[u16; 4]>,
    after: Vec<[u16; 4]>,
    truth: Vec<u8>,
    pseudo: Vec<u8>,
    /// Land class and county, coded by [`landuse_code`].
    landuse: Vec<u8>,
    /// County index + 1 where the pixel is basic farmland.
    pbf: Vec<u8>,
    redline: Vec<u8>,
    objects: Vec<u32>,
}

/// Row `y` of a [`Strip`], plane by plane.
struct StripRow<'a> {
    y: usize,
    before: &'a mut [[u16; 4]],
    after: &'a mut [[u16; 4]],
    truth: &'a mut [u8],
    pseudo: &'a mut [u8],
    landuse: &'a mut [u8],
    pbf: &'a mut [u8],
    redline: &'a mut [u8],
    objects: &'a mut [u32],
}

impl Strip {
    fn new(window: Window) -> Self {
        let n = window.pixels();
        Strip {
            window,
            before: vec![[0; 4]; n],
            after: vec![[0; 4]; n],
            truth: vec![0; n],
            pseudo: vec![0; n],
            landuse: vec![0; n],
            pbf: vec![0; n],
            redline: vec![0; n],
            objects: vec![0; n],
        }
    }

    /// Render every row of the strip, rows in parallel.
    fn render(&mut self, scene: &Scene) {
        let (w, y0) = (self.window.width, self.window.y);
        let rows: Vec<StripRow> = self
            .before
            .chunks_mut(w)
            .zip(self.after.chunks_mut(w))
            .zip(self.truth.chunks_mut(w))
            .zip(self.pseudo.chunks_mut(w))
            .zip(self.landuse.chunks_mut(w))
            .zip(self.pbf.chunks_mut(w))
            .zip(self.redline.chunks_mut(w))
            .zip(self.objects.chunks_mut(w))
            .enumerate()
            .map(
                |(
                    r,
                    (((((((before, after), truth), pseudo), landuse), pbf), redline), objects),
                )| {
                    StripRow {
                        y: y0 + r,
                        before,
                        after,
                        truth,
                        pseudo,
                        landuse,
                        pbf,
                        redline,
                        objects,
                    }
                },
            )
            .collect();
        rows.into_par_iter().for_each_init(
            || vec![Pixel::default(); w],
            |pixels, r| {
                row(scene, r.y, pixels);
                for (x, p) in pixels.iter().enumerate() {
                    r.before[x] = p.before;
                    r.after[x] = p.after;
                    r.truth[x] = p.truth;
                    r.pseudo[x] = p.pseudo;
                    r.landuse[x] = landuse_code(p.dlbm, p.county);
                    r.pbf[x] = if p.pbf { p.county + 1 } else { 0 };
                    r.redline[x] = u8::from(p.redline);
                    r.objects[x] = p.object;
                }
            },
        );
    }
}

fn write_strip(out: &mut Outputs, s: Strip) -> Result<()> {
    let w = s.window;
    out.before.write_pixels(w, &s.before)?;
    out.after.write_pixels(w, &s.after)?;
    out.clouds
        .write(w, s.pseudo.iter().map(|&p| u8::from(p >= 3)).collect())?;
    let a = &mut out.aux;
    a.county.write(
        w,
        s.landuse.iter().map(|&l| landuse_parts(l).1 + 1).collect(),
    )?;
    out.truth.write(w, s.truth)?;
    out.pseudo.write(w, s.pseudo)?;
    a.landuse.write(w, s.landuse)?;
    a.pbf.write(w, s.pbf)?;
    a.redline.write(w, s.redline)?;
    a.objects.write(w, s.objects)?;
    Ok(())
}
