//! Diagnostics: every error and warning the front end and the engine report, with spans,
//! rendered for people (file:line:col, the source line, the span underlined, help).

use std::fmt;

use crate::span::{FileId, SourceMap, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

/// A labelled span: the primary label underlines the offending text, secondary labels
/// point at related places (the first definition of a duplicate name, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One error or warning.
///
/// `code` is a stable identifier (`tailor::unknown_field`) that tests and tools can match;
/// `message` is lowercase without a final period, with user input in backticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    pub primary: Option<Label>,
    pub secondary: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: &'static str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message)
        }
    }

    /// Underline `span` with `text` as the primary label.
    pub fn at(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.primary = Some(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn also(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// `file:line:col` of the primary span, when there is one.
    pub fn location(&self, sources: &SourceMap) -> Option<String> {
        self.primary.as_ref().map(|l| sources.location(l.span))
    }
}

/// A list of diagnostics, in the order they were found (sorted by [`Diagnostics::sort`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Diagnostics {
        Diagnostics::default()
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: Diagnostics) {
        self.items.extend(other.items);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.items.iter()
    }

    /// Sort by file, then position, so that output is stable whatever the checking order.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| {
            let (f, s) = d
                .primary
                .as_ref()
                .map(|l| (l.span.file, l.span.start))
                .unwrap_or((FileId(u32::MAX), 0));
            (f, s)
        });
    }

    /// Render every diagnostic for a person. `color` adds ANSI colours; the CLI decides.
    pub fn render(&self, sources: &SourceMap, color: bool) -> String {
        let mut out = String::new();
        for d in &self.items {
            out.push_str(&render(d, sources, color));
        }
        out
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

impl From<Diagnostic> for Diagnostics {
    fn from(d: Diagnostic) -> Diagnostics {
        Diagnostics { items: vec![d] }
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.items {
            writeln!(f, "{}: {}", d.code, d.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}

/// Render one diagnostic with miette's graphical handler.
pub fn render(d: &Diagnostic, sources: &SourceMap, color: bool) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    // miette counts columns in bytes; the name of each source is given as
    // `file:line:col` instead, counted in characters (see `View::new`).
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(110)
        .with_links(false)
        .without_primary_span_start();
    let mut view = View::new(d, sources);
    // Labels in other files follow the diagnostic as notes of their own: as miette's
    // related diagnostics they would be titled "Warning:".
    let notes = std::mem::take(&mut view.related);
    let mut out = String::new();
    if handler.render_report(&mut out, &view).is_err() {
        out = format!("error: {}\n", d.message);
    }
    for note in &notes {
        let mut text = String::new();
        if handler.render_report(&mut text, note).is_ok() {
            out.push_str(&text);
        }
    }
    out
}

/// A diagnostic bound to its source text, as miette wants it.
struct View {
    severity: Severity,
    code: &'static str,
    message: String,
    help: Option<String>,
    source: Option<miette::NamedSource<String>>,
    labels: Vec<(Span, String, bool)>,
    related: Vec<View>,
}

impl View {
    fn new(d: &Diagnostic, sources: &SourceMap) -> View {
        let file = d.primary.as_ref().map(|l| l.span.file);
        let source = d
            .primary
            .as_ref()
            .and_then(|l| named_source(sources, l.span));
        let mut labels = Vec::new();
        if let Some(p) = &d.primary {
            labels.push((p.span, p.text.clone(), true));
        }
        let mut related = Vec::new();
        for l in &d.secondary {
            if Some(l.span.file) == file {
                labels.push((l.span, l.text.clone(), false));
            } else {
                let src = named_source(sources, l.span);
                related.push(View {
                    severity: Severity::Warning,
                    code: "",
                    message: l.text.clone(),
                    help: None,
                    source: src,
                    labels: vec![(l.span, String::new(), true)],
                    related: Vec::new(),
                });
            }
        }
        View {
            severity: d.severity,
            code: d.code,
            message: d.message.clone(),
            help: d.help.clone(),
            source,
            labels,
            related,
        }
    }
}

/// The source of `span`'s file, named `file:line:col` after the start of `span`.
fn named_source(sources: &SourceMap, span: Span) -> Option<miette::NamedSource<String>> {
    let s = sources.get(span.file)?;
    Some(
        miette::NamedSource::new(sources.location(span), s.text.to_string())
            .with_language("tailor"),
    )
}

impl fmt::Debug for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for View {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for View {}

impl miette::Diagnostic for View {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        if self.code.is_empty() {
            None
        } else {
            Some(Box::new(self.code))
        }
    }

    fn severity(&self) -> Option<miette::Severity> {
        // A view without a code is a note: a label in another file.
        if self.code.is_empty() {
            return Some(miette::Severity::Advice);
        }
        Some(match self.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.source.is_none() || self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().map(|(span, text, primary)| {
            let label = if text.is_empty() {
                None
            } else {
                Some(text.clone())
            };
            let range = miette::SourceSpan::from(span.range());
            if *primary {
                miette::LabeledSpan::new_primary_with_span(label, range)
            } else {
                miette::LabeledSpan::new_with_span(label, range)
            }
        })))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            None
        } else {
            Some(Box::new(
                self.related.iter().map(|r| r as &dyn miette::Diagnostic),
            ))
        }
    }
}

/// The nearest candidate by edit distance, for "did you mean" help.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)))
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters, case-insensitive.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(first) = cur.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(usize::MAX) + 1;
            let ins = cur.get(j).copied().unwrap_or(usize::MAX) + 1;
            let sub = prev.get(j).copied().unwrap_or(usize::MAX) + cost;
            if let Some(slot) = cur.get_mut(j + 1) {
                *slot = del.min(ins).min(sub);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("agee", ["age", "city"]), Some("age"));
        assert_eq!(
            suggest("intrests", ["interests", "muted"]),
            Some("interests")
        );
        assert_eq!(suggest("zzzzzz", ["age", "city"]), None);
    }
}
