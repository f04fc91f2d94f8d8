//! The polygonizer against independent answers: component counts and areas from a plain
//! flood fill, validity from geo, and invariance to the tile size.

use geo::Validation;
use proptest::prelude::*;
use tuban::vectorize::geometry::{GeoTransform, area_px, to_world};
use tuban::vectorize::stitch::{Component, Connectivity, PolygonizeOptions, polygonize_mask};

/// Component sizes by flood fill, in order of first pixel.
fn flood_sizes(mask: &[u8], w: usize, h: usize, eight: bool) -> Vec<u64> {
    let mut seen = vec![false; w * h];
    let mut sizes = Vec::new();
    for start in 0..w * h {
        if mask[start] != 1 || seen[start] {
            continue;
        }
        let mut stack = vec![start];
        seen[start] = true;
        let mut n = 0;
        while let Some(i) = stack.pop() {
            n += 1;
            let (x, y) = ((i % w) as i64, (i / w) as i64);
            for dy in -1..=1i64 {
                for dx in -1..=1i64 {
                    if (dx == 0 && dy == 0) || (!eight && dx != 0 && dy != 0) {
                        continue;
                    }
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if mask[j] == 1 && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        sizes.push(n);
    }
    sizes
}

fn check(mask: &[u8], w: usize, h: usize, conn: Connectivity) -> Vec<Component> {
    let opts = PolygonizeOptions {
        connectivity: conn,
        ..Default::default()
    };
    let whole = polygonize_mask(mask, w, h, w.max(h), opts);
    let sizes = flood_sizes(mask, w, h, conn == Connectivity::Eight);
    assert_eq!(whole.len(), sizes.len(), "component count");
    for (c, &n) in whole.iter().zip(&sizes) {
        assert_eq!(c.pixels, n, "pixels of component at {}", c.first);
        assert_eq!(
            area_px(&c.polygons),
            n as i64,
            "area of component at {}",
            c.first
        );
        let g = to_world(&c.polygons, &GeoTransform::IDENTITY);
        assert!(
            g.is_valid(),
            "invalid geometry at {}: {:?}",
            c.first,
            g.validation_errors()
        );
    }
    for tile in [1, 2, 3, 7, 16] {
        let tiled = polygonize_mask(mask, w, h, tile, opts);
        assert!(
            tiled == whole,
            "tile {tile} differs from whole-scene result"
        );
    }
    whole
}

fn parse(rows: &[&str]) -> (Vec<u8>, usize, usize) {
    let h = rows.len();
    let w = rows[0].len();
    let m = rows
        .iter()
        .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
        .collect();
    (m, w, h)
}

#[test]
fn diagonal_touches_make_one_multipolygon() {
    let (m, w, h) = parse(&["#..", ".#.", "..#"]);
    let c = check(&m, w, h, Connectivity::Eight);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].polygons.len(), 3);
    assert_eq!(check(&m, w, h, Connectivity::Four).len(), 3);
}

#[test]
fn nested_holes_and_islands() {
    let (m, w, h) = parse(&[
        "#########",
        "#.......#",
        "#.#####.#",
        "#.#...#.#",
        "#.#.#.#.#",
        "#.#...#.#",
        "#.#####.#",
        "#.......#",
        "#########",
    ]);
    let c = check(&m, w, h, Connectivity::Eight);
    assert_eq!(c.len(), 3);
    assert!(c.iter().all(|k| k.polygons.len() == 1));
    assert_eq!(c[0].polygons[0].holes.len(), 1);
    assert_eq!(c[1].polygons[0].holes.len(), 1);
}

#[test]
fn bay_closed_by_a_diagonal_is_a_hole_touching_the_shell() {
    let (m, w, h) = parse(&["####.", "#...#", "#...#", "#####"]);
    let c = check(&m, w, h, Connectivity::Eight);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].polygons.len(), 1);
    assert_eq!(c[0].polygons[0].holes.len(), 1);
}

#[test]
fn diamond_of_diagonal_pixels() {
    let (m, w, h) = parse(&[".#.", "#.#", ".#."]);
    let c = check(&m, w, h, Connectivity::Eight);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].polygons.len(), 4);
}

#[test]
fn lines_full_and_empty_scenes_and_long_spans() {
    let (m, w, h) = parse(&[
        "##########",
        "..........",
        "#.#.#.#.#.",
        "..........",
        "##########",
    ]);
    check(&m, w, h, Connectivity::Eight);
    check(&vec![1; 40 * 30], 40, 30, Connectivity::Eight);
    assert!(check(&vec![0; 40 * 30], 40, 30, Connectivity::Eight).is_empty());
    // A spiral spanning many tiles.
    let n = 31;
    let mut s = vec![0u8; n * n];
    let (mut lo, mut hi) = (0usize, n - 1);
    while lo + 2 <= hi {
        for i in lo..=hi {
            s[lo * n + i] = 1;
            s[i * n + hi] = 1;
            s[hi * n + i] = 1;
        }
        for i in lo + 2..=hi {
            s[i * n + lo] = 1;
        }
        s[(lo + 2) * n + lo + 1] = 1;
        lo += 2;
        hi -= 2;
    }
    let c = check(&s, n, n, Connectivity::Eight);
    assert_eq!(c.len(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_masks(w in 1usize..24, h in 1usize..24, density in 0.1f64..0.9, seed in any::<u64>()) {
        let mut state = seed | 1;
        let mask: Vec<u8> = (0..w * h).map(|_| {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            u8::from(((state >> 11) as f64 / (1u64 << 53) as f64) < density)
        }).collect();
        check(&mask, w, h, Connectivity::Eight);
        check(&mask, w, h, Connectivity::Four);
    }
}
