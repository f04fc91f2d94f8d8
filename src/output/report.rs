//! The county report: one HTML file that works offline from its folder. An overview map (inline
//! SVG) of the leads, the excluded polygons and the parts of the county no image saw clear,
//! totals in mu per change type, the county's coverage, the dispatch deadline, and a table of
//! the leads, sortable by any column, with the before and after chips
//! side by side. No script or style is fetched from anywhere.

use crate::MU_M2;
use crate::coverage::{CountyCoverage, Reason};
use crate::job::Quarter;
use geo::{BoundingRect, MultiPolygon};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One lead as the report shows it.
pub struct ReportLead<'a> {
    pub geom: &'a MultiPolygon<f64>,
    pub jcbh: String,
    pub tblx: String,
    /// Confidence of the type, [0, 1] (None for layers typed elsewhere).
    pub confidence: Option<f64>,
    /// Why the type (the rule and its feature values).
    pub type_reasons: String,
    pub area_m2: f64,
    pub arable_m2: f64,
    pub basic_farmland_m2: f64,
    pub red_line_m2: f64,
    pub sfyn: String,
    pub sfhx: String,
    pub reasons: String,
    /// Chip paths relative to the report.
    pub before_chip: Option<String>,
    pub after_chip: Option<String>,
}

/// What the imagery saw of the county: its coverage row and the parts not seen.
pub struct ReportCoverage<'a> {
    pub row: &'a CountyCoverage,
    pub not_seen: Vec<(Reason, &'a MultiPolygon<f64>)>,
}

/// `s` escaped for HTML text and attribute values.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// SVG path data of polygons mapped by `f`.
fn path_d(g: &MultiPolygon<f64>, f: &impl Fn(f64, f64) -> (f64, f64)) -> String {
    let mut d = String::new();
    for p in &g.0 {
        for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
            for (i, c) in ring.0.iter().enumerate() {
                let (x, y) = f(c.x, c.y);
                let _ = write!(d, "{}{x:.1},{y:.1}", if i == 0 { "M" } else { "L" });
            }
            d.push('Z');
        }
    }
    d
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #bbb;padding:4px 6px;font-size:13px;vertical-align:top}th{background:#eee;cursor:pointer}\
th.sorted-asc::after{content:' \\25B2'}th.sorted-desc::after{content:' \\25BC'}img{width:192px;height:192px}\
svg{border:1px solid #888;background:#f8f8f4}.lead{fill:#e33;fill-opacity:.6;stroke:#900}\
.county{fill:#fff;stroke:#246;stroke-width:1.5}.mark{fill:none;stroke:#e00;stroke-width:2}.excluded{fill:#999;fill-opacity:.35;stroke:#666}\
.cloud{fill:#7ab;fill-opacity:.45;stroke:none}.shadow{fill:#536;fill-opacity:.45;stroke:none}.nodata{fill:#333;fill-opacity:.45;stroke:none}.noimage{fill:#000;fill-opacity:.6;stroke:none}\
.warn{color:#a00;font-weight:bold}.deadline{font-size:1.1em;font-weight:bold;color:#a00}";

const SCRIPT: &str = r#"
(function(){
  var t=document.getElementById('leads'); if(!t) return;
  var ths=t.tHead.rows[0].cells;
  Array.prototype.forEach.call(ths,function(th,col){
    if(!th.dataset.key) return;
    th.addEventListener('click',function(){
      var asc=!th.classList.contains('sorted-asc');
      Array.prototype.forEach.call(ths,function(h){h.classList.remove('sorted-asc','sorted-desc');});
      th.classList.add(asc?'sorted-asc':'sorted-desc');
      var rows=Array.prototype.slice.call(t.tBodies[0].rows);
      var num=th.dataset.num==='1';
      rows.sort(function(a,b){
        var x=a.dataset[th.dataset.key], y=b.dataset[th.dataset.key];
        var c=num?(parseFloat(x)-parseFloat(y)):(x<y?-1:x>y?1:0);
        return asc?c:-c;});
      rows.forEach(function(r){t.tBodies[0].appendChild(r);});
    });
  });
  var imgs=document.images, done=0, failed=0;
  function settle(){ document.body.dataset.chipsLoaded=done; document.body.dataset.chipsFailed=failed; }
  Array.prototype.forEach.call(imgs,function(im){
    if(im.complete&&im.naturalWidth>0){done++;}
    else{im.addEventListener('load',function(){done++;settle();});im.addEventListener('error',function(){failed++;settle();});}
  });
  settle();
})();
"#;

/// The report HTML of one county.
pub fn county_report(
    code: &str,
    name: &str,
    quarter: Quarter,
    leads: &[ReportLead],
    excluded: &[&MultiPolygon<f64>],
    outline: &[MultiPolygon<f64>],
    coverage: Option<&ReportCoverage>,
) -> String {
    let (d0, d1) = quarter.dispatch_window();
    let mut html = String::new();
    let title = format!("{} {} {}", esc(name), esc(code), quarter);
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>tuban {title}</title><style>{STYLE}</style></head><body>\n\
         <h1>疑似违法图斑 (suspected-illegal change leads) · {title}</h1>\n\
         <p class=\"deadline\">Dispatch deadline: {d0} to {d1} (first ten days of the next quarter)</p>\n"
    );
    // Totals per type.
    let mut by_type: BTreeMap<&str, (usize, f64, f64, f64)> = BTreeMap::new();
    for l in leads {
        let e = by_type.entry(l.tblx.as_str()).or_default();
        e.0 += 1;
        e.1 += l.area_m2 / MU_M2;
        e.2 += l.arable_m2 / MU_M2;
        e.3 += l.basic_farmland_m2 / MU_M2;
    }
    html.push_str("<h2>Totals</h2><table id=\"totals\"><thead><tr><th>TBLX</th><th>type</th><th>leads</th><th>JCMJ (mu)</th><th>GDMJ (mu)</th><th>YJJBNTMJ (mu)</th></tr></thead><tbody>\n");
    let mut all = (0usize, 0.0, 0.0, 0.0);
    for (t, (n, a, g, y)) in &by_type {
        let t = if t.is_empty() { "untyped" } else { t };
        let _ = writeln!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{n}</td><td>{a:.2}</td><td>{g:.2}</td><td>{y:.2}</td></tr>",
            esc(t),
            esc(type_name(t))
        );
        all = (all.0 + n, all.1 + a, all.2 + g, all.3 + y);
    }
    let _ = writeln!(
        html,
        "<tr><th>all</th><th></th><th>{}</th><th>{:.2}</th><th>{:.2}</th><th>{:.2}</th></tr></tbody></table>",
        all.0, all.1, all.2, all.3
    );
    if let Some(c) = coverage {
        html.push_str(&coverage_table(c.row));
    }
    let not_seen: &[(Reason, &MultiPolygon<f64>)] = coverage.map_or(&[], |c| &c.not_seen);
    // Overview map.
    let extent = leads
        .iter()
        .map(|l| l.geom)
        .chain(excluded.iter().copied())
        .chain(not_seen.iter().map(|(_, g)| *g))
        .chain(outline.iter())
        .filter_map(|g| g.bounding_rect())
        .reduce(|a, b| {
            geo::Rect::new(
                geo::Coord {
                    x: a.min().x.min(b.min().x),
                    y: a.min().y.min(b.min().y),
                },
                geo::Coord {
                    x: a.max().x.max(b.max().x),
                    y: a.max().y.max(b.max().y),
                },
            )
        });
    if let Some(e) = extent {
        // The frame takes the extent's shape (a tall county in a wide frame filled a third of
        // it), within 400-900 px a side.
        let aspect = (e.height() / e.width().max(1e-9)).clamp(0.4, 1.5);
        let (w, h) = if aspect <= 1.0 {
            (900.0, (900.0 * aspect).max(400.0))
        } else {
            ((900.0 / aspect).max(400.0), 900.0)
        };
        let s = ((w - 20.0) / e.width().max(1e-9)).min((h - 20.0) / e.height().max(1e-9));
        let f = |x: f64, y: f64| (10.0 + (x - e.min().x) * s, h - 10.0 - (y - e.min().y) * s);
        let _ = write!(
            html,
            "<h2>Overview</h2><svg id=\"map\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">"
        );
        for g in outline {
            let _ = write!(html, "<path class=\"county\" d=\"{}\"/>", path_d(g, &f));
        }
        for (reason, g) in not_seen {
            let class = match reason {
                Reason::Cloud => "cloud",
                Reason::Shadow => "shadow",
                Reason::Nodata => "nodata",
                Reason::NoImage => "noimage",
            };
            let _ = write!(
                html,
                "<path class=\"{class}\" d=\"{}\"><title>{}</title></path>",
                path_d(g, &f),
                reason.label()
            );
        }
        for g in excluded {
            let _ = write!(html, "<path class=\"excluded\" d=\"{}\"/>", path_d(g, &f));
        }
        for l in leads {
            // A ring marks each lead: most are a few pixels at county scale.
            let (cx, cy) = l
                .geom
                .bounding_rect()
                .map_or((0.0, 0.0), |b| f(b.center().x, b.center().y));
            // Each mark links to its row of the leads table.
            let _ = write!(
                html,
                "<a href=\"#lead-{j}\"><g><title>{j}</title><path class=\"lead\" d=\"{d}\"/><circle class=\"mark\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"7\"/></g></a>",
                j = esc(&l.jcbh),
                d = path_d(l.geom, &f)
            );
        }
        html.push_str(
            "</svg><p>red: leads (circled; click one for its row); grey: polygons that do not qualify; blue line: the county; \
             not seen: light blue under cloud, purple in shadow, dark grey nodata, black no image</p>\n",
        );
    }
    // The leads.
    html.push_str(
        "<h2>Leads</h2><table id=\"leads\"><thead><tr><th data-key=\"jcbh\">JCBH</th><th data-key=\"type\">TBLX</th>\
         <th data-key=\"conf\" data-num=\"1\">confidence</th>\
         <th data-key=\"area\" data-num=\"1\">JCMJ (mu)</th><th data-key=\"arable\" data-num=\"1\">GDMJ (m²)</th>\
         <th data-key=\"pbf\" data-num=\"1\">YJJBNTMJ (m²)</th><th data-key=\"red\" data-num=\"1\">STHXMJ (m²)</th>\
         <th>SFYN</th><th>SFHX</th><th>reasons</th><th>before</th><th>after</th></tr></thead><tbody>\n",
    );
    for l in leads {
        let img = |p: &Option<String>, alt: &str| {
            p.as_ref()
                .map(|p| format!("<img src=\"{}\" alt=\"{alt} {}\">", esc(p), esc(&l.jcbh)))
                .unwrap_or_default()
        };
        let _ = writeln!(
            html,
            "<tr id=\"lead-{j}\" data-jcbh=\"{j}\" data-type=\"{t}\" data-conf=\"{c}\" data-area=\"{a}\" data-arable=\"{g}\" data-pbf=\"{p}\" data-red=\"{r}\">\
             <td>{j}</td><td title=\"{tw}\">{t}</td><td>{cs}</td><td>{amu:.2}</td><td>{g:.2}</td><td>{p:.2}</td><td>{r:.2}</td><td>{yn}</td><td>{hx}</td><td>{why}</td><td>{b}</td><td>{af}</td></tr>",
            j = esc(&l.jcbh),
            t = esc(&l.tblx),
            tw = esc(&format!("{} — {}", type_name(&l.tblx), l.type_reasons)),
            c = l.confidence.unwrap_or(0.0),
            cs = l.confidence.map(|c| format!("{c:.2}")).unwrap_or_default(),
            a = l.area_m2,
            amu = l.area_m2 / MU_M2,
            g = l.arable_m2,
            p = l.basic_farmland_m2,
            r = l.red_line_m2,
            yn = esc(&l.sfyn),
            hx = esc(&l.sfhx),
            why = esc(&l.reasons),
            b = img(&l.before_chip, "before"),
            af = img(&l.after_chip, "after"),
        );
    }
    let _ = writeln!(
        html,
        "</tbody></table><script>{SCRIPT}</script></body></html>"
    );
    html
}

/// The coverage section: what share of the county the imagery saw clear, and why not the rest.
fn coverage_table(c: &CountyCoverage) -> String {
    let pct = |km2: f64| {
        if c.area_km2 > 0.0 {
            100.0 * km2 / c.area_km2
        } else {
            0.0
        }
    };
    let mut h = String::from(
        "<h2>Coverage (影像覆盖)</h2><table id=\"coverage\"><thead><tr><th>part</th><th>km²</th><th>share</th></tr></thead><tbody>\n",
    );
    for (what, km2) in [
        ("seen clear by both dates (有效覆盖)", c.clear_km2),
        ("cloud in either image (云覆盖)", c.cloud_km2),
        ("shadow in the after image (阴影)", c.shadow_km2),
        ("nodata in either image (无数据)", c.nodata_km2),
        ("no image (无影像)", c.no_image_km2),
    ] {
        let _ = writeln!(
            h,
            "<tr><td>{what}</td><td>{km2:.4}</td><td>{:.2} %</td></tr>",
            pct(km2)
        );
    }
    let _ = writeln!(
        h,
        "<tr><th>county</th><th>{:.4}</th><th>100 %</th></tr></tbody></table>",
        c.area_km2
    );
    // The clear part by the resolution it was seen at (finest first), for mosaics of several.
    if c.clear_km2_by_resolution.len() > 1 {
        let mut by: Vec<(&&str, &f64)> = c.clear_km2_by_resolution.iter().collect();
        by.sort_by_key(|(class, _)| crate::coverage::class_rank(class));
        let parts: Vec<String> = by
            .iter()
            .map(|(class, km2)| format!("{class} {km2:.4} km² ({:.1} %)", pct(**km2)))
            .collect();
        let _ = writeln!(
            h,
            "<p id=\"resolution\">Seen clear at (分辨率): {}.</p>",
            parts.join("; ")
        );
    }
    if c.clear_share < 1.0 - 1e-9 && c.area_km2 > 0.0 {
        let _ = writeln!(
            h,
            "<p class=\"warn\">{:.1} % of the county was not seen clear: no lead can be found there this quarter.</p>",
            100.0 - 100.0 * c.clear_share
        );
    }
    h
}

/// The TBLX codes of the national monitoring and what each means.
pub const TYPES: [(&str, &str); 11] = [
    ("20", "新增建（构）筑物 building or structure"),
    ("DL1", "道路（已建成） built road"),
    ("DL2", "道路（在建） road under construction"),
    ("DL3", "路网 road network"),
    ("TL", "铁路 railway"),
    ("GEF", "高尔夫球场 golf course"),
    ("GF", "光伏 solar farm"),
    ("DT", "推填土 earth moving"),
    ("TD", "堆土 soil piling"),
    ("YH", "硬化地面 hardened ground"),
    ("QT", "其他 other change"),
];

/// What a TBLX code means (the codes of the national monitoring; others as they are).
pub fn type_name(tblx: &str) -> &str {
    match TYPES.iter().find(|(code, _)| *code == tblx) {
        Some((_, name)) => name,
        None if tblx == "untyped" => "not typed",
        None => "",
    }
}
