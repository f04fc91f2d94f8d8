//! The code page of a Shapefile that does not say it. A survey Shapefile without a `.cpg` (and
//! without a code page byte in its `.dbf`) reaches GDAL as raw bytes; Chinese survey data is
//! then usually GBK, and its county and land-class names would become mojibake. When the text
//! GDAL gives is not UTF-8, the raw bytes are checked against GB18030's structure (a superset
//! of GBK): if they fit, the layer is read as GB18030 with a note that says so; if not, the
//! source is refused and the message names `encoding =`.

use crate::error::{Error, Result};
use crate::job::LayerSource;
use gdal::vector::LayerAccess;
use gdal::{Dataset, DatasetOptions, GdalOpenFlags};
use std::path::Path;

/// Features sampled for the check.
const SAMPLE: usize = 20_000;

/// True when `b` is a sequence of GB18030 characters: ASCII, two-byte (lead 0x81-0xFE, trail
/// 0x40-0x7E or 0x80-0xFE) or four-byte (0x81-0xFE, 0x30-0x39, 0x81-0xFE, 0x30-0x39).
pub fn is_gb18030(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c < 0x80 {
            i += 1;
            continue;
        }
        if !(0x81..=0xFE).contains(&c) {
            return false;
        }
        match b.get(i + 1) {
            Some(&t) if (0x40..=0x7E).contains(&t) || (0x80..=0xFE).contains(&t) => i += 2,
            Some(&t) if (0x30..=0x39).contains(&t) => {
                let ok = matches!(b.get(i + 2), Some(0x81..=0xFE))
                    && matches!(b.get(i + 3), Some(0x30..=0x39));
                if !ok {
                    return false;
                }
                i += 4;
            }
            _ => return false,
        }
    }
    true
}

fn shapefile_without_cpg(path: &Path) -> bool {
    let is_shp = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("shp") || e.eq_ignore_ascii_case("dbf"));
    is_shp
        && !["cpg", "CPG"]
            .iter()
            .any(|e| path.with_extension(e).exists())
}

/// The raw bytes of the text fields of the first [`SAMPLE`] features; None when the source
/// cannot be opened (the caller's own open reports that).
fn text_bytes(path: &Path, options: &[&str]) -> Option<Vec<Vec<u8>>> {
    let ds = Dataset::open_ex(
        path,
        DatasetOptions {
            open_flags: GdalOpenFlags::GDAL_OF_VECTOR | GdalOpenFlags::GDAL_OF_READONLY,
            open_options: (!options.is_empty()).then_some(options),
            ..Default::default()
        },
    )
    .ok()?;
    let mut layer = ds.layer(0).ok()?;
    let text: Vec<i32> = layer
        .defn()
        .fields()
        .enumerate()
        .filter(|(_, f)| f.field_type() == gdal_sys::OGRFieldType::OFTString)
        .map(|(i, _)| i as i32)
        .collect();
    let mut out = Vec::new();
    for f in layer.features().take(SAMPLE) {
        for &i in &text {
            // SAFETY: a live feature handle and a field index of its layer; GDAL returns a
            // NUL-terminated string it owns, copied before the next call.
            let bytes = unsafe {
                let p = gdal_sys::OGR_F_GetFieldAsString(f.c_feature(), i);
                (!p.is_null()).then(|| std::ffi::CStr::from_ptr(p).to_bytes().to_vec())
            };
            if let Some(b) = bytes.filter(|b| !b.is_ascii()) {
                out.push(b);
            }
        }
    }
    Some(out)
}

/// The encoding to read `src` with when it does not say its own, and the note that says so.
///
/// # Errors
/// [`Error::Layer`] when the text is neither UTF-8 nor GB18030: the user must name it.
pub fn guess(src: &LayerSource) -> Result<Option<(&'static str, String)>> {
    let path = Path::new(&src.path);
    if src.encoding.is_some() || !shapefile_without_cpg(path) {
        return Ok(None);
    }
    let Some(text) = text_bytes(path, &[]) else {
        return Ok(None);
    };
    if text.iter().all(|b| std::str::from_utf8(b).is_ok()) {
        return Ok(None);
    }
    let raw = text_bytes(path, &["ENCODING="]).unwrap_or(text);
    if raw.iter().all(|b| is_gb18030(b)) {
        return Ok(Some((
            "GB18030",
            format!(
                "{}: no .cpg, and its text is not UTF-8: read as GB18030 (GBK); write a .cpg or set encoding = in the job if that is wrong",
                src.path
            ),
        )));
    }
    Err(Error::Layer {
        source_name: src.path.clone(),
        layer: None,
        reason: "no .cpg, and its text is neither UTF-8 nor GBK/GB18030: set encoding = \"...\" (the code page, e.g. \"CP1252\") in the job".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gb18030_structure() {
        // 常熟市, 张家港市 in GBK; a four-byte sequence; ASCII.
        assert!(is_gb18030(&[0xb3, 0xa3, 0xca, 0xec, 0xca, 0xd0]));
        assert!(is_gb18030(&[
            0xd5, 0xc5, 0xbc, 0xd2, 0xb8, 0xdb, 0xca, 0xd0
        ]));
        assert!(is_gb18030(&[0x81, 0x30, 0x81, 0x30, b'a']));
        assert!(is_gb18030(b"DLBM 0101"));
        assert!(!is_gb18030(&[0xb3])); // cut short
        assert!(!is_gb18030(&[0x80, 0x41])); // 0x80 is no lead byte
        assert!(!is_gb18030(&[0xff, 0x41]));
        assert!(!is_gb18030(&[0x81, 0x30, 0x20, 0x30]));
    }
}
