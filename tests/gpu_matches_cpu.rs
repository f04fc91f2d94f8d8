//! Every WGSL kernel against its CPU twin, on real Vulkan (lavapipe in CI): masks identical,
//! evidence within a stated tolerance.

mod common;

use tuban::change::cpu::Driver;
use tuban::change::cpu::run_tile;
use tuban::change::{BandRoles, EvidenceKind, PipelineConfig, Plan, Threshold};

fn plan_for(kind: EvidenceKind, bands: usize, t: f32) -> Plan {
    let roles = BandRoles {
        red: Some(2),
        green: Some(1),
        blue: Some(0),
        nir: Some(3),
        swir: Some(4),
    };
    let config = PipelineConfig {
        evidence: kind,
        threshold: Threshold::Value(t),
        mbi_half_px: (2, 9),
        ..PipelineConfig::default()
    };
    let mut plan = Plan::new(config, bands, roles);
    plan.coeffs = (0..bands)
        .flat_map(|b| [1.1 + 0.01 * b as f32, -20.0])
        .collect();
    plan.threshold = t;
    plan
}

fn assert_close(cpu: &[f32], gpu: &[f32], kind: EvidenceKind) {
    let what = kind.name();
    assert_eq!(cpu.len(), gpu.len());
    for (i, (c, g)) in cpu.iter().zip(gpu).enumerate() {
        if c.is_nan() {
            assert!(g.is_nan(), "{what}: pixel {i}: cpu NaN, gpu {g}");
            continue;
        }
        // Evidence tolerance: the GPU rounding the kind allows (see `rounding_rel`).
        let tol = kind.rounding_rel() * c.abs().max(1e-3);
        assert!((c - g).abs() <= tol, "{what}: pixel {i}: cpu {c}, gpu {g}");
    }
}

#[test]
fn every_kernel_gpu_matches_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let backend = tuban::engine::Backend::Gpu(&gpu);
    // Five bands: blue, green, red, NIR, SWIR.
    let input = common::scene(83, 61, 5, 7);
    for kind in EvidenceKind::ALL {
        // A threshold in the middle of the evidence range, so both classes are present.
        let probe = run_tile(Driver::Sequential, &plan_for(kind, 5, 0.0), &input, false);
        let mut finite: Vec<f32> = probe
            .evidence
            .iter()
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        finite.sort_by(f32::total_cmp);
        let t = finite[finite.len() * 4 / 5];
        let mut plan = plan_for(kind, 5, t);
        // Line joining on every kind.
        plan.config.join_half_px = 7;
        plan.config.join_wide_px = 4;
        let cpu = run_tile(Driver::Rayon, &plan, &input, true);
        let seq = run_tile(Driver::Sequential, &plan, &input, true);
        assert!(
            common::same_result(&cpu, &seq),
            "{}: rayon and sequential differ",
            kind.name()
        );
        let g = backend.run_tile(&plan, &input, true).expect("gpu run");
        assert_close(&cpu.evidence, &g.evidence, kind);
        if cpu.mask != g.mask {
            let diff = cpu.mask.iter().zip(&g.mask).filter(|(a, b)| a != b).count();
            panic!(
                "{}: {diff} mask pixels differ (near-threshold: cpu {}, gpu {})",
                kind.name(),
                cpu.near_threshold,
                g.near_threshold
            );
        }
        assert!(
            cpu.mask.contains(&1) && cpu.mask.contains(&0),
            "{}: degenerate mask",
            kind.name()
        );
        assert_eq!(cpu.near_threshold, g.near_threshold, "{}", kind.name());
    }
    // The cloud and shadow tests of the conversion evidence: the new roofs (after ~1740 once
    // normalised) are cloud, their east shadows (~70) dark.
    let mut plan = plan_for(EvidenceKind::Conversion, 5, 1.0);
    plan.cloud_value = 1000.0;
    plan.dark_value = 100.0;
    let cpu = run_tile(Driver::Rayon, &plan, &input, true);
    let g = backend.run_tile(&plan, &input, true).expect("gpu run");
    assert_close(&cpu.evidence, &g.evidence, EvidenceKind::Conversion);
    assert_eq!(cpu.mask, g.mask, "conversion with cloud and shadow tests");
    // The bright arm (new surfaces on bare ground) on both devices, screens off: a block of
    // bare soil (NDVI 0.1) that turns into a grey roof twice as bright.
    let mut bare = input.clone();
    let n = bare.width * bare.height;
    for y in 10..30 {
        for x in 10..30 {
            let i = y * bare.width + x;
            for (b, (before, after)) in [
                (300.0, 700.0),
                (350.0, 720.0),
                (400.0, 740.0),
                (490.0, 760.0),
                (600.0, 800.0),
            ]
            .into_iter()
            .enumerate()
            {
                bare.before[b * n + i] = before;
                bare.after[b * n + i] = after;
            }
        }
    }
    let mut lit = plan_for(EvidenceKind::Conversion, 5, 1.0);
    lit.bright_value = 150.0;
    let c = run_tile(Driver::Rayon, &lit, &bare, true);
    let gl = backend.run_tile(&lit, &bare, true).expect("gpu run");
    assert_close(&c.evidence, &gl.evidence, EvidenceKind::Conversion);
    assert_eq!(c.mask, gl.mask, "conversion with the bright arm");
    let dark = run_tile(
        Driver::Rayon,
        &plan_for(EvidenceKind::Conversion, 5, 1.0),
        &bare,
        true,
    );
    assert_ne!(c.mask, dark.mask, "the bright arm found nothing to test");
    let cloud = cpu
        .evidence
        .iter()
        .filter(|e| **e == tuban::change::CLOUD_EVIDENCE)
        .count();
    let dark = cpu
        .evidence
        .iter()
        .filter(|e| **e == tuban::change::SHADOW_EVIDENCE)
        .count();
    assert!(cloud > 100 && dark > 10, "cloud {cloud}, dark {dark}");
}

#[test]
fn rows_of_panels_gpu_matches_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let backend = tuban::engine::Backend::Gpu(&gpu);
    // Green fields before; after, a 40 x 30 array of 3-px panel rows (grey, no NIR lift) with
    // 3-px strips of the field between, and a lone panel block elsewhere.
    let (w, h, bands) = (90usize, 70usize, 5usize);
    let mut input = common::scene(w, h, bands, 11);
    let n = w * h;
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            for (b, v) in [300.0, 500.0, 400.0, 3500.0, 1800.0]
                .into_iter()
                .enumerate()
            {
                input.before[b * n + i] = v;
                input.after[b * n + i] = v;
            }
            let array = (20..60).contains(&x) && (15..45).contains(&y) && (x / 3) % 2 == 0;
            let block = (70..80).contains(&x) && (55..65).contains(&y);
            if array || block {
                for (b, v) in [900.0, 800.0, 700.0, 900.0, 1500.0].into_iter().enumerate() {
                    input.after[b * n + i] = v;
                }
            }
            input.valid[i] = 1;
        }
    }
    let mut plan = plan_for(EvidenceKind::Conversion, bands, 1.0);
    plan.config.rows_half_px = 12;
    let cpu = run_tile(Driver::Rayon, &plan, &input, true);
    let seq = run_tile(Driver::Sequential, &plan, &input, true);
    assert!(
        common::same_result(&cpu, &seq),
        "rayon and sequential differ"
    );
    let g = backend.run_tile(&plan, &input, true).expect("gpu run");
    assert_eq!(cpu.mask, g.mask, "rows: masks differ");
    // The array is one class-3 region, gaps included; the lone block stays class 1.
    let at = |x: usize, y: usize| cpu.mask[y * w + x];
    assert_eq!((at(40, 30), at(41, 30), at(28, 16)), (3, 3, 3));
    assert_eq!(at(75, 60), 1);
    assert_eq!(at(10, 30), 0);
}

/// naga's view of the prelude: each uniform struct's members (name, scalar type, offset) and
/// size equal the Rust `#[repr(C)]` layout, and each constant's value the Rust value; every
/// shader, compiled as the device compiles it, passes naga's validator.
#[test]
fn the_wgsl_prelude_matches_the_rust_contract() {
    use tuban::change::contract::{
        ConvParams, KernelParams, TreeParams, Uniform, f32_constants, u32_constants,
    };
    use wgpu::naga;
    let module = naga::front::wgsl::parse_str(tuban::gpu::shader_prelude())
        .unwrap_or_else(|e| panic!("the prelude does not parse: {e}"));
    fn check<U: Uniform>(module: &naga::Module) {
        let (_, ty) = module
            .types
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(U::NAME))
            .unwrap_or_else(|| panic!("no struct {} in the prelude", U::NAME));
        let naga::TypeInner::Struct { members, span } = &ty.inner else {
            panic!("{} is not a struct", U::NAME)
        };
        assert_eq!(*span as usize, std::mem::size_of::<U>(), "{} size", U::NAME);
        assert_eq!(members.len(), U::FIELDS.len(), "{} members", U::NAME);
        for (m, f) in members.iter().zip(U::FIELDS) {
            let what = format!("{}.{}", U::NAME, f.name);
            assert_eq!(m.name.as_deref(), Some(f.name), "{what}: name");
            assert_eq!(m.offset as usize, f.offset, "{what}: offset");
            let naga::TypeInner::Scalar(s) = module.types[m.ty].inner else {
                panic!("{what}: not a scalar")
            };
            let ty = match (s.kind, s.width) {
                (naga::ScalarKind::Uint, 4) => "u32",
                (naga::ScalarKind::Sint, 4) => "i32",
                (naga::ScalarKind::Float, 4) => "f32",
                other => panic!("{what}: {other:?}"),
            };
            assert_eq!(ty, f.ty, "{what}: type");
        }
    }
    check::<KernelParams>(&module);
    check::<TreeParams>(&module);
    check::<ConvParams>(&module);
    let value = |name: &str| {
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no constant {name} in the prelude"));
        match module.global_expressions[c.init] {
            naga::Expression::Literal(l) => l,
            ref e => panic!("{name}: not a literal: {e:?}"),
        }
    };
    for (name, v) in u32_constants() {
        assert_eq!(value(&name), naga::Literal::U32(v), "{name}");
    }
    for (name, v) in f32_constants() {
        assert_eq!(value(name), naga::Literal::F32(v), "{name}");
    }
    for (name, src) in tuban::gpu::shader_sources() {
        let m = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{name}.wgsl: {}", e.emit_to_string(&src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&m)
        .unwrap_or_else(|e| panic!("{name}.wgsl does not validate: {e:?}"));
    }
}

/// Random tile planes for the per-kernel table.
struct Planes {
    p: tuban::change::KernelParams,
    before: Vec<f32>,
    after: Vec<f32>,
    valid: Vec<u32>,
    /// 0/1 blobs with nodata specks.
    mask: Vec<u32>,
    /// Another 0/1 mask (the "wide" mask of the seeds, the source of `or_into`).
    other: Vec<u32>,
    /// Change classes 0, 1, 2, filled and nodata in blobs.
    classes: Vec<u32>,
    /// Evidence around the threshold 1.0, NaN where invalid, some values on the threshold.
    evidence: Vec<f32>,
    /// Stripes of built rows (1) across fields (0) with noise: arrays of rows and not.
    stripes: Vec<u32>,
    plane_a: Vec<f32>,
    plane_b: Vec<f32>,
}

fn planes(w: usize, h: usize, bands: usize, seed: u64) -> Planes {
    use tuban::change::contract::{CLASS_CHANGE, CLASS_FILLED, CLASS_GREEN};
    use tuban::change::{EvidenceKind, MASK_NODATA};
    let input = common::scene(w, h, bands, seed);
    let mut rng = common::Rng::new(seed ^ 0x5eed);
    let n = w * h;
    // Blobs: 3 x 3 cells switched on at random, so structuring elements find both shapes and
    // single pixels.
    let mut blobs = |on: f64| -> Vec<bool> {
        let cells: Vec<bool> = (0..n.div_ceil(9) + w).map(|_| rng.unit() < on).collect();
        (0..n)
            .map(|i| cells[(i / w / 3) * w.div_ceil(3) + (i % w) / 3])
            .collect()
    };
    let (a, b, c) = (blobs(0.35), blobs(0.5), blobs(0.3));
    let mut noise: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
    let specks = |m: &mut Vec<u32>, noise: &[f64]| {
        for (v, r) in m.iter_mut().zip(noise) {
            if *r < 0.02 {
                *v = MASK_NODATA;
            } else if *r > 0.97 {
                *v ^= 1;
            }
        }
    };
    let mut mask: Vec<u32> = a.iter().map(|&x| u32::from(x)).collect();
    specks(&mut mask, &noise);
    noise.reverse();
    let mut other: Vec<u32> = b.iter().map(|&x| u32::from(x)).collect();
    specks(&mut other, &noise);
    let classes: Vec<u32> = (0..n)
        .map(|i| match (a[i], c[i], (noise[i] * 10.0) as u32) {
            (_, _, 0) => MASK_NODATA,
            (false, false, _) => 0,
            (true, false, _) => CLASS_CHANGE,
            (false, true, _) => CLASS_GREEN,
            (true, true, k) if k % 2 == 0 => CLASS_FILLED,
            _ => CLASS_CHANGE,
        })
        .collect();
    let evidence: Vec<f32> = (0..n)
        .map(|i| {
            if input.valid[i] == 0 {
                f32::NAN
            } else if noise[i] < 0.05 {
                1.0
            } else {
                (noise[i] * 2.0) as f32
            }
        })
        .collect();
    let stripes: Vec<u32> = (0..n)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            let field = (x / 17 + y / 13) % 3;
            let built = match field {
                0 => (x / 3) % 2 == 0,
                1 => (y / 2) % 3 == 0,
                _ => noise[i] < 0.3,
            };
            if noise[i] > 0.995 {
                MASK_NODATA
            } else {
                u32::from(built ^ (noise[i] < 0.01))
            }
        })
        .collect();
    let plane = |img: &[f32]| -> Vec<f32> { img[..n].to_vec() };
    let p = plan_for(EvidenceKind::Cva, bands, 1.0).params(w, h);
    Planes {
        p,
        plane_a: plane(&input.before),
        plane_b: plane(&input.after),
        before: input.before,
        after: input.after,
        valid: input.valid,
        mask,
        other,
        classes,
        evidence,
        stripes,
    }
}

/// No difference allowed.
const EXACT: (f32, f32) = (0.0, 0.0);

fn bytes<T: bytemuck::Pod>(v: &[T]) -> &[u8] {
    bytemuck::cast_slice(v)
}

fn words(b: &[u8]) -> Vec<u32> {
    bytemuck::pod_collect_to_vec(b)
}

fn floats(b: &[u8]) -> Vec<f32> {
    bytemuck::pod_collect_to_vec(b)
}

/// The first pixel where a kernel's GPU output differs from its CPU twin, named.
fn same_words(case: &str, w: usize, cpu: &[u32], gpu: &[u32]) {
    assert_eq!(cpu.len(), gpu.len(), "{case}: lengths");
    if let Some(i) = (0..cpu.len()).find(|&i| cpu[i] != gpu[i]) {
        let diff = (0..cpu.len()).filter(|&i| cpu[i] != gpu[i]).count();
        panic!(
            "{case}: {diff} pixels differ, first at ({}, {}): cpu {}, gpu {}",
            i % w,
            i / w,
            cpu[i],
            gpu[i]
        );
    }
}

/// Within `rel` of the CPU value (of 1e-3 for smaller values), and `abs`.
fn close_floats(case: &str, w: usize, cpu: &[f32], gpu: &[f32], (rel, abs): (f32, f32)) {
    assert_eq!(cpu.len(), gpu.len(), "{case}: lengths");
    for (i, (c, g)) in cpu.iter().zip(gpu).enumerate() {
        let ok = if c.is_nan() {
            g.is_nan()
        } else {
            (c - g).abs() <= rel * c.abs().max(1e-3) + abs
        };
        assert!(ok, "{case}: pixel ({}, {}): cpu {c}, gpu {g}", i % w, i / w);
    }
}

/// Every kernel of the tile pipeline on its own, against its CPU twin, on random inputs (a tile
/// that is not a multiple of the 16 x 16 workgroup), for several radii and every direction: a
/// failure names the kernel, the case and the first pixel.
#[test]
fn each_kernel_gpu_matches_its_cpu_twin() {
    use tuban::change::EvidenceKind;
    use tuban::change::cpu::{mbi, morphology as morph, normalize, spectral, threshold};
    let Some(gpu) = common::gpu() else { return };
    let (w, h, bands) = (53usize, 41usize, 5usize);
    let t = planes(w, h, bands, 29);
    let n = w * h;
    let run = |entry: &str, p: &tuban::change::KernelParams, bufs: &[(u32, &[u8])]| {
        gpu.run_kernel(entry, p, bufs)
            .unwrap_or_else(|e| panic!("{entry}: {e}"))
    };
    let per_px = |f: &dyn Fn(usize) -> u32| (0..n).map(f).collect::<Vec<u32>>();
    let per_px_f = |f: &dyn Fn(usize) -> f32| (0..n).map(f).collect::<Vec<f32>>();
    let mut cases = 0;

    // normalize: after = after * gain + offset per band, in place.
    let coeffs: Vec<f32> = (0..bands)
        .flat_map(|b| [0.93 + 0.03 * b as f32, -17.5 + b as f32])
        .collect();
    let out = run(
        "normalize",
        &t.p,
        &[(1, bytes(&coeffs)), (2, bytes(&t.after))],
    );
    let cpu: Vec<f32> = (0..n * bands)
        .map(|k| normalize::normalize_px(t.after[k], coeffs[2 * (k / n)], coeffs[2 * (k / n) + 1]))
        .collect();
    close_floats("normalize", w, &cpu, &floats(&out[1]), EXACT);
    cases += 1;

    // evidence: every kind computed per pixel (the building indices go through their own
    // kernels below), the conversion with its cloud, shadow and bright tests on and off.
    for kind in EvidenceKind::ALL {
        if kind.is_morphological() {
            continue;
        }
        for screens in [false, true] {
            if screens && kind != EvidenceKind::Conversion {
                continue;
            }
            let mut plan = plan_for(kind, bands, 1.0);
            if screens {
                (plan.cloud_value, plan.dark_value, plan.bright_value) = (700.0, 330.0, 60.0);
            }
            let p = plan.params(w, h);
            let ev = vec![0f32; n];
            let out = run(
                "evidence",
                &p,
                &[
                    (1, bytes(&t.before)),
                    (2, bytes(&t.after)),
                    (3, bytes(&t.valid)),
                    (4, bytes(&ev)),
                ],
            );
            let cpu = per_px_f(&|i| spectral::evidence_px(&p, &t.before, &t.after, &t.valid, i));
            let case = format!("evidence {} (screens {screens})", kind.name());
            // Vulkan's log is exact to 2^-21 absolute near 1: the log ratio of nearly equal
            // dates is tiny, so that bound, not a relative one, is what the device promises.
            let abs = if kind == EvidenceKind::LogRatio {
                2f32.powi(-21)
            } else {
                0.0
            };
            close_floats(&case, w, &cpu, &floats(&out[3]), (kind.rounding_rel(), abs));
            cases += 1;
        }
    }

    // visible_max: the brightness planes of the building (and, inverted, shadow) index.
    for kind in [EvidenceKind::Mbi, EvidenceKind::Msi] {
        for visible in [0u32, 0b0111] {
            let p = tuban::change::KernelParams {
                evidence: kind.code(),
                visible,
                ..t.p
            };
            let z = vec![0f32; n];
            let out = run(
                "visible_max",
                &p,
                &[
                    (1, bytes(&t.before)),
                    (2, bytes(&t.after)),
                    (5, bytes(&z)),
                    (6, bytes(&z)),
                ],
            );
            let case = format!("visible_max {} visible {visible:#b}", kind.name());
            let cpu_b = per_px_f(&|i| spectral::visible_max_px(&p, &t.before, i));
            let cpu_a = per_px_f(&|i| spectral::visible_max_px(&p, &t.after, i));
            close_floats(&case, w, &cpu_b, &floats(&out[2]), EXACT);
            close_floats(&case, w, &cpu_a, &floats(&out[3]), EXACT);
            cases += 1;
        }
    }

    // erode_line / dilate_line: grey line erosion and dilation along the four directions.
    for dir in 0..4 {
        for half in [1u32, 3, 9] {
            for erode in [true, false] {
                let p = tuban::change::KernelParams { dir, half, ..t.p };
                let entry = if erode { "erode_line" } else { "dilate_line" };
                let z = vec![0f32; n];
                let out = run(
                    entry,
                    &p,
                    &[(1, bytes(&t.plane_a)), (2, bytes(&t.valid)), (3, bytes(&z))],
                );
                let cpu = per_px_f(&|i| mbi::line_extreme_px(&p, &t.plane_a, &t.valid, i, erode));
                close_floats(
                    &format!("{entry} dir {dir} half {half}"),
                    w,
                    &cpu,
                    &floats(&out[2]),
                    EXACT,
                );
                cases += 1;
            }
        }
    }

    // accumulate: acc += small - large.
    let acc: Vec<f32> = t.plane_b.iter().map(|v| v * 0.01).collect();
    let out = run(
        "accumulate",
        &t.p,
        &[
            (4, bytes(&t.plane_a)),
            (5, bytes(&t.plane_b)),
            (6, bytes(&acc)),
        ],
    );
    let cpu = per_px_f(&|i| acc[i] + (t.plane_a[i] - t.plane_b[i]));
    close_floats("accumulate", w, &cpu, &floats(&out[2]), EXACT);
    cases += 1;

    // mbi_change: |after - before| / 4, NaN where invalid.
    let z = vec![0f32; n];
    let out = run(
        "mbi_change",
        &t.p,
        &[
            (2, bytes(&t.valid)),
            (7, bytes(&t.plane_a)),
            (8, bytes(&t.plane_b)),
            (9, bytes(&z)),
        ],
    );
    let cpu = per_px_f(&|i| mbi::mbi_change_px(&t.valid, &t.plane_a, &t.plane_b, i));
    close_floats("mbi_change", w, &cpu, &floats(&out[3]), EXACT);
    cases += 1;

    // threshold: the mask and the count of pixels near the threshold.
    for thr in [1.0f32, 0.37] {
        let p = tuban::change::KernelParams {
            threshold: thr,
            near_rel: 1e-3,
            ..t.p
        };
        let zero = [0u32];
        let m = vec![0u32; n];
        let out = run(
            "threshold",
            &p,
            &[
                (1, bytes(&t.evidence)),
                (2, bytes(&t.valid)),
                (3, bytes(&m)),
                (4, bytes(&zero)),
            ],
        );
        let case = format!("threshold {thr}");
        let cpu = per_px(&|i| threshold::threshold_px(t.evidence[i], t.valid[i], thr));
        same_words(&case, w, &cpu, &words(&out[2]));
        let near = (0..n)
            .filter(|&i| threshold::is_near_px(t.evidence[i], t.valid[i], thr, p.near_rel))
            .count() as u32;
        assert!(
            thr != 1.0 || near > 10,
            "{case}: the table tests no near pixel"
        );
        assert_eq!(words(&out[3]), vec![near], "{case}: near count");
        cases += 1;
    }

    // erode / dilate: binary squares of several radii.
    for half in [1u32, 2, 4] {
        for erode in [true, false] {
            let p = tuban::change::KernelParams { half, ..t.p };
            let entry = if erode { "erode" } else { "dilate" };
            let m = vec![0u32; n];
            let out = run(entry, &p, &[(1, bytes(&t.mask)), (2, bytes(&m))]);
            let cpu = per_px(&|i| morph::binary_px(&p, &t.mask, i, erode));
            same_words(&format!("{entry} half {half}"), w, &cpu, &words(&out[1]));
            cases += 1;
        }
    }

    // erode_line_mask / dilate_line_mask: binary lines in all eight directions.
    for dir in 0..8 {
        for half in [1u32, 4, 9] {
            for erode in [true, false] {
                let p = tuban::change::KernelParams { dir, half, ..t.p };
                let entry = if erode {
                    "erode_line_mask"
                } else {
                    "dilate_line_mask"
                };
                let m = vec![0u32; n];
                let out = run(entry, &p, &[(1, bytes(&t.mask)), (2, bytes(&m))]);
                let cpu = per_px(&|i| morph::line_binary_px(&p, &t.mask, i, erode));
                same_words(
                    &format!("{entry} dir {dir} half {half}"),
                    w,
                    &cpu,
                    &words(&out[1]),
                );
                cases += 1;
            }
        }
    }

    // thin_seeds: change pixels outside the wide mask.
    let m = vec![0u32; n];
    let out = run(
        "thin_seeds",
        &t.p,
        &[(1, bytes(&t.mask)), (3, bytes(&t.other)), (2, bytes(&m))],
    );
    let cpu = per_px(&|i| morph::thin_seed_px(&t.mask, &t.other, i));
    same_words("thin_seeds", w, &cpu, &words(&out[2]));
    cases += 1;

    // or_into: dst |= src where dst is not nodata.
    let out = run(
        "or_into",
        &t.p,
        &[(1, bytes(&t.other)), (2, bytes(&t.mask))],
    );
    let cpu = per_px(&|i| morph::or_into_px(&t.other, t.mask[i], i));
    same_words("or_into", w, &cpu, &words(&out[1]));
    cases += 1;

    // change_class: green gain, filled and plain change (conversion); other kinds unchanged.
    for kind in [EvidenceKind::Conversion, EvidenceKind::Cva] {
        let p = plan_for(kind, bands, 1.0).params(w, h);
        let out = run(
            "change_class",
            &p,
            &[
                (1, bytes(&t.before)),
                (2, bytes(&t.after)),
                (4, bytes(&t.evidence)),
                (7, bytes(&t.mask)),
            ],
        );
        let cpu = per_px(&|i| {
            spectral::change_class_px(&p, &t.before, &t.after, &t.evidence, t.mask[i], i)
        });
        same_words(
            &format!("change_class {}", kind.name()),
            w,
            &cpu,
            &words(&out[3]),
        );
        cases += 1;
    }

    // class_majority: the vote of classes 1 and 2 (filled pixels take the majority).
    for half in [1u32, 2, 3] {
        let p = tuban::change::KernelParams { half, ..t.p };
        let m = vec![0u32; n];
        let out = run(
            "class_majority",
            &p,
            &[(1, bytes(&t.classes)), (2, bytes(&m))],
        );
        let cpu = per_px(&|i| morph::class_majority_px(&p, &t.classes, i));
        same_words(
            &format!("class_majority half {half}"),
            w,
            &cpu,
            &words(&out[1]),
        );
        cases += 1;
    }

    // rows: arrays of built rows along rows and columns.
    for half in [3u32, 6, 12] {
        let p = tuban::change::KernelParams { half, ..t.p };
        let m = vec![0u32; n];
        let out = run("rows", &p, &[(1, bytes(&t.stripes)), (2, bytes(&m))]);
        let cpu = per_px(&|i| morph::rows_px(&p, &t.stripes, i));
        let g = words(&out[1]);
        same_words(&format!("rows half {half}"), w, &cpu, &g);
        assert!(
            g.contains(&tuban::change::CLASS_ROWS),
            "rows half {half}: the table has no array of rows"
        );
        cases += 1;
    }
    assert!(gpu.run_kernel("no_such_kernel", &t.p, &[]).is_err());
    eprintln!("{cases} kernel cases: GPU = CPU");
}
