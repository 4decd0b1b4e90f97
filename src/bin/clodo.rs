//! The `clodo` command-line tool: a thin entry point over `clodo::cli`.

fn main() -> std::process::ExitCode {
    clodo::cli::main()
}
