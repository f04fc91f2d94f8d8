//! Criterion benches of the vectorizer: the per-tile work (labelling + boundary tracing), the
//! seam merge (the same mask in one tile vs in many tiles: the difference is the stitching),
//! and the split of a linear component into lines of different directions before typing.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use tuban::raster::grid::Window;
use tuban::vectorize::label::label_tile;
use tuban::vectorize::stitch::{PolygonizeOptions, polygonize_mask};
use tuban::vectorize::tile::MaskTile;
use tuban::vectorize::trace::trace_tile;

/// Blobs, rings and diagonal staircases on a 13-px lattice, plus sparse speckle.
fn mask(size: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut rnd = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut m = vec![0u8; size * size];
    for y in 0..size {
        for x in 0..size {
            let (cx, cy) = (x % 13, y % 13);
            let cell = (x / 13 * 7 + y / 13 * 3) % 4;
            let on = match cell {
                0 => cx < 9 && cy < 7,
                1 => (cx == 1 || cx == 9 || cy == 1 || cy == 9) && cx <= 9 && cy <= 9,
                2 => cx == cy,
                _ => rnd() % 16 == 0,
            };
            m[y * size + x] = u8::from(on);
        }
    }
    m
}

fn tile_work(c: &mut Criterion) {
    let mut g = c.benchmark_group("vectorize_tile");
    for size in [256, 512, 1024] {
        let m = mask(size);
        let t = MaskTile::from_mask(
            &m,
            size,
            size,
            Window {
                x: 0,
                y: 0,
                width: size,
                height: size,
            },
        );
        g.throughput(Throughput::Elements((size * size) as u64));
        g.bench_with_input(BenchmarkId::new("label", size), &size, |b, _| {
            b.iter(|| label_tile(black_box(&t), size))
        });
        let labels = label_tile(&t, size);
        g.bench_with_input(BenchmarkId::new("trace", size), &size, |b, _| {
            b.iter(|| trace_tile(black_box(&t), &labels))
        });
    }
    g.finish();
}

fn seam_merge(c: &mut Criterion) {
    let size = 1024;
    let m = mask(size);
    let mut g = c.benchmark_group("vectorize_seams");
    g.throughput(Throughput::Elements((size * size) as u64));
    for tile in [1024, 256, 64] {
        g.bench_with_input(
            BenchmarkId::new("polygonize_1024px_tiles_of", tile),
            &tile,
            |b, &tile| {
                b.iter(|| {
                    polygonize_mask(
                        black_box(&m),
                        size,
                        size,
                        tile,
                        PolygonizeOptions::default(),
                    )
                })
            },
        );
    }
    g.finish();
}

/// A railway 30 px wide across a 2048 x 512 window, crossed by a road 16 px wide at 35°.
fn crossing() -> (Vec<u8>, usize, usize) {
    let (w, h) = (2048usize, 512usize);
    let mut m = vec![0u8; w * h];
    let (s, c) = 35f64.to_radians().sin_cos();
    for y in 0..h {
        for x in 0..w {
            let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
            let rail = (py - 256.0 - 0.05 * px).abs() < 15.0;
            // Distance to the road's centre line through (1024, 300).
            let road = ((px - 1024.0) * s - (py - 300.0) * c).abs() < 8.0;
            m[y * w + x] = u8::from(rail || road);
        }
    }
    (m, w, h)
}

fn split_lines(c: &mut Criterion) {
    let (m, w, h) = crossing();
    let mut g = c.benchmark_group("classify_split");
    g.throughput(Throughput::Elements((w * h) as u64));
    g.bench_function("rail_and_road_2048x512", |b| {
        b.iter(|| {
            tuban::classify::branches::split(black_box(&m), w, h, 1600, 8.0, 20f64.to_radians())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    targets = tile_work, seam_merge, split_lines
}
criterion_main!(benches);
