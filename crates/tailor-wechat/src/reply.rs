//! Passive replies (`success`, text, news): building them as WeChat XML and reading them back.

use crate::Error;
use crate::inbound::Inbound;
use crate::xml::{Element, parse_document, push_cdata_element, push_number_element};

/// The body WeChat accepts as "received, no reply".
pub const SUCCESS: &str = "success";

/// A passive reply to an inbound message or event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// The plain acknowledgement `success`: nothing is shown to the user. It is never
    /// encrypted, in any mode.
    Success,
    /// A text message.
    Text {
        /// The text shown to the user.
        content: String,
    },
    /// A news (图文) message; the first article is shown large.
    News {
        /// The articles, between 1 and the configured limit.
        articles: Vec<Article>,
    },
}

/// One article of a news reply.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Article {
    /// `Title`.
    pub title: String,
    /// `Description`.
    pub description: String,
    /// `PicUrl`: image URL (large 360×200, small 200×200).
    pub pic_url: String,
    /// `Url`: where a tap leads.
    pub url: String,
}

impl Article {
    /// An article with a title and a link; description and picture empty.
    #[must_use]
    pub fn new(title: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            url: url.into(),
            ..Self::default()
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the picture URL.
    #[must_use]
    pub fn with_pic_url(mut self, pic_url: impl Into<String>) -> Self {
        self.pic_url = pic_url.into();
        self
    }
}

/// The envelope fields of a rendered reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyHeader {
    /// `ToUserName`: the user's OpenID.
    pub to_user_name: String,
    /// `FromUserName`: the official account.
    pub from_user_name: String,
    /// `CreateTime`.
    pub create_time: u64,
}

/// A reply read back by [`parse_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReply {
    /// `None` for the bare `success` acknowledgement.
    pub header: Option<ReplyHeader>,
    /// The reply.
    pub reply: Reply,
}

impl Reply {
    /// A text reply.
    #[must_use]
    pub fn text(content: impl Into<String>) -> Self {
        Reply::Text {
            content: content.into(),
        }
    }

    /// A news reply.
    #[must_use]
    pub fn news(articles: impl IntoIterator<Item = Article>) -> Self {
        Reply::News {
            articles: articles.into_iter().collect(),
        }
    }

    /// Checks the reply against an article limit.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyNews`] or [`Error::TooManyArticles`].
    pub fn validate(&self, article_limit: usize) -> Result<(), Error> {
        if let Reply::News { articles } = self {
            if articles.is_empty() {
                return Err(Error::EmptyNews);
            }
            if articles.len() > article_limit {
                return Err(Error::TooManyArticles {
                    count: articles.len(),
                    limit: article_limit,
                });
            }
        }
        Ok(())
    }

    /// Renders the plaintext reply to `inbound`: `ToUserName` and `FromUserName` are
    /// swapped, `CreateTime` is `create_time`.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn render_for(
        &self,
        inbound: &Inbound,
        create_time: u64,
        article_limit: usize,
    ) -> Result<String, Error> {
        let header = ReplyHeader {
            to_user_name: inbound.from_user_name.clone(),
            from_user_name: inbound.to_user_name.clone(),
            create_time,
        };
        self.render(&header, article_limit)
    }

    /// Renders the plaintext reply with an explicit header. Every string goes into
    /// CDATA, with `]]>` split safely and characters XML forbids removed.
    ///
    /// # Errors
    ///
    /// As [`validate`](Self::validate).
    pub fn render(&self, header: &ReplyHeader, article_limit: usize) -> Result<String, Error> {
        self.validate(article_limit)?;
        let mut out = String::with_capacity(256);
        match self {
            Reply::Success => return Ok(SUCCESS.to_owned()),
            Reply::Text { content } => {
                open(&mut out, header, "text");
                push_cdata_element(&mut out, "Content", content);
            }
            Reply::News { articles } => {
                open(&mut out, header, "news");
                push_number_element(&mut out, "ArticleCount", articles.len() as u64);
                out.push_str("<Articles>");
                for article in articles {
                    out.push_str("<item>");
                    push_cdata_element(&mut out, "Title", &article.title);
                    push_cdata_element(&mut out, "Description", &article.description);
                    push_cdata_element(&mut out, "PicUrl", &article.pic_url);
                    push_cdata_element(&mut out, "Url", &article.url);
                    out.push_str("</item>");
                }
                out.push_str("</Articles>");
            }
        }
        out.push_str("</xml>");
        Ok(out)
    }
}

fn open(out: &mut String, header: &ReplyHeader, msg_type: &str) {
    out.push_str("<xml>");
    push_cdata_element(out, "ToUserName", &header.to_user_name);
    push_cdata_element(out, "FromUserName", &header.from_user_name);
    push_number_element(out, "CreateTime", header.create_time);
    push_cdata_element(out, "MsgType", msg_type);
}

/// Reads a plaintext reply body back: `success` (or an empty body), text or news.
///
/// # Errors
///
/// XML errors, [`Error::MissingField`] / [`Error::InvalidField`] for missing or
/// inconsistent fields (including an `ArticleCount` that differs from the items), and
/// [`Error::MalformedXml`] for an unsupported `MsgType`.
pub fn parse_reply(body: &str) -> Result<ParsedReply, Error> {
    let trimmed = body.trim();
    if trimmed.is_empty() || trimmed == SUCCESS {
        return Ok(ParsedReply {
            header: None,
            reply: Reply::Success,
        });
    }
    let root = parse_document(body)?;
    let field = |name: &'static str| {
        root.child_text(name)
            .map(str::to_owned)
            .ok_or(Error::MissingField(name))
    };
    let header = ReplyHeader {
        to_user_name: field("ToUserName")?,
        from_user_name: field("FromUserName")?,
        create_time: field("CreateTime")?
            .trim()
            .parse()
            .map_err(|_| Error::InvalidField("CreateTime"))?,
    };
    let reply = match field("MsgType")?.as_str() {
        "text" => Reply::Text {
            content: field("Content")?,
        },
        "news" => parse_news(&root)?,
        other => {
            return Err(Error::MalformedXml(format!(
                "unsupported reply type `{}`",
                other.chars().take(32).collect::<String>()
            )));
        }
    };
    Ok(ParsedReply {
        header: Some(header),
        reply,
    })
}

fn parse_news(root: &Element) -> Result<Reply, Error> {
    let count: usize = root
        .child_text("ArticleCount")
        .ok_or(Error::MissingField("ArticleCount"))?
        .trim()
        .parse()
        .map_err(|_| Error::InvalidField("ArticleCount"))?;
    let items = root
        .child("Articles")
        .ok_or(Error::MissingField("Articles"))?;
    let articles: Vec<Article> = items
        .children
        .iter()
        .filter(|item| item.name == "item")
        .map(|item| Article {
            title: item.child_text("Title").unwrap_or_default().to_owned(),
            description: item
                .child_text("Description")
                .unwrap_or_default()
                .to_owned(),
            pic_url: item.child_text("PicUrl").unwrap_or_default().to_owned(),
            url: item.child_text("Url").unwrap_or_default().to_owned(),
        })
        .collect();
    if articles.len() != count {
        return Err(Error::InvalidField("ArticleCount"));
    }
    Ok(Reply::News { articles })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ReplyHeader {
        ReplyHeader {
            to_user_name: "o_user".to_owned(),
            from_user_name: "gh_account".to_owned(),
            create_time: 12345678,
        }
    }

    #[test]
    fn text_is_cdata_and_reads_back() {
        let xml = Reply::text("a]]>b").render(&header(), 8).unwrap();
        assert_eq!(
            xml,
            "<xml><ToUserName><![CDATA[o_user]]></ToUserName><FromUserName><![CDATA[gh_account]]></FromUserName><CreateTime>12345678</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[a]]]]><![CDATA[>b]]></Content></xml>"
        );
        let parsed = parse_reply(&xml).unwrap();
        assert_eq!(parsed.reply, Reply::text("a]]>b"));
        assert_eq!(parsed.header, Some(header()));
    }

    #[test]
    fn news_limits() {
        let article = Article::new("t", "https://example.com/a")
            .with_description("d")
            .with_pic_url("https://example.com/p.png");
        let news = Reply::news(vec![article.clone(); 8]);
        let xml = news.render(&header(), 8).unwrap();
        assert!(xml.contains("<ArticleCount>8</ArticleCount><Articles><item><Title><![CDATA[t]]></Title><Description><![CDATA[d]]></Description><PicUrl><![CDATA[https://example.com/p.png]]></PicUrl><Url><![CDATA[https://example.com/a]]></Url></item>"));
        assert_eq!(parse_reply(&xml).unwrap().reply, news);
        assert_eq!(
            Reply::news(vec![article.clone(); 9]).render(&header(), 8),
            Err(Error::TooManyArticles { count: 9, limit: 8 })
        );
        assert!(Reply::news(vec![article; 10]).render(&header(), 10).is_ok());
        assert_eq!(
            Reply::news(vec![]).render(&header(), 8),
            Err(Error::EmptyNews)
        );
    }

    #[test]
    fn success_is_bare() {
        assert_eq!(Reply::Success.render(&header(), 8).unwrap(), "success");
        assert_eq!(parse_reply("success").unwrap().reply, Reply::Success);
        assert_eq!(parse_reply("").unwrap().header, None);
    }
}
