//! `keyroute`: the command line for operators and developers.

use std::process::ExitCode;

fn main() -> ExitCode {
    keyroute_cli::main()
}
