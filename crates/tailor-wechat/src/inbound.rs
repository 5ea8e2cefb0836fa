//! Inbound messages and events: the typed view of what WeChat pushes to the callback URL.

use std::str::FromStr;

use crate::Error;
use crate::xml::{Element, Fields, parse_document};

/// A message or event pushed by WeChat, after any decryption.
///
/// Header fields are required; type-specific text fields read as `""` when absent,
/// numeric ones are required and must parse. Every leaf element is also kept, as
/// received, in [`fields`](Self::fields).
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// `ToUserName`: the official account's original id (`gh_…`).
    pub to_user_name: String,
    /// `FromUserName`: the user's OpenID.
    pub from_user_name: String,
    /// `CreateTime`: seconds since the Unix epoch, as sent.
    pub create_time: u64,
    /// `MsgType` exactly as sent.
    pub msg_type: String,
    /// `MsgId`, present on messages (not on events).
    pub msg_id: Option<u64>,
    /// The typed message or event.
    pub kind: Kind,
    /// Every leaf element, in document order (see [`Fields`]).
    pub fields: Fields,
}

/// Whether an inbound is a user message or an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A message the user sent.
    Message(Message),
    /// An event (`MsgType` = `event`).
    Event(Event),
}

/// A user message, by `MsgType` (matched case-insensitively).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// `text`.
    Text {
        /// `Content`.
        content: String,
    },
    /// `image`.
    Image {
        /// `PicUrl`.
        pic_url: String,
        /// `MediaId`.
        media_id: String,
    },
    /// `voice`, with speech recognition when the account enabled it.
    Voice {
        /// `MediaId`.
        media_id: String,
        /// `Format` (amr, speex, …).
        format: String,
        /// `Recognition`, when present and not empty.
        recognition: Option<String>,
    },
    /// `video`.
    Video {
        /// `MediaId`.
        media_id: String,
        /// `ThumbMediaId`.
        thumb_media_id: String,
    },
    /// `shortvideo`.
    ShortVideo {
        /// `MediaId`.
        media_id: String,
        /// `ThumbMediaId`.
        thumb_media_id: String,
    },
    /// `location`: a place the user picked.
    Location {
        /// `Location_X`.
        latitude: f64,
        /// `Location_Y`.
        longitude: f64,
        /// `Scale` (map zoom).
        scale: u32,
        /// `Label`.
        label: String,
    },
    /// `link`.
    Link {
        /// `Title`.
        title: String,
        /// `Description`.
        description: String,
        /// `Url`.
        url: String,
    },
    /// Any other `MsgType`; never an error.
    Unknown {
        /// `MsgType` as sent.
        msg_type: String,
        /// Every field as received.
        fields: Fields,
    },
}

/// An event, by `Event` (matched case-insensitively).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `subscribe`; scanning a parametric QR code sends `EventKey` = `qrscene_<scene>`.
    Subscribe {
        /// The scene after `qrscene_`, when the user subscribed by scanning a QR code.
        scene: Option<String>,
        /// `Ticket` of that QR code.
        ticket: Option<String>,
    },
    /// `unsubscribe`.
    Unsubscribe,
    /// `SCAN`: an already-subscribed user scanned a parametric QR code.
    Scan {
        /// `EventKey`: the scene value.
        scene: String,
        /// `Ticket`.
        ticket: Option<String>,
    },
    /// `LOCATION`: periodic location report.
    Location {
        /// `Latitude`.
        latitude: f64,
        /// `Longitude`.
        longitude: f64,
        /// `Precision`.
        precision: f64,
    },
    /// `CLICK`: a menu button.
    Click {
        /// `EventKey`.
        key: String,
    },
    /// `VIEW`: a menu link.
    View {
        /// `EventKey`: the URL.
        url: String,
    },
    /// `ENTER` / `enter`: the user opened the conversation (WeChat 4.5, historical).
    Enter,
    /// `user_enter_tempsession`: the user entered a customer-service session.
    UserEnterTempSession {
        /// `SessionFrom`, when present.
        session_from: Option<String>,
    },
    /// Any other event; never an error.
    Unknown {
        /// `Event` as sent.
        event: String,
        /// Every field as received.
        fields: Fields,
    },
}

impl Inbound {
    /// Whether this is an event.
    #[must_use]
    pub fn is_event(&self) -> bool {
        matches!(self.kind, Kind::Event(_))
    }

    /// The `Event` field as sent, for events.
    #[must_use]
    pub fn event_name(&self) -> Option<&str> {
        if self.is_event() {
            self.fields.get("Event")
        } else {
            None
        }
    }

    /// The `EventKey` field as sent, if any.
    #[must_use]
    pub fn event_key(&self) -> Option<&str> {
        self.fields.get("EventKey")
    }
}

/// Parses a plaintext WeChat message or event.
///
/// # Errors
///
/// The XML errors of this crate ([`Error::Doctype`], [`Error::Entity`],
/// [`Error::MalformedXml`]), [`Error::MissingField`] for a missing header field,
/// [`Error::InvalidField`] for a number that does not parse.
pub fn parse_inbound(xml: &str) -> Result<Inbound, Error> {
    let root = parse_document(xml)?;
    from_root(&root)
}

/// [`parse_inbound`] for raw bytes, which must be UTF-8.
///
/// # Errors
///
/// [`Error::InvalidUtf8`], then as [`parse_inbound`].
pub fn parse_inbound_bytes(xml: &[u8]) -> Result<Inbound, Error> {
    let xml = std::str::from_utf8(xml).map_err(|_| Error::InvalidUtf8)?;
    parse_inbound(xml)
}

pub(crate) fn from_root(root: &Element) -> Result<Inbound, Error> {
    let to_user_name = required(root, "ToUserName")?;
    let from_user_name = required(root, "FromUserName")?;
    let create_time = number(root, "CreateTime")?;
    let msg_type = required(root, "MsgType")?;
    let fields = Fields::from_root(root);
    let kind = if msg_type.trim().eq_ignore_ascii_case("event") {
        Kind::Event(parse_event(root, &fields)?)
    } else {
        Kind::Message(parse_message(root, &msg_type, &fields)?)
    };
    // A known message type needs a numeric MsgId when it has one; anything else keeps
    // an odd MsgId in `fields` only, so that unknown types never fail.
    let strict_msg_id = matches!(&kind, Kind::Message(m) if !matches!(m, Message::Unknown { .. }));
    let msg_id = match root
        .child_text("MsgId")
        .map(|raw| parse_number(raw, "MsgId"))
    {
        Some(Ok(id)) => Some(id),
        Some(Err(err)) if strict_msg_id => return Err(err),
        Some(Err(_)) | None => None,
    };
    Ok(Inbound {
        to_user_name,
        from_user_name,
        create_time,
        msg_type,
        msg_id,
        kind,
        fields,
    })
}

fn parse_message(root: &Element, msg_type: &str, fields: &Fields) -> Result<Message, Error> {
    let kind = msg_type.trim().to_ascii_lowercase();
    Ok(match kind.as_str() {
        "text" => Message::Text {
            content: text(root, "Content"),
        },
        "image" => Message::Image {
            pic_url: text(root, "PicUrl"),
            media_id: text(root, "MediaId"),
        },
        "voice" => Message::Voice {
            media_id: text(root, "MediaId"),
            format: text(root, "Format"),
            recognition: optional(root, "Recognition"),
        },
        "video" => Message::Video {
            media_id: text(root, "MediaId"),
            thumb_media_id: text(root, "ThumbMediaId"),
        },
        "shortvideo" => Message::ShortVideo {
            media_id: text(root, "MediaId"),
            thumb_media_id: text(root, "ThumbMediaId"),
        },
        "location" => Message::Location {
            latitude: float(root, "Location_X")?,
            longitude: float(root, "Location_Y")?,
            scale: number(root, "Scale")?,
            label: text(root, "Label"),
        },
        "link" => Message::Link {
            title: text(root, "Title"),
            description: text(root, "Description"),
            url: text(root, "Url"),
        },
        _ => Message::Unknown {
            msg_type: msg_type.to_owned(),
            fields: fields.clone(),
        },
    })
}

fn parse_event(root: &Element, fields: &Fields) -> Result<Event, Error> {
    let event = required(root, "Event")?;
    let name = event.trim().to_ascii_lowercase();
    Ok(match name.as_str() {
        "subscribe" => Event::Subscribe {
            scene: root
                .child_text("EventKey")
                .and_then(|key| key.strip_prefix("qrscene_"))
                .map(str::to_owned),
            ticket: optional(root, "Ticket"),
        },
        "unsubscribe" => Event::Unsubscribe,
        "scan" => Event::Scan {
            scene: text(root, "EventKey"),
            ticket: optional(root, "Ticket"),
        },
        "location" => Event::Location {
            latitude: float(root, "Latitude")?,
            longitude: float(root, "Longitude")?,
            precision: float(root, "Precision")?,
        },
        "click" => Event::Click {
            key: text(root, "EventKey"),
        },
        "view" => Event::View {
            url: text(root, "EventKey"),
        },
        "enter" => Event::Enter,
        "user_enter_tempsession" => Event::UserEnterTempSession {
            session_from: optional(root, "SessionFrom"),
        },
        _ => Event::Unknown {
            event,
            fields: fields.clone(),
        },
    })
}

fn required(root: &Element, name: &'static str) -> Result<String, Error> {
    match root.child_text(name) {
        Some(value) if !value.trim().is_empty() => Ok(value.to_owned()),
        _ => Err(Error::MissingField(name)),
    }
}

fn text(root: &Element, name: &str) -> String {
    root.child_text(name).unwrap_or_default().to_owned()
}

fn optional(root: &Element, name: &str) -> Option<String> {
    root.child_text(name)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}

fn number<T: FromStr>(root: &Element, name: &'static str) -> Result<T, Error> {
    let raw = root.child_text(name).ok_or(Error::MissingField(name))?;
    parse_number(raw, name)
}

fn parse_number<T: FromStr>(raw: &str, name: &'static str) -> Result<T, Error> {
    raw.trim().parse().map_err(|_| Error::InvalidField(name))
}

fn float(root: &Element, name: &'static str) -> Result<f64, Error> {
    let value: f64 = number(root, name)?;
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::InvalidField(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "<ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o1]]></FromUserName><CreateTime>1</CreateTime>";

    fn doc(rest: &str) -> String {
        format!("<xml>{HEAD}{rest}</xml>")
    }

    #[test]
    fn event_names_are_case_insensitive() {
        for name in ["ENTER", "enter", "Enter"] {
            let inbound = parse_inbound(&doc(&format!(
                "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{name}]]></Event>"
            )))
            .unwrap();
            assert_eq!(inbound.kind, Kind::Event(Event::Enter));
            assert_eq!(inbound.event_name(), Some(name));
        }
    }

    #[test]
    fn unknown_types_are_kept() {
        let inbound = parse_inbound(&doc(
            "<MsgType><![CDATA[miniprogrampage]]></MsgType><Title>t</Title><MsgId>9</MsgId>",
        ))
        .unwrap();
        let Kind::Message(Message::Unknown { msg_type, fields }) = inbound.kind else {
            panic!("expected unknown message");
        };
        assert_eq!(msg_type, "miniprogrampage");
        assert_eq!(fields.get("Title"), Some("t"));
        assert_eq!(inbound.msg_id, Some(9));
    }

    #[test]
    fn header_is_required() {
        assert_eq!(
            parse_inbound("<xml><MsgType>text</MsgType></xml>"),
            Err(Error::MissingField("ToUserName"))
        );
        assert_eq!(
            parse_inbound(&doc("<MsgType>event</MsgType>")),
            Err(Error::MissingField("Event"))
        );
        assert_eq!(
            parse_inbound(&doc("<MsgType>text</MsgType><MsgId>x</MsgId>")),
            Err(Error::InvalidField("MsgId"))
        );
        let odd = parse_inbound(&doc("<MsgType>future</MsgType><MsgId>x-1</MsgId>")).unwrap();
        assert_eq!(odd.msg_id, None);
        assert_eq!(odd.fields.get("MsgId"), Some("x-1"));
        assert_eq!(
            parse_inbound(&doc(
                "<MsgType>location</MsgType><Location_X>NaN</Location_X>"
            )),
            Err(Error::InvalidField("Location_X"))
        );
    }
}
