//! `tailor lint`: warnings, with spans, about rules that can never fire, picks that can
//! never add anything, unused segments, scripts and sections, empty sections and drops
//! that affect nothing; and the data, as `tailor check` checks it. Exit 0 (warnings are
//! printed on stderr), or 1 with `--deny-warnings` when there are any, or when the
//! package or its data is rejected.

use std::path::PathBuf;

use crate::out::outln;
use crate::{Rejected, color, load};

#[derive(clap::Args)]
pub struct Args {
    /// The package directory.
    package: PathBuf,
    /// The profiles and the catalog (JSON lines), checked as by `tailor check`; the
    /// catalog also serves the lints that need one.
    #[command(flatten)]
    data: crate::CheckedData,
    /// Exit 1 when there is any warning (for CI).
    #[arg(long)]
    deny_warnings: bool,
}

pub fn run(a: Args) -> Result<(), Rejected> {
    let pkg = load(&a.package)?;
    let data = crate::check_data(&pkg, &a.package, &a.data)?;
    let catalog = data.catalog;
    let warnings = tailor_engine::lint::lint(&pkg, catalog.as_ref());
    if warnings.is_empty() && data.warnings == 0 {
        outln!("ok: {} — no lint warnings", a.package.display());
        return Ok(());
    }
    // The data's warnings are already printed; the package's follow.
    let n = warnings.len() + data.warnings;
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
