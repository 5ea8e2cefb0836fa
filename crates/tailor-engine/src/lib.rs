//! The Tailor engine: checking and compiling packages of rules, and evaluating events.
//!
//! The engine is pure: loading a package reads its files, but evaluation does no I/O and
//! reads no clock (the time is the event's) and keeps no global state. A [`Package`] is
//! immutable and `Send + Sync`; share it through `Arc` (cloning is cheap).
//!
//! ```
//! use tailor_engine::{Event, EventKind, History, Package};
//! use tailor_lang::SourceMap;
//!
//! let rules = r#"
//!     profile { city: string }
//!     content { city: string }
//!     edition evening {
//!       timezone "Asia/Shanghai"
//!       sections { weather 1 }
//!     }
//!     rule home_weather {
//!       pick 1 from weather where block.city == profile.city
//!     }
//! "#;
//! let package = Package::from_sources(vec![("main.rules".into(), rules.into())])
//!     .map_err(|e| e.render(false))?;
//!
//! let mut sources = SourceMap::new();
//! let profiles = package.parse_profiles(&mut sources, "profiles.jsonl",
//!     r#"{"id": "li-daye", "city": "杭州"}"#).map_err(|d| d.render(&sources, false))?;
//! let catalog = package.parse_catalog(&mut sources, "catalog.jsonl", concat!(
//!     r#"{"id": "w-1", "section": "weather", "title": "杭州：小雨", "city": "杭州", "published": "2013-02-21T06:00:00+08:00"}"#, "\n",
//!     r#"{"id": "w-2", "section": "weather", "title": "宁波：晴", "city": "宁波", "published": "2013-02-21T06:00:00+08:00"}"#,
//! )).map_err(|d| d.render(&sources, false))?;
//!
//! let at = "2013-02-21T19:30:00+08:00".parse()?;
//! let outcome = package.evaluate(&Event::new(EventKind::Enter, at), &profiles[0], &catalog, &History::default());
//! assert_eq!(&*outcome.items[0].id, "w-1");
//! assert_eq!(outcome.to_json()["fired"], serde_json::json!(["home_weather"]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod assemble;
pub mod builtins;
pub mod check;
pub mod data;
pub mod eval;
pub mod explain;
pub mod fast;
pub mod ir;
mod learn;
pub mod lint;
pub mod outcome;
pub mod package;
pub mod preview;
pub mod rhai_host;
pub mod schema;
pub mod script;
pub mod stats;
pub mod value;

pub use data::{
    Block, Catalog, DeliveredItem, Delivery, Event, History, OpenRecord, Opened, OpenedItem,
    Profile,
};
pub use fast::{Index, IndexStats};
pub use learn::Learning;
pub use outcome::{DigestItem, Learned, Outcome, OutcomeKind, PickSource, ScriptError};
pub use package::{Package, Rejected, Summary};
pub use tailor_lang::ast::EventKind;
pub use value::Value;
