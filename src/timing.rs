//! Seconds per named stage, summed over tiles and threads: what `detect.json` reports as
//! `stages` so a slow run names its slow stage. Stages that run on different threads at once
//! (reading, kernels, writing) each count their own busy time; their sum can exceed the wall
//! time.

use serde::Serialize;
use std::time::Instant;

/// Busy seconds per stage, in the order stages were first seen.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Timings(Vec<(&'static str, f64)>);

impl Timings {
    /// Run `f`, adding its time to `stage`.
    pub fn time<R>(&mut self, stage: &'static str, f: impl FnOnce() -> R) -> R {
        let t = Instant::now();
        let r = f();
        self.add(stage, t.elapsed().as_secs_f64());
        r
    }

    /// Add `seconds` to `stage`.
    pub fn add(&mut self, stage: &'static str, seconds: f64) {
        match self.0.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, t)) => *t += seconds,
            None => self.0.push((stage, seconds)),
        }
    }

    /// Add every stage of `other`.
    pub fn merge(&mut self, other: &Timings) {
        for &(s, t) in &other.0 {
            self.add(s, t);
        }
    }

    /// The stages and their seconds.
    pub fn stages(&self) -> &[(&'static str, f64)] {
        &self.0
    }

    /// The stages with their seconds and throughput over `pixels`, for reports.
    pub fn report(&self, pixels: u64) -> Vec<StageTime> {
        self.0
            .iter()
            .map(|&(stage, seconds)| StageTime {
                stage,
                seconds,
                mpx_per_s: (seconds > 0.0).then(|| pixels as f64 / seconds / 1e6),
            })
            .collect()
    }
}

/// One stage of a report: busy seconds and megapixels per second of the scene.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageTime {
    pub stage: &'static str,
    pub seconds: f64,
    pub mpx_per_s: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_add_up_in_first_seen_order() {
        let mut t = Timings::default();
        t.add("read", 1.0);
        t.add("kernels", 2.0);
        t.add("read", 0.5);
        let mut u = Timings::default();
        u.add("write", 0.25);
        u.add("kernels", 1.0);
        t.merge(&u);
        assert_eq!(
            t.stages(),
            &[("read", 1.5), ("kernels", 3.0), ("write", 0.25)]
        );
        let r = t.report(3_000_000);
        assert_eq!(r[1].mpx_per_s, Some(1.0));
        assert_eq!(t.time("read", || 7), 7);
        assert!(t.stages()[0].1 >= 1.5);
    }
}
