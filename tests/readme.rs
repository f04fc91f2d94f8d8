//! The README's runnable examples run as written (issue 17 item 12): every `cargo run --release
//! -- ARGS` in it (the main command, the detection example) runs, in order, with the tested
//! binary in place of `cargo run`, in a fresh folder that holds the repository's testdata/, and
//! must succeed. The usage synopses (`tuban detect --before A.tif ...`) name placeholders and
//! are not commands.
#![cfg(feature = "gdal")]

use std::path::Path;

/// The argument lists of every `cargo run --release -- ...` in `text`, in order. Inline code
/// may wrap across lines; a `&&` or the closing backtick ends a command.
fn examples(text: &str) -> Vec<Vec<String>> {
    let flat = text.replace('\n', " ");
    flat.split("cargo run --release -- ")
        .skip(1)
        .map(|rest| {
            let end = rest.find(['`', '&']).unwrap_or(rest.len());
            rest[..end].split_whitespace().map(str::to_string).collect()
        })
        .collect()
}

#[test]
fn readme_examples_run_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("README.md")).unwrap();
    let runs = examples(&text);
    let names: Vec<&str> = runs.iter().map(|r| r[0].as_str()).collect();
    assert!(
        names.contains(&"synth") && names.contains(&"run") && names.contains(&"detect"),
        "{runs:?}"
    );
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("testdata"), dir.path().join("testdata")).unwrap();
    for args in &runs {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tuban"))
            .args(args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README example `tuban {}` failed:\n{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(dir.path().join("out/levir/changes.gpkg").exists());
}

#[test]
fn examples_are_found_across_wrapped_lines() {
    let md = "Run `cargo run --release -- detect --before a.png --after\nb.png --out o` here.\n\
              ```sh\ntools/setup.sh && cargo run --release -- synth --size 64 && cargo run --release -- run j.toml\n```";
    assert_eq!(
        examples(md),
        vec![
            vec![
                "detect", "--before", "a.png", "--after", "b.png", "--out", "o"
            ],
            vec!["synth", "--size", "64"],
            vec!["run", "j.toml"],
        ]
    );
}
