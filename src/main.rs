//! The `tuban` binary: parse, run one subcommand, print errors once and exit non-zero.

#[cfg(feature = "gdal")]
mod cli;

#[cfg(feature = "gdal")]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    let args = cli::Cli::parse();
    if let Some(n) = args.threads {
        // Ignored if the pool is already built, which cannot happen this early.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global();
    }
    let result = match &args.command {
        cli::Command::Detect(a) => cli::detect::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(feature = "gdal"))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "tuban was built without the `gdal` feature: only the library and benches are available"
    );
    std::process::ExitCode::FAILURE
}
