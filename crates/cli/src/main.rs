//! `keyroute`: the command line for operators and developers.

use std::process::ExitCode;

/// The allocator: glibc's malloc takes an arena lock that the request threads contend for
/// (a tenth of the CPU under load in `bench/run`'s profile); mimalloc keeps per-thread heaps.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    keyroute_cli::main()
}
