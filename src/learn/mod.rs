//! Learning from field verification (`tuban learn`): every quarter each county verifies every
//! lead it was sent (real change or not, and what it is). [`leads`] fits a model of those
//! verdicts over the measures detect writes for each polygon, with gradient-boosted trees of
//! its own ([`gbdt`]); `detect --lead-model` then sets aside likely false leads (to
//! `rejected.gpkg`, with the reason), and gives the others the learned type and p(real) as
//! the confidence. [`verdicts`] reads the verdicts CSV; [`read`] joins it with a leads file.

pub mod gbdt;
pub mod leads;
#[cfg(feature = "gdal")]
pub mod read;
pub mod verdicts;

pub use leads::{LeadModel, LearnOptions, fit};

/// A lead model and the file it came from.
#[derive(Clone, Debug)]
pub struct LeadModelFile {
    pub path: std::path::PathBuf,
    pub model: std::sync::Arc<LeadModel>,
}

impl LeadModelFile {
    /// Read a lead model file.
    ///
    /// # Errors
    /// [`crate::Error::Table`] naming the file: it cannot be read or is not a lead model.
    pub fn open(path: &std::path::Path) -> crate::Result<Self> {
        let fail = |reason: String| crate::Error::Table {
            path: path.into(),
            line: 0,
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let model =
            LeadModel::parse(&text).map_err(|e| fail(format!("not a tuban lead model: {e}")))?;
        Ok(LeadModelFile {
            path: path.into(),
            model: std::sync::Arc::new(model),
        })
    }
}
