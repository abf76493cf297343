//! `vigil backup` and `vigil restore`: a data directory of the embedded store copied out while it
//! runs, and put back into place.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;
use vigil_embedded::backup::{self, BackupError};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (one SQLite file holding the database and the data
    /// directory's key file).
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,
    /// Replace FILE when it exists.
    #[arg(long)]
    pub force: bool,
    /// Print the result, or the error, as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file made by `vigil backup`.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// Replace the database (and key file) of a data directory that already holds one.
    #[arg(long)]
    pub force: bool,
    /// Print the result, or the error, as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `vigil backup --to FILE`: a consistent copy of `data_dir`, safe while `vigil serve` writes.
pub fn back_up(data_dir: &Path, args: &BackupArgs) -> anyhow::Result<()> {
    let report = answer(backup::back_up(data_dir, &args.to, args.force), args.json)?;
    if !args.json {
        let key = if report.key_included {
            "with the data directory's key"
        } else {
            "without a key: restore it with the same VIGIL_MASTER_KEY"
        };
        println!(
            "Backed up {} to {} ({} bytes, schema version {}), {key}",
            data_dir.display(),
            report.path.display(),
            report.bytes,
            report.schema_version
        );
    }
    Ok(())
}

/// `vigil restore --from FILE --data-dir DIR`: the backup checked and put in place in `data_dir`.
pub fn restore(data_dir: &Path, args: &RestoreArgs) -> anyhow::Result<()> {
    let report = answer(backup::restore(&args.from, data_dir, args.force), args.json)?;
    if !args.json {
        println!(
            "Restored {} into {} ({} bytes, schema version {}{})",
            args.from.display(),
            report.data_dir.display(),
            report.bytes,
            report.schema_version,
            if report.upgraded_on_next_start {
                ", upgraded at the next start"
            } else {
                ""
            }
        );
        if !report.key_restored {
            println!(
                "The backup holds no key: start vigil with the VIGIL_MASTER_KEY it was made with"
            );
        }
    }
    Ok(())
}

/// Prints the report as JSON when asked; an error as `{"error":{"code","message"}}` when asked,
/// and passed on for the non-zero exit either way.
fn answer<T: serde::Serialize>(result: Result<T, BackupError>, json: bool) -> anyhow::Result<T> {
    match result {
        Ok(report) => {
            if json {
                super::print_json(&report)?;
            }
            Ok(report)
        }
        Err(error) => {
            if json {
                super::print_json(
                    &json!({"error": {"code": error.code(), "message": error.to_string()}}),
                )?;
            }
            Err(error.into())
        }
    }
}
