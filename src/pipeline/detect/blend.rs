//! A model's change probability averaged with a classical evidence kind of the same tile
//! (`[output.blend]` of its configuration, [`crate::model::config::BlendConf`]).
//!
//! Each evidence enters in units of its own threshold: the model's probability over its
//! `output.threshold`, the classical kind over its scene threshold (Otsu on the statistics
//! pass's sample cells, exactly what `--evidence KIND` alone would use). The classical kind runs
//! through the backend's own kernels (WGSL or rayon), so the GPU and CPU paths give the same
//! blend as they give the same parts.

use crate::change::{CLOUD_EVIDENCE, EvidenceKind, PipelineConfig, Plan, SHADOW_EVIDENCE};
use crate::model::config::BlendConf;

/// The classical half of a blend, resolved for one pair.
#[derive(Clone, Debug)]
pub(super) struct Blend {
    /// The classical kind's plan (the scene's radiometry and this kind's threshold once
    /// measured).
    pub plan: Plan,
    /// Weight of the model's probability.
    pub weight: f32,
    /// The model's probability threshold: its unit.
    pub model_threshold: f32,
    /// Threshold of the blended evidence.
    pub threshold: f32,
}

impl Blend {
    /// The blend of `conf` for a pair read with `config`'s morphology and normalisation,
    /// `bands` bands of `roles`; the model's probability threshold is `model_threshold`.
    ///
    /// # Errors
    /// A message when `conf` names no classical kind.
    pub fn new(
        conf: &BlendConf,
        model_threshold: f32,
        config: &PipelineConfig,
        bands: usize,
        roles: crate::change::BandRoles,
    ) -> std::result::Result<Blend, String> {
        let kind = conf.kind()?;
        let config = PipelineConfig {
            evidence: kind,
            ..config.clone()
        };
        Ok(Blend {
            plan: Plan::new(config, bands, roles),
            weight: conf.weight,
            model_threshold,
            threshold: conf.threshold,
        })
    }

    /// The classical kind.
    pub fn kind(&self) -> EvidenceKind {
        self.plan.config.evidence
    }

    /// Blend in place: `model` (probabilities, NaN where nodata) becomes
    /// `weight * p / model_threshold + (1 - weight) * x / t` with `x` from `index`. NaN where
    /// either is; the cloud and shadow codes of the classical kind are kept as they are.
    pub fn apply(&self, model: &mut [f32], index: &[f32]) {
        let wm = self.weight / self.model_threshold;
        // Otsu gives 0 when every sample of the kind is 0 (dates alike wherever sampled): 0 / 0
        // would make the evidence of such pixels NaN (no data); any evidence above 0 is change
        // for the kind then, as it is here.
        let wi = (1.0 - self.weight) / self.plan.threshold.max(f32::MIN_POSITIVE);
        for (m, &x) in model.iter_mut().zip(index) {
            *m = if x == CLOUD_EVIDENCE || x == SHADOW_EVIDENCE {
                x
            } else {
                // NaN in either stays NaN.
                wm * *m + wi * x
            };
        }
    }

    /// How far (pixels) the classical kind's evidence of one pixel reaches.
    pub fn reach_px(&self) -> usize {
        self.plan.evidence_reach_px()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::BandRoles;

    #[test]
    fn each_evidence_counts_in_units_of_its_threshold() {
        let conf = BlendConf {
            evidence: "mbi".into(),
            weight: 0.25,
            threshold: 0.8,
        };
        let mut b = Blend::new(&conf, 0.2, &PipelineConfig::default(), 3, BandRoles::NONE).unwrap();
        b.plan.threshold = 40.0;
        assert_eq!(b.kind(), EvidenceKind::Mbi);
        let mut model = vec![0.2, 0.0, 0.4, f32::NAN, 0.3, 0.1];
        let index = [40.0, 80.0, 0.0, 10.0, f32::NAN, SHADOW_EVIDENCE];
        b.apply(&mut model, &index);
        assert_eq!(&model[..3], &[1.0, 1.5, 0.5]);
        assert!(model[3].is_nan() && model[4].is_nan());
        assert_eq!(model[5], SHADOW_EVIDENCE);
        // A kind whose scene threshold is 0 (all its samples 0).
        b.plan.threshold = 0.0;
        let mut model = vec![0.1, 0.1];
        b.apply(&mut model, &[0.0, 1e-3]);
        assert_eq!(model[0], 0.125);
        assert!(model[1].is_finite() && model[1] > conf.threshold);
    }

    #[test]
    fn a_model_kind_is_no_classical_kind() {
        let conf = BlendConf {
            evidence: "model".into(),
            weight: 0.5,
            threshold: 1.0,
        };
        let e = Blend::new(&conf, 0.2, &PipelineConfig::default(), 3, BandRoles::NONE);
        assert!(e.unwrap_err().contains("output.blend.evidence"));
    }
}
