//! Learned evidence: the ONNX engine against onnxruntime and against a reference computed in
//! the test, `detect --model` on CPU and GPU, seams between model tiles, clear errors for bad
//! models, and `train` end to end (deterministic for a seed).
#![cfg(feature = "gdal")]

mod common;

use common::raster::{read_f32, read_u8};
use std::path::{Path, PathBuf};
use tuban::change::cpu::Driver;
use tuban::change::{EvidenceKind, PipelineConfig};
use tuban::engine::Backend;
use tuban::model::graph::Graph;
use tuban::model::onnx::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    ValueInfoProto,
};
use tuban::model::tensor::Tensor;
use tuban::pipeline::detect::{DetectOptions, DetectSummary, ModelSource, detect};

fn testdata(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(p)
}

fn read_f32s(p: &Path) -> Vec<f32> {
    std::fs::read(p)
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// A network in the shape PyTorch exports (tools/make_onnx_fixture.py: stacked dates, Slice,
/// Conv + BatchNorm, dilated Conv, ConvTranspose, Resize sized by Shape ops, reflect Pad,
/// AveragePool, Softmax), run by onnxruntime 1.32 when the fixture was made.
#[test]
fn engine_matches_onnxruntime_on_an_exported_network() {
    let g = Graph::load(&testdata("model/stacked_softmax.onnx")).unwrap();
    let x = Tensor::new(
        vec![1, 6, 24, 32],
        read_f32s(&testdata("model/stacked_softmax.input.f32")),
    );
    let want = read_f32s(&testdata("model/stacked_softmax.ort.f32"));
    let out = g.run(vec![x]).unwrap();
    assert_eq!(out[0].shape, vec![1, 2, 24, 32]);
    let worst = out[0]
        .data
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "largest difference from onnxruntime {worst}");
}

fn node(op: &str, inputs: &[&str], output: &str, attrs: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        name: output.into(),
        op_type: op.into(),
        attribute: attrs,
        ..Default::default()
    }
}

fn model(
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    output: &str,
) -> ModelProto {
    ModelProto {
        ir_version: 8,
        graph: Some(GraphProto {
            node: nodes,
            name: "test".into(),
            initializer: inits,
            input: inputs,
            output: vec![ValueInfoProto::tensor(
                output,
                &[Some(1), Some(1), None, None],
            )],
        }),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        ..Default::default()
    }
}

/// A Siamese change model built here: a shared 3x3 convolution (stride 1, pad 1) with ReLU
/// on both dates, |difference|, a 1x1 convolution to one channel and a sigmoid.
fn siamese(bands: usize, feat: usize) -> (ModelProto, Vec<f32>, Vec<f32>, Vec<f32>, f32) {
    let w1: Vec<f32> = (0..feat * bands * 9)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 20.0)
        .collect();
    let b1: Vec<f32> = (0..feat).map(|i| i as f32 * 0.05 - 0.1).collect();
    let w2: Vec<f32> = (0..feat).map(|i| 0.8 - i as f32 * 0.1).collect();
    let b2 = -1.5;
    let conv = |x: &str, out: &str| {
        node(
            "Conv",
            &[x, "w1", "b1"],
            out,
            vec![
                AttributeProto::ints("kernel_shape", &[3, 3]),
                AttributeProto::ints("pads", &[1, 1, 1, 1]),
            ],
        )
    };
    let nodes = vec![
        conv("before", "cb"),
        node("Relu", &["cb"], "fb", vec![]),
        conv("after", "ca"),
        node("Relu", &["ca"], "fa", vec![]),
        node("Sub", &["fb", "fa"], "d", vec![]),
        node("Abs", &["d"], "ad", vec![]),
        node("Conv", &["ad", "w2", "b2"], "z", vec![]),
        node("Sigmoid", &["z"], "change", vec![]),
    ];
    let inits = vec![
        TensorProto::floats("w1", &[feat, bands, 3, 3], &w1),
        TensorProto::floats("b1", &[feat], &b1),
        TensorProto::floats("w2", &[1, feat, 1, 1], &w2),
        TensorProto::floats("b2", &[1], &[b2]),
    ];
    let io = |n: &str| ValueInfoProto::tensor(n, &[Some(1), Some(bands), None, None]);
    (
        model(nodes, inits, vec![io("before"), io("after")], "change"),
        w1,
        b1,
        w2,
        b2,
    )
}

#[test]
fn a_model_built_here_matches_its_definition() {
    let (bands, feat, h, w) = (3, 4, 9, 11);
    let (m, w1, b1, w2, b2) = siamese(bands, feat);
    let g = Graph::from_proto(
        &onnx::decode(&onnx::encode(&m)).unwrap(),
        Path::new("siamese.onnx"),
    )
    .unwrap();
    let img = |seed: usize| -> Vec<f32> {
        (0..bands * h * w)
            .map(|i| (((i + seed) * 7919 % 101) as f32) / 50.0 - 1.0)
            .collect()
    };
    let (xb, xa) = (img(1), img(5));
    let out = g
        .run(vec![
            Tensor::new(vec![1, bands, h, w], xb.clone()),
            Tensor::new(vec![1, bands, h, w], xa.clone()),
        ])
        .unwrap();
    // The reference: the same arithmetic written as loops over the definition.
    let feature = |x: &[f32], f: usize, y: usize, xx: usize| -> f32 {
        let mut s = b1[f];
        for c in 0..bands {
            for ky in 0..3 {
                for kx in 0..3 {
                    let (sy, sx) = (y as isize + ky as isize - 1, xx as isize + kx as isize - 1);
                    if sy >= 0 && sx >= 0 && (sy as usize) < h && (sx as usize) < w {
                        s += x[(c * h + sy as usize) * w + sx as usize]
                            * w1[((f * bands + c) * 3 + ky) * 3 + kx];
                    }
                }
            }
        }
        s.max(0.0)
    };
    for y in 0..h {
        for x in 0..w {
            let z: f32 = b2
                + (0..feat)
                    .map(|f| w2[f] * (feature(&xb, f, y, x) - feature(&xa, f, y, x)).abs())
                    .sum::<f32>();
            let p = 1.0 / (1.0 + (-z).exp());
            let got = out[0].data[y * w + x];
            assert!((got - p).abs() < 1e-5, "({x}, {y}): {got} vs {p}");
        }
    }
}

/// `shaders/conv.wgsl` against its CPU twin `conv_px` (and so against the sgemm path the
/// unit tests hold to it): strides, padding, dilation, groups, no bias.
#[test]
fn conv_gpu_matches_cpu() {
    use tuban::model::conv::{ConvGeom, conv_px};
    let Some(gpu) = common::gpu() else { return };
    for (c, o, group, k, stride, pads, dil, bias) in [
        (3, 8, 1, 3, (1, 1), [1, 1, 1, 1], (1, 1), true),
        (4, 6, 2, 3, (2, 2), [1, 0, 1, 2], (1, 1), true),
        (6, 6, 6, 3, (1, 1), [2, 2, 2, 2], (2, 2), false),
        (5, 2, 1, 1, (1, 1), [0, 0, 0, 0], (1, 1), true),
    ] {
        let g = ConvGeom::new((c, 37, 29), (k, k), stride, pads, dil).unwrap();
        let x: Vec<f32> = (0..c * 37 * 29)
            .map(|i| ((i * 7919 % 211) as f32) / 100.0 - 1.0)
            .collect();
        let w: Vec<f32> = (0..o * (c / group) * k * k)
            .map(|i| ((i * 31 % 17) as f32 - 8.0) / 10.0)
            .collect();
        let b: Vec<f32> = if bias {
            (0..o).map(|i| i as f32 * 0.1).collect()
        } else {
            Vec::new()
        };
        let got = gpu.conv2d(&g, (o, group), &x, &w, &b).unwrap();
        assert_eq!(got.len(), o * g.oh * g.ow);
        for (i, v) in got.iter().enumerate() {
            let want = conv_px(&g, (o, group), &x, &w, &b, i);
            assert!(
                (v - want).abs() <= 1e-5 * want.abs().max(1.0),
                "{g:?} group {group}: [{i}] {v} vs {want}"
            );
        }
    }
}

fn detect_opts(out: &Path, model: &Path, tile: Option<usize>) -> DetectOptions {
    DetectOptions {
        tile_px: 1024,
        open_px: Some(0),
        join_m: Some(0.0),
        classify: None,
        vectorize: false,
        config: PipelineConfig {
            close_px: 0,
            ..Default::default()
        },
        model: Some(ModelSource {
            path: model.into(),
            config: None,
            tile_px: tile,
        }),
        ..DetectOptions::new(
            testdata("levir/before.png"),
            testdata("levir/after.png"),
            out,
        )
    }
}

/// Detection with `opts(out)` on the GPU and on the CPU: the masks agree but for pixels whose
/// evidence is within rounding of the threshold. The CPU run's summary, or None without a GPU.
fn same_mask_on_gpu_and_cpu(opts: impl Fn(&Path) -> DetectOptions) -> Option<DetectSummary> {
    let gpu = common::gpu()?;
    let dir = tempfile::tempdir().unwrap();
    let (oc, og) = (dir.path().join("cpu"), dir.path().join("gpu"));
    let sc = detect(&opts(&oc), &Backend::Cpu(Driver::Rayon), &|_, _, _| {}).unwrap();
    let sg = detect(&opts(&og), &Backend::Gpu(&gpu), &|_, _, _| {}).unwrap();
    let (mc, mg) = (
        read_u8(&oc.join("change.tif")).2,
        read_u8(&og.join("change.tif")).2,
    );
    let differ = mc.iter().zip(&mg).filter(|(a, b)| a != b).count() as u64;
    assert!(
        differ <= sg.near_threshold_px,
        "{differ} pixels differ, {} near the threshold",
        sg.near_threshold_px
    );
    Some(sc)
}

/// The stacked fixture on a real LEVIR-CD pair: the GPU backend (the model's convolutions,
/// then the threshold and masks, as WGSL kernels) gives the CPU's mask but for pixels whose
/// probability is within rounding of the threshold.
#[test]
fn detect_with_a_model_gives_the_same_mask_on_gpu_and_cpu() {
    let model = testdata("model/stacked_softmax.onnx");
    let Some(sc) = same_mask_on_gpu_and_cpu(|out| detect_opts(out, &model, None)) else {
        return;
    };
    assert_eq!(sc.evidence, "model");
    assert!(
        sc.changed_px > 100 && sc.changed_px < 60_000,
        "{} changed",
        sc.changed_px
    );
}

/// The built-in model's blend (its trees as a WGSL kernel, the building index through the GPU
/// kernels) gives the CPU's mask.
#[test]
fn the_builtin_blend_gives_the_same_mask_on_gpu_and_cpu() {
    let opts = |out: &Path| DetectOptions {
        vectorize: false,
        classify: None,
        ..DetectOptions::new(
            testdata("levir/before.png"),
            testdata("levir/after.png"),
            out,
        )
    };
    let Some(sc) = same_mask_on_gpu_and_cpu(opts) else {
        return;
    };
    assert_eq!(
        sc.model.as_deref(),
        Some(Path::new(tuban::model::infer::BUILTIN_RGB_NAME))
    );
    assert!(sc.changed_px > 100, "{} changed", sc.changed_px);
}

/// Model tiles of 64 and 256 px blend to the same mask away from the scene edge: at most 1 %
/// of the pixels differ (the blending weights fall to zero at a tile's inner edges, where a
/// network sees zero padding).
#[test]
fn model_tiles_leave_no_seams() {
    let dir = tempfile::tempdir().unwrap();
    let model = testdata("model/stacked_softmax.onnx");
    let mut masks = Vec::new();
    for tile in [64, 256] {
        let out = dir.path().join(format!("t{tile}"));
        detect(
            &detect_opts(&out, &model, Some(tile)),
            &Backend::Cpu(Driver::Rayon),
            &|_, _, _| {},
        )
        .unwrap();
        masks.push(read_u8(&out.join("change.tif")).2);
    }
    let (w, margin) = (256usize, 16usize);
    let (mut differ, mut inner) = (0, 0);
    for y in margin..w - margin {
        for x in margin..w - margin {
            inner += 1;
            differ += usize::from(masks[0][y * w + x] != masks[1][y * w + x]);
        }
    }
    eprintln!("{differ} of {inner} inner pixels differ");
    assert!(
        differ * 100 <= inner,
        "{differ} of {inner} inner pixels differ between model tiles of 64 and 256 px"
    );
}

fn write_model(dir: &Path, name: &str, m: &ModelProto, config: Option<&str>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, onnx::encode(m)).unwrap();
    if let Some(c) = config {
        std::fs::write(p.with_extension("toml"), c).unwrap();
    }
    p
}

const PAIR_RGB: &str =
    "[input]\nbands = [\"R\", \"G\", \"B\"]\n[tile]\nsize = 64\noverlap = 8\nmultiple = 1\n";

#[test]
fn bad_models_are_refused_naming_the_model_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let run = |model: &Path| -> String {
        let out = dir.path().join("o");
        detect(
            &detect_opts(&out, model, None),
            &Backend::Cpu(Driver::Rayon),
            &|_, _, _| {},
        )
        .unwrap_err()
        .to_string()
    };
    // An operator the engine does not have.
    let (mut m, ..) = siamese(3, 2);
    m.graph.as_mut().unwrap().node[1].op_type = "GridSample".into();
    let p = write_model(dir.path(), "grid.onnx", &m, Some(PAIR_RGB));
    let e = run(&p);
    assert!(
        e.contains("grid.onnx") && e.contains("GridSample") && e.contains("not supported"),
        "{e}"
    );
    // A model for 4 bands given three.
    let (m, ..) = siamese(4, 2);
    let p = write_model(dir.path(), "four.onnx", &m, Some(PAIR_RGB));
    let e = run(&p);
    assert!(
        e.contains("four.onnx") && e.contains("4 channels") && e.contains("3"),
        "{e}"
    );
    // A role the scene does not have.
    let (m, ..) = siamese(3, 2);
    let p = write_model(
        dir.path(),
        "nir.onnx",
        &m,
        Some(&PAIR_RGB.replace("\"B\"", "\"NIR\"")),
    );
    let e = run(&p);
    assert!(
        e.contains("nir.onnx") && e.contains("NIR") && e.contains("--bands"),
        "{e}"
    );
    // Skipping pixels is for pixel trees: a network computes every pixel of its tiles.
    let p = write_model(dir.path(), "net.onnx", &m, Some(PAIR_RGB));
    let out = dir.path().join("o");
    let opts = DetectOptions {
        model_stride: Some(2),
        ..detect_opts(&out, &p, None)
    };
    let e = detect(&opts, &Backend::Cpu(Driver::Rayon), &|_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("net.onnx") && e.contains("stride 2") && e.contains("pixel trees"),
        "{e}"
    );
    // A configuration `run` refuses with every one of `want` in the message.
    let refused = |name: &str, config: &str, want: &[&str]| {
        let e = run(&write_model(dir.path(), name, &m, Some(config)));
        assert!(want.iter().all(|w| e.contains(w)), "{e}");
    };
    // The sidecar configuration that asks for an impossible stride is named.
    refused(
        "stride.onnx",
        &PAIR_RGB.replace("[tile]\n", "[tile]\nstride = 9\n"),
        &["stride.toml", "tile.stride 9"],
    );
    // No configuration at all.
    let p = write_model(dir.path(), "bare.onnx", &m, None);
    let e = run(&p);
    assert!(
        e.contains("bare.onnx") && e.contains("--model-config"),
        "{e}"
    );
    // Not a model.
    let p = dir.path().join("junk.onnx");
    std::fs::write(&p, b"not a protobuf \xff\xff\xff").unwrap();
    let e = run(&p);
    assert!(
        e.contains("junk.onnx") && e.contains("not an ONNX model"),
        "{e}"
    );
    // A layout that does not fit the inputs.
    refused(
        "layout.onnx",
        &PAIR_RGB.replace("[input]\n", "[input]\nlayout = \"stacked\"\n"),
        &["layout.onnx", "needs 1 model input"],
    );
}

/// The bundled LEVIR-CD pair laid out as a change-detection dataset (`A/`, `B/`, `label/`)
/// in `dir/levir`.
fn levir_dataset(dir: &Path) -> PathBuf {
    let data = dir.join("levir");
    for (sub, file) in [
        ("A", "before.png"),
        ("B", "after.png"),
        ("label", "label.png"),
    ] {
        std::fs::create_dir_all(data.join(sub)).unwrap();
        std::fs::copy(
            testdata("levir").join(file),
            data.join(sub).join("tile.png"),
        )
        .unwrap();
    }
    data
}

/// `tuban train` on the bundled LEVIR-CD pair (laid out as a dataset) for a few steps: the
/// model file carries its configuration, runs through `detect --model`, and the same seed
/// gives the same bytes.
#[test]
fn train_writes_a_model_that_detect_runs_and_the_seed_fixes_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = levir_dataset(dir.path());
    let args = |out: &Path| -> Vec<String> {
        [
            "train",
            "--pairs",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--epochs",
            "2",
            "--batch",
            "2",
            "--patch",
            "32",
            "--widths",
            "4,6,8",
            "--validation",
            "0",
            "--seed",
            "5",
        ]
        .map(String::from)
        .to_vec()
    };
    let (m1, m2) = (dir.path().join("m1.onnx"), dir.path().join("m2.onnx"));
    for m in [&m1, &m2] {
        let (code, _, err) =
            common::cli::tuban(&args(m).iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 0, "{err}");
    }
    let strip = |p: &Path| {
        // The report inside carries the run time; compare the weights.
        let m = onnx::decode(&std::fs::read(p).unwrap()).unwrap();
        m.graph.unwrap().initializer
    };
    assert_eq!(
        strip(&m1),
        strip(&m2),
        "the same seed gave different weights"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m1.with_extension("json")).unwrap()).unwrap();
    assert_eq!(report["trained"]["epochs"].as_array().unwrap().len(), 2);
    let out = dir.path().join("o");
    let s = detect(
        &detect_opts(&out, &m1, None),
        &Backend::Cpu(Driver::Rayon),
        &|_, _, _| {},
    )
    .unwrap();
    assert_eq!((s.evidence, s.threshold), ("model", 0.5));
}

/// The shipped model (models/tuban-rgb.onnx) loads with its configuration inside and runs.
#[test]
fn the_shipped_model_loads_and_runs() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tuban-rgb.onnx");
    let m = tuban::model::infer::ChangeModel::load(&path, None).unwrap();
    assert_eq!(m.config.input.bands, ["R", "G", "B"]);
    assert_eq!((m.config.tile.size, m.config.tile.overlap), (256, 48));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let s = detect(
        &detect_opts(&out, &path, None),
        &Backend::Cpu(Driver::Rayon),
        &|_, _, _| {},
    )
    .unwrap();
    assert_eq!(s.threshold, m.config.output.threshold);
    assert!(s.changed_px > 0 && s.changed_px < s.valid_px);
}

/// Labels as polygons: a synth scene's truth polygons (truth.gpkg, as labels.gpkg) rasterised
/// onto the image grid give the labels truth.tif gives, but for boundary pixels.
#[test]
fn polygon_labels_rasterise_onto_the_image_grid() {
    use tuban::model::data::{LabelKind, list_pairs, load_pair};
    let dir = tempfile::tempdir().unwrap();
    let scene = dir.path().join("scene");
    tuban::synth::synth(
        &tuban::synth::SynthOptions {
            size: 256,
            seed: 3,
            gsd_m: 0.8,
            out_dir: scene.clone(),
            counties: 2,
        },
        &|_, _, _| {},
    )
    .unwrap();
    let poly = dir.path().join("poly");
    std::fs::create_dir_all(&poly).unwrap();
    for f in ["before.tif", "after.tif", "clouds.tif"] {
        std::fs::copy(scene.join(f), poly.join(f)).unwrap();
    }
    std::fs::copy(scene.join("truth.gpkg"), poly.join("labels.gpkg")).unwrap();
    let bands = ["R", "G", "B"].map(String::from);
    let from_raster =
        load_pair(&list_pairs(&scene).unwrap()[0], &Default::default(), &bands).unwrap();
    let files = list_pairs(&poly).unwrap();
    assert_eq!(files[0].labels, LabelKind::Polygons);
    let from_polygons = load_pair(&files[0], &Default::default(), &bands).unwrap();
    let change = |l: &[u8]| l.iter().filter(|&&v| v == 1).count();
    let (a, b) = (change(&from_raster.label), change(&from_polygons.label));
    assert!(a > 500, "{a} change pixels in truth.tif");
    let differ = from_raster
        .label
        .iter()
        .zip(&from_polygons.label)
        .filter(|(x, y)| (**x == 1) != (**y == 1))
        .count();
    assert!(
        differ * 20 <= a,
        "{differ} of {a} change pixels differ (polygons give {b})"
    );
}

/// Per-class scores type the polygons: the fixture's two-class softmax configured as
/// `classes = ["none", "20"]` writes classes.tif (bands described "none" and "20"), and every
/// polygon of changes.gpkg is typed 20 by the model (named in LXYJ) or set aside as no change.
#[test]
fn per_class_scores_type_the_polygons() {
    use gdal::vector::LayerAccess;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("classes.toml");
    let base = std::fs::read_to_string(testdata("model/stacked_softmax.toml")).unwrap();
    std::fs::write(
        &config,
        base.replace("channel = 1", "channel = 1\nclasses = [\"none\", \"20\"]"),
    )
    .unwrap();
    let out = dir.path().join("o");
    let mut o = detect_opts(&out, &testdata("model/stacked_softmax.onnx"), None);
    o.model.as_mut().unwrap().config = Some(config.clone());
    o.vectorize = true;
    o.classify = Some(Default::default());
    let s = detect(&o, &Backend::Cpu(Driver::Rayon), &|_, _, _| {}).unwrap();
    assert!(s.polygons.unwrap() > 0);
    let ds = gdal::Dataset::open(out.join("classes.tif")).unwrap();
    assert_eq!(ds.raster_count(), 2);
    assert_eq!(
        gdal::Metadata::description(&ds.rasterband(2).unwrap()).unwrap(),
        "20"
    );
    let v = gdal::Dataset::open(out.join("changes.gpkg")).unwrap();
    let mut layer = v.layer(0).unwrap();
    let mut n = 0;
    for f in layer.features() {
        let field = |name: &str| {
            f.field_index(name)
                .ok()
                .and_then(|i| f.field_as_string(i).ok().flatten())
                .unwrap_or_default()
        };
        let tblx = field("TBLX");
        let why = field("LXYJ");
        assert_eq!(tblx, "20", "{why}");
        assert!(why.contains("classes.tif"), "{why}");
        n += 1;
    }
    assert!(n > 0);
    // A class list that does not fit the model's two channels is refused, naming both.
    std::fs::write(
        &config,
        base.replace(
            "channel = 1",
            "channel = 1\nclasses = [\"none\", \"20\", \"30\"]",
        ),
    )
    .unwrap();
    let e = detect(&o, &Backend::Cpu(Driver::Rayon), &|_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("3 classes") && e.contains("2 channels"), "{e}");
}

/// `tuban train --out MODEL.toml` grows pixel trees on the bundled LEVIR-CD pair: the same seed
/// writes the same file, `detect --model` runs it, and features computed in sub-tiles of 64 px
/// give the mask of 512-px ones. A trees file made for another feature set is refused, naming
/// the file.
#[test]
fn pixel_trees_train_run_and_refuse_another_feature_set() {
    let dir = tempfile::tempdir().unwrap();
    let data = levir_dataset(dir.path());
    let train = |out: &Path| {
        let args = [
            "train",
            "--pairs",
            data.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--rounds",
            "12",
            "--depth",
            "3",
            "--per-pair",
            "3000",
            "--validation",
            "0",
            "--seed",
            "3",
        ];
        let (code, stdout, err) = common::cli::tuban(&args);
        assert_eq!(code, 0, "{err}");
        assert!(stdout.contains("12 trees kept"), "{stdout}");
    };
    let (m1, m2) = (dir.path().join("t1.toml"), dir.path().join("t2.toml"));
    train(&m1);
    train(&m2);
    let text = std::fs::read_to_string(&m1).unwrap();
    assert_eq!(
        text,
        std::fs::read_to_string(&m2).unwrap(),
        "same seed, other trees"
    );
    let m = tuban::model::infer::ChangeModel::load(&m1, None).unwrap();
    assert_eq!(
        m.config.output.threshold, 0.3,
        "no validation: the default threshold"
    );
    assert_eq!(m.config.tile.stride, 2, "train's default stride");
    let run = |name: &str, tile: Option<usize>| {
        let out = dir.path().join(name);
        let s = detect(
            &detect_opts(&out, &m1, tile),
            &Backend::Cpu(Driver::Rayon),
            &|_, _, _| {},
        )
        .unwrap();
        assert_eq!(s.evidence, "model");
        assert!(s.changed_px > 0 && s.changed_px < s.valid_px, "{s:?}");
        read_u8(&out.join("change.tif"))
    };
    assert_eq!(run("sub512", None), run("sub64", Some(64)));
    // shaders/trees.wgsl against the CPU trees: the same bits for every pixel.
    if let Some(gpu) = common::gpu() {
        let tuban::model::infer::Engine::Trees(trees) = &m.engine else {
            panic!("a trees file loads as trees")
        };
        let (w, h) = (150, 120);
        let plane = |seed: usize| -> Vec<f32> {
            (0..3 * w * h)
                .map(|i| (((i + seed) * 7919 % 251) as f32) / 60.0 - 2.0)
                .collect()
        };
        let (b, a) = (plane(0), plane(17));
        let mut valid = vec![1u32; w * h];
        valid[5 * w + 7] = 0;
        let patch = tuban::model::pixel::Patch {
            width: w,
            height: h,
            before: &b,
            after: &a,
            valid: &valid,
            origin: (3, 0),
        };
        // Every pixel, and the lattice of every other pixel and row (bilinear between).
        for stride in [1, 2] {
            let cpu = trees.probability(&patch, (64, stride), None).unwrap();
            let gpu = trees.probability(&patch, (64, stride), Some(&gpu)).unwrap();
            assert!(cpu[5 * w + 7].is_nan() && gpu[5 * w + 7].is_nan());
            let differ = cpu
                .iter()
                .zip(&gpu)
                .filter(|(c, g)| c.to_bits() != g.to_bits())
                .count();
            assert_eq!(
                differ, 0,
                "stride {stride}: GPU and CPU trees differ on {differ} pixels"
            );
        }
        let cpu = trees.probability(&patch, (64, 1), None).unwrap();
        let finite = || cpu.iter().copied().filter(|p| p.is_finite());
        let (lo, hi) = (
            finite().fold(f32::INFINITY, f32::min),
            finite().fold(0.0f32, f32::max),
        );
        assert!(
            hi > lo,
            "every pixel scored {lo}: the comparison would prove nothing"
        );
    }
    // The same trees claimed for another feature set.
    let other = dir.path().join("other.toml");
    std::fs::write(
        &other,
        text.replace(
            &format!("features = \"{}\"", tuban::model::pixel::FEATURE_SET),
            "features = \"rgb-v0\"",
        ),
    )
    .unwrap();
    let e = tuban::model::infer::ChangeModel::load(&other, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("other.toml") && e.contains("rgb-v0"), "{e}");
    // A model that is not TOML at all.
    let junk = dir.path().join("junk.toml");
    std::fs::write(&junk, "kind = 3\n").unwrap();
    let e = tuban::model::infer::ChangeModel::load(&junk, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("junk.toml"), "{e}");
}

/// `--evidence auto` on an RGB pair runs the built-in pixel trees (they parse, they name
/// themselves in detect.json); `--evidence mbi` still gives the building index.
#[test]
fn auto_runs_the_builtin_rgb_model_on_rgb_imagery() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, evidence: Option<EvidenceKind>| {
        let out = dir.path().join(name);
        let opts = DetectOptions {
            evidence,
            vectorize: false,
            classify: None,
            ..DetectOptions::new(
                testdata("levir/before.png"),
                testdata("levir/after.png"),
                &out,
            )
        };
        detect(&opts, &Backend::Cpu(Driver::Rayon), &|_, _, _| {}).unwrap()
    };
    let auto = run("auto", None);
    assert_eq!(auto.evidence, "model");
    assert_eq!(
        auto.model.as_deref(),
        Some(Path::new(tuban::model::infer::BUILTIN_RGB_NAME))
    );
    assert!(auto.changed_px > 0 && auto.changed_px < auto.valid_px);
    assert_eq!(auto.model_stride, Some(2), "the built-in trees' lattice");
    let m = tuban::model::infer::ChangeModel::builtin_rgb();
    assert_eq!(m.config.input.bands, ["R", "G", "B"]);
    let said = |n: &Vec<String>| {
        n.iter()
            .any(|n| n == tuban::pipeline::detect::BUILTIN_RGB_NOTE)
    };
    assert!(said(&auto.notes), "{:?}", auto.notes);
    let mbi = run("mbi", Some(EvidenceKind::Mbi));
    assert_eq!(mbi.evidence, "mbi");
    assert_eq!(mbi.model_stride, None);
    assert!(!said(&mbi.notes), "{:?}", mbi.notes);

    // The built-in model blends its probability with the building index: its evidence is the
    // mean of the trees' probability over 0.2 and the index over its own scene threshold,
    // checked against the two run apart (the trees without their blend, and `--evidence mbi`).
    let blend = m
        .config
        .output
        .blend
        .clone()
        .expect("the built-in model blends");
    assert_eq!((blend.evidence.as_str(), blend.weight), ("mbi", 0.5));
    assert_eq!(auto.threshold, blend.threshold);
    let alone = dir.path().join("trees.toml");
    let text = tuban::model::infer::BUILTIN_RGB;
    let cut = text.find("[output.blend]").unwrap();
    let rest = &text[cut..];
    let end = rest.find("\n\n").unwrap();
    std::fs::write(&alone, format!("{}{}", &text[..cut], &rest[end + 2..])).unwrap();
    let out = dir.path().join("trees");
    let opts = DetectOptions {
        vectorize: false,
        classify: None,
        model: Some(ModelSource {
            path: alone,
            config: None,
            tile_px: None,
        }),
        ..DetectOptions::new(
            testdata("levir/before.png"),
            testdata("levir/after.png"),
            &out,
        )
    };
    let trees = detect(&opts, &Backend::Cpu(Driver::Rayon), &|_, _, _| {}).unwrap();
    assert_eq!(trees.threshold, m.config.output.threshold);
    let e = read_f32(&dir.path().join("auto/evidence.tif"));
    let p = read_f32(&out.join("evidence.tif"));
    let x = read_f32(&dir.path().join("mbi/evidence.tif"));
    let (wp, wx) = (0.5 / trees.threshold, 0.5 / mbi.threshold);
    let mut compared = 0;
    for i in 0..e.len() {
        if !(p[i].is_finite() && x[i].is_finite()) {
            assert!(
                e[i].is_nan(),
                "pixel {i}: {} from {} and {}",
                e[i],
                p[i],
                x[i]
            );
            continue;
        }
        // Where the dates are identical around a pixel, the model's evidence is 0 (so the
        // trees' probability is too).
        if e[i] == 0.0 && p[i] == 0.0 {
            continue;
        }
        let want = wp * p[i] + wx * x[i];
        assert!(
            (e[i] - want).abs() <= 1e-4 * want.abs().max(1.0),
            "pixel {i}: {} against {want} (p {}, x {})",
            e[i],
            p[i],
            x[i]
        );
        compared += 1;
    }
    assert!(compared * 10 > e.len() * 9, "{compared} of {}", e.len());
}

/// A window judged with the whole scene's statistics, as `tuban run` judges each county, blends
/// with the scene's threshold and radiometry of the building index: the evidence of the run
/// that measured them itself, and a scene without them is refused, naming what is missing.
#[test]
fn given_scene_statistics_carry_the_blend() {
    let dir = tempfile::tempdir().unwrap();
    let opts = |name: &str| DetectOptions {
        vectorize: false,
        classify: None,
        ..DetectOptions::new(
            testdata("levir/before.png"),
            testdata("levir/after.png"),
            dir.path().join(name),
        )
    };
    let cpu = Backend::Cpu(Driver::Rayon);
    let stats =
        tuban::pipeline::detect::scene_statistics(&opts("stats"), &cpu, &|_, _, _| {}).unwrap();
    assert!(stats.index_threshold.is_some_and(|t| t > 0.0));
    assert_eq!(stats.index_radiometry.len(), 3);
    assert!(stats.index_radiometry.iter().any(|c| *c != [1.0, 0.0]));
    detect(&opts("own"), &cpu, &|_, _, _| {}).unwrap();
    let given = DetectOptions {
        scene: Some(stats.clone()),
        ..opts("given")
    };
    detect(&given, &cpu, &|_, _, _| {}).unwrap();
    let own = read_f32(&dir.path().join("own/evidence.tif"));
    let from_scene = read_f32(&dir.path().join("given/evidence.tif"));
    assert!(
        own.iter()
            .zip(&from_scene)
            .all(|(a, b)| a == b || a.is_nan() && b.is_nan())
    );
    let missing = DetectOptions {
        scene: Some(tuban::pipeline::detect::SceneStats {
            index_threshold: None,
            ..stats
        }),
        ..opts("missing")
    };
    let e = detect(&missing, &cpu, &|_, _, _| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("mbi"), "{e}");
}
