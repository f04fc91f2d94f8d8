//! Where a tile's kernels run: the WGSL shaders on a wgpu device ([`crate::gpu`]) or their
//! CPU twins ([`crate::change::cpu`]), behind one call. `change` defines the pipeline and its
//! contract, `gpu` and `change::cpu` run it; this is the only place that knows both.

use crate::change::cpu::Driver;
use crate::change::{Plan, TileInput, TileResult};
use crate::error::Result;

/// Where the kernels run.
pub enum Backend<'a> {
    /// The rayon CPU twins (or sequential, for tests).
    Cpu(Driver),
    /// The WGSL shaders on a wgpu device.
    Gpu(&'a crate::gpu::GpuContext),
}

impl Backend<'_> {
    /// A short name for reports.
    pub fn name(&self) -> String {
        match self {
            Backend::Cpu(Driver::Rayon) => {
                format!("cpu ({} threads)", rayon::current_num_threads())
            }
            Backend::Cpu(Driver::Sequential) => "cpu (sequential)".into(),
            Backend::Gpu(g) => format!("gpu ({})", g.adapter_name()),
        }
    }

    /// Run the kernels on one tile. With `with_mask` false only evidence is computed (for
    /// scene statistics).
    ///
    /// # Errors
    /// [`Error::Gpu`] when the device fails; the CPU never fails.
    pub fn run_tile(&self, plan: &Plan, input: &TileInput, with_mask: bool) -> Result<TileResult> {
        self.run_tile_on(plan, input, None, with_mask)
    }

    /// [`Backend::run_tile`] with the evidence given (a model's, computed beforehand) instead
    /// of computed by the evidence kernels.
    ///
    /// # Errors
    /// As [`Backend::run_tile`].
    pub fn run_tile_on(
        &self,
        plan: &Plan,
        input: &TileInput,
        evidence: Option<Vec<f32>>,
        with_mask: bool,
    ) -> Result<TileResult> {
        match self {
            Backend::Cpu(driver) => Ok(crate::change::cpu::run_tile_on(
                *driver, plan, input, evidence, with_mask,
            )),
            Backend::Gpu(ctx) => {
                let t = std::time::Instant::now();
                let mut r = ctx.run_tile_on(plan, input, evidence.as_deref(), with_mask)?;
                r.timings.add("gpu", t.elapsed().as_secs_f64());
                Ok(r)
            }
        }
    }
}
