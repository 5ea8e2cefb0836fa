//! Deduplication keys: WeChat redelivers a push up to three times when it gets no
//! answer within 5 s, and every copy must be recognised as the same delivery.

use std::fmt;

use crate::inbound::{Inbound, Kind};

/// Identifies one delivery across WeChat's retries.
///
/// * messages: `FromUserName` + `MsgId` (a `MsgId` is meant to be unique, but a
///   collision or a buggy upstream must never hand one reader's reply to another);
/// * events (and the rare message without `MsgId`): `FromUserName` + `CreateTime` +
///   `Event` (or `MsgType`) + `EventKey`.
///
/// A host keeps, for a few minutes (a retry comes 5 s after the previous copy, at most
/// three times), a map from key to the first reply. On a repeated key it answers
/// with the stored reply and does not record the delivery again. See the crate
/// documentation for the full rules.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DedupKey {
    /// A message, keyed by its sender and `MsgId`.
    Message {
        /// `FromUserName`.
        from_user_name: String,
        /// `MsgId`.
        msg_id: u64,
    },
    /// An event, keyed by who sent it when, and what.
    Event {
        /// `FromUserName`.
        from_user_name: String,
        /// `CreateTime`.
        create_time: u64,
        /// `Event` as sent (or `MsgType` for a message without `MsgId`).
        event: String,
        /// `EventKey`, empty when absent.
        event_key: String,
    },
}

impl Inbound {
    /// The key identifying this delivery across WeChat's retries.
    #[must_use]
    pub fn dedup_key(&self) -> DedupKey {
        match (&self.kind, self.msg_id) {
            (Kind::Message(_), Some(msg_id)) => DedupKey::Message {
                from_user_name: self.from_user_name.clone(),
                msg_id,
            },
            (Kind::Message(_), None) => DedupKey::Event {
                from_user_name: self.from_user_name.clone(),
                create_time: self.create_time,
                event: self.msg_type.clone(),
                event_key: self.event_key().unwrap_or_default().to_owned(),
            },
            (Kind::Event(_), _) => DedupKey::Event {
                from_user_name: self.from_user_name.clone(),
                create_time: self.create_time,
                event: self.event_name().unwrap_or_default().to_owned(),
                event_key: self.event_key().unwrap_or_default().to_owned(),
            },
        }
    }
}

/// Writes `part` with `|` and `\` escaped, so that joined parts cannot collide.
fn write_escaped(f: &mut fmt::Formatter<'_>, part: &str) -> fmt::Result {
    for c in part.chars() {
        if c == '|' || c == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{c}")?;
    }
    Ok(())
}

/// A single-string form, e.g. for a cache key: `msg|<FromUserName>|<MsgId>` or
/// `event|<FromUserName>|<CreateTime>|<Event>|<EventKey>` with `|` and `\` escaped.
impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DedupKey::Message {
                from_user_name,
                msg_id,
            } => {
                f.write_str("msg|")?;
                write_escaped(f, from_user_name)?;
                write!(f, "|{msg_id}")
            }
            DedupKey::Event {
                from_user_name,
                create_time,
                event,
                event_key,
            } => {
                f.write_str("event|")?;
                write_escaped(f, from_user_name)?;
                write!(f, "|{create_time}|")?;
                write_escaped(f, event)?;
                f.write_str("|")?;
                write_escaped(f, event_key)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse_inbound;

    use super::*;

    #[test]
    fn keys() {
        let msg = parse_inbound("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>5</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>42</MsgId></xml>").unwrap();
        assert_eq!(
            msg.dedup_key(),
            DedupKey::Message {
                from_user_name: "b".into(),
                msg_id: 42
            }
        );
        assert_eq!(msg.dedup_key().to_string(), "msg|b|42");
        // The same MsgId from another sender is another delivery.
        let other = parse_inbound("<xml><ToUserName>a</ToUserName><FromUserName>c</FromUserName><CreateTime>5</CreateTime><MsgType>text</MsgType><Content>x</Content><MsgId>42</MsgId></xml>").unwrap();
        assert_ne!(other.dedup_key(), msg.dedup_key());
        assert_eq!(other.dedup_key().to_string(), "msg|c|42");
        let event = parse_inbound("<xml><ToUserName>a</ToUserName><FromUserName>b|c</FromUserName><CreateTime>5</CreateTime><MsgType>event</MsgType><Event>CLICK</Event><EventKey>K</EventKey></xml>").unwrap();
        assert_eq!(event.dedup_key().to_string(), "event|b\\|c|5|CLICK|K");
        let bare = parse_inbound("<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><CreateTime>5</CreateTime><MsgType>event</MsgType><Event>unsubscribe</Event></xml>").unwrap();
        assert_eq!(bare.dedup_key().to_string(), "event|b|5|unsubscribe|");
    }
}
