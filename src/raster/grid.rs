//! The tile grid: fixed-size core windows over a scene, each read with a halo that is clipped at
//! the scene edge.
//!
//! Invariant: every neighbourhood operation of the change pipeline reaches at most `halo` pixels,
//! and kernels treat the edge of the read window exactly like the edge of the scene (out-of-window
//! pixels are skipped, never padded). So a core pixel sees the same neighbourhood whatever the
//! tile size, and the mask from 256-px tiles equals the mask from one whole-scene tile.

/// A rectangle of pixels, in scene pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Window {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

impl Window {
    /// Number of pixels in the window.
    pub fn pixels(&self) -> usize {
        self.width * self.height
    }

    /// The window grown by `by` pixels on every side, clipped to a `width` x `height` scene.
    pub fn grown(&self, by: usize, (width, height): (usize, usize)) -> Window {
        let x0 = self.x.saturating_sub(by);
        let y0 = self.y.saturating_sub(by);
        let x1 = (self.x + self.width + by).min(width);
        let y1 = (self.y + self.height + by).min(height);
        Window {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        }
    }

    /// The smallest window holding both.
    pub fn union(&self, o: Window) -> Window {
        let x0 = self.x.min(o.x);
        let y0 = self.y.min(o.y);
        let x1 = (self.x + self.width).max(o.x + o.width);
        let y1 = (self.y + self.height).max(o.y + o.height);
        Window {
            x: x0,
            y: y0,
            width: x1 - x0,
            height: y1 - y0,
        }
    }

    /// Whether the two windows share a pixel.
    pub fn meets(&self, o: Window) -> bool {
        self.x < o.x + o.width
            && o.x < self.x + self.width
            && self.y < o.y + o.height
            && o.y < self.y + self.height
    }
}

/// `[x, y, width, height]`, as plans and run summaries write a window.
impl From<Window> for [usize; 4] {
    fn from(w: Window) -> Self {
        [w.x, w.y, w.width, w.height]
    }
}

impl From<[usize; 4]> for Window {
    fn from([x, y, width, height]: [usize; 4]) -> Self {
        Window {
            x,
            y,
            width,
            height,
        }
    }
}

/// One tile: the core it is responsible for and the larger window it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tile {
    /// Position in the grid (column, row), for progress and ordering.
    pub index: (usize, usize),
    /// The pixels this tile writes.
    pub core: Window,
    /// The pixels this tile reads: the core plus the halo, clipped to the scene.
    pub read: Window,
}

impl Tile {
    /// Offset of the core inside the read window (columns, rows).
    pub fn core_offset(&self) -> (usize, usize) {
        (self.core.x - self.read.x, self.core.y - self.read.y)
    }
}

/// A scene cut into square tiles of `tile_px` with a `halo_px` border.
#[derive(Clone, Copy, Debug)]
pub struct TileGrid {
    pub width: usize,
    pub height: usize,
    pub tile_px: usize,
    pub halo_px: usize,
}

impl TileGrid {
    /// A grid over a `width` x `height` scene. `tile_px` is clamped to at least 1.
    pub fn new(width: usize, height: usize, tile_px: usize, halo_px: usize) -> Self {
        TileGrid {
            width,
            height,
            tile_px: tile_px.max(1),
            halo_px,
        }
    }

    /// Tiles per row and per column.
    pub fn dims(&self) -> (usize, usize) {
        (
            self.width.div_ceil(self.tile_px),
            self.height.div_ceil(self.tile_px),
        )
    }

    /// Number of tiles.
    pub fn len(&self) -> usize {
        let (c, r) = self.dims();
        c * r
    }

    /// True when the scene has no pixels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The tile at grid position (`col`, `row`).
    pub fn tile(&self, col: usize, row: usize) -> Tile {
        let x = col * self.tile_px;
        let y = row * self.tile_px;
        let core = Window {
            x,
            y,
            width: self.tile_px.min(self.width - x),
            height: self.tile_px.min(self.height - y),
        };
        Tile {
            index: (col, row),
            core,
            read: self.with_halo(core),
        }
    }

    /// `core` grown by the halo and clipped to the scene.
    pub fn with_halo(&self, core: Window) -> Window {
        core.grown(self.halo_px, (self.width, self.height))
    }

    /// All tiles, row by row.
    pub fn tiles(&self) -> impl Iterator<Item = Tile> + '_ {
        let (cols, rows) = self.dims();
        (0..rows).flat_map(move |r| (0..cols).map(move |c| self.tile(c, r)))
    }

    /// Sample tiles for scene-wide statistics (radiometric fit, Otsu threshold): cells of
    /// `cell_px` spread evenly over the scene, at most `max_cells` of them; every cell when the
    /// scene has no more than that. The choice depends only on the scene size, never on the
    /// processing tile size, so statistics (and with them the mask) do not depend on `--tile`.
    pub fn sample_tiles(&self, cell_px: usize, max_cells: usize) -> Vec<Tile> {
        let cells = TileGrid::new(self.width, self.height, cell_px, self.halo_px);
        let n = cells.len();
        if n == 0 || max_cells == 0 {
            return Vec::new();
        }
        let take = n.min(max_cells);
        let (cols, _) = cells.dims();
        // Evenly spaced indices; integer arithmetic keeps the choice identical on every machine.
        (0..take)
            .map(|k| k * n / take + (n / take) / 2)
            .map(|i| cells.tile(i % cols, i / cols))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_scene_exactly_once() {
        let g = TileGrid::new(1000, 700, 256, 16);
        let mut hits = vec![0u8; 1000 * 700];
        for t in g.tiles() {
            for y in t.core.y..t.core.y + t.core.height {
                for x in t.core.x..t.core.x + t.core.width {
                    hits[y * 1000 + x] += 1;
                }
            }
            assert!(t.read.x <= t.core.x && t.read.y <= t.core.y);
            assert!(t.read.x + t.read.width <= 1000 && t.read.y + t.read.height <= 700);
        }
        assert!(hits.iter().all(|&h| h == 1));
        assert_eq!(g.len(), 4 * 3);
    }

    #[test]
    fn halo_is_clipped_at_scene_edge() {
        let g = TileGrid::new(100, 100, 50, 8);
        let t = g.tile(0, 0);
        assert_eq!(
            t.read,
            Window {
                x: 0,
                y: 0,
                width: 58,
                height: 58
            }
        );
        assert_eq!(t.core_offset(), (0, 0));
        let t = g.tile(1, 1);
        assert_eq!(
            t.read,
            Window {
                x: 42,
                y: 42,
                width: 58,
                height: 58
            }
        );
        assert_eq!(t.core_offset(), (8, 8));
    }

    #[test]
    fn samples_are_spread_and_bounded() {
        let g = TileGrid::new(10_000, 10_000, 512, 32);
        let s = g.sample_tiles(256, 64);
        assert_eq!(s.len(), 64);
        let mut idx: Vec<_> = s.iter().map(|t| t.index).collect();
        idx.dedup();
        assert_eq!(idx.len(), 64);
        assert_eq!(
            TileGrid::new(300, 300, 64, 4).sample_tiles(256, 64).len(),
            4
        );
    }
}
