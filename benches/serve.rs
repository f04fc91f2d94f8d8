//! Criterion bench of the review app's tiles (`tuban serve`): one 256-px PNG tile of a
//! 4-band 16-bit GeoTIFF rendered (read, stretched, RGBA) and encoded, at full resolution and
//! two levels down (each tile averaging 1024² image pixels), without the cache. Throughput is
//! tiles per second.

#[cfg(feature = "gdal")]
mod bench {
    use criterion::{BenchmarkId, Criterion, Throughput};
    use std::hint::black_box;
    use std::path::Path;
    use tuban::serve::api::encode_png;
    use tuban::serve::scene::{Scene, TILE_PX};

    const SIDE: usize = 4096;

    /// A textured 4-band uint16 GeoTIFF (tiled, deflate) on a Gauss-Krüger grid.
    fn image(path: &Path, seed: u64) {
        let drv = gdal::DriverManager::get_driver_by_name("GTiff").unwrap();
        let opts =
            gdal::raster::RasterCreationOptions::from_iter(["TILED=YES", "COMPRESS=DEFLATE"]);
        let mut ds = drv
            .create_with_band_type_with_options::<u16, _>(path, SIDE, SIDE, 4, &opts)
            .unwrap();
        ds.set_geo_transform(&[39_480_000.0, 0.8, 0.0, 3_510_000.0, 0.0, -0.8])
            .unwrap();
        ds.set_projection(
            &gdal::spatial_ref::SpatialRef::from_epsg(4527)
                .unwrap()
                .to_wkt()
                .unwrap(),
        )
        .unwrap();
        for b in 1..=4usize {
            let mut s = seed.wrapping_mul(b as u64 + 1);
            let data: Vec<u16> = (0..SIDE * SIDE)
                .map(|i| {
                    s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let (x, y) = (i % SIDE, i / SIDE);
                    let field = ((x / 97 + y / 61) * 37 * b) % 2000;
                    (500 + field + (s >> 56) as usize) as u16
                })
                .collect();
            let mut buf = gdal::raster::Buffer::new((SIDE, SIDE), data);
            ds.rasterband(b)
                .unwrap()
                .write((0, 0), (SIDE, SIDE), &mut buf)
                .unwrap();
        }
    }

    pub fn tiles(c: &mut Criterion) {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("before.tif"), dir.path().join("after.tif"));
        image(&a, 1);
        image(&b, 2);
        let scene = Scene::open(
            (a, None),
            (b, None),
            Some("B=1,G=2,R=3,NIR=4"),
            vec![],
            dir.path(),
        )
        .unwrap();
        let max = scene.grid.max_zoom;
        let mut g = c.benchmark_group("serve_tile");
        g.throughput(Throughput::Elements(1));
        g.sample_size(30);
        for (name, z) in [("full_resolution", max), ("two_levels_down", max - 2)] {
            let per_side = (SIDE >> (max - z)).div_ceil(TILE_PX) as u32;
            let mut k = 0u32;
            g.bench_function(BenchmarkId::new("render_png", name), |bch| {
                bch.iter(|| {
                    k = (k + 1) % (per_side * per_side);
                    let rgba = scene
                        .render(1, z, k % per_side, k / per_side)
                        .unwrap()
                        .unwrap();
                    black_box(encode_png(&rgba, TILE_PX).unwrap())
                })
            });
        }
        g.finish();
    }
}

#[cfg(feature = "gdal")]
criterion::criterion_group!(benches, bench::tiles);
#[cfg(feature = "gdal")]
criterion::criterion_main!(benches);

#[cfg(not(feature = "gdal"))]
fn main() {}
