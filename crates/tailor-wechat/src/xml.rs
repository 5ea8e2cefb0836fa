//! A small, defensive XML layer: parses WeChat's `<xml>` documents (no DTD, no custom
//! entities, bounded depth) into a tree and flat fields, and writes CDATA safely.

use quick_xml::Reader;
use quick_xml::events::Event;

use crate::Error;

/// Deepest nesting accepted below `<xml>` (WeChat's deepest is about 5).
const MAX_DEPTH: usize = 16;
/// Most elements accepted in one document.
const MAX_ELEMENTS: usize = 4096;

/// One parsed element: its name, text (CDATA and text joined) and child elements.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: String,
    pub(crate) text: String,
    pub(crate) children: Vec<Element>,
}

impl Element {
    /// The first child with this name.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child with this name.
    pub(crate) fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }
}

/// Element under construction: text pieces are kept apart so that whitespace between
/// CDATA sections and tags (pretty-printed XML) can be dropped.
#[derive(Default)]
struct Building {
    element: Element,
    pieces: Vec<(bool, String)>,
}

impl Building {
    fn finish(mut self) -> Element {
        let has_cdata = self.pieces.iter().any(|(cdata, _)| *cdata);
        let mut text = String::new();
        for (cdata, piece) in self.pieces {
            if has_cdata && !cdata && piece.trim().is_empty() {
                continue;
            }
            text.push_str(&piece);
        }
        if !self.element.children.is_empty() && text.trim().is_empty() {
            text.clear();
        }
        self.element.text = text;
        self.element
    }
}

fn malformed(msg: impl Into<String>) -> Error {
    Error::MalformedXml(msg.into())
}

/// Parses a WeChat XML document whose root element must be `<xml>`.
///
/// Rejects document type declarations ([`Error::Doctype`]), entity references other than
/// the five predefined ones and character references ([`Error::Entity`]), processing
/// instructions, content outside the root, excessive depth and malformed markup
/// ([`Error::MalformedXml`]). Attributes are ignored.
pub(crate) fn parse_document(xml: &str) -> Result<Element, Error> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Building> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(Error::Doctype),
            Event::PI(_) => return Err(malformed("processing instructions are not allowed")),
            Event::Decl(_) => {
                if root.is_some() || !stack.is_empty() {
                    return Err(malformed("misplaced xml declaration"));
                }
            }
            Event::Comment(_) => {}
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                return Err(malformed("content after the root element"));
            }
            Event::Start(start) => {
                let name = start.name().as_ref().to_owned();
                open(&mut stack, name, &mut count)?;
            }
            Event::Empty(start) => {
                let name = start.name().as_ref().to_owned();
                open(&mut stack, name, &mut count)?;
                close(&mut stack, &mut root)?;
            }
            Event::End(_) => close(&mut stack, &mut root)?,
            Event::Text(text) => {
                let text = text.into_inner();
                match stack.last_mut() {
                    Some(top) => top.pieces.push((false, text.into_owned())),
                    None if text.trim().is_empty() => {}
                    None => return Err(malformed("text outside the root element")),
                }
            }
            Event::CData(data) => match stack.last_mut() {
                Some(top) => top.pieces.push((true, data.into_inner().into_owned())),
                None => return Err(malformed("cdata outside the root element")),
            },
            Event::GeneralRef(reference) => {
                let ch = resolve_reference(&reference)?;
                match stack.last_mut() {
                    Some(top) => top.pieces.push((false, ch.to_string())),
                    None => return Err(malformed("reference outside the root element")),
                }
            }
            Event::Eof => {
                if !stack.is_empty() {
                    return Err(malformed("unexpected end of document"));
                }
                return root.ok_or_else(|| malformed("no root element"));
            }
        }
    }
}

fn open(stack: &mut Vec<Building>, name: String, count: &mut usize) -> Result<(), Error> {
    if stack.is_empty() && name != "xml" {
        return Err(malformed("root element must be <xml>"));
    }
    if stack.len() > MAX_DEPTH {
        return Err(malformed("elements nested too deeply"));
    }
    *count += 1;
    if *count > MAX_ELEMENTS {
        return Err(malformed("too many elements"));
    }
    stack.push(Building {
        element: Element {
            name,
            ..Element::default()
        },
        pieces: Vec::new(),
    });
    Ok(())
}

fn close(stack: &mut Vec<Building>, root: &mut Option<Element>) -> Result<(), Error> {
    let done = stack
        .pop()
        .ok_or_else(|| malformed("unmatched end tag"))?
        .finish();
    match stack.last_mut() {
        Some(parent) => parent.element.children.push(done),
        None => *root = Some(done),
    }
    Ok(())
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Result<char, Error> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(ch)) => Ok(ch),
            _ => Err(malformed("invalid character reference")),
        };
    }
    let name: &str = reference;
    match name {
        "lt" => Ok('<'),
        "gt" => Ok('>'),
        "amp" => Ok('&'),
        "quot" => Ok('"'),
        "apos" => Ok('\''),
        other => Err(Error::Entity(other.chars().take(64).collect())),
    }
}

/// Every leaf element under the root, in document order, as `(path, text)`; nested
/// elements get `/`-joined paths such as `ScanCodeInfo/ScanType`. Names may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    pub(crate) fn from_root(root: &Element) -> Self {
        let mut out = Vec::new();
        for child in &root.children {
            flatten(child, String::new(), &mut out);
        }
        Self(out)
    }

    /// The text of the first field with this path.
    #[must_use]
    pub fn get(&self, path: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == path)
            .map(|(_, value)| value.as_str())
    }

    /// The texts of every field with this path, in document order.
    pub fn get_all<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(name, _)| name == path)
            .map(|(_, value)| value.as_str())
    }

    /// All fields in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no fields.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn flatten(element: &Element, prefix: String, out: &mut Vec<(String, String)>) {
    let path = if prefix.is_empty() {
        element.name.clone()
    } else {
        format!("{prefix}/{}", element.name)
    };
    if element.children.is_empty() {
        out.push((path, element.text.clone()));
    } else {
        for child in &element.children {
            flatten(child, path.clone(), out);
        }
    }
}

/// Whether XML 1.0 allows this character in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
}

/// Appends `<![CDATA[text]]>`, splitting any `]]>` inside as `]]]]><![CDATA[>` and
/// dropping characters XML 1.0 does not allow.
pub(crate) fn push_cdata(out: &mut String, text: &str) {
    out.push_str("<![CDATA[");
    let clean: String = text.chars().filter(|&c| is_xml_char(c)).collect();
    out.push_str(&clean.replace("]]>", "]]]]><![CDATA[>"));
    out.push_str("]]>");
}

/// Appends `<name><![CDATA[text]]></name>`.
pub(crate) fn push_cdata_element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    push_cdata(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Appends `<name>number</name>`.
pub(crate) fn push_number_element(out: &mut String, name: &str, value: u64) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    out.push_str(&value.to_string());
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Text as it reads back after being written into a reply: the characters XML 1.0
/// forbids (most C0 controls, U+FFFE, U+FFFF) removed.
#[must_use]
pub fn xml_safe_text(text: &str) -> String {
    text.chars().filter(|&c| is_xml_char(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cdata_text_and_nesting() {
        let root = parse_document(
            "<?xml version=\"1.0\"?>\n<xml>\n  <A><![CDATA[ x ]]></A>\n  <B>1 &amp; &#x32;</B>\n  <C><D>d</D><D>e</D></C><E/>\n</xml>\n",
        )
        .unwrap();
        assert_eq!(root.child_text("A"), Some(" x "));
        assert_eq!(root.child_text("B"), Some("1 & 2"));
        assert_eq!(root.child_text("E"), Some(""));
        let fields = Fields::from_root(&root);
        assert_eq!(fields.get_all("C/D").collect::<Vec<_>>(), ["d", "e"]);
        assert_eq!(fields.len(), 5);
    }

    #[test]
    fn split_cdata_reads_back() {
        let mut out = String::from("<xml><A>");
        push_cdata(&mut out, "a]]>b]]]>c\u{0}");
        out.push_str("</A></xml>");
        let root = parse_document(&out).unwrap();
        assert_eq!(root.child_text("A"), Some("a]]>b]]]>c"));
    }

    #[test]
    fn rejects_dangerous_or_broken_documents() {
        assert_eq!(
            parse_document("<!DOCTYPE xml [<!ENTITY e \"x\">]><xml><A>&e;</A></xml>"),
            Err(Error::Doctype)
        );
        assert!(matches!(
            parse_document("<xml><A>&e;</A></xml>"),
            Err(Error::Entity(_))
        ));
        assert!(parse_document("<xml><A></B></xml>").is_err());
        assert!(parse_document("<other/>").is_err());
        assert!(parse_document("<xml/><xml/>").is_err());
        assert!(parse_document("<xml/>junk").is_err());
        assert!(parse_document("<xml><?pi x?></xml>").is_err());
        assert!(parse_document("").is_err());
        assert!(parse_document("<xml>").is_err());
        let deep = format!("<xml>{}{}</xml>", "<a>".repeat(40), "</a>".repeat(40));
        assert!(parse_document(&deep).is_err());
    }
}
