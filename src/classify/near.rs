//! The pixels typing reads, kept from the detection pass: both dates' bands of every valid
//! pixel within the shadow ring's reach of a change, tile by tile, in a scratch file beside the
//! outputs. Typing measures each polygon (and each piece of a split one) over the polygon and
//! the ring around it; reading those windows from the images again decoded most of the scene a
//! second time (on the 4096² peer scene, 89 compressed blocks of 128, 1.2 s of CPU), while
//! the pixels near changes are a few per cent of the scene and were in memory already.
//!
//! A window read here gives exactly what the images give at every kept pixel and "no data"
//! elsewhere: the measures only look at valid pixels inside a polygon or its ring, which are
//! all kept.

use super::features::PixelSource;
use crate::change::TileInput;
use crate::error::{Error, Result};
use crate::raster::grid::Window;
use crate::raster::pool::FifoCache;
use rayon::prelude::*;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Kept pixels of all tiles held in memory at most (the rest are read again from the file).
const CACHE_BYTES: usize = 256 << 20;
/// The scratch file's largest size: past it (changes all over a scene, a noisy mask) the store
/// gives up, deletes what it wrote and typing reads the images, which then costs about as
/// much as the file would.
const MAX_FILE_BYTES: u64 = 2 << 30;

/// Where one tile's kept pixels lie in the file.
#[derive(Clone, Copy, Debug)]
struct Record {
    core: Window,
    offset: u64,
    count: usize,
}

/// One tile's kept pixels: their indices in the core (row-major, ascending) and per pixel the
/// before bands then the after bands.
struct Kept {
    index: Vec<u32>,
    values: Vec<f32>,
}

/// The scratch file of kept pixels: appended to by the detection pass, then read by typing.
/// The file is removed when the store is dropped.
pub struct NearStore {
    path: PathBuf,
    file: File,
    bands: usize,
    records: Vec<Record>,
    end: u64,
    /// The file's largest size ([`MAX_FILE_BYTES`]).
    limit: u64,
    /// Past `limit`: nothing is kept any more and the store must not be read.
    given_up: bool,
    /// The last tile's kept pixels, reused for the next.
    index: Vec<u32>,
    values: Vec<f32>,
    cache: FifoCache<usize, Kept>,
    /// Change components (8-connected) of fewer pixels, wholly inside a tile's read window,
    /// can never become a polygon (the detection drops them): nothing is kept near them.
    min_component_px: u64,
}

impl NearStore {
    /// A new store at `path` for images of `bands` bands per date.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file when it cannot be created.
    pub fn create(path: &Path, bands: usize) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| write_error(path, &e))?;
        Ok(NearStore {
            path: path.into(),
            file,
            bands,
            records: Vec::new(),
            end: 0,
            limit: MAX_FILE_BYTES,
            given_up: false,
            index: Vec::new(),
            values: Vec::new(),
            cache: FifoCache::new(CACHE_BYTES, |k| 4 * (k.index.len() + k.values.len())),
            min_component_px: 0,
        })
    }

    /// The same store keeping nothing near change components of fewer than `px` pixels that
    /// lie wholly inside a tile's read window: polygons under the detection's minimum area,
    /// never typed. (A component touching the window's edge may continue in the next tile and
    /// is kept.)
    pub fn with_min_component_px(mut self, px: u64) -> Self {
        self.min_component_px = px;
        self
    }

    /// Keep the pixels of a tile's core near its changes. `input` and `mask` cover the tile's
    /// read window `read` (core plus halo; the halo must reach `ring_px` past the core, or
    /// be the scene's edge); `is_change` tells change pixels of the mask.
    ///
    /// # Errors
    /// [`Error::Write`] naming the file when it cannot be written.
    pub fn keep(
        &mut self,
        input: &TileInput,
        mask: &[u32],
        is_change: impl Fn(u32) -> bool + Sync,
        (read, core): (Window, Window),
        ring_px: usize,
    ) -> Result<()> {
        if self.given_up {
            return Ok(());
        }
        let (w, h) = (read.width, read.height);
        let near = if self.min_component_px > 1 {
            let kept = without_small_components(mask, &is_change, w, h, self.min_component_px);
            near_changes(&kept, |m| m == 1, w, h, ring_px)
        } else {
            near_changes(mask, &is_change, w, h, ring_px)
        };
        let (n, bands) = (w * h, self.bands);
        let (dx, dy) = (core.x - read.x, core.y - read.y);
        let (index, values) = (&mut self.index, &mut self.values);
        index.clear();
        values.clear();
        // Row by row on the rayon pool, then in row order.
        let per_row: Vec<Vec<u32>> = (0..core.height)
            .into_par_iter()
            .map(|y| {
                let row = (y + dy) * w + dx;
                (0..core.width)
                    .filter(|&x| near[row + x] == 1 && input.valid[row + x] != 0)
                    .map(|x| (y * core.width + x) as u32)
                    .collect()
            })
            .collect();
        for r in &per_row {
            index.extend_from_slice(r);
        }
        let bytes = 4 * (index.len() * (1 + 2 * bands)) as u64;
        if self.end + bytes > self.limit {
            self.given_up = true;
            self.records.clear();
            return self
                .file
                .set_len(0)
                .map_err(|e| write_error(&self.path, &e));
        }
        values.resize(index.len() * 2 * bands, 0.0);
        values
            .par_chunks_mut(2 * bands)
            .zip(index.par_iter())
            .for_each(|(v, &k)| {
                let (x, y) = (k as usize % core.width, k as usize / core.width);
                let i = (y + dy) * w + dx + x;
                for b in 0..bands {
                    v[b] = input.before[b * n + i];
                    v[bands + b] = input.after[b * n + i];
                }
            });
        for bytes in [bytemuck::cast_slice(index), bytemuck::cast_slice(values)] {
            self.file
                .write_all(bytes)
                .map_err(|e| write_error(&self.path, &e))?;
        }
        self.records.push(Record {
            core,
            offset: self.end,
            count: index.len(),
        });
        self.end += 4 * (index.len() + values.len()) as u64;
        Ok(())
    }

    /// The same store with another size limit (tests).
    #[cfg(test)]
    fn with_limit(mut self, bytes: u64) -> Self {
        self.limit = bytes;
        self
    }

    /// Whether every tile's pixels were kept (false once the store gave up).
    pub fn complete(&self) -> bool {
        !self.given_up
    }

    /// The kept pixels of record `k`, from the cache or the file.
    fn kept(&self, k: usize) -> Result<Arc<Kept>> {
        if let Some(kept) = self.cache.get(&k) {
            return Ok(kept);
        }
        let r = self.records[k];
        let per = 2 * self.bands;
        let mut index = vec![0u32; r.count];
        let mut values = vec![0.0f32; r.count * per];
        let read = |buf: &mut [u8], at: u64| {
            self.file.read_exact_at(buf, at).map_err(|e| Error::Open {
                path: self.path.clone(),
                reason: e.to_string(),
            })
        };
        read(bytemuck::cast_slice_mut(&mut index), r.offset)?;
        read(
            bytemuck::cast_slice_mut(&mut values),
            r.offset + 4 * r.count as u64,
        )?;
        Ok(self.cache.insert(k, Kept { index, values }))
    }
}

impl PixelSource for NearStore {
    fn read(&self, w: Window) -> Result<TileInput> {
        let (n, bands) = (w.pixels(), self.bands);
        let mut t = TileInput {
            width: w.width,
            height: w.height,
            bands,
            before: vec![0.0; n * bands],
            after: vec![0.0; n * bands],
            valid: vec![0; n],
        };
        for (k, r) in self.records.iter().enumerate() {
            let c = r.core;
            let (x0, x1) = (w.x.max(c.x), (w.x + w.width).min(c.x + c.width));
            let (y0, y1) = (w.y.max(c.y), (w.y + w.height).min(c.y + c.height));
            if x0 >= x1 || y0 >= y1 || r.count == 0 {
                continue;
            }
            let kept = self.kept(k)?;
            for y in y0..y1 {
                let base = ((y - c.y) * c.width) as u32;
                let (a, b) = (base + (x0 - c.x) as u32, base + (x1 - c.x) as u32);
                let from = kept.index.partition_point(|&i| i < a);
                let to = kept.index.partition_point(|&i| i < b);
                for j in from..to {
                    let x = c.x + (kept.index[j] - base) as usize;
                    let i = (y - w.y) * w.width + (x - w.x);
                    let v = &kept.values[j * 2 * bands..(j + 1) * 2 * bands];
                    for b in 0..bands {
                        t.before[b * n + i] = v[b];
                        t.after[b * n + i] = v[bands + b];
                    }
                    t.valid[i] = 1;
                }
            }
        }
        Ok(t)
    }
}

impl Drop for NearStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn write_error(path: &Path, e: &std::io::Error) -> Error {
    Error::Write {
        path: path.into(),
        reason: e.to_string(),
    }
}

/// 1 for the change pixels of `mask` except those of 8-connected components of fewer than
/// `min_px` pixels that do not touch the window's edge; 0 elsewhere.
fn without_small_components(
    mask: &[u32],
    is_change: impl Fn(u32) -> bool,
    w: usize,
    h: usize,
    min_px: u64,
) -> Vec<u32> {
    let (label, k) =
        crate::vectorize::label::components8(w * h, w, |i| is_change(mask[i]), |_, _| true);
    let mut size = vec![0u64; k + 1];
    let mut edge = vec![false; k + 1];
    for (i, &l) in label.iter().enumerate().filter(|(_, l)| **l != 0) {
        let (x, y) = (i % w, i / w);
        size[l as usize] += 1;
        edge[l as usize] |= x == 0 || y == 0 || x + 1 == w || y + 1 == h;
    }
    label
        .iter()
        .map(|&l| u32::from(l != 0 && (edge[l as usize] || size[l as usize] >= min_px)))
        .collect()
}

/// 1 where a change pixel lies within chessboard distance `r`: each row's distance to its
/// nearest change along the row, then a running count of such rows over every column's
/// window of `2r + 1` rows. Linear in the pixels whatever `r`; rows without change are skipped.
/// Rows, then bands of rows (each starting its own window), run on the rayon pool.
fn near_changes(
    mask: &[u32],
    is_change: impl Fn(u32) -> bool + Sync,
    w: usize,
    h: usize,
    r: usize,
) -> Vec<u8> {
    let w1 = w.max(1);
    let mut rows = vec![0u8; w * h];
    let mut any = vec![false; h];
    rows.par_chunks_mut(w1)
        .zip(any.par_iter_mut())
        .enumerate()
        .for_each(|(y, (o, any))| {
            let m = &mask[y * w..(y + 1) * w];
            let mut last = None;
            for x in 0..w {
                if is_change(m[x]) {
                    last = Some(x);
                }
                o[x] = u8::from(last.is_some_and(|l| x - l <= r));
            }
            let Some(_) = last else { return };
            *any = true;
            let mut next = None;
            for x in (0..w).rev() {
                if is_change(m[x]) {
                    next = Some(x);
                }
                if next.is_some_and(|n| n - x <= r) {
                    o[x] = 1;
                }
            }
        });
    let add = |y: usize, sign: bool, count: &mut [u16]| {
        if any[y] {
            for (c, &v) in count.iter_mut().zip(&rows[y * w..(y + 1) * w]) {
                if sign {
                    *c += u16::from(v);
                } else {
                    *c -= u16::from(v);
                }
            }
        }
    };
    let mut out = vec![0u8; w * h];
    // Bands of rows several times the window, so that starting each band's window is a small
    // share of its work.
    let band = h
        .div_ceil(rayon::current_num_threads().max(1))
        .max(4 * (2 * r + 1))
        .max(1);
    out.par_chunks_mut(band * w1)
        .enumerate()
        .for_each(|(k, part)| {
            let (y0, y1) = (k * band, k * band + part.len() / w1);
            // The window [y - r, y + r] of the band's first row.
            let mut count = vec![0u16; w];
            let mut live = 0usize;
            let first = y0.saturating_sub(r);
            for (y, &a) in any.iter().enumerate().take(y0 + r + 1).skip(first) {
                add(y, true, &mut count);
                live += usize::from(a);
            }
            for y in y0..y1 {
                if live > 0 {
                    let o = &mut part[(y - y0) * w..(y - y0 + 1) * w];
                    for (o, &c) in o.iter_mut().zip(&count) {
                        *o = u8::from(c > 0);
                    }
                }
                // Slide the window down one row.
                if y + r + 1 < h {
                    add(y + r + 1, true, &mut count);
                    live += usize::from(any[y + r + 1]);
                }
                if y >= r {
                    add(y - r, false, &mut count);
                    live -= usize::from(any[y - r]);
                }
            }
        });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_components_inside_the_window_are_left_out() {
        #[rustfmt::skip]
        let mask: Vec<u32> = vec![
            1, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0,
            0, 0, 1, 0, 0, 0, 0,
            0, 0, 0, 1, 0, 1, 1,
            0, 0, 0, 0, 0, 1, 1,
            0, 1, 0, 0, 0, 1, 0,
            0, 255, 0, 0, 0, 0, 0,
        ];
        let is = |m: u32| m == 1;
        // With 3 px: the corner pixel touches the edge (kept); the diagonal pair inside is one
        // component of 2 (dropped); the block of 5 touches the right edge (kept); the lone
        // pixel at (1, 5) is inside (dropped; nodata below it is no change).
        let kept = without_small_components(&mask, is, 7, 7, 3);
        let want: Vec<u32> = mask
            .iter()
            .enumerate()
            .map(|(i, &m)| u32::from(m == 1 && ![16, 24, 36].contains(&i)))
            .collect();
        assert_eq!(kept, want);
        // With 2 px the pair stays; with 1 px everything.
        let kept2 = without_small_components(&mask, is, 7, 7, 2);
        assert_eq!(kept2[16] + kept2[24] + kept2[36], 2);
        let all: Vec<u32> = mask.iter().map(|&m| u32::from(is(m))).collect();
        assert_eq!(without_small_components(&mask, is, 7, 7, 1), all);
    }

    #[test]
    fn near_changes_is_the_square_dilation() {
        let mut seed = 99u64;
        for (w, h, r) in [
            (1, 1, 0),
            (9, 1, 2),
            (1, 9, 3),
            (37, 23, 1),
            (64, 50, 8),
            (20, 20, 40),
        ] {
            for density in [1u64, 10, 60] {
                let mask: Vec<u32> = (0..w * h)
                    .map(|_| {
                        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        match (seed >> 33) % 100 {
                            v if v < density => 1,
                            v if v < density + 5 => 255,
                            _ => 0,
                        }
                    })
                    .collect();
                let is = |m: u32| m != 0 && m != 255;
                let plane: Vec<u8> = mask.iter().map(|&m| u8::from(is(m))).collect();
                let want = crate::classify::pixels::dilate_square(&plane, w, h, r);
                assert_eq!(
                    near_changes(&mask, is, w, h, r),
                    want,
                    "{w}x{h} r {r} {density}%"
                );
            }
        }
    }

    #[test]
    fn a_window_gives_the_kept_pixels_and_nothing_else() {
        // A 12 x 10 scene in two tiles of 6 columns (halo 3); one change pixel at (5, 4).
        let (w, h, bands) = (12usize, 10usize, 2usize);
        let value =
            |b: usize, x: usize, y: usize, date: f32| date * 1000.0 + (b * 100 + y * w + x) as f32;
        let dir = std::env::temp_dir().join(format!("tuban-near-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("near.bin");
        let mut store = NearStore::create(&path, bands).unwrap();
        for (cx, rx0, rx1) in [(0usize, 0usize, 9usize), (6, 3, 12)] {
            let read = Window {
                x: rx0,
                y: 0,
                width: rx1 - rx0,
                height: h,
            };
            let core = Window {
                x: cx,
                y: 0,
                width: 6,
                height: h,
            };
            let n = read.pixels();
            let plane = |date: f32| -> Vec<f32> {
                (0..bands * n)
                    .map(|k| {
                        value(
                            k / n,
                            rx0 + (k % n) % read.width,
                            (k % n) / read.width,
                            date,
                        )
                    })
                    .collect()
            };
            let mut mask = vec![0u32; n];
            mask[4 * read.width + (5 - rx0)] = 1;
            let mut valid = vec![1u32; n];
            valid[4 * read.width + (7 - rx0)] = 0; // no data right of the change
            let input = TileInput {
                width: read.width,
                height: h,
                bands,
                before: plane(1.0),
                after: plane(2.0),
                valid,
            };
            store
                .keep(&input, &mask, |m| m == 1, (read, core), 2)
                .unwrap();
        }
        let t = store
            .read(Window {
                x: 2,
                y: 1,
                width: 9,
                height: 8,
            })
            .unwrap();
        for wy in 0..8 {
            for wx in 0..9 {
                let (x, y): (usize, usize) = (wx + 2, wy + 1);
                let i = wy * 9 + wx;
                let near = x.abs_diff(5) <= 2 && y.abs_diff(4) <= 2 && (x, y) != (7, 4);
                assert_eq!(t.valid[i] == 1, near, "({x}, {y})");
                if near {
                    for b in 0..bands {
                        assert_eq!(t.before[b * 72 + i], value(b, x, y, 1.0));
                        assert_eq!(t.after[b * 72 + i], value(b, x, y, 2.0));
                    }
                }
            }
        }
        assert!(store.complete());
        drop(store);
        assert!(!path.exists(), "the scratch file is removed");
        // Past its size limit the store gives up and empties the file.
        let mut store = NearStore::create(&path, bands).unwrap().with_limit(100);
        let read = Window {
            x: 0,
            y: 0,
            width: w,
            height: h,
        };
        let n = read.pixels();
        let input = TileInput {
            width: w,
            height: h,
            bands,
            before: vec![1.0; n * bands],
            after: vec![2.0; n * bands],
            valid: vec![1; n],
        };
        store
            .keep(&input, &vec![1; n], |m| m == 1, (read, read), 1)
            .unwrap();
        assert!(!store.complete());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
