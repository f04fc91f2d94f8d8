//! `tuban plan` on a real Slurm: tools/slurm_test.sh starts munge, slurmctld and slurmd on this
//! machine, submits a four-county plan, kills one task mid-way, resubmits it, waits for the
//! merge and checks its leads against a local run. Skipped where Slurm is not installed or the
//! test is not root, unless REQUIRE_SLURM=1 (CI).
#![cfg(feature = "gdal")]

use std::process::Command;

fn available() -> bool {
    let has = |cmd: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    // slurmd runs as root.
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    ["slurmctld", "slurmd", "munged", "sbatch"]
        .iter()
        .all(|c| has(c))
        && root
}

#[test]
fn a_plan_runs_on_a_real_slurm_cluster_and_survives_a_killed_task() {
    if !available() {
        assert!(
            std::env::var_os("REQUIRE_SLURM").is_none(),
            "REQUIRE_SLURM=1 but Slurm (slurm-wlm, munge) is not installed or this is not root"
        );
        eprintln!("skipped: no Slurm here (tools/setup.sh installs it; the test runs as root)");
        return;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tools/slurm_test.sh");
    let out = Command::new("bash")
        .args([script, env!("CARGO_BIN_EXE_tuban")])
        .output()
        .expect("bash runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tools/slurm_test.sh failed:\n{err}");
    assert!(
        err.contains("killed task") && err.contains("holds the local run's"),
        "{err}"
    );
}
