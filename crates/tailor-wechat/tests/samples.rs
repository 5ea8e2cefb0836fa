//! Real XML samples of every message and event type (from WeChat's documentation), each
//! parsed to the right variant, directly and through every callback mode.

// Test code: clippy.toml allows these inside #[test] functions only, not in helpers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use tailor_wechat::{
    Callback, Config, DedupKey, Event, Inbound, Kind, Message, Mode, Query, parse_inbound,
};

fn sample_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/samples")
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(sample_dir().join(name)).unwrap()
}

fn parse(name: &str) -> Inbound {
    parse_inbound(&sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn message(name: &str) -> Message {
    match parse(name).kind {
        Kind::Message(m) => m,
        Kind::Event(e) => panic!("{name}: expected a message, got {e:?}"),
    }
}

fn event(name: &str) -> Event {
    match parse(name).kind {
        Kind::Event(e) => e,
        Kind::Message(m) => panic!("{name}: expected an event, got {m:?}"),
    }
}

/// Every sample file and the check it must pass.
const SAMPLES: &[&str] = &[
    "text.xml",
    "image.xml",
    "voice.xml",
    "voice_recognition.xml",
    "video.xml",
    "shortvideo.xml",
    "location.xml",
    "link.xml",
    "event_subscribe.xml",
    "event_subscribe_qrscene.xml",
    "event_unsubscribe.xml",
    "event_scan.xml",
    "event_location.xml",
    "event_click.xml",
    "event_view.xml",
    "event_enter.xml",
    "event_enter_lowercase.xml",
    "event_user_enter_tempsession.xml",
    "unknown_message_miniprogrampage.xml",
    "unknown_event_scancode_push.xml",
];

#[test]
fn every_sample_file_is_listed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(sample_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = SAMPLES.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);
}

#[test]
fn text() {
    let inbound = parse("text.xml");
    assert_eq!(inbound.to_user_name, "toUser");
    assert_eq!(inbound.from_user_name, "fromUser");
    assert_eq!(inbound.create_time, 1_348_831_860);
    assert_eq!(inbound.msg_type, "text");
    assert_eq!(inbound.msg_id, Some(1_234_567_890_123_456));
    assert_eq!(
        inbound.kind,
        Kind::Message(Message::Text {
            content: "this is a test".to_owned()
        })
    );
    assert_eq!(
        inbound.dedup_key(),
        DedupKey::Message {
            from_user_name: "fromUser".to_owned(),
            msg_id: 1_234_567_890_123_456
        }
    );
}

#[test]
fn image() {
    assert_eq!(
        message("image.xml"),
        Message::Image {
            pic_url: "this is a url".to_owned(),
            media_id: "media_id".to_owned()
        }
    );
}

#[test]
fn voice_with_and_without_recognition() {
    assert_eq!(
        message("voice.xml"),
        Message::Voice {
            media_id: "media_id".to_owned(),
            format: "Format".to_owned(),
            recognition: None
        }
    );
    assert_eq!(
        message("voice_recognition.xml"),
        Message::Voice {
            media_id: "media_id".to_owned(),
            format: "Format".to_owned(),
            recognition: Some("腾讯微信团队".to_owned())
        }
    );
}

#[test]
fn video_and_shortvideo() {
    let expected = ("media_id".to_owned(), "thumb_media_id".to_owned());
    assert_eq!(
        message("video.xml"),
        Message::Video {
            media_id: expected.0.clone(),
            thumb_media_id: expected.1.clone()
        }
    );
    assert_eq!(
        message("shortvideo.xml"),
        Message::ShortVideo {
            media_id: expected.0,
            thumb_media_id: expected.1
        }
    );
}

#[test]
fn location() {
    assert_eq!(
        message("location.xml"),
        Message::Location {
            latitude: 23.134521,
            longitude: 113.358803,
            scale: 20,
            label: "位置信息".to_owned()
        }
    );
}

#[test]
fn link() {
    assert_eq!(
        message("link.xml"),
        Message::Link {
            title: "公众平台官网链接".to_owned(),
            description: "公众平台官网链接".to_owned(),
            url: "url".to_owned()
        }
    );
}

#[test]
fn subscribe_plain_and_by_qr_scene() {
    assert_eq!(
        event("event_subscribe.xml"),
        Event::Subscribe {
            scene: None,
            ticket: None
        }
    );
    assert_eq!(
        event("event_subscribe_qrscene.xml"),
        Event::Subscribe {
            scene: Some("123123".to_owned()),
            ticket: Some("TICKET".to_owned())
        }
    );
    assert_eq!(
        parse("event_subscribe_qrscene.xml").dedup_key(),
        DedupKey::Event {
            from_user_name: "FromUser".to_owned(),
            create_time: 123_456_789,
            event: "subscribe".to_owned(),
            event_key: "qrscene_123123".to_owned()
        }
    );
}

#[test]
fn unsubscribe() {
    assert_eq!(event("event_unsubscribe.xml"), Event::Unsubscribe);
}

#[test]
fn scan() {
    assert_eq!(
        event("event_scan.xml"),
        Event::Scan {
            scene: "SCENE_VALUE".to_owned(),
            ticket: Some("TICKET".to_owned())
        }
    );
}

#[test]
fn location_event() {
    assert_eq!(
        event("event_location.xml"),
        Event::Location {
            latitude: 23.137466,
            longitude: 113.352425,
            precision: 119.385040
        }
    );
}

#[test]
fn click_and_view() {
    assert_eq!(
        event("event_click.xml"),
        Event::Click {
            key: "EVENTKEY".to_owned()
        }
    );
    assert_eq!(
        event("event_view.xml"),
        Event::View {
            url: "www.qq.com".to_owned()
        }
    );
}

#[test]
fn enter_in_both_spellings() {
    assert_eq!(event("event_enter.xml"), Event::Enter);
    assert_eq!(event("event_enter_lowercase.xml"), Event::Enter);
    assert_eq!(parse("event_enter.xml").event_name(), Some("ENTER"));
    assert_eq!(
        parse("event_enter_lowercase.xml").event_name(),
        Some("enter")
    );
}

#[test]
fn user_enter_tempsession() {
    assert_eq!(
        event("event_user_enter_tempsession.xml"),
        Event::UserEnterTempSession {
            session_from: Some("sessionFrom".to_owned())
        }
    );
}

#[test]
fn unknown_message_keeps_type_and_fields() {
    let Message::Unknown { msg_type, fields } = message("unknown_message_miniprogrampage.xml")
    else {
        panic!("expected Message::Unknown");
    };
    assert_eq!(msg_type, "miniprogrampage");
    assert_eq!(fields.get("PagePath"), Some("path"));
    assert_eq!(fields.get("ThumbUrl"), Some(""));
}

#[test]
fn unknown_event_keeps_name_and_nested_fields() {
    let Event::Unknown {
        event: name,
        fields,
    } = event("unknown_event_scancode_push.xml")
    else {
        panic!("expected Event::Unknown");
    };
    assert_eq!(name, "scancode_push");
    assert_eq!(fields.get("EventKey"), Some("6"));
    assert_eq!(fields.get("ScanCodeInfo/ScanType"), Some("qrcode"));
    assert_eq!(fields.get("ScanCodeInfo/ScanResult"), Some("1"));
}

#[test]
fn every_sample_opens_in_every_mode() {
    let now = 1_700_000_000;
    for mode in [Mode::Plain, Mode::Compatible, Mode::Safe] {
        let config = Config::new("token", "wxappid")
            .with_encoding_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG")
            .unwrap()
            .with_mode(mode);
        let callback = Callback::new(config).unwrap();
        for name in SAMPLES {
            let xml = sample(name);
            let push = callback.simulate_push(&xml, now, "12345").unwrap();
            let query = Query::parse(&push.query.to_query_string()).unwrap();
            let opened = callback
                .open(&query, push.body.as_bytes(), now)
                .unwrap_or_else(|e| panic!("{name} in {mode:?}: {e}"));
            assert_eq!(opened, parse(name), "{name} in {mode:?}");
        }
    }
}
