//! The `tuban` binary: parse, run one subcommand, print errors once and exit non-zero.

#[cfg(feature = "gdal")]
mod cli;

#[cfg(feature = "gdal")]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    keep_freed_memory();
    #[cfg(unix)]
    // SAFETY: restores the default action before any thread exists: a closed pipe
    // (`tuban eval --json | head`) ends the process quietly, as for other Unix tools.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // Mesa's Vulkan drivers complain on stderr without it while wgpu probes adapters.
        // SAFETY: no other thread exists yet.
        unsafe { std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir()) };
    }
    let args = cli::Cli::parse();
    if let Some(n) = args.threads {
        // Ignored if the pool is already built, which cannot happen this early.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(n.max(1))
            .build_global();
    }
    let result = match &args.command {
        cli::Command::Detect(a) => cli::detect::run(a),
        cli::Command::Polygonize(a) => cli::polygonize::run(a),
        cli::Command::Eval(a) => cli::eval::run(a),
        cli::Command::Overlay(a) => cli::overlay::run(a),
        cli::Command::Run(a) => cli::run::run(a),
        cli::Command::Plan(a) => cli::run::plan(a),
        cli::Command::Merge(a) => cli::run::merge(a),
        cli::Command::Synth(a) => cli::synth::run(a),
        cli::Command::Train(a) => cli::train::run(a),
        cli::Command::Learn(a) => cli::learn::run(a),
        cli::Command::Ledger(a) => cli::ledger::run(a),
        cli::Command::Sources(a) => cli::sources::run(a),
        cli::Command::Serve(a) => cli::serve::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Tile buffers (tens of MB) are allocated and freed for every tile, by tuban and by GDAL. By
/// default glibc serves such sizes with fresh mmaps and gives them back on free, so every tile
/// paid for zeroing new pages: a fifth to a third of the run time. Keep them in the heap.
#[cfg(feature = "gdal")]
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

#[cfg(not(feature = "gdal"))]
fn main() -> std::process::ExitCode {
    eprintln!(
        "tuban was built without the `gdal` feature: only the library and benches are available"
    );
    std::process::ExitCode::FAILURE
}
