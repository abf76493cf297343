//! `vigil`: the local all-in-one server (`vigil serve`) and the operator CLI. It links the same
//! crates the Lambda functions do and runs on the embedded store or, with `--store aws`, on AWS.
#![forbid(unsafe_code)]

mod cli;
mod serve;

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
