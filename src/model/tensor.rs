//! The engine's tensor: a shape and its f32 values in row-major (NCHW) order.
//!
//! Integer tensors of a model file (shapes, indices, pads) are held as f32 too: every value the
//! supported operators read from them is a small integer, exact in f32 (|v| < 2^24); the loader
//! refuses larger ones.

/// An n-dimensional f32 array, row-major.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Tensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` over `data`.
    ///
    /// # Panics
    /// When `data` does not hold exactly the elements of `shape` (an invariant of the callers).
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        assert_eq!(
            shape.iter().product::<usize>(),
            data.len(),
            "tensor data does not match its shape {shape:?}"
        );
        Tensor { shape, data }
    }

    /// Zeros of `shape`.
    pub fn zeros(shape: Vec<usize>) -> Self {
        let n = shape.iter().product();
        Tensor {
            shape,
            data: vec![0.0; n],
        }
    }

    /// A 1-d tensor of integers (shapes, axes).
    pub fn ints(values: &[i64]) -> Self {
        Tensor::new(
            vec![values.len()],
            values.iter().map(|&v| v as f32).collect(),
        )
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when the tensor holds no element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Rank.
    pub fn rank(&self) -> usize {
        self.shape.len()
    }

    /// The values as integers (for shape-like inputs).
    pub fn to_ints(&self) -> Vec<i64> {
        self.data.iter().map(|&v| v.round() as i64).collect()
    }

    /// `(n, c, h, w)` of a rank-4 tensor.
    pub fn nchw(&self) -> Option<(usize, usize, usize, usize)> {
        match self.shape[..] {
            [n, c, h, w] => Some((n, c, h, w)),
            _ => None,
        }
    }

    /// Row-major strides of the shape.
    pub fn strides(shape: &[usize]) -> Vec<usize> {
        let mut s = vec![1; shape.len()];
        for i in (0..shape.len().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * shape[i + 1];
        }
        s
    }
}
