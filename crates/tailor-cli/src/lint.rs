//! `tailor lint`: warnings, with spans, about rules that can never fire, picks that can
//! never add anything, unused segments, scripts and sections, empty sections and drops
//! that affect nothing. Exit 0 (warnings are printed on stderr), or 1 with
//! `--deny-warnings` when there are any, or when the package or catalog is rejected.

use std::path::PathBuf;

use tailor_lang::SourceMap;

use crate::out::outln;
use crate::{Rejected, color, data_error, load, read};

#[derive(clap::Args)]
pub struct Args {
    /// The package directory.
    package: PathBuf,
    /// The catalog (JSON lines), for the checks that need one. Default:
    /// PACKAGE/catalog.jsonl when it exists.
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Exit 1 when there is any warning (for CI).
    #[arg(long)]
    deny_warnings: bool,
}

pub fn run(a: Args) -> Result<(), Rejected> {
    let pkg = load(&a.package)?;
    let path = a
        .catalog
        .clone()
        .or_else(|| Some(a.package.join("catalog.jsonl")).filter(|p| p.is_file()));
    let mut sources = SourceMap::new();
    let catalog = match &path {
        Some(p) => Some(
            pkg.parse_catalog(&mut sources, &p.display().to_string(), &read(p)?)
                .map_err(|d| data_error(&sources, &d))?,
        ),
        None => None,
    };
    let warnings = tailor_engine::lint::lint(&pkg, catalog.as_ref());
    if warnings.is_empty() {
        outln!("ok: {} — no lint warnings", a.package.display());
        return Ok(());
    }
    let n = warnings.len();
    let text = format!(
        "{}{} warning{} in `{}`\n",
        warnings.render(pkg.sources(), color()),
        n,
        if n == 1 { "" } else { "s" },
        a.package.display()
    );
    if a.deny_warnings {
        return Err(Rejected(text));
    }
    eprint!("{text}");
    Ok(())
}
