//! Hostile inputs, one table across every command (issue 17): each case runs the `tuban` binary
//! on a bad file, flag or job, and must exit 1 (never a panic's 101, never 0) with one error
//! line that names what is wrong, and leave no output that looks complete.
#![cfg(feature = "gdal")]

mod common;

use common::raster::{Spec, write_tif};
use common::vector::{rect, wkt_of, write_layer};
use std::path::Path;

/// One hostile case: the arguments (`{d}` is the fixture folder), what the error line must
/// contain, and the outputs that must not exist afterwards (relative to the folder).
struct Case {
    name: &'static str,
    args: &'static [&'static str],
    needles: &'static [&'static str],
    absent: &'static [&'static str],
}

const fn case(
    name: &'static str,
    args: &'static [&'static str],
    needles: &'static [&'static str],
    absent: &'static [&'static str],
) -> Case {
    Case {
        name,
        args,
        needles,
        absent,
    }
}

const DET: [&str; 5] = ["detect", "--before", "{d}/b.tif", "--after", "{d}/a.tif"];

#[rustfmt::skip]
const CASES: &[Case] = &[
    // detect
    case("detect: missing before image", &["detect", "--before", "{d}/nope.tif", "--after", "{d}/a.tif", "--out", "{d}/o1"], &["nope.tif", "no such file"], &["o1"]),
    case("detect: garbage bytes as an image", &["detect", "--before", "{d}/garbage.tif", "--after", "{d}/a.tif", "--out", "{d}/o2"], &["garbage.tif", "cannot read raster"], &["o2"]),
    case("detect: an empty file as an image", &["detect", "--before", "{d}/empty.tif", "--after", "{d}/a.tif", "--out", "{d}/o3"], &["empty.tif"], &["o3"]),
    case("detect: a text file as an image", &["detect", "--before", "{d}/notes.txt", "--after", "{d}/a.tif", "--out", "{d}/o4"], &["notes.txt"], &["o4"]),
    case("detect: tile too small", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o5", "--tile", "8"], &["--tile 8"], &["o5"]),
    case("detect: threshold not a number", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o6", "--threshold", "high"], &["--threshold \"high\""], &["o6"]),
    case("detect: unknown evidence", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o7", "--evidence", "magic"], &["magic", "auto"], &["o7"]),
    case("detect: band beyond the image", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o8", "--bands", "R=9,G=2,B=1"], &["b.tif", "9"], &["o8/change.tif"]),
    case("detect: negative minimum area", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o9", "--min-area-mu=-1"], &["--min-area-mu -1"], &["o9"]),
    case("detect: join gap out of range", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o10", "--join", "5000"], &["--join 5000"], &["o10"]),
    case("detect: opening radius out of range", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o10b", "--open", "100000"], &["--open 100000", "0 to 100"], &["o10b"]),
    case("detect: closing radius out of range", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o10c", "--close", "101"], &["--close 101", "0 to 100"], &["o10c"]),
    case("detect: building index lines reversed", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o11", "--mbi-lines", "45,5"], &["--mbi-lines", "45,5"], &["o11"]),
    case("detect: a model that is not ONNX", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o12", "--model", "{d}/notes.txt"], &["notes.txt"], &["o12/change.tif"]),
    case("detect: a lead model that is not one", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o13", "--lead-model", "{d}/rules_bad.toml"], &["rules_bad.toml", "not a tuban lead model"], &["o13"]),
    case("detect: output folder is a file", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/notes.txt"], &["notes.txt", "not a folder"], &[]),
    case("detect: rules file missing", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o15", "--rules", "{d}/nope.toml"], &["nope.toml", "cannot read"], &["o15"]),
    case("detect: rules with an unknown feature", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o16", "--rules", "{d}/rules_bad.toml"], &["rules_bad.toml", "nvdi"], &["o16"]),
    case("detect: class raster of another size", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o17", "--classes", "{d}/small.tif"], &["small.tif"], &["o17/changes.gpkg"]),
    case("detect: context layer missing", &[DET[0], DET[1], DET[2], DET[3], DET[4], "--out", "{d}/o18", "--context", "{d}/nope.gpkg"], &["nope.gpkg"], &["o18/changes.gpkg"]),
    case("detect: after image of another CRS", &["detect", "--before", "{d}/b.tif", "--after", "{d}/utm.tif", "--out", "{d}/o19"], &["b.tif", "utm.tif"], &["o19"]),
    case("detect: --coregister without a georeference", &["detect", "--before", "{root}/testdata/levir/before.png", "--after", "{root}/testdata/levir/after.png", "--out", "{d}/o21", "--coregister"], &["after.png", "georeference"], &["o21"]),
    case("detect: a geotransform with pixels of no size", &["detect", "--before", "{d}/flat.tif", "--after", "{d}/flat.tif", "--out", "{d}/o22"], &["flat.tif", "no area"], &["o22"]),
    case("detect: more bands than the kernels carry", &["detect", "--before", "{d}/bands40.tif", "--after", "{d}/bands40.tif", "--out", "{d}/o23"], &["bands40.tif", "40 bands", "--bands"], &["o23"]),
    case("detect: images that do not overlap", &["detect", "--before", "{d}/b.tif", "--after", "{d}/far.tif", "--out", "{d}/o20"], &["far.tif", "overlap"], &["o20"]),
    // polygonize
    case("polygonize: a foreground value that is not a number", &["polygonize", "--mask", "{root}/testdata/levir/label.png", "--out", "{d}/nan.gpkg", "--min-value", "nan"], &["--min-value NaN", "finite"], &["nan.gpkg"]),
    case("polygonize: missing mask", &["polygonize", "--mask", "{d}/nope.tif", "--out", "{d}/p1.gpkg"], &["nope.tif"], &["p1.gpkg"]),
    case("polygonize: an RGB image as a mask", &["polygonize", "--mask", "{d}/rgb.tif", "--out", "{d}/p2.gpkg"], &["rgb.tif", "bands"], &["p2.gpkg"]),
    case("polygonize: unknown output format", &["polygonize", "--mask", "{d}/mask.tif", "--out", "{d}/p3.xyz"], &["p3.xyz"], &["p3.xyz"]),
    case("polygonize: evidence of another size", &["polygonize", "--mask", "{d}/mask.tif", "--evidence", "{d}/small.tif", "--out", "{d}/p4.gpkg"], &["small.tif"], &["p4.gpkg"]),
    case("polygonize: garbage mask", &["polygonize", "--mask", "{d}/garbage.tif", "--out", "{d}/p5.gpkg"], &["garbage.tif"], &["p5.gpkg"]),
    // eval
    case("eval: missing prediction", &["eval", "--pred", "{d}/nope.tif", "--truth", "{d}/mask.tif"], &["nope.tif"], &[]),
    case("eval: cover of zero", &["eval", "--pred", "{d}/mask.tif", "--truth", "{d}/mask.tif", "--cover", "0"], &["--cover 0"], &[]),
    case("eval: a merge without a name", &["eval", "--pred", "{d}/mask.tif", "--truth", "{d}/mask.tif", "--merge", "DL1,DL2"], &["--merge", "TYPES=NAME"], &[]),
    case("eval: truth in another CRS", &["eval", "--pred", "{d}/utm_mask.tif", "--truth", "{d}/mask.tif"], &["utm_mask.tif", "mask.tif", "EPSG:32650"], &[]),
    case("eval: a probability raster as a prediction", &["eval", "--pred", "{d}/prob.tif", "--truth", "{d}/mask.tif"], &["prob.tif", "float values"], &[]),
    case("eval: verdicts from a raster prediction", &["eval", "--pred", "{d}/mask.tif", "--truth", "{d}/mask.tif", "--verdicts", "{d}/v.csv"], &["--verdicts", "raster"], &["v.csv"]),
    case("eval: two layers and no pixel size", &["eval", "--pred", "{d}/changes.gpkg", "--truth", "{d}/changes.gpkg"], &["pixel-size"], &[]),
    case("eval: an RGB image as truth", &["eval", "--pred", "{d}/mask.tif", "--truth", "{d}/rgb.tif"], &["rgb.tif", "bands that differ"], &[]),
    // overlay
    case("overlay: missing job", &["overlay", "--changes", "{d}/changes.gpkg", "--job", "{d}/nope.toml", "--out", "{d}/ov1.gpkg"], &["nope.toml"], &["ov1.gpkg"]),
    case("overlay: unknown key in the job", &["overlay", "--changes", "{d}/changes.gpkg", "--job", "{d}/job_typo.toml", "--out", "{d}/ov2.gpkg"], &["job_typo.toml:3", "arable_m"], &["ov2.gpkg"]),
    case("run: a clear share over 1", &["run", "{d}/job_share.toml", "--out", "{d}/run_share"], &["job_share.toml", "min_clear_share = 1.5"], &["run_share"]),
    case("overlay: a quarter that is not one", &["overlay", "--changes", "{d}/changes.gpkg", "--job", "{d}/job_q5.toml", "--out", "{d}/ov3.gpkg"], &["job_q5.toml:1", "quarter"], &["ov3.gpkg"]),
    case("overlay: missing change layer", &["overlay", "--changes", "{d}/nope.gpkg", "--job", "{d}/job.toml", "--out", "{d}/ov4.gpkg"], &["nope.gpkg"], &["ov4.gpkg"]),
    case("overlay: a reference layer that is not there", &["overlay", "--changes", "{d}/changes.gpkg", "--job", "{d}/job_nolayer.toml", "--out", "{d}/ov5.gpkg"], &["job_nolayer.toml", "nope.gpkg"], &["ov5.gpkg"]),
    case("overlay: a field mapping the layer lacks", &["overlay", "--changes", "{d}/changes.gpkg", "--job", "{d}/job_field.toml", "--out", "{d}/ov6.gpkg"], &["DLBM_X", "DLBM"], &["ov6.gpkg"]),
    case("overlay: an invalid filter", &["overlay", "--changes", "{d}/changes.gpkg", "--job", "{d}/job_filter.toml", "--out", "{d}/ov7.gpkg"], &["filter"], &["ov7.gpkg"]),
    // run
    case("run: imagery that is not there", &["run", "{d}/job_noimg.toml"], &["job_noimg.toml", "nope.tif"], &["run_out"]),
    case("run: a lead model that is not one", &["run", "{d}/job_lead.toml"], &["job_lead.toml:2", "not a tuban lead model"], &["run_out"]),
    case("run: imagery dated outside the quarter", &["run", "{d}/job_late.toml"], &["job_late.toml", "outside quarter"], &["run_out"]),
    // synth
    case("synth: size too small", &["synth", "--size", "10", "--out", "{d}/s1"], &["size", "10 px", "64 to 65536"], &["s1"]),
    case("synth: output is a file", &["synth", "--size", "64", "--out", "{d}/notes.txt"], &["notes.txt"], &[]),
    case("synth: pixel size of zero", &["synth", "--size", "64", "--gsd", "0", "--out", "{d}/s3"], &["gsd", "0 m"], &["s3"]),
    // train
    case("train: a pairs folder that is not there", &["train", "--pairs", "{d}/nope", "--out", "{d}/t1.onnx"], &["nope"], &["t1.onnx"]),
    case("train: bad encoder widths", &["train", "--pairs", "{d}", "--out", "{d}/t2.onnx", "--widths", "16,32"], &["--widths"], &["t2.onnx"]),
    case("train: a patch that is not a multiple of 4", &["train", "--pairs", "{d}", "--out", "{d}/t3.onnx", "--patch", "30"], &["--patch"], &["t3.onnx"]),
    case("train: a blend weight out of 0-1", &["train", "--pairs", "{d}", "--out", "{d}/t4.toml", "--blend", "mbi:2:0.8"], &["--blend", "weight"], &["t4.toml"]),
    case("train: a blend of no classical kind", &["train", "--pairs", "{d}", "--out", "{d}/t5.toml", "--blend", "magic:0.5:0.8"], &["--blend", "magic"], &["t5.toml"]),
    // learn
    case("learn: a leads file that is not there", &["learn", "--leads", "{d}/nope.gpkg", "--verdicts", "{d}/verdicts.csv", "--out", "{d}/l1.toml"], &["nope.gpkg"], &["l1.toml"]),
    case("learn: a verdict that is neither real nor false", &["learn", "--leads", "{d}/changes.gpkg", "--verdicts", "{d}/verdicts_bad.csv", "--out", "{d}/l2.toml"], &["verdicts_bad.csv:3", "maybe"], &["l2.toml"]),
    case("learn: a leads layer without tuban's measures", &["learn", "--leads", "{d}/changes.gpkg", "--verdicts", "{d}/verdicts.csv", "--out", "{d}/l3.toml"], &["changes.gpkg", "area_m2"], &["l3.toml"]),
    case("learn: verdicts that are not UTF-8", &["learn", "--leads", "{d}/changes.gpkg", "--verdicts", "{d}/verdicts_gbk.csv", "--out", "{d}/l4.toml"], &["verdicts_gbk.csv", "UTF-8"], &["l4.toml"]),
];

fn fixtures(d: &Path) {
    let s = common::scene(64, 64, 4, 5);
    write_tif::<u16>(&d.join("b.tif"), Spec::gk(64, 64, 4), &s.before, |v| {
        v as u16
    });
    write_tif::<u16>(&d.join("a.tif"), Spec::gk(64, 64, 4), &s.after, |v| {
        v as u16
    });
    let utm = Spec {
        epsg: Some(32650),
        ..Spec::gk(64, 64, 4)
    };
    write_tif::<u16>(&d.join("utm.tif"), utm, &s.after, |v| v as u16);
    let mut far_gt = common::raster::GT;
    far_gt[0] += 120_000.0;
    let far = Spec {
        gt: Some(far_gt),
        ..Spec::gk(64, 64, 4)
    };
    write_tif::<u16>(&d.join("far.tif"), far, &s.after, |v| v as u16);
    let mut flat_gt = common::raster::GT;
    flat_gt[5] = 0.0;
    let flat = Spec {
        gt: Some(flat_gt),
        ..Spec::gk(64, 64, 4)
    };
    write_tif::<u16>(&d.join("flat.tif"), flat, &s.before, |v| v as u16);
    let many: Vec<f32> = (0..40 * 16 * 16).map(|i| (i % 97) as f32).collect();
    write_tif::<u16>(&d.join("bands40.tif"), Spec::gk(16, 16, 40), &many, |v| {
        v as u16
    });
    let mask: Vec<f32> = (0..64 * 64).map(|i| f32::from(i % 9 == 0)).collect();
    write_tif::<u8>(&d.join("mask.tif"), Spec::gk(64, 64, 1), &mask, |v| v as u8);
    let utm1 = Spec {
        epsg: Some(32650),
        ..Spec::gk(64, 64, 1)
    };
    write_tif::<u8>(&d.join("utm_mask.tif"), utm1, &mask, |v| v as u8);
    write_tif::<u8>(
        &d.join("small.tif"),
        Spec::gk(32, 32, 1),
        &mask[..1024],
        |v| v as u8,
    );
    let prob: Vec<f32> = mask.iter().map(|v| v * 0.4).collect();
    write_tif::<f32>(&d.join("prob.tif"), Spec::gk(64, 64, 1), &prob, |v| v);
    let rgb: Vec<f32> = (0..3 * 64 * 64).map(|i| (i % 253) as f32).collect();
    write_tif::<u8>(&d.join("rgb.tif"), Spec::gk(64, 64, 3), &rgb, |v| v as u8);
    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(d.join("garbage.tif"), garbage).unwrap();
    std::fs::write(d.join("empty.tif"), b"").unwrap();
    std::fs::write(d.join("notes.txt"), "not an image\n").unwrap();
    std::fs::write(
        d.join("rules_bad.toml"),
        "[classify]\n[[classify.types]]\ntblx = \"20\"\nwhen = { nvdi = [0, 1] }\n",
    )
    .unwrap();
    // A change layer without tuban's measures (overlay reads it; learn refuses it).
    write_layer(
        &d.join("changes.gpkg"),
        "changes",
        &wkt_of(4527),
        &["TBLX"],
        &[(rect(0.0, 0.0, 100.0, 100.0), vec!["20"])],
    );
    write_layer(
        &d.join("refs.gpkg"),
        "DLTB",
        &wkt_of(4527),
        &["DLBM"],
        &[(rect(-50.0, -50.0, 150.0, 150.0), vec!["0101"])],
    );
    std::fs::write(d.join("verdicts.csv"), "fid,verdict\n1,real\n").unwrap();
    std::fs::write(d.join("verdicts_bad.csv"), "fid,verdict\n1,real\n2,maybe\n").unwrap();
    // 是 in GBK.
    std::fs::write(d.join("verdicts_gbk.csv"), b"fid,verdict\n1,\xca\xc7\n").unwrap();
    let job = |name: &str, text: &str| std::fs::write(d.join(name), text).unwrap();
    let img = "[imagery]\nbefore = \"b.tif\"\nafter = \"a.tif\"\nafter_date = \"2024-06-25\"\n";
    job(
        "job.toml",
        &format!("quarter = \"2024Q2\"\n{img}[layers.dltb]\npath = \"refs.gpkg\"\n"),
    );
    job(
        "job_typo.toml",
        "quarter = \"2024Q2\"\n[rules]\narable_m = 10\n",
    );
    job("job_q5.toml", "quarter = \"2024Q5\"\n");
    job(
        "job_share.toml",
        &format!("quarter = \"2024Q2\"\n{img}[rules]\nmin_clear_share = 1.5\n"),
    );
    job(
        "job_nolayer.toml",
        &format!("quarter = \"2024Q2\"\n{img}[layers.dltb]\npath = \"nope.gpkg\"\n"),
    );
    job(
        "job_field.toml",
        &format!(
            "quarter = \"2024Q2\"\n{img}[layers.dltb]\npath = \"refs.gpkg\"\nclass_field = \"DLBM_X\"\n"
        ),
    );
    job(
        "job_filter.toml",
        &format!(
            "quarter = \"2024Q2\"\n{img}[layers.dltb]\npath = \"refs.gpkg\"\nfilter = \"DLBM ==== '0101' AND\"\n"
        ),
    );
    job(
        "job_noimg.toml",
        "quarter = \"2024Q2\"\nout = \"run_out\"\n[imagery]\nbefore = \"nope.tif\"\nafter = \"a.tif\"\n",
    );
    job(
        "job_lead.toml",
        &format!("quarter = \"2024Q2\"\nlead_model = \"rules_bad.toml\"\nout = \"run_out\"\n{img}"),
    );
    job(
        "job_late.toml",
        "quarter = \"2021Q1\"\nout = \"run_out\"\n[imagery]\nbefore = \"b.tif\"\nafter = \"a.tif\"\nafter_date = \"2024-06-25\"\n",
    );
}

#[test]
fn every_hostile_input_is_refused_clearly_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fixtures(d);
    let root = d.to_str().unwrap();
    assert!(CASES.len() >= 50, "{} cases", CASES.len());
    let mut failures = Vec::new();
    for c in CASES {
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| {
                a.replace("{d}", root)
                    .replace("{root}", env!("CARGO_MANIFEST_DIR"))
            })
            .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = common::cli::tuban(&refs);
        let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or("");
        let mut why = Vec::new();
        if code != 1 {
            why.push(format!("exit {code}"));
        }
        if err.contains("panicked") {
            why.push("panicked".into());
        }
        for n in c.needles {
            if !line.contains(n) {
                why.push(format!("{n:?} missing"));
            }
        }
        for a in c.absent {
            if d.join(a).exists() {
                why.push(format!("{a} left behind"));
            }
        }
        if !why.is_empty() {
            failures.push(format!("{}: {} -- stderr: {err}", c.name, why.join(", ")));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
