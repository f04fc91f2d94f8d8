//! The library's error type: every variant carries the facts its message needs (the file, the
//! value that was wrong, what was expected), so the CLI can print one clear line.

use std::path::PathBuf;

/// Everything that can go wrong in tuban's library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A raster could not be opened or read.
    #[error("{path}: cannot read raster: {reason}")]
    Open { path: PathBuf, reason: String },
    /// A raster has fewer bands than a band mapping or an evidence kind needs.
    #[error("{path}: {got} bands, expected {want}")]
    BandCount {
        path: PathBuf,
        got: usize,
        want: usize,
    },
    /// A `--bands` mapping could not be understood or names a band the file does not have.
    #[error("{path}: band mapping {mapping:?}: {reason}")]
    BandMapping {
        path: PathBuf,
        mapping: String,
        reason: String,
    },
    /// The two dates declare different roles for bands that would be compared.
    #[error(
        "{before} and {after}: {what}; name the bands of each date with --bands and --after-bands (e.g. --bands R=3,G=2,B=1,NIR=4 --after-bands R=1,G=2,B=3,NIR=4)"
    )]
    BandRoles {
        before: PathBuf,
        after: PathBuf,
        what: String,
    },
    /// The two dates are not on the same grid and `--resample` was not given.
    #[error(
        "{before} and {after}: {what}; pass --resample to warp the after image onto the before grid"
    )]
    Coregistration {
        before: PathBuf,
        after: PathBuf,
        what: String,
    },
    /// Two rasters that `eval` or `polygonize` compare pixel by pixel are not on one grid
    /// (neither warps).
    #[error(
        "{first} and {second}: {what}; they must share one pixel grid: warp one onto the other first (gdalwarp -te/-tr/-ts with the other's extent and size)"
    )]
    GridMismatch {
        first: PathBuf,
        second: PathBuf,
        what: String,
    },
    /// The two dates cannot be placed on one grid because georeference is missing: warping
    /// (`--resample`) cannot help there.
    #[error(
        "{before} and {after}: {what}; without a georeference on both, one image cannot be placed on the other (--resample needs both): georeference them, or cut them to the same pixel grid"
    )]
    Ungeoreferenced {
        before: PathBuf,
        after: PathBuf,
        what: String,
    },
    /// The two images do not overlap at all.
    #[error("{before} and {after}: the images do not overlap")]
    NoOverlap { before: PathBuf, after: PathBuf },
    /// Every pixel of the overlap is nodata in at least one of the dates.
    #[error("{before} and {after}: every pixel of the overlap is nodata in one of the dates")]
    AllNodata { before: PathBuf, after: PathBuf },
    /// An evidence kind needs a band role (for example NIR) that the mapping does not give.
    #[error(
        "{path}: evidence {evidence} needs a {role} band; map it with --bands (e.g. --bands R=3,NIR=4)"
    )]
    MissingRole {
        path: PathBuf,
        evidence: &'static str,
        role: &'static str,
    },
    /// An output could not be created or written.
    #[error("{path}: cannot write output: {reason}")]
    Write { path: PathBuf, reason: String },
    /// A parameter is out of range.
    #[error("invalid parameter {name}: {reason}")]
    Param { name: &'static str, reason: String },
    /// A job file is wrong: TOML syntax, an unknown key, a missing file, a value that does
    /// not parse. `line` is 1-based; 0 when the problem has no single line.
    #[error("{}{}: {reason}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Job {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// A vector layer could not be opened or read, or is unusable (no CRS, wrong geometry).
    #[error("{source_name}{}: {reason}", layer.as_deref().map(|l| format!(" layer {l:?}")).unwrap_or_default())]
    Layer {
        source_name: String,
        layer: Option<String>,
        reason: String,
    },
    /// A mapped field does not exist in a layer; the message lists the fields it has.
    #[error("{source_name} layer {layer:?}: no field {field:?} (for {role}); its fields are: {}", available.join(", "))]
    Field {
        source_name: String,
        layer: String,
        field: String,
        role: &'static str,
        available: Vec<String>,
    },
    /// A change model (ONNX) could not be loaded or run: the file and the node or input.
    #[error("{path}: {reason}")]
    Model { path: PathBuf, reason: String },
    /// A row of a text table (a verdicts CSV) or a lead model file that cannot be used: the
    /// file, the line (0: the whole file) and why.
    #[error("{}{}: {reason}", path.display(), if *line > 0 { format!(":{line}") } else { String::new() })]
    Table {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    /// The case ledger refused or failed an operation: the ledger (file or URL) and why.
    #[error("{}: {reason}", path.display())]
    Ledger { path: PathBuf, reason: String },
    /// The review web app could not start or stopped: the address and why.
    #[error("tuban serve on {addr}: {reason}")]
    Server { addr: String, reason: String },
    /// The GPU backend failed (no adapter, a device error, a shader that did not compile).
    #[error("GPU: {0}")]
    Gpu(String),
}

impl Error {
    /// [`Error::Write`]: `path` could not be written, because of `reason`.
    pub fn write(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Error {
        Error::Write {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    /// [`Error::Open`]: `path` could not be opened or read, because of `reason`.
    pub fn open(path: impl Into<PathBuf>, reason: impl std::fmt::Display) -> Error {
        Error::Open {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
