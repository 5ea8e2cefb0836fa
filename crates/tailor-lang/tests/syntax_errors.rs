//! Broken `.rules` files and what the front end says about them: each test checks the
//! rendered message, the `file:line:col`, the underlined text and the help.

use tailor_lang::ast::{File, Item};
use tailor_lang::{Diagnostic, FileId, SourceMap, parse_file};

/// What one diagnostic must say.
struct Expect<'a> {
    code: &'a str,
    /// `file:line:col`, the column counted in characters.
    at: &'a str,
    /// The text the primary label underlines.
    underlined: &'a str,
    message: &'a str,
    help: Option<&'a str>,
}

/// The rendered text (no colour) as one line: miette wraps long messages and helps, and
/// draws boxes in the margin.
fn flat(rendered: &str) -> String {
    rendered
        .lines()
        .map(|l| l.trim().trim_start_matches(['│', '×', '·']).trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Parses `src` as `broken.rules` and checks its diagnostics, in order, against `expected`.
#[track_caller]
fn check(src: &str, expected: &[Expect<'_>]) -> File {
    let (file, diags) = parse_file(FileId(0), src);
    let mut sources = SourceMap::new();
    sources.add("broken.rules", src);
    let rendered = diags.render(&sources, false);
    let one_line = flat(&rendered);
    let summary: Vec<String> = diags
        .iter()
        .map(|d| format!("{} {:?}: {}", d.code, d.location(&sources), d.message))
        .collect();
    assert_eq!(diags.len(), expected.len(), "{summary:#?}\n{rendered}");
    for (d, e) in diags.iter().zip(expected) {
        let context = format!("{summary:#?}\n{rendered}");
        assert_eq!(d.code, e.code, "{context}");
        assert_eq!(d.message, e.message, "{context}");
        assert_eq!(d.location(&sources).as_deref(), Some(e.at), "{context}");
        assert_eq!(underlined(d, &sources), e.underlined, "{context}");
        assert_eq!(d.help.as_deref(), e.help, "{context}");
        // The rendered report says the same.
        assert!(
            one_line.contains(&format!("{} {}", e.code, e.message)),
            "{rendered}"
        );
        assert!(one_line.contains(&format!("─[{}]", e.at)), "{rendered}");
        if let Some(help) = e.help {
            assert!(one_line.contains(&format!("help: {help}")), "{rendered}");
        }
    }
    file
}

fn underlined<'s>(d: &Diagnostic, sources: &'s SourceMap) -> &'s str {
    d.primary.as_ref().map_or("", |l| sources.snippet(l.span))
}

fn names(file: &File) -> Vec<String> {
    file.items
        .iter()
        .map(|item| match item {
            Item::Profile(_) => "profile".to_owned(),
            Item::Content(_) => "content".to_owned(),
            Item::Edition(e) => format!("edition {}", e.name.name),
            Item::Segment(s) => format!("segment {}", s.name.name),
            Item::Script(s) => format!("script {}", s.name.name),
            Item::Rule(r) => format!("rule {}", r.name.name),
            Item::Learn(_) => "learn".to_owned(),
        })
        .collect()
}

#[test]
fn errors_in_three_items_are_all_reported() {
    let src = "\
profile {
  age int
}

segment ok = true

segment senior = profile.age >=

rule r {
  pick 3 form current
}

segment also_ok = senior # the items around the errors still parse
";
    let file = check(
        src,
        &[
            Expect {
                code: "tailor::syntax",
                at: "broken.rules:2:3",
                underlined: "age",
                message: "expected a field declaration (`name: type`), found `age`",
                help: Some("declare a field as `name: type`, as in `age: int`"),
            },
            Expect {
                code: "tailor::syntax",
                at: "broken.rules:9:1",
                underlined: "rule",
                message: "expected an expression, found `rule`",
                help: Some(
                    "the expression above is not finished: complete it before the next item starts",
                ),
            },
            Expect {
                code: "tailor::syntax",
                at: "broken.rules:10:10",
                underlined: "form",
                message: "expected `from`, found `form`",
                help: Some("did you mean `from`?"),
            },
        ],
    );
    assert_eq!(names(&file), ["segment ok", "segment also_ok"]);
}

#[test]
fn errors_of_lowering_and_of_syntax_together() {
    // A file that does not parse is lowered item by item: the unknown type in the first
    // item and the unknown event kind in the last are found as well as the syntax error.
    let src = "\
profile {
  city: strng
}

segment s = profile.city = \"杭州\"

learn on clik {
  set profile.city = \"宁波\"
}
";
    let file = check(
        src,
        &[
            Expect {
                code: "tailor::unknown_type",
                at: "broken.rules:2:9",
                underlined: "strng",
                message: "unknown type `strng`",
                help: Some("did you mean `string`?"),
            },
            Expect {
                code: "tailor::syntax",
                at: "broken.rules:5:26",
                underlined: "=",
                message: "expected end of file, an item (`profile`, `content`, `edition`, \
                          `segment`, `script`, `rule` or `learn`) or an operator, found `=`",
                help: Some("use `==` to compare"),
            },
            Expect {
                code: "tailor::unknown_event_kind",
                at: "broken.rules:7:10",
                underlined: "clik",
                message: "unknown event kind `clik`",
                help: Some("did you mean `click`?"),
            },
        ],
    );
    assert_eq!(names(&file), ["profile", "learn"]);
}

#[test]
fn clause_out_of_order_in_a_rule() {
    check(
        "\
rule late_when {
  pick 1 from weather
  when senior
}
",
        &[Expect {
            code: "tailor::clause_order",
            at: "broken.rules:3:3",
            underlined: "when senior",
            message: "`when` must come before `pick`",
            help: Some(
                "a rule's clauses go in this order: `on`, `priority`, `when`, actions \
                 (`pick`, `drop`), `cap`",
            ),
        }],
    );
    check(
        "\
rule r {
  priority 5
  on enter
  cap 1 per 1d
  drop where true
}
",
        &[
            Expect {
                code: "tailor::clause_order",
                at: "broken.rules:3:3",
                underlined: "on enter",
                message: "`on` must come before `priority`",
                help: Some(
                    "a rule's clauses go in this order: `on`, `priority`, `when`, actions \
                     (`pick`, `drop`), `cap`",
                ),
            },
            Expect {
                code: "tailor::clause_order",
                at: "broken.rules:5:3",
                underlined: "drop where true",
                message: "`drop` must come before `cap`",
                help: Some(
                    "a rule's clauses go in this order: `on`, `priority`, `when`, actions \
                     (`pick`, `drop`), `cap`",
                ),
            },
        ],
    );
}

#[test]
fn unknown_types_suggest_the_nearest() {
    check(
        "\
profile {
  city: strng
  tags: set<strin>
  reads: map <int>
  n: integer
}
",
        &[
            Expect {
                code: "tailor::unknown_type",
                at: "broken.rules:2:9",
                underlined: "strng",
                message: "unknown type `strng`",
                help: Some("did you mean `string`?"),
            },
            Expect {
                code: "tailor::unknown_type",
                at: "broken.rules:3:9",
                underlined: "set<strin>",
                message: "unknown type `set<strin>`",
                help: Some("did you mean `set<string>`?"),
            },
            Expect {
                code: "tailor::unknown_type",
                at: "broken.rules:5:6",
                underlined: "integer",
                message: "unknown type `integer`",
                help: Some("did you mean `int`?"),
            },
        ],
    );
}

#[test]
fn unknown_event_kinds_suggest_the_nearest() {
    check(
        "\
rule r {
  on entr, click, click
  pick 1 from weather
}
",
        &[
            Expect {
                code: "tailor::unknown_event_kind",
                at: "broken.rules:2:6",
                underlined: "entr",
                message: "unknown event kind `entr`",
                help: Some("did you mean `enter`?"),
            },
            Expect {
                code: "tailor::duplicate_event_kind",
                at: "broken.rules:2:19",
                underlined: "click",
                message: "event kind `click` listed twice",
                help: Some("list each event kind once"),
            },
        ],
    );
    check(
        "learn on shake {\n  unset profile.city\n}\n",
        &[Expect {
            code: "tailor::unknown_event_kind",
            at: "broken.rules:1:10",
            underlined: "shake",
            message: "unknown event kind `shake`",
            help: Some(
                "the event kinds are enter, subscribe, unsubscribe, text, click, view, scan, \
                 location, open",
            ),
        }],
    );
}

#[test]
fn single_equals_is_not_a_comparison() {
    check(
        "\
rule r {
  when profile.city = \"杭州\"
  pick 1 from weather where block.city = profile.city
}
",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:2:21",
            underlined: "=",
            message: "expected `on`, `when`, `pick`, `drop`, `priority`, `cap` or an operator, \
                      found `=`",
            help: Some("use `==` to compare"),
        }],
    );
    check(
        "rule r {\n  pick 1 from weather where block.city = profile.city\n}\n",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:2:40",
            underlined: "=",
            message: "expected `on`, `when`, `pick`, `order`, `drop`, `priority`, `cap` or an \
                      operator, found `=`",
            help: Some("use `==` to compare"),
        }],
    );
}

#[test]
fn order_by_an_expression_needs_a_direction() {
    check(
        "\
rule everyone_current {
  pick 3 from current order by block.score
}
",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:3:1",
            underlined: "}",
            message: "expected `asc`, `desc` or an operator, found `}`",
            help: Some("an `order by` expression needs a direction: `asc` or `desc`"),
        }],
    );
    check(
        "rule r {\n  pick 3 from current order by block.score descending\n}\n",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:2:44",
            underlined: "descending",
            message: "expected `asc`, `desc` or an operator, found `descending`",
            help: Some("an `order by` expression needs a direction: `asc` or `desc`"),
        }],
    );
}

#[test]
fn a_rule_needs_an_action() {
    check(
        "\
rule idle {
  on enter
  when senior
  cap 1 per 1d
}
",
        &[Expect {
            code: "tailor::no_action",
            at: "broken.rules:1:6",
            underlined: "idle",
            message: "rule `idle` has no action",
            help: Some("add a `pick N from SECTION …` or a `drop where …`"),
        }],
    );
}

#[test]
fn learn_needs_a_statement() {
    check(
        "learn on enter {\n  when true\n}\n",
        &[Expect {
            code: "tailor::no_statement",
            at: "broken.rules:1:1",
            underlined: "learn on enter {\n  when true\n}",
            message: "`learn` has no statement",
            help: Some("add `set`, `unset`, `add`, `remove` or `incr` statements"),
        }],
    );
}

#[test]
fn duplicate_edition_clause() {
    check(
        "\
edition evening {
  max 8
  title \"钱江晚报\"
  max 9
}
",
        &[Expect {
            code: "tailor::duplicate_clause",
            at: "broken.rules:4:3",
            underlined: "max 9",
            message: "`max` given twice in the edition",
            help: Some("keep one of them"),
        }],
    );
}

#[test]
fn slips_from_other_languages() {
    check(
        "segment a = senior && reader\n",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:1:20",
            underlined: "&&",
            message: "expected end of file, an item (`profile`, `content`, `edition`, \
                      `segment`, `script`, `rule` or `learn`) or an operator, found `&&`",
            help: Some("write `and`"),
        }],
    );
    check(
        "segment a = profile.city == '杭州'\n",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:1:29",
            underlined: "'",
            message: "expected an expression, found `'`",
            help: Some("strings use double quotes: \"…\""),
        }],
    );
    check(
        "segment order = true\n",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:1:9",
            underlined: "order",
            message: "expected a name, found `order`",
            help: Some("`order` is a reserved word and cannot be used as a name"),
        }],
    );
}

#[test]
fn unclosed_string_and_brace() {
    check(
        "edition e {\n  title \"钱江晚报\n}\n",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:2:9",
            underlined: "\"",
            message: "expected a string, found `\"`",
            help: Some("this string is not closed: add a `\"` where it ends"),
        }],
    );
    check(
        "rule r {\n  pick 1 from weather\n",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:3:1",
            underlined: "",
            message: "expected `on`, `when`, `pick`, `where`, `order`, `drop`, `priority` or \
                      `cap`, found end of file",
            help: Some("the file ends before this item does: is a closing `}` missing?"),
        }],
    );
}

#[test]
fn numbers_out_of_range() {
    check(
        "rule r {\n  pick 99999999999999999999 from weather\n}\n",
        &[Expect {
            code: "tailor::int_range",
            at: "broken.rules:2:8",
            underlined: "99999999999999999999",
            message: "integer `99999999999999999999` is too large",
            help: Some("integers run from -9223372036854775808 to 9223372036854775807"),
        }],
    );
    check(
        "edition e {\n  cap 1 per 9999999999999999w\n}\n",
        &[Expect {
            code: "tailor::int_range",
            at: "broken.rules:2:13",
            underlined: "9999999999999999w",
            message: "duration `9999999999999999w` is too large",
            help: Some("durations run up to about 292 billion years; write a shorter one"),
        }],
    );
    check(
        "edition e {\n  cap 1 per 12\n}\n",
        &[Expect {
            code: "tailor::syntax",
            at: "broken.rules:2:13",
            underlined: "12",
            message: "expected a duration (`90s`, `15m`, `12h`, `3d` or `2w`), found `12`",
            help: Some("a duration needs a unit: `12s`, `12m`, `12h`, `12d` or `12w`"),
        }],
    );
}
