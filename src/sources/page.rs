//! `sources.html`: the comparison as one offline page (no script, no fetched style): the
//! table of every source and a plot of object recall against object size.

use super::{SourceResult, SourcesReport};
use crate::eval::SIZE_BINS_MU;
use crate::output::report::esc;
use std::fmt::Write as _;

/// Distinct line colours (Okabe-Ito, readable by colour-blind readers).
const COLOURS: [&str; 8] = [
    "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000",
];

fn bin_label(k: usize) -> String {
    match SIZE_BINS_MU.get(k + 1) {
        Some(hi) => format!("{}-{hi} mu", SIZE_BINS_MU[k]),
        None => format!("≥ {} mu", SIZE_BINS_MU[k]),
    }
}

fn degradation(s: &SourceResult) -> String {
    let mut parts = vec![];
    if let Some(b) = &s.band_spec {
        parts.push(format!("bands {b}"));
    }
    if let Some(c) = s.coregistered_by {
        parts.push(format!(
            "co-registered (moved {:+.2}, {:+.2} px)",
            -c.dx_px, -c.dy_px
        ));
    }
    let Some(d) = s.degradation else {
        parts.push("as delivered".into());
        return parts.join(", ");
    };
    if let Some(m) = d.resample_m {
        parts.push(format!("resampled to {m} m"));
    }
    if let Some(n) = d.noise {
        parts.push(format!("noise σ {n}"));
    }
    if let Some([x, y]) = d.shift_px {
        parts.push(format!("after shifted ({x}, {y}) px"));
    }
    if let Some(h) = d.haze {
        parts.push(format!("haze +{h}"));
    }
    parts.join(", ")
}

/// The page.
pub fn html(r: &SourcesReport) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tuban sources</title><style>\
         body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:1em 0}\
         td,th{border:1px solid #bbb;padding:4px 6px;font-size:13px}th{background:#eee}\
         svg{border:1px solid #888;background:#fcfcfa}.axis{stroke:#444}.grid{stroke:#ddd}\
         text{font-size:12px}</style></head><body>\n",
    );
    let _ = writeln!(
        h,
        "<h1>Which imagery finds the changes</h1><p>Reference: {} · found = at least {:.0} % of an object covered · {} sources</p>",
        esc(&r.truth.display().to_string()),
        100.0 * r.cover,
        r.sources.len()
    );
    h.push_str(
        "<table id=\"sources\"><thead><tr><th>source</th><th>degradation</th><th>pixel (m)</th><th>bands</th>\
         <th>evidence</th><th>shift measured (px)</th><th>cloud</th><th>shadow</th><th>nodata</th>\
         <th>s / km²</th><th>pixel F1</th><th>objects found</th><th>object recall</th>\
         <th>object precision</th><th>object F1</th><th>smallest found reliably</th></tr></thead><tbody>\n",
    );
    let pct = |v: f64| format!("{:.1} %", 100.0 * v);
    for s in &r.sources {
        let _ = writeln!(
            h,
            "<tr data-source=\"{n}\"><td>{n}</td><td>{d}</td><td>{px}</td><td>{b}</td><td>{e}</td><td>{sh}</td>\
             <td>{c}</td><td>{sd}</td><td>{nd}</td><td>{spk:.2}</td><td>{f1:.3}</td><td>{fo} / {to}</td>\
             <td>{rc:.3}</td><td>{pr:.3}</td><td>{of:.3}</td><td>{sm}</td></tr>",
            n = esc(&s.name),
            d = esc(&degradation(s)),
            px = s
                .pixel_size_m
                .map(|p| format!("{p:.2}"))
                .unwrap_or_default(),
            b = s.bands,
            e = s.evidence,
            sh = s
                .registration
                .map(|g| format!("{:+.2}, {:+.2}", g.dx_px, g.dy_px))
                .unwrap_or_else(|| "not measured".into()),
            c = pct(s.cloud_share),
            sd = pct(s.shadow_share),
            nd = pct(s.nodata_share),
            spk = s.seconds_per_km2,
            f1 = s.pixel.f1,
            fo = s.objects.found,
            to = s.objects.truth_objects,
            rc = s.objects.recall,
            pr = s.objects.precision,
            of = s.objects.f1,
            sm = s
                .smallest_reliable_mu
                .map(|m| format!("{m} mu"))
                .unwrap_or_else(|| "—".into()),
        );
    }
    h.push_str("</tbody></table>\n");
    // Recall against object size, one line per source.
    let bins = SIZE_BINS_MU.len();
    let (w, ht, left, top, bottom, right) = (760.0, 380.0, 60.0, 20.0, 50.0, 180.0);
    let (pw, ph) = (w - left - right, ht - top - bottom);
    let x = |k: usize| left + pw * (k as f64 + 0.5) / bins as f64;
    let y = |v: f64| top + ph * (1.0 - v);
    let _ = write!(
        h,
        "<h2>Object recall by object size</h2><svg id=\"recall\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\">"
    );
    for v in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            h,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.2}</text>",
            left + pw,
            left - 6.0,
            y(v) + 4.0,
            yy = y(v)
        );
    }
    for k in 0..bins {
        let _ = write!(
            h,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(k),
            top + ph + 18.0,
            bin_label(k)
        );
    }
    let _ = write!(
        h,
        "<line class=\"axis\" x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{:.1}\"/><line class=\"axis\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">truth object area</text>\
         <text transform=\"translate(16 {:.1}) rotate(-90)\" text-anchor=\"middle\">recall</text>",
        top + ph,
        left + pw,
        top + ph,
        top + ph,
        left + pw / 2.0,
        ht - 8.0,
        top + ph / 2.0
    );
    for (k, s) in r.sources.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let points: Vec<String> = s
            .recall_by_size
            .iter()
            .enumerate()
            .filter(|(_, b)| b.truth_objects > 0)
            .map(|(i, b)| format!("{:.1},{:.1}", x(i), y(b.recall)))
            .collect();
        let _ = write!(
            h,
            "<g class=\"series\" data-source=\"{n}\"><title>{n}</title><polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{p}\"/>",
            n = esc(&s.name),
            p = points.join(" ")
        );
        for p in &points {
            let (cx, cy) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                h,
                "<circle cx=\"{cx}\" cy=\"{cy}\" r=\"3.5\" fill=\"{colour}\"/>"
            );
        }
        let ly = top + 14.0 + 18.0 * k as f64;
        let _ = write!(
            h,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{ly:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"3\"/><text x=\"{:.1}\" y=\"{:.1}\">{}</text></g>",
            left + pw + 14.0,
            left + pw + 34.0,
            left + pw + 40.0,
            ly + 4.0,
            esc(&s.name)
        );
    }
    h.push_str("</svg>\n");
    // Per type.
    let types: std::collections::BTreeSet<&String> =
        r.sources.iter().flat_map(|s| s.per_type.keys()).collect();
    let _ = write!(
        h,
        "<h2>Per change type{}</h2><table id=\"types\"><thead><tr><th>source</th>",
        if r.min_area_mu > 0.0 {
            format!(" (objects of at least {} mu)", r.min_area_mu)
        } else {
            String::new()
        }
    );
    for t in &types {
        let _ = write!(h, "<th>{} recall</th><th>{} precision</th>", esc(t), esc(t));
    }
    h.push_str("</tr></thead><tbody>\n");
    for s in &r.sources {
        let _ = write!(h, "<tr><td>{}</td>", esc(&s.name));
        for t in &types {
            match s.per_type.get(*t) {
                Some(ts) => {
                    let _ = write!(
                        h,
                        "<td>{:.2} ({}/{})</td><td>{}</td>",
                        ts.recall,
                        ts.found,
                        ts.truth_objects,
                        ts.precision.map(|p| format!("{p:.2}")).unwrap_or_default()
                    );
                }
                None => h.push_str("<td></td><td></td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
    chips(&mut h, r);
    h.push_str("</body></html>\n");
    h
}

/// The same leads of the first source as every source saw them: after images side by side,
/// each with its own polygons there outlined.
fn chips(h: &mut String, r: &SourcesReport) {
    if r.chips.is_empty() {
        return;
    }
    let _ = write!(
        h,
        "<h2>The same leads from each source</h2><p>After image of each source around a lead \
         of <b>{}</b> (its largest, then at each quarter of its leads by size), the source's own \
         polygons there outlined in yellow.</p><table id=\"chips\"><thead><tr><th>lead</th>",
        esc(&r.sources[0].name)
    );
    for s in &r.sources {
        let _ = write!(h, "<th>{}</th>", esc(&s.name));
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in &r.chips {
        let _ = write!(h, "<tr><td>{} {:.1} mu</td>", esc(&row.tblx), row.area_mu);
        for (chip, n) in row.chips.iter().zip(&row.polygons) {
            match chip {
                Some(src) => {
                    let _ = write!(
                        h,
                        "<td><img class=\"chip\" src=\"{}\" width=\"160\" height=\"160\" alt=\"\"><br>{n} polygon{}</td>",
                        esc(src),
                        if *n == 1 { "" } else { "s" }
                    );
                }
                None => h.push_str("<td>another CRS</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}
