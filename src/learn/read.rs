//! Verified leads from files: a change layer tuban wrote (detect's `changes.gpkg`, a county
//! package's leads) joined with a verdicts CSV ([`super::verdicts`]) on the CSV's key.

use super::leads::{FEATURES, Verified, row};
use super::verdicts::{FID, Verdicts};
use crate::error::{Error, Result};
use gdal::vector::LayerAccess;
use std::collections::HashMap;
use std::path::Path;

/// What joining one leads file with its verdicts found.
#[derive(Clone, Debug, PartialEq)]
pub struct Joined {
    pub leads: Vec<Verified>,
    /// Features in the layer, and those without a verdict (not used).
    pub features: usize,
    pub unjudged: usize,
    /// Model features the layer has no field for (missing in every lead).
    pub absent: Vec<String>,
}

/// Fields the layer must have to be a tuban change layer.
const REQUIRED: [&str; 2] = ["area_m2", "ev_mean"];

/// Join the leads of `path` (layer `layer`, default the first) with `verdicts`.
///
/// # Errors
/// The file or layer cannot be read; the layer lacks the key field or tuban's measures; a
/// verdict names a lead the layer does not hold (the files do not belong together).
pub fn join(path: &Path, layer: Option<&str>, verdicts: &Verdicts) -> Result<Joined> {
    let ds = crate::raster::open_dataset(path)?;
    let err = |e: gdal::errors::GdalError| Error::Layer {
        source_name: path.display().to_string(),
        layer: layer.map(str::to_string),
        reason: e.to_string(),
    };
    let mut lyr = match layer {
        Some(name) => ds.layer_by_name(name).map_err(err)?,
        None => ds.layer(0).map_err(err)?,
    };
    let layer_name = lyr.name();
    let fields: Vec<String> = lyr.defn().fields().map(|f| f.name()).collect();
    let index = |name: &str| fields.iter().position(|f| f.eq_ignore_ascii_case(name));
    let missing_field = |field: &str, role: &'static str| Error::Field {
        source_name: path.display().to_string(),
        layer: layer_name.clone(),
        field: field.to_string(),
        role,
        available: fields.clone(),
    };
    for f in REQUIRED {
        if index(f).is_none() {
            return Err(missing_field(f, "a tuban change layer's measures"));
        }
    }
    let by_fid = verdicts.key_field.eq_ignore_ascii_case(FID);
    let key_at = if by_fid {
        None
    } else {
        Some(
            index(&verdicts.key_field)
                .ok_or_else(|| missing_field(&verdicts.key_field, "the verdicts' key"))?,
        )
    };
    let tblx_at = index("TBLX");
    let present: Vec<(&str, Option<usize>)> = FEATURES.iter().map(|f| (*f, index(f))).collect();
    let absent = FEATURES
        .iter()
        .filter(|f| index(f).is_none() && !matches!(**f, "ndvi_drop" | "bright_rise"))
        .map(|f| f.to_string())
        .collect();
    // key -> (feature row, dispatched type)
    let mut by_key: HashMap<String, (Vec<f64>, String)> = HashMap::new();
    let mut features = 0usize;
    for f in lyr.features() {
        features += 1;
        let key = match key_at {
            None => f.fid().map(|v| v.to_string()).unwrap_or_default(),
            Some(i) => f.field_as_string(i).ok().flatten().unwrap_or_default(),
        };
        let value = |name: &str| {
            let i = present.iter().find(|(n, _)| *n == name)?.1?;
            f.field_as_double(i).ok().flatten()
        };
        let tblx = tblx_at
            .and_then(|i| f.field_as_string(i).ok().flatten())
            .unwrap_or_default();
        if by_key.insert(key.clone(), (row(&value), tblx)).is_some() {
            return Err(Error::Layer {
                source_name: path.display().to_string(),
                layer: Some(layer_name.clone()),
                reason: format!(
                    "{} {key} names two leads: the verdicts' key must be unique",
                    verdicts.key_field
                ),
            });
        }
    }
    let mut leads = Vec::with_capacity(verdicts.rows.len());
    for v in &verdicts.rows {
        let (x, tblx) = by_key.get(&v.key).ok_or_else(|| Error::Table {
            path: verdicts.path.clone(),
            line: v.line,
            reason: format!(
                "{} {} is not a lead in {} (layer {layer_name}): are these the verdicts of those leads?",
                verdicts.key_field,
                v.key,
                path.display()
            ),
        })?;
        leads.push(Verified {
            x: x.clone(),
            tblx: tblx.clone(),
            real: v.real,
            kind: v.kind.clone(),
        });
    }
    Ok(Joined {
        unjudged: features - leads.len(),
        features,
        leads,
        absent,
    })
}
