//! The preview: a reader's digest as static HTML, laid out as WeChat shows a news reply
//! (the first article as a large card with its image, the rest as a list with small
//! thumbnails), each item's reasons one click away, and the explanation of every rule
//! below it. `tailor preview` writes these pages; a server can mount
//! [`render_preview`] at `/preview/{account}/{user}`.
//!
//! No framework and no outside resource but the blocks' own images: the pages are built
//! with format strings, every piece of data escaped ([`escape`]); image URLs are used
//! only when they are `http(s)` and are percent-encoded for CSS. A page works from
//! `file://`.

use std::fmt::Write as _;

use crate::data::{Catalog, Event, History, OpenRecord, Profile};
use crate::explain::{Explanation, Fact, RuleStatus};
use crate::package::Package;
use crate::schema;

/// How pages link to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewOptions {
    /// Where the "all readers" link of a reader's page points (`index.html` for
    /// `tailor preview`); `None` leaves the link out.
    pub index_href: Option<String>,
}

impl Default for PreviewOptions {
    fn default() -> PreviewOptions {
        PreviewOptions {
            index_href: Some("index.html".to_owned()),
        }
    }
}

/// How an index page lists the readers: all of them (`tailor preview`, the default), or
/// one page of many (a server).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexOptions {
    /// How many readers there are in all, when the page lists only some of them.
    pub total: Option<u64>,
    /// Where the first page of readers is, on a later page.
    pub first_href: Option<String>,
    /// Where the readers after these are, when there are more.
    pub next_href: Option<String>,
}

/// One reader on the index page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub user: String,
    /// The reader's name, when the profile has a string `name`.
    pub name: Option<String>,
    pub href: String,
    /// `digest`, `quiet` or `empty`, or why the reader could not be evaluated.
    pub outcome: String,
    pub items: usize,
    /// The first article's title, if any.
    pub lead: Option<String>,
}

/// Escape text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An image URL usable in `url("…")` inside a `style` attribute: only `http(s)`, with
/// every character that could end the string, the function or the attribute
/// percent-encoded. `None` for anything else.
fn css_url(u: &str) -> Option<String> {
    let lower = u.trim().to_ascii_lowercase();
    if !(lower.starts_with("https://") || lower.starts_with("http://")) {
        return None;
    }
    let mut out = String::new();
    for c in u.trim().chars() {
        match c {
            '"' | '\'' | '(' | ')' | '\\' | '<' | '>' | '&' | ' ' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c if c.is_control() || c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    Some(out)
}

/// The reader's name, when the profile has a string `name`.
pub fn profile_name(p: &Profile) -> Option<&str> {
    p.raw.get("name").and_then(|v| v.as_str())
}

const STYLE: &str = r#"
*{box-sizing:border-box}
body{margin:0;background:#ededed;font:15px/1.45 -apple-system,"PingFang SC","Noto Sans CJK SC","Noto Sans SC","Microsoft YaHei",sans-serif;color:#191919}
.phone{max-width:420px;margin:0 auto;min-height:100vh;background:#ededed}
.bar{position:sticky;top:0;background:#ededed;border-bottom:1px solid #d9d9d9;padding:12px 16px;text-align:center;font-weight:600;font-size:16px}
.bar a{position:absolute;left:14px;color:#576b95;text-decoration:none;font-weight:400}
.meta{color:#8a8a8a;font-size:12px;text-align:center;margin:14px 12px 10px}
.news{background:#fff;border-radius:8px;margin:0 12px 16px;overflow:hidden;box-shadow:0 1px 2px rgba(0,0,0,.06)}
.cover{position:relative;display:block;height:190px;background-color:#345;background-size:cover;background-position:center;color:#fff;text-decoration:none}
.cover .title{position:absolute;left:0;right:0;bottom:0;padding:28px 14px 10px;font-size:17px;font-weight:600;background:linear-gradient(transparent,rgba(0,0,0,.72))}
.section-tag{position:absolute;top:10px;left:10px;background:rgba(0,0,0,.45);color:#fff;font-size:11px;padding:1px 7px;border-radius:9px}
.lead-body{padding:8px 14px 4px}
.summary{color:#6b6b6b;font-size:13px;margin:2px 0 4px}
.row{display:flex;align-items:center;gap:10px;padding:11px 14px 6px;border-top:1px solid #efefef;color:inherit;text-decoration:none}
.row .title{flex:1;font-size:15px}
.thumb{width:56px;height:56px;flex:none;border-radius:3px;background-color:#9ab;background-size:cover;background-position:center;color:#fff;font-size:11px;display:flex;align-items:flex-end;justify-content:center;padding-bottom:3px}
.list-item .why{padding:0 14px 8px}
details.why summary{cursor:pointer;color:#576b95;font-size:12px;list-style:none}
details.why summary::-webkit-details-marker{display:none}
details.why summary::before{content:"▸ ";}
details.why[open] summary::before{content:"▾ ";}
details.why[open]{background:#f7f8fa}
details.why[open] summary{margin-bottom:4px}
.why-body{font-size:12px;color:#444;padding:4px 0 6px}
.why-body code{background:#eef0f4;border-radius:3px;padding:0 3px;font:12px ui-monospace,Menlo,Consolas,monospace;word-break:break-word}
.why-body ul{margin:4px 0;padding-left:18px}
.note{margin:24px 12px;padding:10px 14px;border-radius:6px;background:#dcdcdc;color:#555;font-size:13px;text-align:center}
.opens{margin:0 12px 16px;background:#fff;border-radius:8px;padding:8px 14px;font-size:12px}
.opens h2{font-size:13px;margin:2px 0 6px;color:#333}
.opens ul{margin:0;padding-left:18px}
.opens .when{color:#8a8a8a}
.rules{margin:0 12px 24px;background:#fff;border-radius:8px;padding:8px 14px;font-size:12px}
.rules summary{cursor:pointer;color:#576b95}
.rules li{margin:3px 0}
.fired{color:#07c160;font-weight:600}
.notfired{color:#999}
.readers{list-style:none;margin:0 12px;padding:0}
.readers li{background:#fff;border-radius:8px;margin:0 0 10px;padding:10px 14px}
.readers a{color:#191919;text-decoration:none;font-weight:600;font-size:16px}
.readers .lead{color:#6b6b6b;font-size:13px}
.more{margin:0 12px 24px;text-align:center}
.more a{color:#576b95;text-decoration:none}
"#;

/// Section hues for image placeholders: a block without a loadable image still gets a
/// cover, in its section's colour.
fn hue(section: &str) -> u32 {
    section
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
        % 360
}

fn background(section: &str, image: Option<&str>) -> String {
    let h = hue(section);
    let gradient = format!(
        "linear-gradient(135deg,hsl({h},45%,42%),hsl({},55%,30%))",
        (h + 40) % 360
    );
    match image.and_then(css_url) {
        Some(u) => format!("background-image:url(&quot;{u}&quot;),{gradient}"),
        None => format!("background-image:{gradient}"),
    }
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", escape(s))
}

fn fact_html(f: &Fact) -> String {
    let mut s = format!("{} was <b>{}</b>", code(&f.text), escape(&f.result));
    if !f.seen.is_empty() {
        let seen: Vec<String> = f
            .seen
            .iter()
            .map(|(k, v)| format!("{} = {}", code(k), code(v)))
            .collect();
        let _ = write!(s, " ({})", seen.join(", "));
    }
    if !f.via.is_empty() {
        let _ = write!(s, " in segment {}", code(&f.via.join(" → ")));
    }
    if f.negated {
        s.push_str(", under <code>not</code>");
    }
    s
}

/// The reasons of one item: the rule (or the fallback), its conditions, the pick.
fn why_html(ex: &Explanation, id: &str) -> String {
    let Some((item, pick)) = ex.why(id) else {
        return String::new();
    };
    let mut s = String::from("<div class=\"why-body\">");
    if item.reason == crate::outcome::FALLBACK {
        let _ = write!(
            s,
            "<div>The edition's <b>fallback</b>: the rules chose {} item(s), fewer than <code>min {}</code>.</div>",
            ex.fallback.chosen_by_rules, ex.fallback.min
        );
    } else if let Some(rule) = ex.rule(&item.reason) {
        let _ = write!(
            s,
            "<div>Rule <b>{}</b> (priority {}) fired",
            escape(&rule.name),
            rule.priority
        );
        match &rule.status {
            RuleStatus::Fired { because } if !because.is_empty() => {
                s.push_str(" because:</div><ul>");
                for f in because {
                    let _ = write!(s, "<li>{}</li>", fact_html(f));
                }
                s.push_str("</ul>");
            }
            _ => s.push_str(" (it has no condition).</div>"),
        }
    }
    let _ = write!(
        s,
        "<div>Pick: {}</div><div>Section <code>{}</code>: {} of {} taken before this pick; the pick could take {}.</div>",
        code(&pick.text),
        escape(&pick.section),
        pick.section_used,
        pick.quota,
        pick.room
    );
    s.push_str("</div>");
    s
}

fn why_details(ex: &Explanation, id: &str) -> String {
    format!(
        "<details class=\"why\" id=\"why-{}\"><summary>为什么推荐 · why this</summary>{}</details>",
        escape(id),
        why_html(ex, id)
    )
}

/// Every rule, fired or not and why.
fn rules_html(ex: &Explanation) -> String {
    let fired = ex.rules.iter().filter(|r| r.fired()).count();
    let mut s = format!(
        "<details class=\"rules\"><summary>Rules: {fired} of {} fired</summary><ul>",
        ex.rules.len()
    );
    for r in &ex.rules {
        let (class, what) = match &r.status {
            RuleStatus::Fired { .. } => ("fired", "fired".to_owned()),
            RuleStatus::NotEvaluated => ("notfired", "not evaluated (edition cap)".to_owned()),
            RuleStatus::OtherKinds { on } => (
                "notfired",
                format!(
                    "answers {} only",
                    on.iter().map(|k| k.name()).collect::<Vec<_>>().join(", ")
                ),
            ),
            RuleStatus::WhenFalse { facts } => (
                "notfired",
                facts.iter().map(fact_html).collect::<Vec<_>>().join("; "),
            ),
            RuleStatus::WhenFailed => ("notfired", "a script call failed".to_owned()),
            RuleStatus::CapReached(c) => (
                "notfired",
                format!("its cap is reached ({} of {})", c.count, c.limit),
            ),
        };
        let _ = write!(
            s,
            "<li data-rule=\"{}\"><span class=\"{class}\">{}</span> — {what}</li>",
            escape(&r.name),
            escape(&r.name)
        );
    }
    s.push_str("</ul></details>");
    s
}

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>\n",
        escape(title)
    )
}

/// Opening `page.html#why-ID` opens that item's reasons.
const OPEN_FROM_HASH: &str = "<script>(function(){var h=decodeURIComponent(location.hash.slice(1));var d=h&&document.getElementById(h);if(d&&d.tagName==='DETAILS'){d.open=true;}})();</script>";

/// One reader's digest as a complete HTML page.
///
/// Runs [`Package::explain`] (pure), so the page shows exactly what
/// [`Package::evaluate`] would give, with the reasons.
pub fn render_preview(
    pkg: &Package,
    event: &Event,
    profile: &Profile,
    catalog: &Catalog,
    history: &History,
    options: &PreviewOptions,
) -> String {
    let ex = pkg.explain(event, profile, catalog, history);
    render_explanation(
        pkg,
        &ex,
        profile,
        catalog,
        history.opens_for(profile.id()),
        options,
    )
}

/// The most opens a reader's page lists.
pub const RECENT_OPENS: usize = 10;

/// The reader's recent opens (language.md §12), newest first: when, the article (its
/// title while the catalog has it, else its id), its section and the rule that placed it.
fn opens_html(pkg: &Package, opens: &[OpenRecord], catalog: &Catalog) -> String {
    if opens.is_empty() {
        return String::new();
    }
    let tz = &pkg.compiled().edition.timezone;
    let mut recent: Vec<&OpenRecord> = opens.iter().collect();
    recent.sort_by_key(|o| std::cmp::Reverse(o.at));
    let mut b = format!(
        "<div class=\"opens\"><h2>Recent opens ({})</h2><ul>",
        opens.len()
    );
    for o in recent.into_iter().take(RECENT_OPENS) {
        let title = catalog
            .get(&o.block)
            .map_or(o.block.as_str(), |b| b.title());
        let _ = write!(
            b,
            "<li data-block=\"{id}\"><span class=\"when\">{when}</span> {t} <span class=\"when\">· {sec} · {rule}</span></li>",
            id = escape(&o.block),
            when = escape(&crate::value::format_time(o.at, tz)),
            t = escape(title),
            sec = escape(o.section.as_deref().unwrap_or("?")),
            rule = escape(o.rule.as_deref().unwrap_or("?")),
        );
    }
    b.push_str("</ul></div>");
    b
}

/// [`render_preview`] for an explanation already computed.
/// `opens` are the reader's open records (language.md §12): the page lists the
/// [`RECENT_OPENS`] most recent.
pub fn render_explanation(
    pkg: &Package,
    ex: &Explanation,
    profile: &Profile,
    catalog: &Catalog,
    opens: &[OpenRecord],
    options: &PreviewOptions,
) -> String {
    let ed = &pkg.compiled().edition;
    let title = ed.title.clone().unwrap_or_else(|| ed.name.clone());
    let who = match profile_name(profile) {
        Some(n) => format!("{n} ({})", ex.user),
        None => ex.user.clone(),
    };
    let mut b = String::new();
    let _ = write!(
        b,
        "<div class=\"phone\" data-user=\"{}\" data-outcome=\"{}\"><div class=\"bar\">",
        escape(&ex.user),
        if ex.quiet {
            "quiet"
        } else if ex.items.is_empty() {
            "empty"
        } else {
            "digest"
        }
    );
    if let Some(href) = &options.index_href {
        let _ = write!(b, "<a href=\"{}\">‹ readers</a>", escape(href));
    }
    let _ = write!(
        b,
        "{}</div><div class=\"meta\">{} · {} · {}</div>",
        escape(&title),
        escape(&who),
        escape(ex.event.name()),
        escape(&ex.at_local)
    );
    if ex.quiet {
        let reason = ex
            .edition_cap
            .map(|c| {
                format!(
                    "edition cap {} per {} reached",
                    c.limit,
                    crate::value::format_duration(c.per)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            b,
            "<div class=\"note\">No digest (quiet): {}</div>",
            escape(&reason)
        );
    } else if ex.items.is_empty() {
        b.push_str(
            "<div class=\"note\">No digest (empty): no block was chosen for this reader.</div>",
        );
    } else {
        b.push_str("<div class=\"news\">");
        for (n, item) in ex.items.iter().enumerate() {
            let block = catalog.get(&item.id);
            let title = block.map_or(item.id.as_str(), |b| b.title());
            let url = block.and_then(|b| b.opt_str(schema::block::URL));
            let image = block.and_then(|b| b.opt_str(schema::block::IMAGE));
            let summary = block.and_then(|b| b.opt_str(schema::block::SUMMARY));
            let href = url
                .filter(|u| css_url(u).is_some())
                .map(|u| format!(" href=\"{}\" target=\"_blank\" rel=\"noopener\"", escape(u)))
                .unwrap_or_default();
            if n == 0 {
                let _ = write!(
                    b,
                    "<div class=\"cover-item\" data-id=\"{id}\" data-section=\"{sec}\"><a class=\"cover\"{href} style=\"{bg}\"><span class=\"section-tag\">{sec}</span><span class=\"title\">{t}</span></a><div class=\"lead-body\">",
                    id = escape(&item.id),
                    sec = escape(&item.section),
                    bg = background(&item.section, image),
                    t = escape(title),
                );
                if let Some(s) = summary {
                    let _ = write!(b, "<div class=\"summary\">{}</div>", escape(s));
                }
                b.push_str(&why_details(ex, &item.id));
                b.push_str("</div></div>");
            } else {
                let _ = write!(
                    b,
                    "<div class=\"list-item\" data-id=\"{id}\" data-section=\"{sec}\"><a class=\"row\"{href}><span class=\"title\">{t}</span><span class=\"thumb\" style=\"{bg}\">{sec}</span></a>",
                    id = escape(&item.id),
                    sec = escape(&item.section),
                    bg = background(&item.section, image),
                    t = escape(title),
                );
                b.push_str(&why_details(ex, &item.id));
                b.push_str("</div>");
            }
        }
        b.push_str("</div>");
    }
    b.push_str(&opens_html(pkg, opens, catalog));
    b.push_str(&rules_html(ex));
    b.push_str("</div>");
    b.push_str(OPEN_FROM_HASH);
    page(&format!("{title} · {}", ex.user), &b)
}

/// The index page: every reader, with a link to their page.
pub fn render_index(pkg: &Package, entries: &[IndexEntry]) -> String {
    render_index_page(pkg, entries, &IndexOptions::default())
}

/// An index page of some of the readers: [`render_index`] with the total and links to
/// the first and the next page.
pub fn render_index_page(pkg: &Package, entries: &[IndexEntry], options: &IndexOptions) -> String {
    let ed = &pkg.compiled().edition;
    let title = ed.title.clone().unwrap_or_else(|| ed.name.clone());
    let mut b = String::from("<div class=\"phone\"><div class=\"bar\">");
    if let Some(href) = &options.first_href {
        let _ = write!(b, "<a href=\"{}\">‹ first</a>", escape(href));
    }
    let count = match options.total {
        Some(total) => format!("{} of {total}", entries.len()),
        None => entries.len().to_string(),
    };
    let _ = write!(
        b,
        "{}</div><div class=\"meta\">edition <code>{}</code> · {count} readers</div><ul class=\"readers\">",
        escape(&title),
        escape(&ed.name),
    );
    for e in entries {
        let name = match &e.name {
            Some(n) => format!("{} <small>({})</small>", escape(n), escape(&e.user)),
            None => escape(&e.user),
        };
        let _ = write!(
            b,
            "<li data-user=\"{}\"><a href=\"{}\">{name}</a><div class=\"lead\">{} · {} item(s){}</div></li>",
            escape(&e.user),
            escape(&e.href),
            escape(&e.outcome),
            e.items,
            e.lead
                .as_deref()
                .map(|l| format!(" · {}", escape(l)))
                .unwrap_or_default()
        );
    }
    b.push_str("</ul>");
    if let Some(href) = &options.next_href {
        let _ = write!(
            b,
            "<div class=\"more\"><a href=\"{}\">more readers ›</a></div>",
            escape(href)
        );
    }
    b.push_str("</div>");
    page(&format!("{title} · readers"), &b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    fn page_for(catalog_text: &str, at: &str) -> String {
        let src = "profile { city: string }\nedition e { title \"<b>T</b>\" sections { news 2 } }\nrule r { pick 2 from news }";
        let Ok(pkg) = Package::from_sources(vec![("m.rules".into(), src.into())]) else {
            unreachable!("the package compiles");
        };
        let mut sources = tailor_lang::SourceMap::new();
        let profiles = pkg
            .parse_profiles(&mut sources, "p", r#"{"id": "u\"1", "name": "<i>x</i>"}"#)
            .unwrap_or_default();
        let catalog = pkg
            .parse_catalog(&mut sources, "c", catalog_text)
            .unwrap_or_default();
        let Some(p) = profiles.first() else {
            unreachable!("one profile");
        };
        let at = at.parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        render_preview(
            &pkg,
            &Event::new(tailor_lang::ast::EventKind::Enter, at),
            p,
            &catalog,
            &History::default(),
            &PreviewOptions::default(),
        )
    }

    #[test]
    fn block_data_cannot_inject_markup() {
        let html = page_for(
            r#"{"id": "n\"><script>x</script>", "section": "news", "title": "<script>alert(1)</script>", "image": "https://x.test/a.jpg\"><script>", "url": "javascript:alert(1)", "published": "2013-02-21T06:00:00Z"}"#,
            "2013-02-21T12:00:00Z",
        );
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("javascript:"), "unsafe links are dropped");
        assert!(html.contains("url(&quot;https://x.test/a.jpg%22%3E%3Cscript%3E&quot;)"));
        assert!(html.contains("&lt;b&gt;T&lt;/b&gt;") && html.contains("&lt;i&gt;x&lt;/i&gt;"));
        // The only script is the page's own.
        assert_eq!(html.matches("<script>").count(), 1);
    }

    #[test]
    fn the_page_lists_the_readers_recent_opens_newest_first() {
        let src = "profile { city: string }\nedition e { sections { news 2 } }\nrule r { pick 2 from news }";
        let Ok(pkg) = Package::from_sources(vec![("m.rules".into(), src.into())]) else {
            unreachable!("the package compiles");
        };
        let mut sources = tailor_lang::SourceMap::new();
        let profiles = pkg
            .parse_profiles(&mut sources, "p", r#"{"id": "u1"}"#)
            .unwrap_or_default();
        let catalog = pkg
            .parse_catalog(
                &mut sources,
                "c",
                r#"{"id": "n1", "section": "news", "title": "Lanterns <tonight>", "published": "2013-02-21T06:00:00Z"}"#,
            )
            .unwrap_or_default();
        let history = History::parse(
            &mut sources,
            "h",
            &[
                r#"{"user": "u1", "at": "2013-02-21T10:00:00Z", "event": "open", "block": "n1", "rule": "r", "section": "news", "delivered": "2013-02-21T09:00:00Z"}"#,
                r#"{"user": "u1", "at": "2013-02-21T11:00:00Z", "event": "open", "block": "gone-7", "rule": "fallback", "section": "news", "delivered": "2013-02-21T09:00:00Z"}"#,
                r#"{"user": "other", "at": "2013-02-21T11:30:00Z", "event": "open", "block": "n1", "rule": "r", "section": "news"}"#,
            ]
            .join("\n"),
        )
        .unwrap_or_default();
        let (Some(p), false) = (profiles.first(), catalog.is_empty()) else {
            unreachable!("one profile, one block");
        };
        let at = "2013-02-21T12:00:00Z"
            .parse()
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        let html = render_preview(
            &pkg,
            &Event::new(tailor_lang::ast::EventKind::Enter, at),
            p,
            &catalog,
            &history,
            &PreviewOptions::default(),
        );
        assert!(html.contains("Recent opens (2)"), "{html}");
        let gone = html.find("data-block=\"gone-7\"");
        let n1 = html.find("data-block=\"n1\"");
        assert!(
            gone.is_some() && n1.is_some() && gone < n1,
            "newest first: {html}"
        );
        assert!(html.contains("Lanterns &lt;tonight&gt;"), "{html}");
        assert!(html.contains("· news · fallback"), "{html}");
        // Only this reader's opens.
        assert_eq!(html.matches("data-block=").count(), 2, "{html}");
        // A reader without opens gets no such list.
        let none = render_preview(
            &pkg,
            &Event::new(tailor_lang::ast::EventKind::Enter, at),
            p,
            &catalog,
            &History::default(),
            &PreviewOptions::default(),
        );
        assert!(!none.contains("Recent opens"), "{none}");
    }

    #[test]
    fn an_empty_outcome_says_so() {
        let html = page_for(
            r#"{"id": "n1", "section": "news", "title": "later", "published": "2013-02-22T06:00:00Z"}"#,
            "2013-02-21T12:00:00Z",
        );
        assert!(html.contains("data-outcome=\"empty\""));
        assert!(html.contains("No digest (empty)"));
        assert!(!html.contains("cover-item"));
    }

    #[test]
    fn a_paged_index_says_how_many_and_links_the_first_and_next_pages() {
        let src = "profile { city: string }\nedition e { sections { news 2 } }\nrule r { pick 2 from news }";
        let Ok(pkg) = Package::from_sources(vec![("m.rules".into(), src.into())]) else {
            unreachable!("the package compiles");
        };
        let entries = vec![IndexEntry {
            user: "u\"1".into(),
            name: None,
            href: "a/u%221".into(),
            outcome: "empty".into(),
            items: 0,
            lead: None,
        }];
        let all = render_index(&pkg, &entries);
        assert!(all.contains("· 1 readers</div>"), "{all}");
        assert!(
            !all.contains("‹ first") && !all.contains("more readers"),
            "{all}"
        );
        let page = render_index_page(
            &pkg,
            &entries,
            &IndexOptions {
                total: Some(5),
                first_href: Some("a".into()),
                next_href: Some("a?after=u%221&x=\"".into()),
            },
        );
        assert!(page.contains("· 1 of 5 readers</div>"), "{page}");
        assert!(page.contains("<a href=\"a\">‹ first</a>"), "{page}");
        assert!(
            page.contains("<a href=\"a?after=u%221&amp;x=&quot;\">more readers ›</a>"),
            "{page}"
        );
        assert!(
            page.contains("<li data-user=\"u&quot;1\"><a href=\"a/u%221\">"),
            "{page}"
        );
    }

    #[test]
    fn image_urls_are_http_only_and_cannot_break_out() {
        assert_eq!(css_url("javascript:alert(1)"), None);
        assert_eq!(css_url("data:image/png;base64,xx"), None);
        assert_eq!(
            css_url("https://x.test/a\"b'c(d) e.jpg").as_deref(),
            Some("https://x.test/a%22b%27c%28d%29%20e.jpg")
        );
    }
}
