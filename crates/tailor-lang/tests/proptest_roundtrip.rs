//! Property tests of the printer against the parser: any AST, printed and parsed back, is
//! the same AST, and formatting printed (or commented) source is idempotent.

use proptest::prelude::*;
use proptest::sample::{select, subsequence};
use proptest::test_runner::TestCaseError;
use tailor_lang::ast::*;
use tailor_lang::{
    FileId, KEYWORDS, SourceMap, Span, format_file, map_expr_spans, parse_expr, parse_file,
    print_expr, print_file,
};

fn sp() -> Span {
    Span::default()
}

fn ident_of(name: String) -> Ident {
    Ident { name, span: sp() }
}

// ---------------------------------------------------------------- names

/// A name: identifier-shaped and not a keyword. Words that start with a keyword
/// (`notx`, `in_1`, `profile_a`) check that keywords end at a word boundary.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[A-Za-z_][A-Za-z0-9_]{0,7}",
        1 => (select(KEYWORDS.to_vec()), "[A-Za-z0-9_]{1,3}").prop_map(|(k, s)| format!("{k}{s}")),
    ]
    .prop_filter("keywords are not names", |n| {
        !KEYWORDS.contains(&n.as_str())
    })
}

fn ident() -> impl Strategy<Value = Ident> {
    name().prop_map(ident_of)
}

/// A field name after a dot or in a schema: keywords allowed.
fn field_name() -> impl Strategy<Value = Ident> {
    prop_oneof![
        2 => name(),
        1 => select(KEYWORDS.to_vec()).prop_map(str::to_owned),
    ]
    .prop_map(ident_of)
}

fn field_path() -> impl Strategy<Value = Vec<Ident>> {
    prop::collection::vec(field_name(), 1..4)
}

// ---------------------------------------------------------------- literals

/// Text with everything a string literal must escape or carry through unchanged.
fn string_value() -> impl Strategy<Value = String> {
    let special = select(vec![
        '"', '\\', '\n', '\t', '\r', '\0', '\u{7f}', '\u{85}', '\u{2028}', '\u{1b}', '中', '杭',
        '州', '#', '{', '}', 'u', ' ', '😀',
    ]);
    let ch = prop_oneof![2 => special, 1 => any::<char>(), 2 => prop::char::range('a', 'z')];
    prop::collection::vec(ch, 0..10).prop_map(|cs| cs.into_iter().collect())
}

fn str_lit() -> impl Strategy<Value = StrLit> {
    string_value().prop_map(|value| StrLit { value, span: sp() })
}

fn non_negative() -> impl Strategy<Value = i64> {
    prop_oneof![3 => 0..100i64, 1 => 0..=i64::MAX]
}

fn int_lit() -> impl Strategy<Value = IntLit> {
    non_negative().prop_map(|value| IntLit { value, span: sp() })
}

/// Finite and non-negative: a negative number is `Unary Neg` of a literal.
fn float_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (0u32..1000, 0u32..100).prop_map(|(a, b)| f64::from(a) + f64::from(b) / 100.0),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(f64::abs),
        Just(0.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
    ]
}

fn duration_lit() -> impl Strategy<Value = DurationLit> {
    let units = vec![
        DurationUnit::Seconds,
        DurationUnit::Minutes,
        DurationUnit::Hours,
        DurationUnit::Days,
        DurationUnit::Weeks,
    ];
    select(units).prop_flat_map(|unit| {
        let most = i64::MAX / unit.seconds();
        prop_oneof![3 => 0..100i64, 1 => 0..=most].prop_map(move |amount| DurationLit {
            amount,
            unit,
            span: sp(),
        })
    })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<bool>().prop_map(Literal::Bool),
        non_negative().prop_map(Literal::Int),
        float_value().prop_map(Literal::Float),
        string_value().prop_map(Literal::Str),
        duration_lit().prop_map(Literal::Duration),
    ]
}

// ---------------------------------------------------------------- expressions

fn ex(kind: ExprKind) -> Expr {
    Expr::new(kind, sp())
}

fn root() -> impl Strategy<Value = Root> {
    select(vec![Root::Profile, Root::Block, Root::Event])
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        3 => literal().prop_map(ExprKind::Literal),
        1 => Just(ExprKind::Now),
        1 => root().prop_map(ExprKind::Root),
        3 => (root(), field_path()).prop_map(|(root, path)| ExprKind::Field { root, path }),
        2 => ident().prop_map(ExprKind::Name),
    ]
    .prop_map(ex)
}

const BINARY_OPS: [BinaryOp; 16] = [
    BinaryOp::Or,
    BinaryOp::And,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
    BinaryOp::In,
    BinaryOp::NotIn,
    BinaryOp::Intersects,
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::Rem,
];

/// Any expression, at most `depth` levels deep.
fn expr_of_depth(depth: u32) -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(depth, 48, 4, |inner| {
        let args = prop::collection::vec(inner.clone(), 0..4);
        prop_oneof![
            1 => prop::collection::vec(inner.clone(), 0..4).prop_map(ExprKind::List),
            1 => (inner.clone(), inner.clone()).prop_map(|(t, k)| ExprKind::Index {
                target: Box::new(t),
                key: Box::new(k),
            }),
            1 => (ident(), args.clone()).prop_map(|(func, args)| ExprKind::Call { func, args }),
            1 => (ident(), ident(), args).prop_map(|(script, func, args)| ExprKind::ScriptCall {
                script,
                func,
                args,
            }),
            1 => (select(vec![UnaryOp::Not, UnaryOp::Neg]), inner.clone()).prop_map(|(op, e)| {
                ExprKind::Unary {
                    op,
                    operand: Box::new(e),
                }
            }),
            4 => (select(BINARY_OPS.to_vec()), inner.clone(), inner.clone()).prop_map(
                |(op, l, r)| ExprKind::Binary {
                    op,
                    lhs: Box::new(l),
                    rhs: Box::new(r),
                }
            ),
            1 => (inner.clone(), str_lit()).prop_map(|(s, pattern)| ExprKind::Matches {
                subject: Box::new(s),
                pattern,
            }),
            1 => inner.prop_map(|e| ExprKind::Exists(Box::new(e))),
        ]
        .prop_map(ex)
    })
}

fn expr() -> impl Strategy<Value = Expr> {
    expr_of_depth(3)
}

// ---------------------------------------------------------------- items

fn type_expr() -> impl Strategy<Value = TypeExpr> {
    select(Type::ALL.to_vec()).prop_map(|ty| TypeExpr { ty, span: sp() })
}

fn schema() -> impl Strategy<Value = Schema> {
    prop::collection::vec(
        (field_path(), type_expr()).prop_map(|(path, ty)| FieldDecl {
            path,
            ty,
            span: sp(),
        }),
        0..5,
    )
    .prop_map(|fields| Schema { fields, span: sp() })
}

fn cap() -> impl Strategy<Value = Cap> {
    (int_lit(), duration_lit()).prop_map(|(count, per)| Cap {
        count,
        per,
        span: sp(),
    })
}

fn order() -> impl Strategy<Value = Order> {
    prop_oneof![
        Just(Order::Newest(sp())),
        Just(Order::Oldest(sp())),
        (expr(), select(vec![Direction::Asc, Direction::Desc])).prop_map(|(key, direction)| {
            Order::By {
                key,
                direction,
                span: sp(),
            }
        }),
    ]
}

fn pick() -> impl Strategy<Value = Pick> {
    (
        int_lit(),
        ident(),
        prop::option::of(expr()),
        prop::option::of(order()),
    )
        .prop_map(|(count, section, filter, order)| Pick {
            count,
            section,
            filter,
            order,
            span: sp(),
        })
}

fn edition() -> impl Strategy<Value = Edition> {
    let section = (ident(), int_lit()).prop_map(|(name, quota)| SectionDecl {
        name,
        quota,
        span: sp(),
    });
    (
        (
            ident(),
            prop::option::of(str_lit()),
            prop::option::of(str_lit()),
            prop::option::of(int_lit()),
            prop::option::of(int_lit()),
        ),
        (
            prop::option::of(prop::collection::vec(section, 0..4)),
            prop::option::of(cap()),
            prop::option::of(duration_lit()),
            prop::option::of(prop::collection::vec(pick(), 0..3)),
        ),
    )
        .prop_map(
            |((name, title, timezone, max, min), (sections, cap, repeat, fallback))| Edition {
                name,
                title,
                timezone,
                max,
                min,
                sections_span: sections.as_ref().map(|_| sp()),
                sections: sections.unwrap_or_default(),
                cap,
                repeat,
                fallback: fallback.map(|picks| Fallback { picks, span: sp() }),
                span: sp(),
            },
        )
}

fn segment() -> impl Strategy<Value = Segment> {
    (ident(), expr()).prop_map(|(name, expr)| Segment {
        name,
        expr,
        span: sp(),
    })
}

fn script() -> impl Strategy<Value = Script> {
    let param =
        (field_name(), prop::option::of(type_expr())).prop_map(|(name, ty)| Param { name, ty });
    let func = (ident(), prop::collection::vec(param, 0..4), type_expr()).prop_map(
        |(name, params, ret)| ScriptFn {
            name,
            params,
            ret,
            span: sp(),
        },
    );
    (ident(), str_lit(), prop::collection::vec(func, 0..4)).prop_map(|(name, path, fns)| Script {
        name,
        path,
        fns,
        span: sp(),
    })
}

/// Distinct event kinds in any order.
fn event_kinds(least: usize) -> impl Strategy<Value = Vec<EventKindLit>> {
    subsequence(EventKind::ALL.to_vec(), least..=EventKind::ALL.len())
        .prop_shuffle()
        .prop_map(|ks| {
            ks.into_iter()
                .map(|kind| EventKindLit { kind, span: sp() })
                .collect()
        })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        pick().prop_map(Action::Pick),
        expr().prop_map(|filter| Action::Drop(Drop { filter, span: sp() })),
    ]
}

fn rule() -> impl Strategy<Value = Rule> {
    (
        ident(),
        event_kinds(0),
        prop::option::of(prop_oneof![-100..100i64, -i64::MAX..=i64::MAX]),
        prop::option::of(expr()),
        prop::collection::vec(action(), 1..4),
        prop::option::of(cap()),
    )
        .prop_map(|(name, on, priority, when, actions, cap)| Rule {
            name,
            on,
            priority: priority.map(|value| IntLit { value, span: sp() }),
            when,
            actions,
            cap,
            span: sp(),
        })
}

fn profile_path() -> impl Strategy<Value = ProfilePath> {
    field_path().prop_map(|path| ProfilePath { path, span: sp() })
}

fn stmt() -> impl Strategy<Value = Stmt> {
    prop_oneof![
        (profile_path(), expr()).prop_map(|(path, value)| Stmt::Set {
            path,
            value,
            span: sp(),
        }),
        profile_path().prop_map(|path| Stmt::Unset { path, span: sp() }),
        (expr(), profile_path()).prop_map(|(value, path)| Stmt::Add {
            value,
            path,
            span: sp(),
        }),
        (expr(), profile_path()).prop_map(|(value, path)| Stmt::Remove {
            value,
            path,
            span: sp(),
        }),
        (profile_path(), expr(), prop::option::of(expr())).prop_map(|(path, key, by)| {
            Stmt::Incr {
                path,
                key,
                by,
                span: sp(),
            }
        }),
    ]
}

fn learn() -> impl Strategy<Value = Learn> {
    (
        event_kinds(1),
        prop::option::of(expr()),
        prop::collection::vec(stmt(), 1..4),
    )
        .prop_map(|(on, when, stmts)| Learn {
            on,
            when,
            stmts,
            span: sp(),
        })
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        1 => schema().prop_map(Item::Profile),
        1 => schema().prop_map(Item::Content),
        1 => edition().prop_map(Item::Edition),
        2 => segment().prop_map(Item::Segment),
        1 => script().prop_map(Item::Script),
        2 => rule().prop_map(Item::Rule),
        1 => learn().prop_map(Item::Learn),
    ]
}

fn file() -> impl Strategy<Value = File> {
    prop::collection::vec(item(), 0..7).prop_map(|items| File {
        items,
        comments: Vec::new(),
        unparsed: Vec::new(),
    })
}

// ---------------------------------------------------------------- helpers

fn rendered(src: &str, diags: &tailor_lang::Diagnostics) -> String {
    let mut sources = SourceMap::new();
    sources.add("generated.rules", src);
    diags.render(&sources, false)
}

fn without_spans(e: &Expr) -> Expr {
    let mut e = e.clone();
    map_expr_spans(&mut e, &mut |_| Span::default());
    e
}

/// Puts a comment on a line of its own before some lines and at the end of others.
fn with_comments(printed: &str, own: &[bool], trailing: &[bool], text: &str) -> String {
    let mut out = String::new();
    for (i, line) in printed.lines().enumerate() {
        if own.get(i).copied().unwrap_or(false) {
            out.push_str(&format!("# own {i}{text}\n"));
        }
        out.push_str(line);
        if trailing.get(i).copied().unwrap_or(false) {
            out.push_str(&format!("  # trailing {i}{text}"));
        }
        out.push('\n');
    }
    if own.get(printed.lines().count()).copied().unwrap_or(false) {
        out.push_str(&format!("# last{text}\n"));
    }
    out
}

fn comment_texts(f: &File) -> Vec<String> {
    f.comments.iter().map(|c| c.text.clone()).collect()
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn printed_file_parses_back_to_the_same_ast(file in file()) {
        let printed = print_file(&file);
        let (parsed, diags) = parse_file(FileId(0), &printed);
        prop_assert!(diags.is_empty(), "{}\n{printed}", rendered(&printed, &diags));
        prop_assert_eq!(parsed.without_spans(), file, "{}", printed);
        // The printed form is canonical: formatting it changes nothing.
        let formatted = format_file(&parsed, &printed);
        prop_assert_eq!(formatted, printed);
    }

    #[test]
    fn printed_expr_parses_back_to_the_same_ast(e in expr_of_depth(5)) {
        let printed = print_expr(&e);
        let parsed = parse_expr(FileId(0), &printed)
            .map_err(|d| TestCaseError::fail(format!("{d}\n{printed}")))?;
        prop_assert_eq!(without_spans(&parsed), e, "{}", printed);
        prop_assert_eq!(print_expr(&parsed), printed);
    }

    #[test]
    fn formatting_commented_source_is_idempotent(
        file in file(),
        own in prop::collection::vec(any::<bool>(), 0..40),
        trailing in prop::collection::vec(any::<bool>(), 0..40),
        text in "[^\n\r]{0,8}",
    ) {
        let printed = print_file(&file);
        let src = with_comments(&printed, &own, &trailing, &text);
        let (parsed, diags) = parse_file(FileId(0), &src);
        prop_assert!(diags.is_empty(), "{}\n{src}", rendered(&src, &diags));
        prop_assert_eq!(parsed.without_spans(), file.clone(), "{}", src);
        let once = format_file(&parsed, &src);
        let (again, diags) = parse_file(FileId(0), &once);
        prop_assert!(diags.is_empty(), "{}\n{once}", rendered(&once, &diags));
        prop_assert_eq!(again.without_spans(), file, "{}", once);
        // No comment is lost, none is duplicated, and their order is kept.
        prop_assert_eq!(comment_texts(&again), comment_texts(&parsed), "{}", once);
        let twice = format_file(&again, &once);
        prop_assert_eq!(twice, once, "from:\n{}", src);
    }
}

// ---------------------------------------------------------------- regressions

/// Found by `formatting_commented_source_is_idempotent`: a trailing comment that ends in
/// white space other than the grammar's (`\u{b}`), or a `\r\n` line end, became part of
/// the span of the node before it (`unknown type `bool#c``).
#[test]
fn trailing_comment_after_a_type_is_not_part_of_it() {
    for src in [
        "profile {\n  a: bool # c\u{b}\n}\n",
        "profile {\r\n  a: bool # c\r\n}\r\n",
        "profile {\r\n  a: set<int> # c\r\n  b: int\r\n}\r\n",
    ] {
        let (file, diags) = parse_file(FileId(0), src);
        assert!(diags.is_empty(), "{}", rendered(src, &diags));
        let formatted = format_file(&file, src);
        let (again, diags) = parse_file(FileId(0), &formatted);
        assert!(diags.is_empty(), "{}", rendered(&formatted, &diags));
        assert_eq!(again.without_spans(), file.without_spans());
        assert_eq!(comment_texts(&again), comment_texts(&file));
        assert_eq!(format_file(&again, &formatted), formatted);
    }
}
