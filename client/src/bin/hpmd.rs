//! `hpmd`: hpm's per-user daemon, started by `hpmctl` on demand (`hpmd
//! --help` lists its options). Its code is the `hpmd` library; this package
//! ships the executable beside `hpmctl`, so that one package (and the wheel
//! built from it) carries both.

fn main() -> std::process::ExitCode {
    hpmd::cli::main()
}
