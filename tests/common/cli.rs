//! Running the `tuban` binary from tests.

use std::path::Path;
use std::process::Command;

/// Run `tuban ARGS`; returns (exit code, stdout, stderr).
pub fn tuban(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tuban"))
        .args(args)
        .output()
        .expect("tuban runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `tuban synth --size SIZE --seed SEED --out DIR`, which must succeed; returns its stdout.
pub fn synth(dir: &Path, size: u32, seed: u64) -> String {
    let (size, seed) = (size.to_string(), seed.to_string());
    let (code, stdout, stderr) = tuban(&[
        "synth",
        "--size",
        &size,
        "--seed",
        &seed,
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    stdout
}

/// The browser, or None (then the check is skipped, unless REQUIRE_BROWSER=1 as in CI).
pub fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("REQUIRE_BROWSER").is_none(),
            "REQUIRE_BROWSER=1 but no Chromium"
        );
        eprintln!("skipped: no headless Chromium");
    }
    found
}
