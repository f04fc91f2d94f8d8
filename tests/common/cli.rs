//! Running the `tuban` binary from tests.

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
