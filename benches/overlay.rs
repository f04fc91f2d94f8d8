//! Criterion benches of the overlay core (no GDAL): intersecting a batch of land-use polygons
//! with indexed change polygons (the inner loop of `tuban overlay`), and measuring a change
//! under overlapping protected polygons in one non-zero operation.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use geo::{Coord, LineString, MultiPolygon, Polygon};
use std::hint::black_box;
use tuban::geom::boolean::cover;
use tuban::overlay::index::{RefFeature, Targets, Want};

const X0: f64 = 39_500_000.0;
const Y0: f64 = 3_500_000.0;

fn rng(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed;
    move || {
        s = s
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn poly(pts: Vec<(f64, f64)>) -> MultiPolygon<f64> {
    let mut ring: Vec<Coord<f64>> = pts.into_iter().map(|(x, y)| Coord { x, y }).collect();
    ring.push(ring[0]);
    MultiPolygon::new(vec![Polygon::new(LineString::new(ring), vec![])])
}

fn blob(cx: f64, cy: f64, r: f64, k: usize, rnd: &mut impl FnMut() -> f64) -> MultiPolygon<f64> {
    poly(
        (0..k)
            .map(|i| {
                let t = i as f64 / k as f64 * std::f64::consts::TAU;
                let rr = r * (0.6 + 0.4 * rnd());
                (cx + rr * t.cos(), cy + rr * t.sin())
            })
            .collect(),
    )
}

/// An n x n lattice of 50 m quads (a DLTB stand-in) and m change blobs over it.
fn scene(n: usize, m: usize) -> (Vec<RefFeature>, Targets) {
    let mut rnd = rng(7);
    let cell = 50.0;
    let mut feats = Vec::with_capacity(n * n);
    for j in 0..n {
        for i in 0..n {
            let (x, y) = (X0 + i as f64 * cell, Y0 + j as f64 * cell);
            feats.push(RefFeature {
                fid: (j * n + i) as u64,
                geom: poly(vec![
                    (x, y),
                    (x + cell, y),
                    (x + cell, y + cell),
                    (x, y + cell),
                ]),
                attrs: vec![Some("0101".into())],
            });
        }
    }
    let side = n as f64 * cell;
    let targets = Targets::new(
        (0..m)
            .map(|_| {
                let (cx, cy) = (X0 + side * rnd(), Y0 + side * rnd());
                let r = 10.0 + 50.0 * rnd();
                blob(cx, cy, r, 12, &mut rnd)
            })
            .collect(),
    );
    (feats, targets)
}

fn hits(c: &mut Criterion) {
    let mut g = c.benchmark_group("overlay_hits");
    g.sample_size(10);
    for (n, m) in [(100, 1_000), (300, 10_000)] {
        let (feats, targets) = scene(n, m);
        g.throughput(Throughput::Elements(feats.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("dltb_lattice", format!("{n}x{n}_{m}")),
            &(),
            |b, _| {
                b.iter(|| {
                    let mut batch = feats.clone();
                    black_box(targets.hits(&mut batch, Want::Parts).0.len())
                })
            },
        );
    }
    g.finish();
}

fn covered(c: &mut Criterion) {
    let mut g = c.benchmark_group("overlay_cover");
    let mut rnd = rng(11);
    let base = blob(X0, Y0, 40.0, 24, &mut rnd);
    for k in [4usize, 32] {
        let operands: Vec<MultiPolygon<f64>> = (0..k)
            .map(|_| {
                blob(
                    X0 + 80.0 * rnd() - 40.0,
                    Y0 + 80.0 * rnd() - 40.0,
                    30.0,
                    32,
                    &mut rnd,
                )
            })
            .collect();
        g.bench_with_input(BenchmarkId::new("overlapping", k), &operands, |b, ops| {
            b.iter(|| black_box(cover(&base, ops).map(|g| g.0.len())))
        });
    }
    g.finish();
}

criterion_group!(benches, hits, covered);
criterion_main!(benches);
