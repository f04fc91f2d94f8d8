//! What is where in the synthetic county, for both dates: land cover, the changes inserted in
//! the after image (each a truth object with its TBLX code), pseudo-changes, and the survey
//! layers (land class, basic farmland, red line, county) as per-pixel rasters.

use super::world::{Buckets, Rng, Shape, Walk, wander};

/// Land classes of the survey (DLBM codes of the third national land survey).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dlbm {
    Paddy,
    Irrigated,
    DryLand,
    Orchard,
    Forest,
    Homestead,
    Railway,
    Highway,
    RuralRoad,
    River,
    Pond,
    Facility,
}

impl Dlbm {
    pub const ALL: [Dlbm; 12] = [
        Dlbm::Paddy,
        Dlbm::Irrigated,
        Dlbm::DryLand,
        Dlbm::Orchard,
        Dlbm::Forest,
        Dlbm::Homestead,
        Dlbm::Railway,
        Dlbm::Highway,
        Dlbm::RuralRoad,
        Dlbm::River,
        Dlbm::Pond,
        Dlbm::Facility,
    ];
    /// DLBM code and name (DLMC).
    pub fn code_name(self) -> (&'static str, &'static str) {
        match self {
            Dlbm::Paddy => ("0101", "水田"),
            Dlbm::Irrigated => ("0102", "水浇地"),
            Dlbm::DryLand => ("0103", "旱地"),
            Dlbm::Orchard => ("0201", "果园"),
            Dlbm::Forest => ("0301", "乔木林地"),
            Dlbm::Homestead => ("0702", "农村宅基地"),
            Dlbm::Railway => ("1001", "铁路用地"),
            Dlbm::Highway => ("1003", "公路用地"),
            Dlbm::RuralRoad => ("1006", "农村道路"),
            Dlbm::River => ("1101", "河流水面"),
            Dlbm::Pond => ("1104", "坑塘水面"),
            Dlbm::Facility => ("1202", "设施农用地"),
        }
    }
    /// Raster code (1-based index).
    pub fn raster(self) -> u8 {
        Dlbm::ALL
            .iter()
            .position(|d| *d == self)
            .map_or(0, |i| i as u8 + 1)
    }
    pub fn is_arable(self) -> bool {
        matches!(self, Dlbm::Paddy | Dlbm::Irrigated | Dlbm::DryLand)
    }
}

/// Change classes inserted in the after image: truth raster code and TBLX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Change {
    Building,
    RoadBuilt,
    RoadEarth,
    Railway,
    Golf,
    Solar,
    EarthMoving,
    SoilPile,
    Greenhouse,
}

impl Change {
    pub const ALL: [Change; 9] = [
        Change::Building,
        Change::RoadBuilt,
        Change::RoadEarth,
        Change::Railway,
        Change::Golf,
        Change::Solar,
        Change::EarthMoving,
        Change::SoilPile,
        Change::Greenhouse,
    ];
    /// Truth raster code (1-based).
    pub fn code(self) -> u8 {
        Change::ALL
            .iter()
            .position(|c| *c == self)
            .map_or(0, |i| i as u8 + 1)
    }
    /// TBLX change-type code.
    pub fn tblx(self) -> &'static str {
        match self {
            Change::Building | Change::Greenhouse => "20",
            Change::RoadBuilt => "DL1",
            Change::RoadEarth => "DL2",
            Change::Railway => "TL",
            Change::Golf => "GEF",
            Change::Solar => "GF",
            Change::EarthMoving => "DT",
            Change::SoilPile => "TD",
        }
    }
    /// What it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Change::Building => "new building",
            Change::RoadBuilt => "new asphalt road",
            Change::RoadEarth => "road under construction (earth)",
            Change::Railway => "new railway on an embankment",
            Change::Golf => "golf course",
            Change::Solar => "solar farm",
            Change::EarthMoving => "earth moving",
            Change::SoilPile => "soil piles",
            Change::Greenhouse => "new greenhouses",
        }
    }
}

/// Surface materials with their reflectance (B, G, R, NIR; x 10000).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Material {
    Crop(u8, bool),
    Forest,
    Water,
    Asphalt,
    Earth,
    Ballast,
    Embankment,
    Roof(u8),
    Shadow,
    Ground,
    Plastic,
    Turf,
    Sand,
    Panel,
    Bare,
    Pile,
}

impl Material {
    pub fn reflectance(self) -> [f64; 4] {
        match self {
            // Crops before / after: harvested wheat turns to stubble, rice fields are flooded.
            Material::Crop(0, false) => [400.0, 700.0, 500.0, 3500.0],
            Material::Crop(0, true) => [900.0, 1100.0, 1300.0, 2000.0],
            Material::Crop(1, false) => [350.0, 650.0, 450.0, 3000.0],
            Material::Crop(1, true) => [520.0, 700.0, 620.0, 1500.0],
            Material::Crop(2, _) => [450.0, 750.0, 600.0, 3000.0],
            Material::Crop(_, _) => [350.0, 550.0, 450.0, 2600.0],
            Material::Forest => [250.0, 450.0, 300.0, 2800.0],
            Material::Water => [600.0, 700.0, 500.0, 300.0],
            Material::Asphalt => [800.0, 850.0, 900.0, 1000.0],
            Material::Earth => [1100.0, 1300.0, 1500.0, 1800.0],
            Material::Ballast => [700.0, 700.0, 750.0, 900.0],
            Material::Embankment => [1200.0, 1350.0, 1500.0, 1900.0],
            Material::Roof(0) => [900.0, 1000.0, 1800.0, 2000.0],
            Material::Roof(1) => [1600.0, 1200.0, 900.0, 1100.0],
            Material::Roof(2) => [1500.0, 1550.0, 1600.0, 1700.0],
            Material::Roof(_) => [2800.0, 2900.0, 3000.0, 3100.0],
            Material::Shadow => [250.0, 250.0, 250.0, 400.0],
            Material::Ground => [900.0, 1000.0, 1100.0, 1500.0],
            Material::Plastic => [2500.0, 2600.0, 2600.0, 2700.0],
            Material::Turf => [350.0, 800.0, 400.0, 4200.0],
            Material::Sand => [2200.0, 2400.0, 2600.0, 2800.0],
            Material::Panel => [900.0, 800.0, 700.0, 900.0],
            Material::Bare => [1300.0, 1500.0, 1800.0, 2200.0],
            Material::Pile => [1500.0, 1700.0, 2000.0, 2400.0],
        }
    }
}

/// When a feature exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum When {
    Both,
    BeforeOnly,
    AfterOnly,
}

/// What a feature does to the survey layers (before date).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Meaning {
    /// A land-cover feature with its survey class.
    Land(Dlbm),
    /// Rendering detail only (buildings, shadows inside villages).
    Detail,
    /// A change object (index into `Scene::changes`).
    Change(u32),
    /// A shadow cast by a change object (spectral change, not truth).
    ChangeShadow,
    /// Pseudo-change: water-level change of a pond.
    WaterLevel,
}

/// One feature: a shape, the material it shows, when, and what it means.
#[derive(Clone, Debug, PartialEq)]
pub struct Feature {
    pub shape: Shape,
    pub material: Material,
    pub when: When,
    pub role: Meaning,
    /// Solar panels: stripe period in pixels (0: solid).
    pub stripes: u8,
}

/// A truth change object.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeObject {
    pub kind: Change,
    /// Approved before the after date (legal): approval number and date.
    pub approval: Option<(String, String)>,
}

/// Clouds over the after image.
#[derive(Clone, Debug, PartialEq)]
pub struct Cloud {
    pub shape: Shape,
    /// Shadow offset in pixels.
    pub shadow: (f64, f64),
}

/// The whole synthetic county.
#[derive(Clone, Debug)]
pub struct Scene {
    pub width: usize,
    pub height: usize,
    pub gsd_m: f64,
    pub seed: u64,
    /// Field grid: row starts (y) and, per row, column starts (x).
    pub field_rows: Vec<f64>,
    pub field_cols: Vec<Vec<f64>>,
    /// Features in priority order (first that contains a pixel wins).
    pub features: Vec<Feature>,
    pub buckets: Buckets,
    pub changes: Vec<ChangeObject>,
    pub clouds: Vec<Cloud>,
    pub cloud_buckets: Buckets,
    /// County border: x of the border at rows `y = k * border_step`.
    pub border: Vec<f64>,
    /// With four counties, the east-west border: y of the border at columns
    /// `x = k * border_step` (empty with two).
    pub border_ew: Vec<f64>,
    pub border_step: f64,
    /// Haze of the after image: gain, offset, and offset gradient per 1000 px of x.
    pub haze: (f64, f64, f64),
    /// Misregistration of the after image, pixels.
    pub shift: (f64, f64),
    /// Basic farmland: fields whose hash is under this share.
    pub pbf_share: f64,
    /// Red line corridor along the river (pixels each side) and forest patches.
    pub redline_width: f64,
    /// River segments with their reach (half width + corridor), by bucket cell, for the red line.
    pub corridor: Vec<Segment>,
    pub corridor_buckets: Buckets,
}

/// A segment (a, b) and a distance from it.
pub type Segment = ((f64, f64), (f64, f64), f64);

/// The counties a scene may span (XZQDM, XZQMC): the first two by default (west and east of
/// a wandering north-south border), all four with `--counties 4` (a wandering east-west border
/// splits each: north 0, 1; south 2, 3).
pub const COUNTIES: [(&str, &str); 4] = [
    ("320581", "常熟市"),
    ("320582", "张家港市"),
    ("320583", "昆山市"),
    ("320585", "太仓市"),
];

impl Scene {
    /// Generate the scene for a size and seed.
    pub fn generate(width: usize, height: usize, gsd_m: f64, seed: u64) -> Scene {
        let mut rng = Rng::new(seed);
        let m = |metres: f64| metres / gsd_m;
        let (w, h) = (width as f64, height as f64);
        // Fields: rows 50-150 m tall, fields 60-200 m wide.
        let mut field_rows = vec![0.0];
        while *field_rows.last().unwrap_or(&0.0) < h {
            let last = *field_rows.last().unwrap_or(&0.0);
            field_rows.push(last + m(rng.range(50.0, 150.0)));
        }
        let field_cols = field_rows
            .iter()
            .map(|_| {
                let mut cols = vec![0.0];
                while *cols.last().unwrap_or(&0.0) < w {
                    let last = *cols.last().unwrap_or(&0.0);
                    cols.push(last + m(rng.range(60.0, 200.0)));
                }
                cols
            })
            .collect();
        let area_km2 = w * h * gsd_m * gsd_m / 1e6;
        let count = |per_km2: f64, rng: &mut Rng| {
            ((per_km2 * area_km2) * rng.range(0.7, 1.3)).ceil().max(1.0) as usize
        };
        let mut s = Scene {
            width,
            height,
            gsd_m,
            seed,
            field_rows,
            field_cols,
            features: Vec::new(),
            buckets: Buckets::new(width, height),
            changes: Vec::new(),
            clouds: Vec::new(),
            cloud_buckets: Buckets::new(width, height),
            border: Vec::new(),
            border_ew: Vec::new(),
            border_step: m(200.0),
            haze: (
                rng.range(1.02, 1.10),
                rng.range(40.0, 120.0),
                rng.range(-15.0, 15.0),
            ),
            shift: (rng.range(-1.0, 1.0), rng.range(-1.0, 1.0)),
            pbf_share: 0.6,
            redline_width: m(60.0),
            corridor: Vec::new(),
            corridor_buckets: Buckets::new(width, height),
        };
        // County border: a wandering north-south line near the middle.
        let mut x = w * rng.range(0.4, 0.6);
        let mut y = 0.0;
        while y <= h + s.border_step {
            s.border.push(x);
            x += rng.range(-0.3, 0.3) * s.border_step;
            y += s.border_step;
        }
        let mut changes: Vec<Feature> = Vec::new();
        let mut base: Vec<Feature> = Vec::new();
        s.place_changes(&mut rng, &mut changes, &count, &m);
        s.place_land(&mut rng, &mut base, &count, &m);
        // Changes are drawn over everything (priority first), then the land.
        s.features = changes;
        s.features.extend(base);
        // Bucket entries: feature index << 8 | part (line segment, 1-based; 0 = whole shape),
        // in feature order, so the first hit is still the top feature.
        for (i, f) in s.features.iter().enumerate() {
            for (part, bbox) in f.shape.parts() {
                s.buckets.insert(((i as u32) << 8) | part as u32, bbox);
            }
        }
        if let Some(Shape::Line { points, width }) = s
            .features
            .iter()
            .find(|f| f.role == Meaning::Land(Dlbm::River))
            .map(|f| f.shape.clone())
        {
            let r = width / 2.0 + s.redline_width;
            for seg in points.windows(2) {
                let (a, b) = (seg[0], seg[1]);
                let bbox = (
                    a.0.min(b.0) - r,
                    a.1.min(b.1) - r,
                    a.0.max(b.0) + r,
                    a.1.max(b.1) + r,
                );
                s.corridor_buckets.insert(s.corridor.len() as u32, bbox);
                s.corridor.push((a, b, r));
            }
        }
        // Clouds: a few clusters of ellipses, shadows offset to the south-east.
        for _ in 0..count(0.15, &mut rng) {
            let (cx, cy) = (rng.range(0.0, w), rng.range(0.0, h));
            let off = (m(rng.range(60.0, 150.0)), m(rng.range(60.0, 150.0)));
            for _ in 0..rng.below(4) + 2 {
                let shape = Shape::Ellipse {
                    cx: cx + m(rng.range(-150.0, 150.0)),
                    cy: cy + m(rng.range(-150.0, 150.0)),
                    rx: m(rng.range(60.0, 200.0)),
                    ry: m(rng.range(50.0, 160.0)),
                };
                let (a, b, c, d) = shape.bbox();
                s.cloud_buckets
                    .insert(s.clouds.len() as u32, (a, b, c + off.0, d + off.1));
                s.clouds.push(Cloud { shape, shadow: off });
            }
        }
        s
    }

    fn push_change(
        &mut self,
        out: &mut Vec<Feature>,
        rng: &mut Rng,
        kind: Change,
        shapes: Vec<(Shape, Material, u8)>,
    ) {
        let id = self.changes.len() as u32;
        let approval = (rng.unit() < 0.2).then(|| {
            (
                format!("苏政地〔2024〕{}号", 100 + rng.below(900)),
                format!("2024-0{}-{:02}", 1 + rng.below(3), 1 + rng.below(28)),
            )
        });
        self.changes.push(ChangeObject { kind, approval });
        for (shape, material, stripes) in shapes {
            out.push(Feature {
                shape,
                material,
                when: When::AfterOnly,
                role: Meaning::Change(id),
                stripes,
            });
        }
    }

    fn place_changes(
        &mut self,
        rng: &mut Rng,
        out: &mut Vec<Feature>,
        count: &dyn Fn(f64, &mut Rng) -> usize,
        m: &dyn Fn(f64) -> f64,
    ) {
        let (w, h) = (self.width as f64, self.height as f64);
        let mut shadows = Vec::new();
        // New buildings: single houses to factory halls (8-90 m), with shadows.
        for _ in 0..count(6.0, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let big = rng.unit() < 0.3;
            let (bw, bh) = if big {
                (m(rng.range(40.0, 90.0)), m(rng.range(30.0, 80.0)))
            } else {
                (m(rng.range(8.0, 25.0)), m(rng.range(8.0, 20.0)))
            };
            let roof = rng.below(4) as u8;
            let sh = m(rng.range(3.0, 8.0));
            self.push_change(
                out,
                rng,
                Change::Building,
                vec![(
                    Shape::Rect {
                        x0: x,
                        y0: y,
                        x1: x + bw,
                        y1: y + bh,
                    },
                    Material::Roof(roof),
                    0,
                )],
            );
            // Shadows to the south and east (sun from the north-west).
            for shape in [
                Shape::Rect {
                    x0: x + sh,
                    y0: y + bh,
                    x1: x + bw + sh,
                    y1: y + bh + sh,
                },
                Shape::Rect {
                    x0: x + bw,
                    y0: y + sh,
                    x1: x + bw + sh,
                    y1: y + bh + sh,
                },
            ] {
                shadows.push(Feature {
                    shape,
                    material: Material::Shadow,
                    when: When::AfterOnly,
                    role: Meaning::ChangeShadow,
                    stripes: 0,
                });
            }
        }
        // New roads, 4-30 m wide, 1-3 km long, curving; asphalt (built) or earth (under way).
        for _ in 0..count(0.4, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let (hx, hy) = (rng.range(-1.0, 1.0), rng.range(-1.0, 1.0));
            let n = (hx * hx + hy * hy).sqrt().max(1e-6);
            let len = m(rng.range(1000.0, 3000.0));
            let pts = {
                let start = (x, y);
                let heading = (hx / n, hy / n);
                wander(
                    rng,
                    Walk {
                        start,
                        heading,
                        steps: 30,
                        step: len / 30.0,
                        turn: 0.12,
                    },
                )
            };
            let width = m(rng.range(4.0, 30.0));
            let (kind, mat) = if rng.unit() < 0.5 {
                (Change::RoadBuilt, Material::Asphalt)
            } else {
                (Change::RoadEarth, Material::Earth)
            };
            self.push_change(
                out,
                rng,
                kind,
                vec![(Shape::Line { points: pts, width }, mat, 0)],
            );
        }
        // A new railway on an embankment (half of the scenes).
        if rng.unit() < 0.5 {
            let y = rng.range(0.2, 0.8) * h;
            let pts = {
                let start = (-m(100.0), y);
                let heading = (1.0, rng.range(-0.3, 0.3));
                wander(
                    rng,
                    Walk {
                        start,
                        heading,
                        steps: 40,
                        step: (w + m(200.0)) / 40.0,
                        turn: 0.03,
                    },
                )
            };
            self.push_change(
                out,
                rng,
                Change::Railway,
                vec![
                    (
                        Shape::Line {
                            points: pts.clone(),
                            width: m(12.0),
                        },
                        Material::Ballast,
                        0,
                    ),
                    (
                        Shape::Line {
                            points: pts,
                            width: m(30.0),
                        },
                        Material::Embankment,
                        0,
                    ),
                ],
            );
        }
        // A golf course: turf with bunkers and a pond.
        if rng.unit() < 0.7 {
            let (cx, cy) = (rng.range(0.2, 0.8) * w, rng.range(0.2, 0.8) * h);
            let mut shapes = Vec::new();
            for _ in 0..3 {
                let (bx, by) = (
                    cx + m(rng.range(-120.0, 120.0)),
                    cy + m(rng.range(-120.0, 120.0)),
                );
                shapes.push((
                    Shape::Ellipse {
                        cx: bx,
                        cy: by,
                        rx: m(rng.range(8.0, 15.0)),
                        ry: m(rng.range(6.0, 12.0)),
                    },
                    Material::Sand,
                    0,
                ));
            }
            shapes.push((
                Shape::Ellipse {
                    cx: cx + m(60.0),
                    cy: cy - m(50.0),
                    rx: m(25.0),
                    ry: m(18.0),
                },
                Material::Water,
                0,
            ));
            for _ in 0..5 {
                shapes.push((
                    Shape::Ellipse {
                        cx: cx + m(rng.range(-150.0, 150.0)),
                        cy: cy + m(rng.range(-150.0, 150.0)),
                        rx: m(rng.range(80.0, 180.0)),
                        ry: m(rng.range(50.0, 120.0)),
                    },
                    Material::Turf,
                    0,
                ));
            }
            self.push_change(out, rng, Change::Golf, shapes);
        }
        // A solar farm: rows of panels.
        if rng.unit() < 0.7 {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let (sw, shh) = (m(rng.range(100.0, 300.0)), m(rng.range(80.0, 200.0)));
            let period = (m(6.0).round() as u8).max(3);
            self.push_change(
                out,
                rng,
                Change::Solar,
                vec![(
                    Shape::Rect {
                        x0: x,
                        y0: y,
                        x1: x + sw,
                        y1: y + shh,
                    },
                    Material::Panel,
                    period,
                )],
            );
        }
        // Earth moving and soil piles.
        for _ in 0..count(0.6, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let shape = Shape::Ellipse {
                cx: x,
                cy: y,
                rx: m(rng.range(25.0, 80.0)),
                ry: m(rng.range(20.0, 60.0)),
            };
            self.push_change(
                out,
                rng,
                Change::EarthMoving,
                vec![(shape, Material::Bare, 0)],
            );
        }
        for _ in 0..count(0.4, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let shape = Shape::Ellipse {
                cx: x,
                cy: y,
                rx: m(rng.range(6.0, 15.0)),
                ry: m(rng.range(6.0, 15.0)),
            };
            self.push_change(out, rng, Change::SoilPile, vec![(shape, Material::Pile, 0)]);
        }
        // New greenhouses: a row of long bright halls.
        for _ in 0..count(0.3, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let (gw, gh) = (m(rng.range(8.0, 12.0)), m(rng.range(40.0, 90.0)));
            let n = 3 + rng.below(6) as usize;
            let halls = (0..n)
                .map(|k| {
                    (
                        Shape::Rect {
                            x0: x + k as f64 * gw * 1.5,
                            y0: y,
                            x1: x + k as f64 * gw * 1.5 + gw,
                            y1: y + gh,
                        },
                        Material::Plastic,
                        0,
                    )
                })
                .collect();
            self.push_change(out, rng, Change::Greenhouse, halls);
        }
        out.extend(shadows);
    }

    fn place_land(
        &mut self,
        rng: &mut Rng,
        out: &mut Vec<Feature>,
        count: &dyn Fn(f64, &mut Rng) -> usize,
        m: &dyn Fn(f64) -> f64,
    ) {
        let (w, h) = (self.width as f64, self.height as f64);
        let both = |shape: Shape, material: Material, role: Meaning| Feature {
            shape,
            material,
            when: When::Both,
            role,
            stripes: 0,
        };
        // Villages: houses and their shadows on homestead ground.
        let mut villages = Vec::new();
        for _ in 0..count(1.5, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let (vw, vh) = (m(rng.range(150.0, 400.0)), m(rng.range(120.0, 300.0)));
            let step = m(rng.range(18.0, 26.0));
            let mut yy = y + step * 0.3;
            while yy + step < y + vh {
                let mut xx = x + step * 0.3;
                while xx + step < x + vw {
                    if rng.unit() < 0.8 {
                        let (bw, bh) = (step * rng.range(0.45, 0.65), step * rng.range(0.4, 0.6));
                        let sh = m(3.0);
                        out.push(both(
                            Shape::Rect {
                                x0: xx,
                                y0: yy,
                                x1: xx + bw,
                                y1: yy + bh,
                            },
                            Material::Roof(rng.below(4) as u8),
                            Meaning::Detail,
                        ));
                        villages.push(both(
                            Shape::Rect {
                                x0: xx + sh,
                                y0: yy + bh,
                                x1: xx + bw + sh,
                                y1: yy + bh + sh,
                            },
                            Material::Shadow,
                            Meaning::Detail,
                        ));
                    }
                    xx += step;
                }
                yy += step;
            }
            villages.push(both(
                Shape::Rect {
                    x0: x,
                    y0: y,
                    x1: x + vw,
                    y1: y + vh,
                },
                Material::Ground,
                Meaning::Land(Dlbm::Homestead),
            ));
        }
        out.extend(villages);
        // Existing greenhouses.
        for _ in 0..count(0.3, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let (gw, gh) = (m(10.0), m(rng.range(40.0, 80.0)));
            for k in 0..4 {
                out.push(both(
                    Shape::Rect {
                        x0: x + k as f64 * gw * 1.5,
                        y0: y,
                        x1: x + k as f64 * gw * 1.5 + gw,
                        y1: y + gh,
                    },
                    Material::Plastic,
                    Meaning::Land(Dlbm::Facility),
                ));
            }
        }
        // Roads: a highway across and rural roads; a railway.
        let highway = {
            let start = (rng.range(0.0, w), -m(50.0));
            let heading = (rng.range(-0.3, 0.3), 1.0);
            wander(
                rng,
                Walk {
                    start,
                    heading,
                    steps: 40,
                    step: (h + m(100.0)) / 40.0,
                    turn: 0.04,
                },
            )
        };
        out.push(both(
            Shape::Line {
                points: highway,
                width: m(24.0),
            },
            Material::Asphalt,
            Meaning::Land(Dlbm::Highway),
        ));
        for _ in 0..count(1.0, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let horizontal = rng.unit() < 0.5;
            let (hx, hy) = if horizontal { (1.0, 0.0) } else { (0.0, 1.0) };
            let pts = {
                let start = (x, y);
                let heading = (hx, hy);
                wander(
                    rng,
                    Walk {
                        start,
                        heading,
                        steps: 20,
                        step: m(100.0),
                        turn: 0.05,
                    },
                )
            };
            out.push(both(
                Shape::Line {
                    points: pts,
                    width: m(rng.range(4.0, 7.0)),
                },
                Material::Asphalt,
                Meaning::Land(Dlbm::RuralRoad),
            ));
        }
        let rail = {
            let start = (-m(50.0), rng.range(0.0, h));
            let heading = (1.0, rng.range(-0.2, 0.2));
            wander(
                rng,
                Walk {
                    start,
                    heading,
                    steps: 40,
                    step: (w + m(100.0)) / 40.0,
                    turn: 0.02,
                },
            )
        };
        out.push(both(
            Shape::Line {
                points: rail,
                width: m(10.0),
            },
            Material::Ballast,
            Meaning::Land(Dlbm::Railway),
        ));
        // Ponds: the water level differs between dates (pseudo-change).
        for _ in 0..count(2.0, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            let (rx, ry) = (m(rng.range(15.0, 50.0)), m(rng.range(12.0, 40.0)));
            let k = rng.range(0.8, 1.15);
            out.push(Feature {
                shape: Shape::Ellipse {
                    cx: x,
                    cy: y,
                    rx,
                    ry,
                },
                material: Material::Water,
                when: When::BeforeOnly,
                role: Meaning::Land(Dlbm::Pond),
                stripes: 0,
            });
            out.push(Feature {
                shape: Shape::Ellipse {
                    cx: x,
                    cy: y,
                    rx: rx * k,
                    ry: ry * k,
                },
                material: Material::Water,
                when: When::AfterOnly,
                role: Meaning::WaterLevel,
                stripes: 0,
            });
        }
        // A river.
        let river = {
            let start = (rng.range(0.0, w), -m(50.0));
            let heading = (rng.range(-0.5, 0.5), 1.0);
            wander(
                rng,
                Walk {
                    start,
                    heading,
                    steps: 50,
                    step: (h + m(100.0)) / 50.0,
                    turn: 0.1,
                },
            )
        };
        out.push(both(
            Shape::Line {
                points: river,
                width: m(rng.range(30.0, 60.0)),
            },
            Material::Water,
            Meaning::Land(Dlbm::River),
        ));
        // Forest patches.
        for _ in 0..count(1.5, rng) {
            let (x, y) = (rng.range(0.0, w), rng.range(0.0, h));
            out.push(both(
                Shape::Ellipse {
                    cx: x,
                    cy: y,
                    rx: m(rng.range(40.0, 150.0)),
                    ry: m(rng.range(30.0, 120.0)),
                },
                Material::Forest,
                Meaning::Land(Dlbm::Forest),
            ));
        }
    }

    /// The field at (x, y): (row, column) in the field grid.
    pub fn field_at(&self, x: f64, y: f64) -> (usize, usize) {
        let along = self.fields_along(y);
        let c = along.cols.partition_point(|&s| s <= x).saturating_sub(1);
        (along.r, c)
    }

    /// The fields along the line at `y`, to be asked at increasing x.
    pub fn fields_along(&self, y: f64) -> FieldsAlong<'_> {
        let r = self
            .field_rows
            .partition_point(|&s| s <= y)
            .saturating_sub(1);
        FieldsAlong {
            cols: &self.field_cols[r.min(self.field_cols.len() - 1)],
            r,
            c: 0,
        }
    }
}

/// The fields along one line of the scene (y fixed), asked at increasing x: what
/// [`Scene::field_at`] finds by binary search, found by stepping a column cursor (a row of
/// pixels crosses a few dozen fields; a search per pixel was a fifth of synth's time).
pub struct FieldsAlong<'a> {
    cols: &'a [f64],
    r: usize,
    c: usize,
}

impl FieldsAlong<'_> {
    /// The field at `x` (not less than the x of the previous call): (row, column).
    pub fn at(&mut self, x: f64) -> (usize, usize) {
        while self.c + 1 < self.cols.len() && self.cols[self.c + 1] <= x {
            self.c += 1;
        }
        (self.r, self.c)
    }
}

impl Scene {
    /// Crop (0 wheat, 1 rice, 2 vegetables, 3 orchard) and basic-farmland flag of a field.
    pub fn field_kind(&self, r: usize, c: usize) -> (u8, bool) {
        let u = super::world::hash01(self.seed, r as u64, c as u64);
        let crop = (u * 4.0) as u8;
        let pbf =
            crop < 3 && super::world::hash01(self.seed ^ 0xFA, r as u64, c as u64) < self.pbf_share;
        (crop, pbf)
    }

    /// The index of the county at (x, y).
    pub fn county_at(&self, x: f64, y: f64) -> usize {
        self.counties_along(y).at(x)
    }

    /// The counties along the line at `y` (the north-south border's x found once).
    pub fn counties_along(&self, y: f64) -> CountiesAlong<'_> {
        CountiesAlong {
            scene: self,
            y,
            east_from: self.border_at(&self.border, y),
        }
    }

    /// A wandering border (`border` or `border_ew`) at `at`, interpolated between its knots.
    fn border_at(&self, line: &[f64], at: f64) -> f64 {
        let k = (at / self.border_step).max(0.0);
        let i = (k as usize).min(line.len().saturating_sub(2));
        let t = (k - i as f64).clamp(0.0, 1.0);
        line[i] * (1.0 - t) + line[(i + 1).min(line.len() - 1)] * t
    }

    /// A field's crop, basic-farmland flag and brightness factor.
    pub fn field(&self, (r, c): (usize, usize)) -> Field {
        let (crop, pbf) = self.field_kind(r, c);
        Field {
            crop,
            pbf,
            var: 0.9 + 0.2 * super::world::hash01(self.seed ^ 0xB, r as u64, c as u64),
        }
    }

    /// Counties the scene spans (2 or 4; see [`COUNTIES`]).
    pub fn counties(&self) -> usize {
        if self.border_ew.is_empty() { 2 } else { 4 }
    }

    /// Split the counties again by a wandering east-west border near the middle: four counties.
    /// Drawn from its own stream, so the imagery and the north-south border stay as they were.
    pub fn split_north_south(&mut self) {
        let mut rng = Rng::new(self.seed ^ 0x5EED_C0DE);
        let (w, h) = (self.width as f64, self.height as f64);
        let mut y = h * rng.range(0.4, 0.6);
        let mut x = 0.0;
        self.border_ew.clear();
        while x <= w + self.border_step {
            self.border_ew.push(y);
            y += rng.range(-0.3, 0.3) * self.border_step;
            x += self.border_step;
        }
    }

    /// True inside the red-line corridor along the river.
    pub fn near_river(&self, x: f64, y: f64) -> bool {
        let (px, py) = (x.max(0.0) as usize, y.max(0.0) as usize);
        self.near_river_of(self.corridor_buckets.candidates(px, py, x, y), x, y)
    }

    /// [`Scene::near_river`] over the corridor segments `ids` (the bucket candidates of (x, y)).
    pub fn near_river_of(&self, mut ids: impl Iterator<Item = u32>, x: f64, y: f64) -> bool {
        ids.any(|i| {
            let (a, b, r) = self.corridor[i as usize];
            super::world::dist2_segment(x, y, a, b) <= r * r
        })
    }
}

/// A field of the grid as it renders: crop, basic-farmland flag, brightness factor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Field {
    pub crop: u8,
    pub pbf: bool,
    pub var: f64,
}

/// The counties along one line of the scene (see [`Scene::counties_along`]).
pub struct CountiesAlong<'a> {
    scene: &'a Scene,
    y: f64,
    east_from: f64,
}

impl CountiesAlong<'_> {
    /// The index of the county at `x` on this line.
    pub fn at(&self, x: f64) -> usize {
        let s = self.scene;
        let east = usize::from(x >= self.east_from);
        let south = !s.border_ew.is_empty() && self.y >= s.border_at(&s.border_ew, x);
        east + 2 * usize::from(south)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_has_every_change_kind() {
        let a = Scene::generate(4096, 4096, 0.8, 11);
        let b = Scene::generate(4096, 4096, 0.8, 11);
        assert_eq!(a.features, b.features);
        assert_eq!(a.changes, b.changes);
        let kinds: std::collections::BTreeSet<Change> = (0..8)
            .flat_map(|s| {
                Scene::generate(4096, 4096, 0.8, s)
                    .changes
                    .into_iter()
                    .map(|c| c.kind)
            })
            .collect();
        assert_eq!(kinds.len(), Change::ALL.len(), "{kinds:?}");
    }
}
