//! Data: profiles, the catalog, events and delivery history, loaded from JSON lines and
//! validated against the package's schemas. A bad record is a diagnostic that names the
//! file, the line, the record's id, the field, and the expected and found types.

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use tailor_lang::ast::{EventKind, Type};
use tailor_lang::{Diagnostic, Diagnostics, FileId, SourceMap, Span, suggest};

use crate::schema::{self, Schema};
use crate::value::{Value, from_json, json_kind};

/// A user's profile: typed values by schema slot, and the JSON it came from (fields the
/// schema does not declare are kept there).
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// By slot. Shared: learning copies a profile for every event, and most events
    /// learn nothing, so a copy is two reference counts, not a copy of every value.
    pub values: Arc<[Option<Value>]>,
    /// The profile as JSON (shared: an evaluation clones the profile to learn, and most
    /// evaluations learn nothing).
    pub raw: std::sync::Arc<serde_json::Map<String, serde_json::Value>>,
}

impl Profile {
    pub fn id(&self) -> &str {
        match self.values.get(schema::PROFILE_ID) {
            Some(Some(Value::Str(s))) => s,
            _ => "",
        }
    }

    pub fn get(&self, slot: usize) -> Option<&Value> {
        self.values.get(slot).and_then(Option::as_ref)
    }
}

/// A content block: built-in fields then `content { … }` fields, by slot.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    pub values: Vec<Option<Value>>,
    pub raw: serde_json::Map<String, serde_json::Value>,
}

impl Block {
    pub fn get(&self, slot: usize) -> Option<&Value> {
        self.values.get(slot).and_then(Option::as_ref)
    }

    fn str_field(&self, slot: usize) -> &str {
        self.get(slot).and_then(Value::as_str).unwrap_or("")
    }

    pub fn id(&self) -> &str {
        self.str_field(schema::block::ID)
    }

    pub fn section(&self) -> &str {
        self.str_field(schema::block::SECTION)
    }

    pub fn title(&self) -> &str {
        self.str_field(schema::block::TITLE)
    }

    pub fn opt_str(&self, slot: usize) -> Option<&str> {
        self.get(slot).and_then(Value::as_str)
    }

    pub fn published(&self) -> Option<Timestamp> {
        self.get(schema::block::PUBLISHED).and_then(Value::as_time)
    }

    pub fn expires(&self) -> Option<Timestamp> {
        self.get(schema::block::EXPIRES).and_then(Value::as_time)
    }
}

/// All blocks, sorted by id, with an index by section.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    blocks: Vec<Arc<Block>>,
    by_id: HashMap<String, usize>,
    by_section: HashMap<String, Vec<usize>>,
}

impl Catalog {
    /// A catalog of `blocks`. Ids are unique in a catalog: of several blocks with one
    /// id, the last given is kept (as a later upsert replaces an earlier one).
    pub fn new(blocks: Vec<Block>) -> Catalog {
        Catalog::from_shared(blocks.into_iter().map(Arc::new).collect())
    }

    /// A catalog of blocks shared with another catalog (a catalog changed by a few
    /// upserts keeps the other blocks without copying them). Ids are unique, as for
    /// [`Catalog::new`].
    pub fn from_shared(mut blocks: Vec<Arc<Block>>) -> Catalog {
        // A stable sort keeps blocks of one id in the order given; keep the last.
        blocks.sort_by(|a, b| a.id().cmp(b.id()));
        blocks.reverse();
        blocks.dedup_by(|later, kept| later.id() == kept.id());
        blocks.reverse();
        let mut by_id = HashMap::new();
        let mut by_section: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, b) in blocks.iter().enumerate() {
            by_id.insert(b.id().to_owned(), i);
            by_section
                .entry(b.section().to_owned())
                .or_default()
                .push(i);
        }
        Catalog {
            blocks,
            by_id,
            by_section,
        }
    }

    /// Blocks in id order.
    pub fn blocks(&self) -> &[Arc<Block>] {
        &self.blocks
    }

    pub fn get(&self, id: &str) -> Option<&Block> {
        self.shared(id).map(|b| &**b)
    }

    /// The block of `id`, shared (for an `open` event's opened block, language.md §12).
    pub fn shared(&self, id: &str) -> Option<&Arc<Block>> {
        self.by_id.get(id).and_then(|&i| self.blocks.get(i))
    }

    /// The blocks of one section, in id order.
    pub fn section(&self, name: &str) -> impl Iterator<Item = &Block> {
        self.by_section
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.blocks.get(i).map(|b| &**b))
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// Positions (in [`Catalog::blocks`]) of one section's blocks, in id order.
    pub(crate) fn section_positions(&self, name: &str) -> &[usize] {
        self.by_section.get(name).map_or(&[], Vec::as_slice)
    }
}

/// One user event (language.md §7's event fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub kind: EventKind,
    pub at: Timestamp,
    pub text: Option<String>,
    pub key: Option<String>,
    pub url: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub precision: Option<f64>,
    /// The opened item of an `open` event (language.md §12); `None` for other kinds.
    pub opened: Option<Arc<Opened>>,
}

impl Event {
    pub fn new(kind: EventKind, at: Timestamp) -> Event {
        Event {
            kind,
            at,
            text: None,
            key: None,
            url: None,
            lat: None,
            lon: None,
            precision: None,
            opened: None,
        }
    }

    /// An `open` of `block` at `at`, with the block as the catalog holds it now
    /// (`None` when it left the catalog: `block.FIELD` is then missing).
    pub fn open(at: Timestamp, item: OpenedItem, data: Option<Arc<Block>>) -> Event {
        Event {
            opened: Some(Arc::new(Opened { item, data })),
            ..Event::new(EventKind::Open, at)
        }
    }

    /// The opened block's data, for `block.FIELD` in `learn on open` (language.md §12).
    pub fn opened_block(&self) -> Option<&Block> {
        self.opened.as_ref().and_then(|o| o.data.as_deref())
    }
}

/// What an `open` event carries (language.md §12): the item and the block's current data.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub item: OpenedItem,
    pub data: Option<Arc<Block>>,
}

/// The opened item of a delivered digest: its block id, its reason (a rule name or
/// `fallback`), its section and when the digest was sent. A field the runtime does not
/// know is `None`, and missing in expressions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpenedItem {
    pub block: String,
    pub rule: Option<String>,
    pub section: Option<String>,
    pub delivered: Option<Timestamp>,
}

/// A past delivery (language.md §11): `{"user", "at", "event", "blocks", "fired"}`, and since v1.1
/// `items`, what each item was and why (language.md §12; absent from records written before).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Delivery {
    pub user: String,
    pub at: Timestamp,
    #[serde(with = "kind_serde")]
    pub event: EventKind,
    pub blocks: Vec<String>,
    pub fired: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<DeliveredItem>,
}

impl Delivery {
    /// The delivered item of block `id`, when the record lists its items.
    pub fn item(&self, id: &str) -> Option<&DeliveredItem> {
        self.items.iter().find(|i| i.id == id)
    }
}

/// One item of a delivery record (language.md §12): `{"id", "section", "rule", "url"}`, where `rule`
/// is the item's reason, a rule name or `fallback`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeliveredItem {
    pub id: String,
    pub section: String,
    pub rule: String,
    #[serde(default)]
    pub url: String,
}

/// An open recorded in a reader's history (language.md §12):
/// `{"user", "at", "event": "open", "block", "rule", "section", "delivered"}`. Opens are
/// not deliveries: they count toward no cap and no `repeat after`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct OpenRecord {
    pub user: String,
    pub at: Timestamp,
    pub block: String,
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub section: Option<String>,
    #[serde(default)]
    pub delivered: Option<Timestamp>,
}

impl OpenRecord {
    /// The record of an `open` event for `user`.
    pub fn new(user: &str, at: Timestamp, item: &OpenedItem) -> OpenRecord {
        OpenRecord {
            user: user.to_owned(),
            at,
            block: item.block.clone(),
            rule: item.rule.clone(),
            section: item.section.clone(),
            delivered: item.delivered,
        }
    }

    /// The opened item this record names.
    pub fn item(&self) -> OpenedItem {
        OpenedItem {
            block: self.block.clone(),
            rule: self.rule.clone(),
            section: self.section.clone(),
            delivered: self.delivered,
        }
    }

    /// Whether this open is of the same item of the same delivery as `item`.
    pub fn same_item(&self, item: &OpenedItem) -> bool {
        self.block == item.block && self.delivered == item.delivered
    }
}

impl serde::Serialize for OpenRecord {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("user", &self.user)?;
        m.serialize_entry("at", &self.at)?;
        m.serialize_entry("event", "open")?;
        m.serialize_entry("block", &self.block)?;
        if let Some(r) = &self.rule {
            m.serialize_entry("rule", r)?;
        }
        if let Some(x) = &self.section {
            m.serialize_entry("section", x)?;
        }
        if let Some(d) = &self.delivered {
            m.serialize_entry("delivered", d)?;
        }
        m.end()
    }
}

/// Event kinds in JSON are their names, as in `on …` clauses.
mod kind_serde {
    use tailor_lang::ast::EventKind;

    pub fn serialize<S: serde::Serializer>(k: &EventKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.name())
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<EventKind, D::Error> {
        let name: String = serde::Deserialize::deserialize(d)?;
        EventKind::parse(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown event kind `{name}` (expected one of enter, subscribe, unsubscribe, text, click, view, scan, location, open)"
            ))
        })
    }
}

/// Delivery records, possibly of many users; evaluation looks only at the user's own.
/// Open records (language.md §12) are kept apart: they are not deliveries.
#[derive(Debug, Clone, Default)]
pub struct History {
    by_user: HashMap<String, Vec<Delivery>>,
    opens: HashMap<String, Vec<OpenRecord>>,
}

impl History {
    pub fn new(deliveries: impl IntoIterator<Item = Delivery>) -> History {
        let mut h = History::default();
        for d in deliveries {
            h.push(d);
        }
        h
    }

    pub fn push(&mut self, d: Delivery) {
        self.by_user.entry(d.user.clone()).or_default().push(d);
    }

    pub fn for_user(&self, user: &str) -> &[Delivery] {
        self.by_user.get(user).map_or(&[], Vec::as_slice)
    }

    /// Add every record of `other` (several history files read as one).
    pub fn extend(&mut self, other: History) {
        for (user, ds) in other.by_user {
            self.by_user.entry(user).or_default().extend(ds);
        }
        for (user, os) in other.opens {
            self.opens.entry(user).or_default().extend(os);
        }
    }

    pub fn push_open(&mut self, o: OpenRecord) {
        self.opens.entry(o.user.clone()).or_default().push(o);
    }

    /// The user's open records, in the order given.
    pub fn opens_for(&self, user: &str) -> &[OpenRecord] {
        self.opens.get(user).map_or(&[], Vec::as_slice)
    }

    /// Every delivery record, by user (in no particular order of users).
    pub fn deliveries(&self) -> impl Iterator<Item = &Delivery> {
        self.by_user.values().flatten()
    }

    /// Every open record, by user (in no particular order of users).
    pub fn opens(&self) -> impl Iterator<Item = &OpenRecord> {
        self.opens.values().flatten()
    }

    /// Whether `user` already opened this item of this delivery: `learn on open` runs
    /// on the first open only (language.md §12).
    pub fn opened_before(&self, user: &str, item: &OpenedItem) -> bool {
        self.opens_for(user).iter().any(|o| o.same_item(item))
    }

    pub fn len(&self) -> usize {
        self.by_user.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Parse a history file (JSON lines of delivery records).
    pub fn parse(sources: &mut SourceMap, name: &str, text: &str) -> Result<History, Diagnostics> {
        let file = sources.add(name, text);
        let mut diags = Diagnostics::new();
        let mut h = History::default();
        for (line_no, line, span) in lines(file, text) {
            let v: serde_json::Value = match serde_json::from_str(line) {
                Ok(v) => v,
                Err(e) => {
                    diags.push(json_error(name, line_no, span, line, &e));
                    continue;
                }
            };
            if let Some(serde_json::Value::String(kind)) = v.get("event")
                && EventKind::parse(kind).is_none()
            {
                let names = EventKind::ALL.map(EventKind::name);
                let mut d = Diagnostic::error(
                    "tailor::unknown_event_kind",
                    format!("{name}:{line_no}: unknown event kind `{kind}`"),
                )
                .at(
                    value_span(line, span, &["event"]).unwrap_or(span),
                    "not an event kind",
                );
                d = match suggest(kind, names) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("the event kinds are {}", names.join(", "))),
                };
                diags.push(d);
                continue;
            }
            if v.get("event").and_then(serde_json::Value::as_str) == Some("open") {
                match serde_json::from_value::<OpenRecord>(v) {
                    Ok(o) => h.push_open(o),
                    Err(e) => diags.push(
                        Diagnostic::error("tailor::bad_record", format!("{name}:{line_no}: open record: {e}"))
                            .at(span, "not an open record")
                            .help("an open is {\"user\": …, \"at\": RFC 3339, \"event\": \"open\", \"block\": id, \"rule\": name, \"section\": name, \"delivered\": RFC 3339}"),
                    ),
                }
                continue;
            }
            match serde_json::from_value::<Delivery>(v) {
                Ok(d) => h.push(d),
                Err(e) => diags.push(
                    Diagnostic::error("tailor::bad_record", format!("{name}:{line_no}: delivery record: {e}"))
                        .at(span, "not a delivery record")
                        .help("a delivery is {\"user\": …, \"at\": RFC 3339, \"event\": kind, \"blocks\": [ids], \"fired\": [rule names]}"),
                ),
            }
        }
        if diags.has_errors() {
            Err(diags)
        } else {
            Ok(h)
        }
    }
}

/// Non-blank lines with their 1-based number and span.
fn lines(file: FileId, text: &str) -> impl Iterator<Item = (usize, &str, Span)> {
    let mut offset = 0;
    text.split_inclusive('\n')
        .enumerate()
        .filter_map(move |(i, raw)| {
            let start = offset;
            offset += raw.len();
            let line = raw.trim_end_matches(['\n', '\r']);
            if line.trim().is_empty() {
                None
            } else {
                Some((i + 1, line, Span::new(file, start, start + line.len())))
            }
        })
}

fn json_error(
    name: &str,
    line_no: usize,
    span: Span,
    line: &str,
    e: &serde_json::Error,
) -> Diagnostic {
    // serde counts the column in bytes, from 1, on the line it was given: this one.
    let mut col = e.column().saturating_sub(1);
    // serde stops after a trailing comma: point at the comma.
    if e.to_string().starts_with("trailing comma")
        && let Some(comma) = line.get(..col).and_then(|before| before.rfind(','))
    {
        col = comma;
    }
    let width = line
        .get(col..)
        .and_then(|r| r.chars().next())
        .map_or(1, char::len_utf8);
    let at = Span::new(
        span.file,
        span.start as usize + col,
        span.start as usize + col + width,
    );
    let at = if at.end > span.end { span } else { at };
    // The position is in the span: say only what is wrong.
    let full = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let what = full.strip_suffix(&position).unwrap_or(&full);
    Diagnostic::error(
        "tailor::bad_json",
        format!("{name}:{line_no}: not valid JSON: {what}"),
    )
    .at(at, what.to_owned())
    .help(if e.is_eof() {
        "the line ends before the object does: is a closing `}`, `]` or `\"` missing?"
    } else {
        "each line holds one complete JSON object: keys and strings in double quotes, no comma before `}` or `]`"
    })
}

/// The span of the value at `path` (keys of nested objects) on one JSON line, when it
/// can be found.
fn value_span(line: &str, line_span: Span, path: &[&str]) -> Option<Span> {
    let mut pos = 0;
    for part in path {
        let key = format!("\"{part}\"");
        let mut from = pos;
        loop {
            let after = from + line.get(from..)?.find(&key)? + key.len();
            let rest = line.get(after..)?;
            let trimmed = rest.trim_start();
            if let Some(value) = trimmed.strip_prefix(':') {
                pos = line.len() - value.trim_start().len();
                break;
            }
            from = after;
        }
    }
    let rest = line.get(pos..)?;
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde::de::IgnoredAny>();
    values.next()?.ok()?;
    let start = line_span.start as usize + pos;
    Some(Span::new(
        line_span.file,
        start,
        start + values.byte_offset(),
    ))
}

/// How a value of a type is written in JSON, for help.
fn json_example(ty: Type) -> &'static str {
    match ty {
        Type::Bool => "`true` or `false`",
        Type::Int => "a whole number, as in `72`",
        Type::Float => "a number, as in `0.5`",
        Type::String => "a string in double quotes",
        Type::Time => "an RFC 3339 time in a string, as in `\"2013-02-21T19:30:00+08:00\"`",
        Type::Duration => "a duration in a string, as in `\"3d\"`",
        Type::SetString => "an array of strings, as in `[\"food\", \"health\"]`",
        Type::SetInt => "an array of whole numbers, as in `[1, 2]`",
        Type::MapInt => "an object of whole numbers, as in `{\"taiwan\": 12}`",
        Type::MapFloat => "an object of numbers, as in `{\"taiwan\": 0.5}`",
        Type::MapString => "an object of strings, as in `{\"home\": \"杭州\"}`",
    }
}

/// What kind of record a data file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    Profile,
    Block,
}

impl RecordKind {
    fn name(self) -> &'static str {
        match self {
            RecordKind::Profile => "profile",
            RecordKind::Block => "block",
        }
    }
}

/// Look up a dotted path in a JSON object.
pub fn json_path<'a>(
    obj: &'a serde_json::Map<String, serde_json::Value>,
    path: &[String],
) -> Option<&'a serde_json::Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = obj.get(first)?;
    for p in rest {
        cur = cur.as_object()?.get(p)?;
    }
    Some(cur)
}

/// A field whose value does not fit the schema: its dotted name, its declared type, and
/// what was found instead.
pub type FieldError = (String, Type, String);

/// Why a JSON object is not a profile of the package's schema
/// ([`crate::Package::profile_from_json`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ProfileError {
    /// No `id`, or one that is not a string.
    #[error("a profile needs a string `id`")]
    #[diagnostic(code(tailor::profile_id))]
    MissingId,
    /// Declared fields whose values do not fit their types (every one, in schema order).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    #[diagnostic(code(tailor::profile_schema))]
    Fields(Vec<FieldMismatch>),
}

/// A field whose value does not fit its declared type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}` expected {}, found {found}", .expected.name())]
pub struct FieldMismatch {
    /// The dotted name (`family.child.age`).
    pub field: String,
    /// The declared type.
    pub expected: Type,
    /// What the record holds instead (`a string "x"`, …).
    pub found: String,
}

/// A record's typed values by slot, and the JSON object it came from.
pub(crate) type Record = (
    Vec<Option<Value>>,
    serde_json::Map<String, serde_json::Value>,
);

/// Convert one JSON object to slot values, checking every declared field.
pub fn record_values(
    schema: &Schema,
    obj: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<Option<Value>>, Vec<FieldError>> {
    let mut values = Vec::with_capacity(schema.len());
    let mut errors = Vec::new();
    for f in &schema.fields {
        match json_path(obj, &f.path) {
            None | Some(serde_json::Value::Null) => values.push(None),
            Some(j) => match from_json(j, f.ty) {
                Ok(v) => values.push(Some(v)),
                Err(found) => {
                    errors.push((f.dotted.clone(), f.ty, found));
                    values.push(None);
                }
            },
        }
    }
    if errors.is_empty() {
        Ok(values)
    } else {
        Err(errors)
    }
}

/// Parse JSON lines of one record kind against a schema.
pub(crate) fn parse_records(
    sources: &mut SourceMap,
    name: &str,
    text: &str,
    schema: &Schema,
    kind: RecordKind,
) -> Result<Vec<Record>, Diagnostics> {
    let file = sources.add(name, text);
    let mut diags = Diagnostics::new();
    let mut out = Vec::new();
    let mut seen: HashMap<String, (usize, Span)> = HashMap::new();
    for (line_no, line, span) in lines(file, text) {
        let obj = match serde_json::from_str::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(o)) => o,
            Ok(other) => {
                diags.push(
                    Diagnostic::error(
                        "tailor::bad_record",
                        format!(
                            "{name}:{line_no}: expected a JSON object, found {}",
                            json_kind(&other)
                        ),
                    )
                    .at(span, "not an object")
                    .help(format!(
                        "each line holds one {} as a JSON object",
                        kind.name()
                    )),
                );
                continue;
            }
            Err(e) => {
                diags.push(json_error(name, line_no, span, line, &e));
                continue;
            }
        };
        let id = match obj.get("id") {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => {
                diags.push(field_error(
                    name,
                    line_no,
                    span,
                    line,
                    kind,
                    None,
                    "id",
                    Type::String,
                    json_kind(other),
                ));
                continue;
            }
            None => {
                diags.push(
                    Diagnostic::error(
                        "tailor::missing_field",
                        format!("{name}:{line_no}: {} has no `id`", kind.name()),
                    )
                    .at(span, "no `id` here")
                    .help(format!("every {} needs a string `id`", kind.name())),
                );
                continue;
            }
        };
        let mut bad = false;
        if kind == RecordKind::Block {
            for req in schema::REQUIRED_BLOCK_FIELDS {
                if matches!(obj.get(req), None | Some(serde_json::Value::Null)) {
                    diags.push(
                        Diagnostic::error(
                            "tailor::missing_field",
                            format!("{name}:{line_no}: block `{id}` has no `{req}`"),
                        )
                        .at(span, format!("`{req}` is missing"))
                        .help(format!(
                            "add `\"{req}\"` to the record: every block needs `id`, `section`, `title` and `published`"
                        )),
                    );
                    bad = true;
                }
            }
        }
        match record_values(schema, &obj) {
            Ok(values) => {
                let id_span = value_span(line, span, &["id"]).unwrap_or(span);
                if let Some((first, first_span)) = seen.get(&id) {
                    diags.push(
                        Diagnostic::error(
                            "tailor::duplicate_record",
                            format!("{name}:{line_no}: {} `{id}` appears twice", kind.name()),
                        )
                        .at(id_span, "second record with this id")
                        .also(*first_span, "first record")
                        .help(format!(
                            "the first is on line {first}; ids must be unique: remove one record or give it another id"
                        )),
                    );
                    continue;
                }
                seen.insert(id, (line_no, id_span));
                if !bad {
                    out.push((values, obj));
                }
            }
            Err(errors) => {
                for (field, expected, found) in errors {
                    diags.push(field_error(
                        name,
                        line_no,
                        span,
                        line,
                        kind,
                        Some(&id),
                        &field,
                        expected,
                        &found,
                    ));
                }
            }
        }
    }
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(out)
    }
}

#[allow(clippy::too_many_arguments)]
fn field_error(
    name: &str,
    line_no: usize,
    line_span: Span,
    line: &str,
    kind: RecordKind,
    id: Option<&str>,
    field: &str,
    expected: Type,
    found: &str,
) -> Diagnostic {
    // Underline the field's value when it can be found on the line.
    let path: Vec<&str> = field.split('.').collect();
    let span = value_span(line, line_span, &path).unwrap_or(line_span);
    let who = match id {
        Some(id) => format!("{} `{id}`", kind.name()),
        None => kind.name().to_owned(),
    };
    let ty = expected.name();
    Diagnostic::error(
        "tailor::bad_field",
        format!("{name}:{line_no}: {who}: field `{field}` expected `{ty}`, found {found}"),
    )
    .at(span, format!("expected `{ty}`"))
    .help(format!("write {}", json_example(expected)))
}

/// Warnings about JSON-lines records that load but may not mean what their author meant:
/// fields the schema does not declare (kept, but no rule can read them: a misspelt
/// `"gernes"` is silently ignored), and, for blocks, sections the edition does not have
/// (such blocks are never picked). One warning per distinct field or section, at its
/// first record, counting the others; lines that are not JSON objects are left to the
/// loader's errors.
pub(crate) fn record_warnings(
    file: FileId,
    name: &str,
    text: &str,
    schema: &Schema,
    kind: RecordKind,
    sections: &[&str],
) -> Diagnostics {
    // Per undeclared field (or unknown section): first line, its span, and a count.
    let mut fields: Vec<(String, usize, Span, usize)> = Vec::new();
    let mut unknown_sections: Vec<(String, usize, Span, usize)> = Vec::new();
    let note = |list: &mut Vec<(String, usize, Span, usize)>, key: String, line_no, at| match list
        .iter_mut()
        .find(|(k, ..)| *k == key)
    {
        Some(entry) => entry.3 += 1,
        None => list.push((key, line_no, at, 1)),
    };
    for (line_no, line, span) in lines(file, text) {
        let Ok(serde_json::Value::Object(obj)) = serde_json::from_str::<serde_json::Value>(line)
        else {
            continue;
        };
        let mut stack: Vec<(Vec<&str>, &serde_json::Map<String, serde_json::Value>)> =
            vec![(Vec::new(), &obj)];
        while let Some((prefix, map)) = stack.pop() {
            for (key, value) in map {
                let mut path = prefix.clone();
                path.push(key.as_str());
                let dotted = path.join(".");
                if schema.slot(&dotted).is_some() {
                    continue;
                }
                let parent = format!("{dotted}.");
                if schema.names().any(|n| n.starts_with(&parent))
                    && let serde_json::Value::Object(inner) = value
                {
                    stack.push((path, inner));
                    continue;
                }
                let at = value_span(line, span, &path).unwrap_or(span);
                note(&mut fields, dotted, line_no, at);
            }
        }
        if kind == RecordKind::Block
            && let Some(serde_json::Value::String(s)) = obj.get("section")
            && !sections.contains(&s.as_str())
        {
            let at = value_span(line, span, &["section"]).unwrap_or(span);
            note(&mut unknown_sections, s.clone(), line_no, at);
        }
    }
    let others = |n: usize, what: &str| match n {
        1 => String::new(),
        2 => format!(" (and 1 other {what})"),
        _ => format!(" (and {} other {what}s)", n - 1),
    };
    let schema_name = match kind {
        RecordKind::Profile => "profile { … }",
        RecordKind::Block => "content { … }",
    };
    let mut diags = Diagnostics::new();
    for (field, line_no, at, n) in fields {
        let mut d = Diagnostic::warning(
            "tailor::undeclared_field",
            format!(
                "{name}:{line_no}: field `{field}` is not declared in `{schema_name}`{}",
                others(n, kind.name())
            ),
        )
        .at(at, "no rule can read this field");
        d = match suggest(&field, schema.names()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!(
                "declare it in `{schema_name}` to use it in rules, or leave it out of the data"
            )),
        };
        diags.push(d);
    }
    for (section, line_no, at, n) in unknown_sections {
        let mut d = Diagnostic::warning(
            "tailor::undeclared_section",
            format!(
                "{name}:{line_no}: section `{section}` is not in the edition{}",
                others(n, "block")
            ),
        )
        .at(at, "no pick can choose this block");
        d = match suggest(&section, sections.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!(
                "the edition's sections are {}; declare it in `sections {{ … }}` or move the block",
                sections
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        };
        diags.push(d);
    }
    diags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_catalog_keeps_the_last_block_of_an_id() {
        let src = "profile {\n city: string\n}\nedition e { sections { s 3 } }\n";
        let pkg =
            crate::Package::from_sources(vec![("t.rules".into(), src.into())]).expect("package");
        let mut sm = tailor_lang::SourceMap::new();
        let mut blocks = |name: &str, text: &str| -> Vec<Block> {
            let c = pkg.parse_catalog(&mut sm, name, text).expect("catalog");
            c.blocks().iter().map(|b| (**b).clone()).collect()
        };
        let line = |id: &str, title: &str| {
            format!(
                "{{\"id\": \"{id}\", \"section\": \"s\", \"title\": \"{title}\", \"published\": \"2024-01-01T00:00:00Z\"}}\n"
            )
        };
        let mut all = blocks("a", &(line("b", "first b") + line("a", "a").as_str()));
        all.extend(blocks(
            "b",
            &(line("b", "second b") + line("c", "c").as_str()),
        ));
        all.extend(blocks("c", &line("b", "third b")));
        let catalog = Catalog::new(all);
        let ids: Vec<&str> = catalog.blocks().iter().map(|b| b.id()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
        assert_eq!(catalog.get("b").map(Block::title), Some("third b"));
        assert_eq!(catalog.section("s").count(), 3);

        // A catalog built from another's blocks shares them.
        let shared = Catalog::from_shared(catalog.blocks().iter().rev().cloned().collect());
        assert!(
            shared
                .blocks()
                .iter()
                .zip(catalog.blocks())
                .all(|(a, b)| Arc::ptr_eq(a, b))
        );
    }
}
