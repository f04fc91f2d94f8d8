//! The app's JSON API and tiles. Every handler takes the signed-in reviewer ([`Auth`]) and
//! checks each lead it touches against the reviewer's county on the server.

use super::App;
use super::auth::Auth;
use crate::ledger::review::{LeadDetail, LeadFilter, Recorded, Reviewer};
use axum::Json;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use geo::MultiPolygon;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Most features of a survey layer sent for one view.
const MAX_LAYER_FEATURES: usize = 5000;

/// A refusal or failure: the status and the words the page shows.
pub struct Fail(StatusCode, String);

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

fn fail(status: StatusCode, msg: impl std::fmt::Display) -> Fail {
    Fail(status, msg.to_string())
}

/// Run blocking work (the ledger, GDAL) on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Fail> + Send + 'static,
) -> Result<T, Fail> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(fail(StatusCode::INTERNAL_SERVER_ERROR, e)))
}

fn internal(e: impl std::fmt::Display) -> Fail {
    fail(StatusCode::INTERNAL_SERVER_ERROR, e)
}

/// The ledger, locked (a poisoned lock is an internal error).
fn ledger(app: &App) -> Result<std::sync::MutexGuard<'_, crate::ledger::Ledger>, Fail> {
    app.ledger
        .lock()
        .map_err(|_| internal("the ledger lock is poisoned"))
}

/// GeoJSON geometry of a multipolygon.
pub fn geojson(mp: &MultiPolygon<f64>) -> Value {
    let ring = |r: &geo::LineString<f64>| r.0.iter().map(|c| [c.x, c.y]).collect::<Vec<_>>();
    json!({
        "type": "MultiPolygon",
        "coordinates": mp.0.iter().map(|p| {
            std::iter::once(p.exterior()).chain(p.interiors()).map(ring).collect::<Vec<_>>()
        }).collect::<Vec<_>>(),
    })
}

/// Geometries from the ledger's CRS into the map's (when they differ).
struct ToMap(Option<gdal::spatial_ref::CoordTransform>);

impl ToMap {
    fn new(app: &App) -> Result<ToMap, Fail> {
        let (Some(from), Some(scene)) = (&app.ledger_wkt, &app.scene) else {
            return Ok(ToMap(None));
        };
        if super::scene::same_crs(from, &scene.grid.wkt) {
            return Ok(ToMap(None));
        }
        let srs = |w: &str| {
            let mut s = gdal::spatial_ref::SpatialRef::from_wkt(w).map_err(internal)?;
            s.set_axis_mapping_strategy(
                gdal::spatial_ref::AxisMappingStrategy::TraditionalGisOrder,
            );
            Ok::<_, Fail>(s)
        };
        let t = gdal::spatial_ref::CoordTransform::new(&srs(from)?, &srs(&scene.grid.wkt)?)
            .map_err(internal)?;
        Ok(ToMap(Some(t)))
    }

    fn apply(&self, mut mp: MultiPolygon<f64>) -> MultiPolygon<f64> {
        let Some(t) = &self.0 else { return mp };
        use geo::MapCoordsInPlace;
        mp.map_coords_in_place(|c| {
            let (mut x, mut y, mut z) = ([c.x], [c.y], [0.0]);
            match t.transform_coords(&mut x, &mut y, &mut z) {
                Ok(()) => geo::coord! { x: x[0], y: y[0] },
                Err(_) => c,
            }
        });
        mp
    }
}

/// `GET /api/scene`: who is signed in, the map's grid, the dates and the layers there are.
pub async fn scene(State(app): State<Arc<App>>, Auth(who): Auth) -> Json<Value> {
    let s = app.scene.as_ref();
    Json(json!({
        "user": who,
        "grid": s.map(|s| &s.grid),
        "dates": s.map(|s| s.dates.iter().map(|d| json!({"name": d.name, "date": d.date})).collect::<Vec<_>>()),
        "layers": s.map(|s| s.layers.iter().map(|l| l.name).collect::<Vec<_>>()).unwrap_or_default(),
        "types": crate::output::report::TYPES,
        "type_names": crate::output::report::TYPES.iter().map(|(code, name)| (code.to_string(), Value::from(*name))).collect::<serde_json::Map<_, _>>(),
        "steps": crate::ledger::feedback::STEPS,
    }))
}

/// `GET /api/leads?county=&quarter=&type=&status=&min_confidence=&min_mu=`: the leads the
/// reviewer may see, filtered.
pub async fn leads(
    State(app): State<Arc<App>>,
    Auth(who): Auth,
    Query(f): Query<LeadFilter>,
) -> Response {
    blocking(move || ledger(&app)?.lead_list(&who, &f).map_err(internal))
        .await
        .map_or_else(IntoResponse::into_response, |l| Json(l).into_response())
}

/// `GET /api/outlines`: the outlines of the leads the reviewer may see, in the map's CRS.
pub async fn outlines(
    State(app): State<Arc<App>>,
    Auth(who): Auth,
    Query(f): Query<LeadFilter>,
) -> Response {
    let got = blocking(move || {
        let to_map = ToMap::new(&app)?;
        let outlines = ledger(&app)?.lead_outlines(&who, &f).map_err(internal)?;
        let features: Vec<Value> = outlines
            .into_iter()
            .map(|(s, g)| {
                json!({
                    "type": "Feature",
                    "properties": {"jcbh": s.jcbh, "status": s.status, "tblx": s.tblx},
                    "geometry": geojson(&to_map.apply(g)),
                })
            })
            .collect();
        Ok(json!({"type": "FeatureCollection", "features": features}))
    })
    .await;
    got.map_or_else(IntoResponse::into_response, |v| Json(v).into_response())
}

/// A lead the reviewer may see, or the refusal (404 unknown, 403 another county).
fn visible_lead(app: &App, who: &Reviewer, jcbh: &str) -> Result<LeadDetail, Fail> {
    let d = ledger(app)?
        .lead(jcbh)
        .map_err(internal)?
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, format!("no lead {jcbh}")))?;
    if !who.may_see(&d.summary.xzqdm) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            format!(
                "lead {jcbh} belongs to county {}, not yours",
                d.summary.xzqdm
            ),
        ));
    }
    Ok(d)
}

/// The photo files a lead's `photos` names that this server keeps.
fn photo_files(app: &App, d: &LeadDetail) -> Vec<(String, Option<PathBuf>)> {
    d.fields
        .get("photos")
        .and_then(Value::as_str)
        .unwrap_or("")
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|p| {
            let f = app.photos.join(p);
            (p.to_string(), f.is_file().then_some(f))
        })
        .collect()
}

/// Longitude and latitude a photo's EXIF GPS tags give (GDAL reads them from JPEG and TIFF).
pub fn exif_position(path: &std::path::Path) -> Option<(f64, f64)> {
    use gdal::Metadata;
    let ds = gdal::Dataset::open(path).ok()?;
    let dms = |key: &str| -> Option<f64> {
        let v = ds.metadata_item(key, "")?;
        let parts: Vec<f64> = v
            .split(|c: char| c == '(' || c == ')' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .filter_map(|s| s.parse().ok())
            .collect();
        match parts.as_slice() {
            [d, m, s] => Some(d + m / 60.0 + s / 3600.0),
            [d] => Some(*d),
            _ => None,
        }
    };
    let lat = dms("EXIF_GPSLatitude")?;
    let lon = dms("EXIF_GPSLongitude")?;
    let sign = |key: &str, neg: &str| {
        if ds
            .metadata_item(key, "")
            .is_some_and(|r| r.trim().eq_ignore_ascii_case(neg))
        {
            -1.0
        } else {
            1.0
        }
    };
    Some((
        lon * sign("EXIF_GPSLongitudeRef", "W"),
        lat * sign("EXIF_GPSLatitudeRef", "S"),
    ))
}

/// A WGS 84 position in the map's CRS.
fn wgs84_to_map(app: &App, lon: f64, lat: f64) -> Option<[f64; 2]> {
    use gdal::spatial_ref::{AxisMappingStrategy, CoordTransform, SpatialRef};
    let scene = app.scene.as_ref()?;
    let mut from = SpatialRef::from_epsg(4326).ok()?;
    from.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let mut to = SpatialRef::from_wkt(&scene.grid.wkt).ok()?;
    to.set_axis_mapping_strategy(AxisMappingStrategy::TraditionalGisOrder);
    let t = CoordTransform::new(&from, &to).ok()?;
    let (mut x, mut y, mut z) = ([lon], [lat], [0.0]);
    t.transform_coords(&mut x, &mut y, &mut z).ok()?;
    Some([x[0], y[0]])
}

/// `GET /api/leads/{jcbh}`: the lead whole, its outline in the map's CRS, its photos with
/// their EXIF positions.
pub async fn lead(
    State(app): State<Arc<App>>,
    Auth(who): Auth,
    UrlPath(jcbh): UrlPath<String>,
) -> Response {
    blocking(move || lead_json(&app, &who, &jcbh))
        .await
        .map_or_else(IntoResponse::into_response, |v| Json(v).into_response())
}

fn lead_json(app: &App, who: &Reviewer, jcbh: &str) -> Result<Value, Fail> {
    let d = visible_lead(app, who, jcbh)?;
    let to_map = ToMap::new(app)?;
    let photos: Vec<Value> = photo_files(app, &d)
        .into_iter()
        .enumerate()
        .map(|(i, (name, file))| {
            let pos = file.as_deref().and_then(exif_position);
            json!({
                "name": name,
                "url": file.as_ref().map(|_| format!("/api/leads/{jcbh}/photos/{i}")),
                "lonlat": pos.map(|(lo, la)| [lo, la]),
                "xy": pos.and_then(|(lo, la)| wgs84_to_map(app, lo, la)),
            })
        })
        .collect();
    let mut v = serde_json::to_value(&d).map_err(internal)?;
    v["geometry"] = d.geom.map_or(Value::Null, |g| geojson(&to_map.apply(g)));
    v["photos"] = Value::from(photos);
    Ok(v)
}

/// A file name safe to keep: letters, digits, `.`, `-`, `_`.
fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_string();
    if s.is_empty() { "photo".into() } else { s }
}

/// `POST /api/leads/{jcbh}/verdict` (multipart: `version` the reviewer saw, `real`, `legal`,
/// `type`, `notes`, `step`, `step_date`, `step_notes`, and `photo` files): written through the
/// feedback code. 200 with the new version; 409 with the lead as it is now when another write
/// came first (the verdict is kept in the audit trail, not lost); 422 when it does not check.
/// Photos are kept in the photo folder before the verdict is written, whatever its outcome.
pub async fn verdict(
    State(app): State<Arc<App>>,
    Auth(who): Auth,
    UrlPath(jcbh): UrlPath<String>,
    mut form: Multipart,
) -> Response {
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut uploads: Vec<(String, Vec<u8>)> = vec![];
    loop {
        match form.next_field().await {
            Ok(Some(f)) => {
                let name = f.name().unwrap_or("").to_lowercase();
                if name == "photo" {
                    let file = f.file_name().unwrap_or("photo.jpg").to_string();
                    match f.bytes().await {
                        Ok(b) if b.is_empty() => {}
                        Ok(b) => uploads.push((file, b.to_vec())),
                        Err(e) => return fail(StatusCode::BAD_REQUEST, e).into_response(),
                    }
                } else {
                    match f.text().await {
                        Ok(t) if t.trim().is_empty() => {}
                        Ok(t) => {
                            fields.insert(name, t.trim().to_string());
                        }
                        Err(e) => return fail(StatusCode::BAD_REQUEST, e).into_response(),
                    }
                }
            }
            Ok(None) => break,
            Err(e) => return fail(StatusCode::BAD_REQUEST, e).into_response(),
        }
    }
    let Some(seen) = fields.remove("version").and_then(|v| v.parse::<i64>().ok()) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "the form names no version of the lead",
        )
        .into_response();
    };
    let got = blocking(move || {
        visible_lead(&app, &who, &jcbh)?;
        let mut kept = vec![];
        for (i, (name, bytes)) in uploads.iter().enumerate() {
            let lower = name.to_lowercase();
            if ![".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp"]
                .iter()
                .any(|e| lower.ends_with(e))
            {
                return Err(fail(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("photo {name:?}: not a JPEG, PNG, TIFF or WebP file"),
                ));
            }
            let stamp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            let rel = format!("{}/{stamp}-{i}-{}", safe_name(&jcbh), safe_name(name));
            let path = app.photos.join(&rel);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(internal)?;
            }
            let tmp = crate::output::partial_path(&path);
            std::fs::write(&tmp, bytes)
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(internal)?;
            kept.push(rel);
        }
        if !kept.is_empty() {
            fields.insert("photos".into(), kept.join(";"));
        }
        if let Some(t) = fields.remove("type") {
            fields.insert("tblx".into(), t);
        }
        let outcome = ledger(&app)?
            .record(&jcbh, &fields, &app.photos, seen, &who.name)
            .map_err(internal)?;
        let now = lead_json(&app, &who, &jcbh)?;
        Ok((outcome, now))
    })
    .await;
    match got {
        Err(e) => e.into_response(),
        Ok((o @ Recorded::Applied { .. }, now)) => {
            Json(json!({"result": o, "lead": now})).into_response()
        }
        Ok((o @ Recorded::Conflict { .. }, now)) => (
            StatusCode::CONFLICT,
            Json(json!({"result": o, "lead": now})),
        )
            .into_response(),
        Ok((o @ Recorded::Refused { .. }, now)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"result": o, "lead": now})),
        )
            .into_response(),
    }
}

/// `GET /api/leads/{jcbh}/photos/{index}`: a photo of the lead.
pub async fn photo(
    State(app): State<Arc<App>>,
    Auth(who): Auth,
    UrlPath((jcbh, index)): UrlPath<(String, usize)>,
) -> Response {
    let got = blocking(move || {
        let d = visible_lead(&app, &who, &jcbh)?;
        let files = photo_files(&app, &d);
        let (name, file) = files
            .get(index)
            .cloned()
            .ok_or_else(|| fail(StatusCode::NOT_FOUND, "no such photo"))?;
        let file = file.ok_or_else(|| {
            fail(
                StatusCode::NOT_FOUND,
                format!("photo {name} is not in this server's photo folder"),
            )
        })?;
        let bytes = std::fs::read(&file).map_err(internal)?;
        Ok((content_type(&name), bytes))
    })
    .await;
    got.map_or_else(IntoResponse::into_response, |(ct, b)| {
        ([(header::CONTENT_TYPE, ct)], b).into_response()
    })
}

/// The MIME type of a file name.
pub fn content_type(name: &str) -> &'static str {
    let lower = name.to_lowercase();
    match lower.rsplit('.').next().unwrap_or("") {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "tif" | "tiff" => "image/tiff",
        "webp" => "image/webp",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => "application/octet-stream",
    }
}

#[derive(serde::Deserialize)]
pub struct BboxQuery {
    bbox: String,
}

/// `GET /api/layers/{name}?bbox=minx,miny,maxx,maxy`: a survey layer's polygons in the box
/// (map CRS), at most [`MAX_LAYER_FEATURES`] (`truncated` says when more were there).
pub async fn layer(
    State(app): State<Arc<App>>,
    Auth(_who): Auth,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<BboxQuery>,
) -> Response {
    let b: Vec<f64> = q
        .bbox
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let [minx, miny, maxx, maxy] = b[..] else {
        return fail(StatusCode::BAD_REQUEST, "bbox: minx,miny,maxx,maxy").into_response();
    };
    let got = blocking(move || {
        let scene = app
            .scene
            .as_ref()
            .ok_or_else(|| fail(StatusCode::NOT_FOUND, "no run: no survey layers"))?;
        let l = scene
            .layers
            .iter()
            .find(|l| l.name == name)
            .ok_or_else(|| fail(StatusCode::NOT_FOUND, format!("no layer {name}")))?;
        let spec: Vec<_> = l
            .field
            .iter()
            .map(|f| crate::overlay::layer::FieldSpec::mapped("class", &Some(f.clone()), f))
            .collect();
        let mut features = vec![];
        let mut total = 0usize;
        crate::overlay::layer::read_layer(
            &l.source,
            l.default_layer,
            crate::overlay::layer::Fields::Named(&spec),
            Some(&scene.work),
            Some(geo::Rect::new((minx, miny), (maxx, maxy))),
            &|_, _| {},
            |batch| {
                for f in batch {
                    total += 1;
                    if features.len() < MAX_LAYER_FEATURES {
                        features.push(json!({
                            "type": "Feature",
                            "properties": {"class": f.attrs.first().cloned().flatten()},
                            "geometry": geojson(&f.geom),
                        }));
                    }
                }
                Ok(())
            },
        )
        .map_err(internal)?;
        Ok(json!({
            "type": "FeatureCollection",
            "features": features,
            "truncated": total > MAX_LAYER_FEATURES,
            "total": total,
        }))
    })
    .await;
    got.map_or_else(IntoResponse::into_response, |v| Json(v).into_response())
}

/// A PNG of RGBA pixels, `n` x `n` (fast deflate: tiles are made on demand).
pub fn encode_png(rgba: &[u8], n: usize) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rgba.len() / 2);
    let mut enc = png::Encoder::new(&mut out, n as u32, n as u32);
    enc.set_color(png::ColorType::Rgba);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(rgba).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// `GET /tiles/{before|after}/{z}/{x}/{y}.png`: a 256-px tile of one date in the map's grid.
pub async fn tile(
    State(app): State<Arc<App>>,
    Auth(_who): Auth,
    UrlPath((date, z, x, file)): UrlPath<(String, u32, u32, String)>,
) -> Response {
    let Some(scene) = app.scene.as_ref() else {
        return fail(StatusCode::NOT_FOUND, "no imagery").into_response();
    };
    let d = match date.as_str() {
        "before" => 0,
        "after" => 1,
        _ => return fail(StatusCode::NOT_FOUND, "date: before or after").into_response(),
    };
    let Some(y) = file
        .strip_suffix(".png")
        .and_then(|y| y.parse::<u32>().ok())
    else {
        return fail(StatusCode::NOT_FOUND, "tile: {y}.png").into_response();
    };
    if z > scene.grid.max_zoom {
        return fail(
            StatusCode::NOT_FOUND,
            "beyond the imagery's full resolution",
        )
        .into_response();
    }
    let key = (d, z, x, y);
    let cached = app.tiles.lock().ok().and_then(|c| c.get(&key));
    let png = match cached {
        Some(p) => p,
        None => {
            let a = app.clone();
            let made = blocking(move || {
                let scene = a.scene.as_ref().ok_or_else(|| internal("no imagery"))?;
                let rgba = scene.render(d, z, x, y).map_err(internal)?;
                let n = super::scene::TILE_PX;
                let rgba = rgba.unwrap_or_else(|| vec![0; 4 * n * n]);
                encode_png(&rgba, n).map(Arc::new).map_err(internal)
            })
            .await;
            match made {
                Ok(p) => {
                    if let Ok(mut c) = app.tiles.lock() {
                        c.put(key, p.clone());
                    }
                    p
                }
                Err(e) => return e.into_response(),
            }
        }
    };
    (
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        png.as_ref().clone(),
    )
        .into_response()
}
