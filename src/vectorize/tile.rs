//! One tile of a mask as the vectorizer sees it: the core window plus a one-pixel halo of
//! foreground flags (outside the scene counts as background), and optional evidence values.

use crate::raster::grid::Window;

/// A tile's foreground flags with a one-pixel halo.
#[derive(Clone, Debug)]
pub struct MaskTile {
    /// The pixels this tile owns, in scene coordinates.
    pub core: Window,
    /// `(core.width + 2) * (core.height + 2)` flags, row-major, halo included: 1 = foreground.
    pub fg: Vec<u8>,
    /// Evidence of the core pixels (row-major, `core.width` wide), when given (shared by the
    /// class passes of one tile).
    pub evidence: Option<std::sync::Arc<[f32]>>,
}

impl MaskTile {
    /// Width of the flag raster (core + halo).
    pub fn stride(&self) -> usize {
        self.core.width + 2
    }

    /// Foreground at scene pixel (`x`, `y`), which must lie in the core or the halo.
    #[inline]
    pub fn is_fg(&self, x: i64, y: i64) -> bool {
        let lx = x - self.core.x as i64 + 1;
        let ly = y - self.core.y as i64 + 1;
        debug_assert!(
            lx >= 0 && ly >= 0 && lx < self.stride() as i64 && ly < self.core.height as i64 + 2
        );
        self.fg[ly as usize * self.stride() + lx as usize] == 1
    }

    /// True when scene pixel (`x`, `y`) is in this tile's core.
    #[inline]
    pub fn owns(&self, x: i64, y: i64) -> bool {
        x >= self.core.x as i64
            && y >= self.core.y as i64
            && x < (self.core.x + self.core.width) as i64
            && y < (self.core.y + self.core.height) as i64
    }

    /// Build a tile from a full in-memory mask (for tests and small rasters).
    pub fn from_mask(mask: &[u8], width: usize, height: usize, core: Window) -> Self {
        let stride = core.width + 2;
        let mut fg = vec![0u8; stride * (core.height + 2)];
        for ly in 0..core.height + 2 {
            for lx in 0..stride {
                let (x, y) = (core.x as i64 + lx as i64 - 1, core.y as i64 + ly as i64 - 1);
                if x >= 0 && y >= 0 && (x as usize) < width && (y as usize) < height {
                    fg[ly * stride + lx] = u8::from(mask[y as usize * width + x as usize] == 1);
                }
            }
        }
        MaskTile {
            core,
            fg,
            evidence: None,
        }
    }
}

/// Index of the first non-zero byte of `bytes` at or after `from`, skipping zeros eight at a
/// time (masks are mostly background).
#[inline]
pub fn next_nonzero(bytes: &[u8], mut from: usize) -> Option<usize> {
    while from + 8 <= bytes.len() {
        let word = u64::from_ne_bytes(bytes[from..from + 8].try_into().expect("8 bytes"));
        if word != 0 {
            break;
        }
        from += 8;
    }
    bytes[from.min(bytes.len())..]
        .iter()
        .position(|&b| b != 0)
        .map(|p| p + from)
}

/// Index of the first zero byte of `bytes` (0/1 flags) at or after `from`, skipping ones
/// eight at a time.
#[inline]
pub fn next_zero(bytes: &[u8], mut from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    while from + 8 <= bytes.len() {
        let word = u64::from_ne_bytes(bytes[from..from + 8].try_into().expect("8 bytes"));
        if word != ONES {
            break;
        }
        from += 8;
    }
    bytes[from.min(bytes.len())..]
        .iter()
        .position(|&b| b == 0)
        .map(|p| p + from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_next_set_byte() {
        let mut v = vec![0u8; 37];
        assert_eq!(next_nonzero(&v, 0), None);
        v[20] = 1;
        v[36] = 1;
        assert_eq!(next_nonzero(&v, 0), Some(20));
        assert_eq!(next_nonzero(&v, 20), Some(20));
        assert_eq!(next_nonzero(&v, 21), Some(36));
        assert_eq!(next_nonzero(&v, 37), None);
        let mut ones = vec![1u8; 37];
        assert_eq!(next_zero(&ones, 0), None);
        ones[3] = 0;
        ones[30] = 0;
        assert_eq!(next_zero(&ones, 0), Some(3));
        assert_eq!(next_zero(&ones, 4), Some(30));
        assert_eq!(next_zero(&ones, 31), None);
    }
}
