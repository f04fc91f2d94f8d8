//! Typing polygons as they are written: the polygonizer hands each component to a
//! [`Classifier`], which measures it on the image pair and decides its TBLX with the rules or
//! an external class raster; pseudo-changes go to a separate layer.

use crate::classify::context::Context;
use crate::classify::external::External;
use crate::classify::features::{Features, Measurer};
use crate::classify::{ClassifyConf, Decision, Measured, branches, pixels};
use crate::error::{Error, Result};
use crate::output::vector::{FieldKind, Value};
use crate::raster::pool::Pool;
use crate::vectorize::assemble::PixelPolygon;

use crate::learn::LeadModel;
use crate::vectorize::label::find;
use crate::vectorize::stitch::{Component, PolygonizeOptions, polygonize_mask};
use gdal::Dataset;
use geo::MultiPolygon;
use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest window (pixels) in which a component is split into lines; beyond it the component
/// is typed whole (about 10 bytes a pixel while it is split).
const MAX_SPLIT_PX: usize = 8 << 20;

/// The type fields of a typed change layer, after the polygonizer's own.
pub const CLASS_FIELDS: [(&str, FieldKind); 20] = [
    ("TBLX", FieldKind::Text),
    ("confidence", FieldKind::Real),
    // 类型依据: the rule and the feature values behind the type.
    ("LXYJ", FieldKind::Text),
    ("ndvi_b", FieldKind::Real),
    ("ndvi_a", FieldKind::Real),
    ("ndbi_b", FieldKind::Real),
    ("ndbi_a", FieldKind::Real),
    ("bright_b", FieldKind::Real),
    ("bright_a", FieldKind::Real),
    ("texture", FieldKind::Real),
    ("spread", FieldKind::Real),
    ("water_a", FieldKind::Real),
    ("green_a", FieldKind::Real),
    ("shadow", FieldKind::Real),
    ("blue_red", FieldKind::Real),
    ("width_dt", FieldKind::Real),
    ("skel_m", FieldKind::Real),
    ("rows", FieldKind::Integer),
    ("road_m", FieldKind::Real),
    ("village_m", FieldKind::Real),
];

/// Measures and types polygons; shared by the polygonizer's worker threads.
pub struct Classifier {
    pub conf: ClassifyConf,
    pub measurer: Measurer,
    /// A class or probability raster that decides instead of the rules.
    pub external: Option<External>,
    /// Ground size of a pixel, m.
    pub pixel_m: f64,
    /// Where pseudo-changes are written (GeoPackage, layer `rejected`).
    pub rejected: PathBuf,
    /// The evidence raster, for the evidence of the pieces a split cuts.
    pub evidence: Option<EvidenceRaster>,
    /// Scene width, pixels (a piece's identity is its first pixel's raster index).
    pub scene_width: usize,
    /// The land-use survey's roads and villages around the scene (features `road_m`,
    /// `village_m`), in the scene's CRS.
    pub context: Option<Context>,
    /// What field verdicts taught ([`crate::learn`]): it judges every polygon the rules keep.
    pub leads: Option<std::sync::Arc<LeadModel>>,
    /// Polygons written that the lead model judged, and those it set aside.
    pub judged: AtomicU64,
    pub set_aside: AtomicU64,
}

/// The evidence raster, opened once per thread that reads it.
pub struct EvidenceRaster {
    path: PathBuf,
    pool: Pool<Dataset>,
}

impl EvidenceRaster {
    /// The raster at `path` (band 1), opened when first read: detect names it before it
    /// writes it.
    pub fn new(path: &std::path::Path) -> Self {
        EvidenceRaster {
            path: path.into(),
            pool: Pool::new(Vec::new()),
        }
    }

    /// The values of the window `(x, y, w, h)`.
    fn read(&self, x: usize, y: usize, w: usize, h: usize) -> Result<Vec<f32>> {
        let err = |e: gdal::errors::GdalError| Error::Open {
            path: self.path.clone(),
            reason: e.to_string(),
        };
        self.pool.with(
            || crate::raster::open_dataset(&self.path),
            |ds| {
                let band = ds.rasterband(1).map_err(err)?;
                let mut v = vec![0.0f32; w * h];
                band.read_into_slice((x as isize, y as isize), (w, h), (w, h), &mut v, None)
                    .map_err(err)?;
                Ok(v)
            },
        )
    }
}

/// What the polygonizer knows of a component before typing: its exact world geometry, its
/// measures (area, shape, evidence, mask class) and its attribute values.
pub struct Untyped {
    pub geom: MultiPolygon<f64>,
    pub measured: Measured,
    pub values: Vec<Value>,
}

/// One typed polygon: the traced component or a piece of it, its exact world geometry, and its
/// attribute values (the polygonizer's, then [`CLASS_FIELDS`]).
pub struct TypedPolygon<'a> {
    pub component: Cow<'a, Component>,
    pub geom: MultiPolygon<f64>,
    pub measured: Measured,
    pub decision: Decision,
    pub values: Vec<Value>,
}

/// The polygonizer's [`Untyped`] of a component (for the pieces a split cuts).
pub type UntypedFn<'f> = dyn Fn(&Component) -> Untyped + Sync + 'f;

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("rejected", &self.rejected)
            .field("external", &self.external.is_some())
            .finish()
    }
}

impl Classifier {
    /// Measure and decide one component (`polys` in pixels, `g` the same in world
    /// coordinates); `base` carries area, shape and evidence already known.
    ///
    /// # Errors
    /// An image read failure, naming the file.
    pub fn decide(
        &self,
        polys: &[PixelPolygon],
        g: &MultiPolygon<f64>,
        base: Measured,
    ) -> Result<(Measured, Decision)> {
        let (road_m, village_m) = match &self.context {
            Some(ctx) => {
                use geo::Area;
                // Metres per CRS unit from the polygon's own ground / planar area ratio (as
                // for the shape measures): exact for projected CRSs, the local mean scale for
                // geographic ones.
                let m_per_unit = (base.area_m2 / g.unsigned_area()).sqrt();
                let (r, v) = ctx.distances(g, m_per_unit);
                (Some(r), Some(v))
            }
            None => (None, None),
        };
        let m = Measured {
            features: self.measurer.measure(polys)?,
            pixel_m: self.pixel_m,
            road_m,
            village_m,
            ..base
        };
        let d = match &self.external {
            Some(x) => x.decide(polys, &m)?,
            None => self.conf.decide(&m),
        };
        Ok((m, d))
    }
}

impl Classifier {
    /// Type a component: whole, or, when it is linear and lines of different directions meet
    /// in it (a road across a railway), piece by piece ([`branches`]), touching pieces of the
    /// same type put back together. `whole` is the component's own [`Untyped`], `base` makes one
    /// for a piece; `min_m2` is the smallest polygon written: no piece is cut smaller.
    ///
    /// # Errors
    /// An image or evidence read failure, naming the file.
    pub fn type_component<'a>(
        &self,
        c: &'a Component,
        whole: Untyped,
        base: &UntypedFn,
        min_m2: f64,
    ) -> Result<Vec<TypedPolygon<'a>>> {
        let out = self.type_pieces(c, whole, base, min_m2)?;
        if self.leads.is_some() {
            for t in &out {
                let judged = match t.decision.pseudo.as_deref() {
                    None => false,
                    Some(crate::learn::leads::REJECTED_BY) => true,
                    Some(_) => continue,
                };
                self.judged.fetch_add(1, Ordering::Relaxed);
                self.set_aside
                    .fetch_add(u64::from(judged), Ordering::Relaxed);
            }
        }
        Ok(out)
    }

    /// [`Self::type_component`] before the lead model's count.
    fn type_pieces<'a>(
        &self,
        c: &'a Component,
        whole: Untyped,
        base: &UntypedFn,
        min_m2: f64,
    ) -> Result<Vec<TypedPolygon<'a>>> {
        let typed = |comp: Cow<'a, Component>, b: Untyped| -> Result<TypedPolygon<'a>> {
            let (measured, mut decision) = self.decide(&comp.polygons, &b.geom, b.measured)?;
            let mut values = b.values;
            let own = values.len();
            values.extend(class_values(&measured, &decision));
            if let Some(model) = &self.leads {
                // The model reads the values as they are written, as `tuban learn` read them.
                let field = |name: &str| field_value(&values, name);
                let judged = model.decide(&field, decision.clone());
                if judged != decision {
                    values.truncate(own);
                    values.extend(class_values(&measured, &judged));
                }
                decision = judged;
            }
            Ok(TypedPolygon {
                component: comp,
                geom: b.geom,
                measured,
                decision,
                values,
            })
        };
        let whole = typed(Cow::Borrowed(c), whole)?;
        let split = &self.conf.split;
        let linear = whole
            .measured
            .slenderness()
            .is_some_and(|s| s >= split.min_slender);
        if !split.enabled || !linear || self.external.is_some() {
            return Ok(vec![whole]);
        }
        let Some((x0, y0, x1, y1)) = pixels::bbox(&c.polygons) else {
            return Ok(vec![whole]);
        };
        let (w, h) = ((x1 - x0) as usize, (y1 - y0) as usize);
        if w * h > MAX_SPLIT_PX {
            return Ok(vec![whole]);
        }
        let px_m2 = self.pixel_m * self.pixel_m;
        let min_px = (split.part_m2.max(min_m2) / px_m2).ceil().max(1.0) as u64;
        if c.pixels < 2 * min_px {
            return Ok(vec![whole]); // no two pieces could stand alone
        }
        let mask = pixels::rasterize(&c.polygons, x0, y0, w, h);
        let Some(pieces) = branches::split(
            &mask,
            w,
            h,
            min_px,
            split.part_slender,
            split.max_turn_deg.to_radians(),
        ) else {
            return Ok(vec![whole]);
        };
        drop(mask);
        let window = SplitWindow {
            x0,
            y0,
            w,
            h,
            evidence: match &self.evidence {
                Some(e) => Some(e.read(x0 as usize, y0 as usize, w, h)?),
                None => None,
            },
        };
        let parts: Vec<TypedPolygon> = (1..=pieces.count)
            .map(|l| {
                let piece = window.piece(&pieces.labels, |k| k == l, self.scene_width);
                let b = base(&piece);
                typed(Cow::Owned(piece), b)
            })
            .collect::<Result<_>>()?;
        // Touching pieces of the same type (or the same pseudo-change) are one polygon again.
        let key = |t: &TypedPolygon| (t.decision.tblx.clone(), t.decision.pseudo.clone());
        let mut group: Vec<u32> = (0..=pieces.count).collect();
        for (a, b) in pieces.touching(w) {
            if key(&parts[a as usize - 1]) == key(&parts[b as usize - 1]) {
                let (ra, rb) = (find(&mut group, a), find(&mut group, b));
                group[ra.max(rb) as usize] = ra.min(rb);
            }
        }
        let roots: Vec<u32> = (1..=pieces.count).map(|l| find(&mut group, l)).collect();
        let mut groups: Vec<u32> = roots.clone();
        groups.sort_unstable();
        groups.dedup();
        if groups.len() < 2 {
            return Ok(vec![whole]);
        }
        let mut out = Vec::with_capacity(groups.len());
        let mut parts: Vec<Option<TypedPolygon>> = parts.into_iter().map(Some).collect();
        for g in groups {
            let members = roots.iter().filter(|&&r| r == g).count();
            if members == 1 {
                if let Some(t) = parts[g as usize - 1].take() {
                    out.push(t);
                }
            } else {
                let comp = window.piece(
                    &pieces.labels,
                    |k| roots[k as usize - 1] == g,
                    self.scene_width,
                );
                let b = base(&comp);
                out.push(typed(Cow::Owned(comp), b)?);
            }
        }
        Ok(out)
    }
}

/// The window a component was split in: where it lies in the scene and its evidence.
struct SplitWindow {
    x0: i64,
    y0: i64,
    w: usize,
    h: usize,
    evidence: Option<Vec<f32>>,
}

impl SplitWindow {
    /// The component made of the pieces `keep` selects: its outline traced again, its pixels,
    /// evidence and first pixel.
    fn piece(&self, labels: &[u32], keep: impl Fn(u32) -> bool, scene_width: usize) -> Component {
        let mask: Vec<u8> = labels
            .iter()
            .map(|&l| u8::from(l != 0 && keep(l)))
            .collect();
        let (mut pixels, mut first) = (0u64, u64::MAX);
        let mut evidence = crate::vectorize::label::EvidenceStats::default();
        for (i, _) in mask.iter().enumerate().filter(|(_, v)| **v == 1) {
            pixels += 1;
            if let Some(ev) = &self.evidence {
                evidence.add(ev[i]);
            }
            let (x, y) = (
                self.x0 as u64 + (i % self.w) as u64,
                self.y0 as u64 + (i / self.w) as u64,
            );
            first = first.min(y * scene_width as u64 + x);
        }
        let shift = |ring: Vec<(i64, i64)>| -> Vec<(i64, i64)> {
            ring.into_iter()
                .map(|(x, y)| (x + self.x0, y + self.y0))
                .collect()
        };
        let polygons = polygonize_mask(&mask, self.w, self.h, 1024, PolygonizeOptions::default())
            .into_iter()
            .flat_map(|c| c.polygons)
            .map(|p| PixelPolygon {
                exterior: shift(p.exterior),
                holes: p.holes.into_iter().map(shift).collect(),
            })
            .collect();
        Component {
            polygons,
            pixels,
            evidence,
            first,
        }
    }
}

/// The number in field `name` of a typed polygon's values ([`super::measures::FIELDS`] then
/// [`CLASS_FIELDS`]); None when null or not a number.
fn field_value(values: &[Value], name: &str) -> Option<f64> {
    let at = super::measures::FIELDS
        .iter()
        .chain(CLASS_FIELDS.iter())
        .position(|(n, _)| *n == name)?;
    match values.get(at)? {
        Value::Real(v) => Some(*v),
        Value::Integer(v) => Some(*v as f64),
        Value::Text(_) | Value::Null => None,
    }
}

/// The values of [`CLASS_FIELDS`] for one polygon, in that order (named, checked).
pub fn class_values(m: &Measured, d: &Decision) -> Vec<Value> {
    let real = |v: Option<f64>| match v {
        Some(x) if x.is_finite() => Value::Real((x * 10_000.0).round() / 10_000.0),
        _ => Value::Null,
    };
    let f: &Features = &m.features;
    let reasons = match &d.pseudo {
        Some(p) => format!("pseudo-change {p}: {}", d.reasons),
        None => d.reasons.clone(),
    };
    let named = [
        ("TBLX", Value::Text(d.tblx.clone())),
        ("confidence", real(Some(d.confidence))),
        ("LXYJ", Value::Text(reasons)),
        ("ndvi_b", real(f.ndvi_before)),
        ("ndvi_a", real(f.ndvi_after)),
        ("ndbi_b", real(f.ndbi_before)),
        ("ndbi_a", real(f.ndbi_after)),
        ("bright_b", real(f.bright_before)),
        ("bright_a", real(f.bright_after)),
        ("texture", real(f.texture_after)),
        ("spread", real(f.spread_after)),
        ("water_a", real(f.water_after)),
        ("green_a", real(f.green_after)),
        ("shadow", real(f.shadow)),
        ("blue_red", real(f.blue_red)),
        ("width_dt", real(m.width_m())),
        ("skel_m", real(m.skeleton_m())),
        (
            "rows",
            m.in_rows()
                .map_or(Value::Null, |r| Value::Integer(i64::from(r))),
        ),
        ("road_m", real(m.road_m)),
        ("village_m", real(m.village_m)),
    ];
    debug_assert!(
        named
            .iter()
            .map(|(n, _)| *n)
            .eq(CLASS_FIELDS.iter().map(|(n, _)| *n))
    );
    named.into_iter().map(|(_, v)| v).collect()
}
