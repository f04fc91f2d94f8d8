//! Undeclared fill: pixels 0 in every band of an image that declares no nodata, counted as the
//! main pass reads each date (no read of its own), and the note that names the file.
//!
//! The collar of an orthoimage or a mosaic's unimaged area, left undeclared, shows as change (a
//! LEVIR-CD tile whose after date had its right 96 columns zeroed: 38 % of the pixels changed,
//! 34 polygons). Pure black in every band is rare in imagery but not impossible (clipped
//! shadow), so the run says so rather than guess: the note fires when at least
//! [`FILL_NOTE_SHARE`] of the pixels are 0 in every band **and** some [`FILL_BLOCK_PX`]² block on
//! the scene's grid is 0 throughout. Fill is one large area; shadow is scattered (the red band
//! of a LEVIR-CD tile alone is 0 at 7 % of its pixels, and none of the real pairs in the shared
//! data, band by band or all bands together, has a single 8² block of 0).
//!
//! An earlier version sampled 25 windows of 16² per date when the pair opened: on compressed
//! tiled files each window decoded a whole block, a third of a 4096² scene again, about a
//! second per run.

use super::grid::Window;
use std::path::Path;

/// Share of a date's pixels, 0 in every band, from which the run says they may be fill.
pub const FILL_NOTE_SHARE: f64 = 0.02;

/// Side of the blocks (on the scene's grid) one of which must be 0 throughout.
pub const FILL_BLOCK_PX: usize = 16;

/// Of one date's pixels seen so far: how many are 0 in every band, how many were seen, and how
/// many [`FILL_BLOCK_PX`]² blocks wholly inside a tile core were 0 throughout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeroFill {
    pub zero: u64,
    pub seen: u64,
    pub blocks: u64,
}

impl ZeroFill {
    /// Count the `core` of one date's tile: `data` holds its bands band-sequential over `read`;
    /// `fill[b]` is what a stored 0 of band `b` reads as (its offset, for bands read through
    /// their own scale and offset).
    pub fn add(&mut self, data: &[f32], fill: &[f32], read: Window, core: Window) {
        let n = read.pixels();
        if n == 0 || fill.is_empty() || data.len() < n * fill.len() {
            return;
        }
        let b = FILL_BLOCK_PX;
        let (ox, oy) = (core.x - read.x, core.y - read.y);
        // Block columns wholly inside the core, on the scene's grid.
        let first = core.x.div_ceil(b) * b;
        let cols = (core.x + core.width).saturating_sub(first) / b;
        let skip = first - core.x;
        let mut open = vec![true; cols];
        let mut row = vec![false; core.width];
        for y in 0..core.height {
            let sy = core.y + y;
            if sy % b == 0 {
                open.fill(true);
            }
            let start = (oy + y) * read.width + ox;
            let mut any = false;
            for (k, &f) in fill.iter().enumerate() {
                let values = &data[k * n + start..k * n + start + core.width];
                any = false;
                for (z, &v) in row.iter_mut().zip(values) {
                    // The first band sets the row, the others can only clear it.
                    *z = (k == 0 || *z) && v == f;
                    any |= *z;
                }
                if !any {
                    break;
                }
            }
            if any {
                self.zero += row.iter().filter(|&&z| z).count() as u64;
                for (c, o) in open.iter_mut().enumerate() {
                    *o = *o && row[skip + c * b..skip + (c + 1) * b].iter().all(|&z| z);
                }
            } else {
                open.fill(false);
            }
            if sy % b == b - 1 && sy + 1 >= core.y + b {
                self.blocks += open.iter().filter(|&&o| o).count() as u64;
            }
        }
        self.seen += core.pixels() as u64;
    }

    /// Both counts together.
    pub fn merge(&mut self, other: &ZeroFill) {
        self.zero += other.zero;
        self.seen += other.seen;
        self.blocks += other.blocks;
    }

    /// The note for the file at `path` when the counts say fill ([`FILL_NOTE_SHARE`] and a
    /// block 0 throughout).
    pub fn note(&self, path: &Path) -> Option<String> {
        let share = self.zero as f64 / self.seen.max(1) as f64;
        (share >= FILL_NOTE_SHARE && self.blocks > 0).then(|| {
            format!(
                "{}: {:.1} % of its pixels are 0 in every band and the file declares no nodata: if that is fill outside the imaged area, declare it (gdal_edit.py -a_nodata 0 FILE), or it shows as change",
                path.display(),
                100.0 * share
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn win(x: usize, y: usize, width: usize, height: usize) -> Window {
        Window {
            x,
            y,
            width,
            height,
        }
    }

    /// A 2-band 64 x 48 read window whose core starts off the block grid: a zero strip of the
    /// given columns (every band), plus a pixel zero in one band only.
    fn tile(zero_cols: std::ops::Range<usize>) -> (Vec<f32>, Window, Window) {
        let read = win(100, 40, 64, 48);
        let core = win(104, 44, 56, 40);
        let n = read.pixels();
        let mut data = vec![7.0f32; 2 * n];
        for y in 0..read.height {
            for x in zero_cols.clone() {
                data[y * read.width + x] = 0.0;
                data[n + y * read.width + x] = 0.0;
            }
        }
        data[5 * read.width + 40] = 0.0;
        (data, read, core)
    }

    #[test]
    fn counts_core_pixels_zero_in_every_band() {
        // Read columns 30..60 are scene x 130..160: the core's last 30 columns.
        let (data, read, core) = tile(30..60);
        let mut z = ZeroFill::default();
        z.add(&data, &[0.0, 0.0], read, core);
        assert_eq!(z.seen, 56 * 40);
        assert_eq!(z.zero, 30 * 40);
        // Scene x 144..160 is one block column; scene rows 48..64 and 64..80 lie wholly in the
        // core (44..84).
        assert_eq!(z.blocks, 2);
        assert!(z.note(Path::new("a.tif")).unwrap().contains("a.tif"));
    }

    #[test]
    fn a_strip_narrower_than_a_block_is_not_fill() {
        // Scene x 130..145: 15 columns, never a whole block column.
        let (data, read, core) = tile(30..45);
        let mut z = ZeroFill::default();
        z.add(&data, &[0.0, 0.0], read, core);
        assert_eq!(z.zero, 15 * 40);
        assert_eq!(z.blocks, 0);
        assert_eq!(z.note(Path::new("a.tif")), None);
    }

    #[test]
    fn fill_reads_through_the_band_offset() {
        let (mut data, read, core) = tile(30..60);
        let n = read.pixels();
        for v in &mut data[n..] {
            *v -= 1000.0;
        }
        let mut z = ZeroFill::default();
        z.add(&data, &[0.0, 0.0], read, core);
        assert_eq!(z.zero, 0);
        z.add(&data, &[0.0, -1000.0], read, core);
        assert_eq!(z.zero, 30 * 40);
    }
}
