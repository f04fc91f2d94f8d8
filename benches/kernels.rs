//! Criterion benches of the change kernels: each CPU kernel at 2-3 tile sizes, and the whole
//! per-tile pipeline on the CPU and (where wgpu finds an adapter) the GPU in one group, so the
//! speedup shows. Throughput is in pixels (criterion prints Melem/s = Mpx/s).
//!
//! `cargo bench --no-default-features --bench kernels` runs on a machine without GDAL.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tuban::change::cpu::run_tile;
use tuban::change::cpu::{Driver, mbi, morphology, normalize, spectral, threshold};
use tuban::change::{BandRoles, EvidenceKind, PipelineConfig, Plan, TileInput};
use tuban::engine::Backend;
use tuban::gpu::{AdapterChoice, GpuContext};

const SIZES: [usize; 3] = [256, 512, 1024];

/// A deterministic 4-band tile: fields, bright blocks in the after date, noise.
fn tile(size: usize) -> TileInput {
    let n = size * size;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut noise = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    };
    let mut before = vec![0.0f32; 4 * n];
    let mut after = vec![0.0f32; 4 * n];
    for i in 0..n {
        let (x, y) = (i % size, i / size);
        let field = ((x / 37 + y / 23) % 3) as f32;
        let block = (x % 40) > 8
            && (x % 40) < 28
            && (y % 40) > 8
            && (y % 40) < 24
            && (x / 40 + y / 40) % 5 == 0;
        for b in 0..4 {
            let v = 500.0 + 300.0 * field + 50.0 * b as f32 + 40.0 * noise();
            before[b * n + i] = v;
            after[b * n + i] = if block { 2600.0 } else { 1.08 * v + 60.0 };
        }
    }
    TileInput {
        width: size,
        height: size,
        bands: 4,
        before,
        after,
        valid: vec![1; n],
    }
}

fn plan(kind: EvidenceKind) -> Plan {
    let roles = BandRoles {
        blue: Some(0),
        green: Some(1),
        red: Some(2),
        nir: Some(3),
        swir: None,
    };
    let mut p = Plan::new(
        PipelineConfig {
            evidence: kind,
            ..PipelineConfig::default()
        },
        4,
        roles,
    );
    p.threshold = 100.0;
    p
}

fn cpu_kernels(c: &mut Criterion) {
    for size in SIZES {
        let input = tile(size);
        let n = input.pixels();
        let p = plan(EvidenceKind::Cva).params(size, size);
        let coeffs = [1.0f32, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
        let mut g = c.benchmark_group("cpu_kernels");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("normalize", size), &size, |b, _| {
            let mut after = input.after.clone();
            b.iter(|| normalize::normalize(Driver::Rayon, &p, &coeffs, black_box(&mut after)))
        });
        for kind in [
            EvidenceKind::Cva,
            EvidenceKind::Sam,
            EvidenceKind::Ndvi,
            EvidenceKind::Conversion,
        ] {
            let pk = plan(kind).params(size, size);
            let mut out = vec![0.0f32; n];
            g.bench_with_input(
                BenchmarkId::new(format!("spectral_{}", kind.name()), size),
                &size,
                |b, _| {
                    b.iter(|| {
                        spectral::evidence(
                            Driver::Rayon,
                            &pk,
                            &input.before,
                            &input.after,
                            &input.valid,
                            black_box(&mut out),
                        )
                    })
                },
            );
        }
        let base = &input.before[..n];
        g.bench_with_input(BenchmarkId::new("mbi_sum", size), &size, |b, _| {
            b.iter(|| mbi::mbi_sum(Driver::Rayon, &p, black_box(base), &input.valid, (2, 22)))
        });
        let ev: Vec<f32> = base.to_vec();
        let mut mask = vec![0u32; n];
        let pt = tuban::change::KernelParams {
            threshold: 900.0,
            ..p
        };
        g.bench_with_input(BenchmarkId::new("threshold", size), &size, |b, _| {
            b.iter(|| {
                threshold::threshold(Driver::Rayon, &pt, &ev, &input.valid, black_box(&mut mask))
            })
        });
        g.bench_with_input(BenchmarkId::new("open_close_r1", size), &size, |b, _| {
            b.iter(|| {
                let mut m = mask.clone();
                morphology::open_close(Driver::Rayon, &p, black_box(&mut m), 1, 1);
                m
            })
        });
        // Line joining at the 0.8 m defaults (50 m gaps: 31 px each side; wide from 20 px).
        g.bench_with_input(BenchmarkId::new("join_lines", size), &size, |b, _| {
            b.iter(|| {
                let mut m = mask.clone();
                morphology::join_lines(Driver::Rayon, &p, black_box(&mut m), 31, 20);
                m
            })
        });
        // Arrays of rows at the 0.8 m default (25-px half windows) on the same mask with a
        // panel array (4-px rows every 16 px) over a quarter of the tile.
        let mut arrays = mask.clone();
        for y in 0..size / 2 {
            for x in 0..size / 2 {
                arrays[y * size + x] = u32::from(x % 16 < 4);
            }
        }
        let pr = tuban::change::KernelParams { half: 25, ..p };
        g.bench_with_input(BenchmarkId::new("rows", size), &size, |b, _| {
            b.iter(|| {
                let mut m = arrays.clone();
                morphology::rows(&pr, black_box(&arrays), &mut m);
                m
            })
        });
        g.finish();
    }
}

fn pipeline(c: &mut Criterion) {
    let gpu = GpuContext::new(AdapterChoice::Any).ok();
    if let Some(g) = &gpu {
        eprintln!("GPU bench on {}", g.adapter_name());
    } else {
        eprintln!("no GPU adapter: pipeline bench runs on the CPU only");
    }
    for kind in [
        EvidenceKind::Cva,
        EvidenceKind::Mbi,
        EvidenceKind::Conversion,
    ] {
        let mut g = c.benchmark_group(format!("tile_pipeline_{}", kind.name()));
        for size in [512, 1024] {
            let input = tile(size);
            let mut p = plan(kind);
            if kind == EvidenceKind::Conversion {
                // The 0.8 m automatic profile: rule threshold, 1-px opening, joining.
                p.threshold = 1.0;
                p.config.open_px = 1;
                p.config.join_half_px = 31;
                p.config.join_wide_px = 20;
            }
            g.throughput(Throughput::Elements(input.pixels() as u64));
            g.bench_with_input(BenchmarkId::new("cpu", size), &size, |b, _| {
                b.iter(|| run_tile(Driver::Rayon, &p, black_box(&input), true))
            });
            if let Some(ctx) = &gpu {
                let backend = Backend::Gpu(ctx);
                g.bench_with_input(BenchmarkId::new("gpu", size), &size, |b, _| {
                    b.iter(|| {
                        backend
                            .run_tile(&p, black_box(&input), true)
                            .expect("gpu tile")
                    })
                });
            }
        }
        g.finish();
    }
}

/// The built-in RGB pixel trees over a 512² tile (features and trees, R, G, B of the bench
/// tile scaled by their means and deviations), on the CPU and, where wgpu finds an adapter,
/// with the trees on the GPU.
fn pixel_trees(c: &mut Criterion) {
    use tuban::model::infer::{ChangeModel, Engine};
    let model = ChangeModel::builtin_rgb();
    let Engine::Trees(trees) = &model.engine else {
        unreachable!("the built-in RGB model is pixel trees")
    };
    let size = 512;
    let input = tile(size);
    let n = size * size;
    let scaled = |src: &[f32]| -> Vec<f32> {
        let mut out = Vec::with_capacity(3 * n);
        for b in [2, 1, 0] {
            let p = &src[b * n..(b + 1) * n];
            let m = p.iter().sum::<f32>() / n as f32;
            let sd = (p.iter().map(|v| (v - m) * (v - m)).sum::<f32>() / n as f32).sqrt();
            out.extend(p.iter().map(|v| (v - m) / sd.max(1e-6)));
        }
        out
    };
    let (before, after) = (scaled(&input.before), scaled(&input.after));
    let patch = tuban::model::pixel::Patch {
        width: size,
        height: size,
        before: &before,
        after: &after,
        valid: &input.valid,
        origin: (0, 0),
    };
    let mut g = c.benchmark_group("pixel_trees");
    g.throughput(Throughput::Elements(n as u64));
    for stride in [1, 2] {
        let name = if stride == 1 { "cpu" } else { "cpu-stride2" };
        g.bench_function(BenchmarkId::new(name, size), |b| {
            b.iter(|| {
                trees
                    .probability(black_box(&patch), (512, stride), None)
                    .expect("cpu")
            })
        });
    }
    if let Ok(ctx) = GpuContext::new(AdapterChoice::Any) {
        g.bench_function(BenchmarkId::new("gpu", size), |b| {
            b.iter(|| {
                trees
                    .probability(black_box(&patch), (512, 1), Some(&ctx))
                    .expect("gpu")
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = cpu_kernels, pipeline, pixel_trees
}
criterion_main!(benches);
