//! `tailor preview`: static HTML of each reader's digest as WeChat would show it, each
//! item's reasons one click away, and an index page of the readers. The pages are
//! rendered by the engine (`tailor_engine::preview`), so a server can serve the same.

use std::path::PathBuf;

use tailor_engine::preview::{
    IndexEntry, PreviewOptions, profile_name, render_explanation, render_index,
};

use crate::explain::{DataArgs, EventArgs, load_data};
use crate::out::outln;
use crate::{Rejected, load, unknown_user};

#[derive(clap::Args)]
pub struct Args {
    /// The package directory.
    package: PathBuf,
    /// The readers to preview (profile ids, comma-separated). Default: every profile.
    #[arg(long, value_delimiter = ',')]
    users: Vec<String>,
    /// The directory to write `index.html` and one page per reader into (created if
    /// needed).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    event: EventArgs,
}

/// A file name for a user id: letters, digits, `-` and `_` kept, anything else as `_XX`
/// hex bytes, so that two ids never share a page.
pub fn page_name(user: &str) -> String {
    let mut s = String::new();
    for b in user.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("_{b:02x}"));
        }
    }
    format!("{s}.html")
}

pub fn run(a: Args) -> Result<(), Rejected> {
    let pkg = load(&a.package)?;
    let data = load_data(&pkg, &a.package, &a.data)?;
    let event = a.event.event();
    let mut readers = Vec::new();
    if a.users.is_empty() {
        readers.extend(data.profiles.iter());
    } else {
        for u in &a.users {
            match data.profiles.iter().find(|p| p.id() == u) {
                Some(p) => readers.push(p),
                None => return Err(unknown_user(u, &data.profiles, &data.profiles_path)),
            }
        }
    }
    std::fs::create_dir_all(&a.out)
        .map_err(|e| Rejected(format!("error: cannot create `{}`: {e}", a.out.display())))?;
    let write = |name: &str, html: &str| {
        let path = a.out.join(name);
        std::fs::write(&path, html)
            .map_err(|e| Rejected(format!("error: cannot write `{}`: {e}", path.display())))
    };
    let options = PreviewOptions::default();
    let mut entries = Vec::new();
    for p in readers {
        let ex = pkg.explain(&event, p, &data.catalog, &data.history);
        let html = render_explanation(
            &pkg,
            &ex,
            p,
            &data.catalog,
            data.history.opens_for(p.id()),
            &options,
        );
        let name = page_name(p.id());
        write(&name, &html)?;
        entries.push(IndexEntry {
            user: p.id().to_owned(),
            name: profile_name(p).map(str::to_owned),
            href: name,
            outcome: if ex.quiet {
                "quiet".to_owned()
            } else if ex.items.is_empty() {
                "empty".to_owned()
            } else {
                "digest".to_owned()
            },
            items: ex.items.len(),
            lead: ex
                .items
                .first()
                .and_then(|i| data.catalog.get(&i.id))
                .map(|b| b.title().to_owned()),
        });
    }
    write("index.html", &render_index(&pkg, &entries))?;
    outln!(
        "wrote {} reader page{} and index.html to {}",
        entries.len(),
        if entries.len() == 1 { "" } else { "s" },
        a.out.display()
    );
    Ok(())
}
