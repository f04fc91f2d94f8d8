//! Overlay: judge change polygons against the land survey (DLTB), permanent basic farmland,
//! the ecological red line, the urban development boundary and approvals, per county.
//!
//! Input: a change layer (any OGR source with a CRS; its CRS is the working CRS) and a
//! [`Job`](crate::job::Job) mapping the user's layers and fields. Output: a GeoPackage with
//! layer `leads` (numbered JCBH, the notice's fields JCMJ, GDMJ, YJJBNTMJ, STHXMJ, SFYN, SFHX,
//! ...) and layer `excluded` (every other piece with its reason), and a JSON summary.
//!
//! Invariants: areas are ground areas in m² (planar in a projected CRS, geodesic on a
//! geographic one; the method is written on every record); intersections are exact polygon
//! operations, not rasters; approvals dated after the after image never legalise a change;
//! nothing read is dropped silently: pieces outside every county, untyped or unqualified
//! polygons go to `excluded` with the reason. Memory is bounded by the change layer: reference
//! layers are streamed in batches.

#[cfg(feature = "gdal")]
pub mod encoding;
pub mod index;
pub mod number;
pub mod rules;

#[cfg(feature = "gdal")]
pub mod layer;
#[cfg(feature = "gdal")]
mod run;
#[cfg(feature = "gdal")]
mod stages;
#[cfg(feature = "gdal")]
mod write;

#[cfg(feature = "gdal")]
pub use run::{OverlayJob, preflight};
#[cfg(feature = "gdal")]
pub(crate) use stages::county_fields;
#[cfg(feature = "gdal")]
pub use write::{CountyTotals, FIELDS, OverlaySummary};

/// Overlay the changes with the job's layers and write `job.out` (+ a `.json` summary).
///
/// # Errors
/// [`crate::Error::Layer`] / [`crate::Error::Field`] for unreadable layers or unknown fields
/// (naming the source, layer and the fields it has), [`crate::Error::Job`] for a job that lacks
/// what a layer needs, [`crate::Error::Write`] when the output cannot be written.
#[cfg(feature = "gdal")]
pub fn overlay(
    job: &OverlayJob,
    progress: crate::stream::ProgressFn,
) -> crate::Result<OverlaySummary> {
    let t = std::time::Instant::now();
    let mut o = run::run_stages(job, progress)?;
    let rules = rules::Rules::from_conf(&job.job.rules);
    let ctx = write::Context {
        rules: &rules,
        quarter: job.job.quarter,
        before: job.before(),
        after: job.after(),
    };
    let w = std::time::Instant::now();
    let mut summary = write::write(&o, &ctx, &job.out)?;
    summary.seconds.insert("write", w.elapsed().as_secs_f64());
    summary.seconds.insert("total", t.elapsed().as_secs_f64());
    o.warnings.clear();
    crate::output::write_json(&job.out.with_extension("json"), &summary)?;
    Ok(summary)
}
