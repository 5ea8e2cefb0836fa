//! Round trips (encrypt → decrypt, message → push → open, reply → seal → parse) for
//! generated inputs, and tamper tests: any one-byte change to the ciphertext, a
//! signature, the timestamp, the nonce or the app id is rejected.

// Test code: clippy.toml allows these inside #[test] functions only, not in helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "common/helpers.rs"]
mod common;

use base64::Engine as _;
use common::*;
use proptest::prelude::*;
use tailor_wechat::{
    Article, Callback, Config, EncodingAesKey, Error, Event, Inbound, Kind, Message, MessageCipher,
    Mode, Query, Reply, parse_inbound, xml_safe_text,
};

fn any_mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Plain), Just(Mode::Compatible), Just(Mode::Safe)]
}

/// Non-blank text that survives XML (header fields must not be blank).
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_-]{1,28}"
}

fn text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| xml_safe_text(&s))
}

fn finite() -> impl Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL
}

fn push_cdata(out: &mut String, tag: &str, value: &str) {
    out.push_str(&format!(
        "<{tag}><![CDATA[{}]]></{tag}>",
        value.replace("]]>", "]]]]><![CDATA[>")
    ));
}

/// A generated message or event and the XML WeChat would send for it.
#[derive(Debug, Clone)]
struct Generated {
    xml: String,
    kind: Kind,
}

fn message_kind() -> impl Strategy<Value = (String, Vec<(&'static str, String)>, Kind)> {
    prop_oneof![
        text().prop_map(|c| (
            "text".to_owned(),
            vec![("Content", c.clone())],
            Kind::Message(Message::Text { content: c })
        )),
        (text(), text()).prop_map(|(p, m)| (
            "image".to_owned(),
            vec![("PicUrl", p.clone()), ("MediaId", m.clone())],
            Kind::Message(Message::Image {
                pic_url: p,
                media_id: m
            })
        )),
        (text(), text(), prop::option::of("[^\u{0}-\u{1f}]{1,20}")).prop_map(|(m, f, r)| {
            let mut fields = vec![("MediaId", m.clone()), ("Format", f.clone())];
            if let Some(r) = &r {
                fields.push(("Recognition", r.clone()));
            }
            (
                "voice".to_owned(),
                fields,
                Kind::Message(Message::Voice {
                    media_id: m,
                    format: f,
                    recognition: r,
                }),
            )
        }),
        (text(), text(), any::<bool>()).prop_map(|(m, t, short)| {
            let fields = vec![("MediaId", m.clone()), ("ThumbMediaId", t.clone())];
            if short {
                (
                    "shortvideo".to_owned(),
                    fields,
                    Kind::Message(Message::ShortVideo {
                        media_id: m,
                        thumb_media_id: t,
                    }),
                )
            } else {
                (
                    "video".to_owned(),
                    fields,
                    Kind::Message(Message::Video {
                        media_id: m,
                        thumb_media_id: t,
                    }),
                )
            }
        }),
        (finite(), finite(), any::<u32>(), text()).prop_map(|(x, y, s, l)| (
            "location".to_owned(),
            vec![
                ("Location_X", x.to_string()),
                ("Location_Y", y.to_string()),
                ("Scale", s.to_string()),
                ("Label", l.clone())
            ],
            Kind::Message(Message::Location {
                latitude: x,
                longitude: y,
                scale: s,
                label: l
            })
        )),
        (text(), text(), text()).prop_map(|(t, d, u)| (
            "link".to_owned(),
            vec![
                ("Title", t.clone()),
                ("Description", d.clone()),
                ("Url", u.clone())
            ],
            Kind::Message(Message::Link {
                title: t,
                description: d,
                url: u
            })
        )),
    ]
}

fn event_kind() -> impl Strategy<Value = (String, Vec<(&'static str, String)>, Kind)> {
    prop_oneof![
        ("[a-zA-Z0-9]{1,12}", "[a-zA-Z0-9]{1,12}").prop_map(|(scene, ticket)| (
            "subscribe".to_owned(),
            vec![
                ("EventKey", format!("qrscene_{scene}")),
                ("Ticket", ticket.clone())
            ],
            Kind::Event(Event::Subscribe {
                scene: Some(scene),
                ticket: Some(ticket)
            })
        )),
        Just((
            "unsubscribe".to_owned(),
            vec![],
            Kind::Event(Event::Unsubscribe)
        )),
        text().prop_map(|k| (
            "CLICK".to_owned(),
            vec![("EventKey", k.clone())],
            Kind::Event(Event::Click { key: k })
        )),
        text().prop_map(|u| (
            "view".to_owned(),
            vec![("EventKey", u.clone())],
            Kind::Event(Event::View { url: u })
        )),
        (finite(), finite(), finite()).prop_map(|(a, b, c)| (
            "LOCATION".to_owned(),
            vec![
                ("Latitude", a.to_string()),
                ("Longitude", b.to_string()),
                ("Precision", c.to_string())
            ],
            Kind::Event(Event::Location {
                latitude: a,
                longitude: b,
                precision: c
            })
        )),
        prop_oneof![Just("ENTER"), Just("enter")].prop_map(|e| (
            e.to_owned(),
            vec![],
            Kind::Event(Event::Enter)
        )),
    ]
}

fn generated() -> impl Strategy<Value = Generated> {
    let message = (message_kind(), any::<u64>()).prop_map(|((t, f, k), id)| (t, f, k, Some(id)));
    let event = event_kind().prop_map(|(e, f, k)| (e, f, k, None));
    (name(), name(), any::<u32>(), prop_oneof![message, event]).prop_map(
        |(to, from, time, (ty, fields, kind, msg_id))| {
            let mut xml = String::from("<xml>");
            push_cdata(&mut xml, "ToUserName", &to);
            push_cdata(&mut xml, "FromUserName", &from);
            xml.push_str(&format!("<CreateTime>{time}</CreateTime>"));
            if let Some(id) = msg_id {
                push_cdata(&mut xml, "MsgType", &ty);
                for (tag, value) in &fields {
                    push_cdata(&mut xml, tag, value);
                }
                xml.push_str(&format!("<MsgId>{id}</MsgId>"));
            } else {
                push_cdata(&mut xml, "MsgType", "event");
                push_cdata(&mut xml, "Event", &ty);
                for (tag, value) in &fields {
                    push_cdata(&mut xml, tag, value);
                }
            }
            xml.push_str("</xml>");
            Generated { xml, kind }
        },
    )
}

fn article() -> impl Strategy<Value = Article> {
    (text(), text(), text(), text()).prop_map(|(title, description, pic_url, url)| Article {
        title,
        description,
        pic_url,
        url,
    })
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Success),
        any::<String>().prop_map(Reply::text),
        prop::collection::vec(article(), 1..=8).prop_map(Reply::news),
    ]
}

/// What a reply reads back as: XML-forbidden characters are dropped on the way out.
fn as_read_back(reply: &Reply) -> Reply {
    match reply {
        Reply::Success => Reply::Success,
        Reply::Text { content } => Reply::text(xml_safe_text(content)),
        Reply::News { articles } => Reply::news(articles.iter().map(|a| Article {
            title: xml_safe_text(&a.title),
            description: xml_safe_text(&a.description),
            pic_url: xml_safe_text(&a.pic_url),
            url: xml_safe_text(&a.url),
        })),
    }
}

proptest! {
    #[test]
    fn encrypt_then_decrypt(message in any::<String>(), app_id in any::<String>()) {
        let key = EncodingAesKey::parse(KEY).unwrap();
        let cipher = MessageCipher::new(&key, app_id);
        let encrypted = cipher.encrypt(&message).unwrap();
        prop_assert_eq!(
            base64::engine::general_purpose::STANDARD.decode(&encrypted).unwrap().len() % 32,
            0
        );
        prop_assert_eq!(cipher.decrypt(&encrypted).unwrap(), message);
    }

    #[test]
    fn generated_messages_open_in_every_mode(generated in generated(), mode in any_mode(), nonce in "[0-9]{1,10}") {
        let cb = callback(mode);
        let direct = parse_inbound(&generated.xml).unwrap();
        prop_assert_eq!(&direct.kind, &generated.kind);
        let push = cb.simulate_push(&generated.xml, NOW, &nonce).unwrap();
        let query = Query::parse(&push.query.to_query_string()).unwrap();
        let opened = cb.open(&query, push.body.as_bytes(), NOW).unwrap();
        prop_assert_eq!(opened, direct);
    }

    #[test]
    fn replies_seal_and_read_back(
        reply in reply(),
        mode in any_mode(),
        now in 0u64..=u64::from(u32::MAX),
        nonce in "[0-9a-zA-Z]{1,64}",
        user in name(),
        account in name(),
    ) {
        let cb = callback(mode);
        let inbound = parse_inbound(&format!(
            "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content>hi</Content><MsgId>1</MsgId></xml>",
            account, user
        )).unwrap();
        let sealed = cb.seal(&inbound, &reply, now, &nonce).unwrap();
        if matches!(reply, Reply::Success) {
            prop_assert_eq!(sealed.as_str(), "success");
        } else if mode.is_encrypted() {
            prop_assert!(sealed.contains("<MsgSignature>"));
            let timestamp_tag = format!("<TimeStamp>{now}</TimeStamp>");
            let nonce_tag = format!("<Nonce><![CDATA[{nonce}]]></Nonce>");
            prop_assert!(sealed.contains(&timestamp_tag));
            prop_assert!(sealed.contains(&nonce_tag));
        }
        let parsed = cb.open_reply(&sealed).unwrap();
        prop_assert_eq!(parsed.reply, as_read_back(&reply));
        if let Some(header) = parsed.header {
            prop_assert_eq!(header.to_user_name, user);
            prop_assert_eq!(header.from_user_name, account);
            prop_assert_eq!(header.create_time, now);
        }
    }

    #[test]
    fn one_byte_changes_are_rejected(
        message in text(),
        field in 0usize..5,
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let cb = callback(Mode::Safe);
        let xml = format!(
            "<xml><ToUserName>gh</ToUserName><FromUserName>o</FromUserName><CreateTime>1</CreateTime><MsgType>text</MsgType><Content><![CDATA[{}]]></Content><MsgId>7</MsgId></xml>",
            message.replace("]]>", "]]]]><![CDATA[>")
        );
        let push = cb.simulate_push(&xml, NOW, NONCE).unwrap();
        prop_assert!(cb.open(&push.query, push.body.as_bytes(), NOW).is_ok());
        let mut query = push.query.clone();
        let mut body = push.body.clone();
        let encrypt = body
            .split("<Encrypt><![CDATA[").nth(1).unwrap()
            .split("]]>").next().unwrap().to_owned();
        let target = match field {
            0 => encrypt.clone(),
            1 => query.msg_signature.clone().unwrap(),
            2 => query.signature.clone().unwrap(),
            3 => query.timestamp.clone().unwrap(),
            _ => query.nonce.clone().unwrap(),
        };
        let mut bytes = target.clone().into_bytes();
        let i = position.index(bytes.len());
        // Signatures are hex compared in either case (`verify`), so for them a change
        // of case is no change: skip to a byte that differs in any case.
        let same = |a: u8, b: u8| if matches!(field, 1 | 2) { a.eq_ignore_ascii_case(&b) } else { a == b };
        let mut new = replacement;
        while same(new, bytes[i]) {
            new = new.wrapping_add(1);
        }
        bytes[i] = new;
        let changed = String::from_utf8_lossy(&bytes).into_owned();
        match field {
            0 => body = body.replace(&encrypt, &changed),
            1 => query.msg_signature = Some(changed),
            2 => query.signature = Some(changed),
            3 => query.timestamp = Some(changed),
            _ => query.nonce = Some(changed),
        }
        prop_assert!(cb.open(&query, body.as_bytes(), NOW).is_err());
    }
}

/// Every position of every signed value, exhaustively, for one request.
#[test]
fn every_single_position_change_is_rejected() {
    let cb = callback(Mode::Safe);
    let push = cb.simulate_push(TEXT, NOW, NONCE).unwrap();
    assert!(cb.open(&push.query, push.body.as_bytes(), NOW).is_ok());
    let encrypt = push
        .body
        .split("<Encrypt><![CDATA[")
        .nth(1)
        .unwrap()
        .split("]]>")
        .next()
        .unwrap()
        .to_owned();

    let change = |s: &str, i: usize| -> String {
        let mut bytes = s.as_bytes().to_vec();
        bytes[i] = match bytes[i] {
            b'0' => b'1',
            b'a' => b'b',
            b'A' => b'B',
            b'=' => b'A',
            _ => b'0',
        };
        String::from_utf8(bytes).unwrap()
    };

    for i in 0..encrypt.len() {
        let body = push.body.replace(&encrypt, &change(&encrypt, i));
        assert_eq!(
            cb.open(&push.query, body.as_bytes(), NOW).unwrap_err(),
            Error::BadMsgSignature,
            "Encrypt position {i}"
        );
    }
    // Bytes of the decoded ciphertext, re-encoded, with the original msg_signature.
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&encrypt)
        .unwrap();
    for i in 0..raw.len() {
        let mut tampered = raw.clone();
        tampered[i] ^= 0x01;
        let reencoded = base64::engine::general_purpose::STANDARD.encode(&tampered);
        let body = push.body.replace(&encrypt, &reencoded);
        assert_eq!(
            cb.open(&push.query, body.as_bytes(), NOW).unwrap_err(),
            Error::BadMsgSignature,
            "ciphertext byte {i}"
        );
    }
    let sig = push.query.msg_signature.clone().unwrap();
    for i in 0..sig.len() {
        let mut query = push.query.clone();
        query.msg_signature = Some(change(&sig, i));
        assert_eq!(
            cb.open(&query, push.body.as_bytes(), NOW).unwrap_err(),
            Error::BadMsgSignature
        );
    }
    let plain_sig = push.query.signature.clone().unwrap();
    for i in 0..plain_sig.len() {
        let mut query = push.query.clone();
        query.signature = Some(change(&plain_sig, i));
        assert_eq!(
            cb.open(&query, push.body.as_bytes(), NOW).unwrap_err(),
            Error::BadSignature
        );
    }
    let ts = push.query.timestamp.clone().unwrap();
    for i in 0..ts.len() {
        let mut query = push.query.clone();
        query.timestamp = Some(change(&ts, i));
        assert_eq!(
            cb.open(&query, push.body.as_bytes(), NOW).unwrap_err(),
            Error::BadSignature
        );
    }
    for i in 0..NONCE.len() {
        let mut query = push.query.clone();
        query.nonce = Some(change(NONCE, i));
        assert_eq!(
            cb.open(&query, push.body.as_bytes(), NOW).unwrap_err(),
            Error::BadSignature
        );
    }
    // The receiving side configured with any one-byte-different app id refuses the payload.
    for i in 0..APP_ID.len() {
        let config = Config::new(TOKEN, change(APP_ID, i))
            .with_encoding_aes_key(KEY)
            .unwrap()
            .with_mode(Mode::Safe);
        let other = Callback::new(config).unwrap();
        assert_eq!(
            other
                .open(&push.query, push.body.as_bytes(), NOW)
                .unwrap_err(),
            Error::AppIdMismatch
        );
    }
}

#[test]
fn sealed_reply_signature_covers_every_field() {
    let cb = callback(Mode::Safe);
    let inbound: Inbound = parse_inbound(TEXT).unwrap();
    let sealed = cb.seal(&inbound, &Reply::text("ok"), NOW, NONCE).unwrap();
    assert!(cb.open_reply(&sealed).is_ok());
    let nonce_tag = format!("<Nonce><![CDATA[{NONCE}]]></Nonce>");
    let forged = sealed.replace(&nonce_tag, "<Nonce><![CDATA[1]]></Nonce>");
    assert_eq!(cb.open_reply(&forged).unwrap_err(), Error::BadMsgSignature);
    let forged = sealed.replace(
        &format!("<TimeStamp>{NOW}</TimeStamp>"),
        "<TimeStamp>1</TimeStamp>",
    );
    assert_eq!(cb.open_reply(&forged).unwrap_err(), Error::BadMsgSignature);
}
