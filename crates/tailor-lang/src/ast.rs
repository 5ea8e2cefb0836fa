//! The typed AST of a `.rules` file. Every node carries its [`Span`].

use crate::span::Span;

/// A name as written, with its span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One parsed `.rules` file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
    pub comments: Vec<Comment>,
    /// The items that did not parse (their syntax errors are reported), so that checking
    /// can leave out the errors that their absence alone would cause: no "the package has
    /// no `edition`" after a typo inside the edition.
    pub unparsed: Vec<Unparsed>,
}

/// An item that did not parse: its keyword, and its name when one could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unparsed {
    pub keyword: ItemKeyword,
    pub name: Option<String>,
}

/// The keyword that starts an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKeyword {
    Profile,
    Content,
    Edition,
    Segment,
    Script,
    Rule,
    Learn,
}

impl ItemKeyword {
    pub const ALL: [ItemKeyword; 7] = [
        ItemKeyword::Profile,
        ItemKeyword::Content,
        ItemKeyword::Edition,
        ItemKeyword::Segment,
        ItemKeyword::Script,
        ItemKeyword::Rule,
        ItemKeyword::Learn,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ItemKeyword::Profile => "profile",
            ItemKeyword::Content => "content",
            ItemKeyword::Edition => "edition",
            ItemKeyword::Segment => "segment",
            ItemKeyword::Script => "script",
            ItemKeyword::Rule => "rule",
            ItemKeyword::Learn => "learn",
        }
    }

    pub fn parse(s: &str) -> Option<ItemKeyword> {
        ItemKeyword::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// A `# …` comment, kept so that `tailor fmt` can print it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// The text after `#`, without the line end.
    pub text: String,
    pub span: Span,
    /// True when code precedes the comment on its line.
    pub trailing: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Profile(Schema),
    Content(Schema),
    Edition(Edition),
    Segment(Segment),
    Script(Script),
    Rule(Rule),
    Learn(Learn),
}

impl Item {
    pub fn span(&self) -> Span {
        match self {
            Item::Profile(s) | Item::Content(s) => s.span,
            Item::Edition(e) => e.span,
            Item::Segment(s) => s.span,
            Item::Script(s) => s.span,
            Item::Rule(r) => r.span,
            Item::Learn(l) => l.span,
        }
    }
}

/// `profile { … }` or `content { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

/// `family.grandson.city: string`
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub path: Vec<Ident>,
    pub ty: TypeExpr,
    pub span: Span,
}

impl FieldDecl {
    pub fn dotted(&self) -> String {
        dotted(&self.path)
    }
}

/// Joins a path of identifiers with dots.
pub fn dotted(path: &[Ident]) -> String {
    let mut s = String::new();
    for (i, p) in path.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.push_str(&p.name);
    }
    s
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    Float,
    String,
    Time,
    Duration,
    SetString,
    SetInt,
    MapInt,
    MapFloat,
    MapString,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Int => "int",
            Type::Float => "float",
            Type::String => "string",
            Type::Time => "time",
            Type::Duration => "duration",
            Type::SetString => "set<string>",
            Type::SetInt => "set<int>",
            Type::MapInt => "map<int>",
            Type::MapFloat => "map<float>",
            Type::MapString => "map<string>",
        }
    }

    pub const ALL: [Type; 11] = [
        Type::Bool,
        Type::Int,
        Type::Float,
        Type::String,
        Type::Time,
        Type::Duration,
        Type::SetString,
        Type::SetInt,
        Type::MapInt,
        Type::MapFloat,
        Type::MapString,
    ];
}

impl std::fmt::Display for Type {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TypeExpr {
    pub ty: Type,
    pub span: Span,
}

/// `edition NAME { … }`. Clauses may come in any order; each at most once.
#[derive(Debug, Clone, PartialEq)]
pub struct Edition {
    pub name: Ident,
    pub title: Option<StrLit>,
    pub timezone: Option<StrLit>,
    pub max: Option<IntLit>,
    pub min: Option<IntLit>,
    pub sections: Vec<SectionDecl>,
    /// Span of the `sections` keyword, when the clause is present.
    pub sections_span: Option<Span>,
    pub cap: Option<Cap>,
    pub repeat: Option<DurationLit>,
    pub fallback: Option<Fallback>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    pub picks: Vec<Pick>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SectionDecl {
    pub name: Ident,
    pub quota: IntLit,
    pub span: Span,
}

/// `cap N per D`
#[derive(Debug, Clone, PartialEq)]
pub struct Cap {
    pub count: IntLit,
    pub per: DurationLit,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntLit {
    pub value: i64,
    pub span: Span,
}

/// A duration literal such as `12h`; `value` is in seconds, `unit` is kept for printing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationLit {
    pub amount: i64,
    pub unit: DurationUnit,
    pub span: Span,
}

impl DurationLit {
    pub fn seconds(&self) -> i64 {
        self.amount.saturating_mul(self.unit.seconds())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl DurationUnit {
    pub fn seconds(self) -> i64 {
        match self {
            DurationUnit::Seconds => 1,
            DurationUnit::Minutes => 60,
            DurationUnit::Hours => 3600,
            DurationUnit::Days => 86_400,
            DurationUnit::Weeks => 604_800,
        }
    }

    pub fn suffix(self) -> char {
        match self {
            DurationUnit::Seconds => 's',
            DurationUnit::Minutes => 'm',
            DurationUnit::Hours => 'h',
            DurationUnit::Days => 'd',
            DurationUnit::Weeks => 'w',
        }
    }

    pub fn from_suffix(c: char) -> Option<DurationUnit> {
        Some(match c {
            's' => DurationUnit::Seconds,
            'm' => DurationUnit::Minutes,
            'h' => DurationUnit::Hours,
            'd' => DurationUnit::Days,
            'w' => DurationUnit::Weeks,
            _ => return None,
        })
    }
}

/// `segment NAME = EXPR`
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub name: Ident,
    pub expr: Expr,
    pub span: Span,
}

/// `script NAME from "PATH" { fn … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    pub name: Ident,
    pub path: StrLit,
    pub fns: Vec<ScriptFn>,
    pub span: Span,
}

/// `fn rank(profile, block) -> float`
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptFn {
    pub name: Ident,
    pub params: Vec<Param>,
    pub ret: TypeExpr,
    pub span: Span,
}

/// A script function parameter: `profile`, `block` and `event` take the whole record;
/// `name: type` takes a value of that type.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeExpr>,
}

/// The event kinds of language.md §6, and `open` (language.md §12), which only `learn` items answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Enter,
    Subscribe,
    Unsubscribe,
    Text,
    Click,
    View,
    Scan,
    Location,
    Open,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Enter,
        EventKind::Subscribe,
        EventKind::Unsubscribe,
        EventKind::Text,
        EventKind::Click,
        EventKind::View,
        EventKind::Scan,
        EventKind::Location,
        EventKind::Open,
    ];

    /// The kinds a rule may answer: all but `open` (language.md §12: an open is answered by taking
    /// the reader to the article, never by a digest).
    pub const RULE: [EventKind; 8] = [
        EventKind::Enter,
        EventKind::Subscribe,
        EventKind::Unsubscribe,
        EventKind::Text,
        EventKind::Click,
        EventKind::View,
        EventKind::Scan,
        EventKind::Location,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Enter => "enter",
            EventKind::Subscribe => "subscribe",
            EventKind::Unsubscribe => "unsubscribe",
            EventKind::Text => "text",
            EventKind::Click => "click",
            EventKind::View => "view",
            EventKind::Scan => "scan",
            EventKind::Location => "location",
            EventKind::Open => "open",
        }
    }

    pub fn parse(s: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Events the user did not ask for: counted by the edition's cap.
    pub fn is_unsolicited(self) -> bool {
        matches!(self, EventKind::Enter | EventKind::Subscribe)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventKindLit {
    pub kind: EventKind,
    pub span: Span,
}

/// `rule NAME { on … priority … when … actions… cap … }`
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: Ident,
    /// Empty means the default, `enter`.
    pub on: Vec<EventKindLit>,
    pub priority: Option<IntLit>,
    pub when: Option<Expr>,
    pub actions: Vec<Action>,
    pub cap: Option<Cap>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Pick(Pick),
    Drop(Drop),
}

impl Action {
    pub fn span(&self) -> Span {
        match self {
            Action::Pick(p) => p.span,
            Action::Drop(d) => d.span,
        }
    }
}

/// `pick N from SECTION [where EXPR] [order by ORDER]`
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub count: IntLit,
    pub section: Ident,
    pub filter: Option<Expr>,
    pub order: Option<Order>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Order {
    Newest(Span),
    Oldest(Span),
    By {
        key: Expr,
        direction: Direction,
        span: Span,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// `drop where EXPR`
#[derive(Debug, Clone, PartialEq)]
pub struct Drop {
    pub filter: Expr,
    pub span: Span,
}

/// `learn on KIND, … { [when EXPR] statement+ }`
#[derive(Debug, Clone, PartialEq)]
pub struct Learn {
    pub on: Vec<EventKindLit>,
    pub when: Option<Expr>,
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

/// `profile.a.b` as the target of a learn statement (without the `profile` root).
#[derive(Debug, Clone, PartialEq)]
pub struct ProfilePath {
    pub path: Vec<Ident>,
    pub span: Span,
}

impl ProfilePath {
    pub fn dotted(&self) -> String {
        dotted(&self.path)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    Set {
        path: ProfilePath,
        value: Expr,
        span: Span,
    },
    Unset {
        path: ProfilePath,
        span: Span,
    },
    Add {
        value: Expr,
        path: ProfilePath,
        span: Span,
    },
    Remove {
        value: Expr,
        path: ProfilePath,
        span: Span,
    },
    Incr {
        path: ProfilePath,
        key: Expr,
        by: Option<Expr>,
        span: Span,
    },
}

impl Stmt {
    pub fn span(&self) -> Span {
        match self {
            Stmt::Set { span, .. }
            | Stmt::Unset { span, .. }
            | Stmt::Add { span, .. }
            | Stmt::Remove { span, .. }
            | Stmt::Incr { span, .. } => *span,
        }
    }

    pub fn path(&self) -> &ProfilePath {
        match self {
            Stmt::Set { path, .. }
            | Stmt::Unset { path, .. }
            | Stmt::Add { path, .. }
            | Stmt::Remove { path, .. }
            | Stmt::Incr { path, .. } => path,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// The records an expression can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Root {
    Profile,
    Block,
    Event,
}

impl Root {
    pub fn name(self) -> &'static str {
        match self {
            Root::Profile => "profile",
            Root::Block => "block",
            Root::Event => "event",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Duration(DurationLit),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Intersects,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::Intersects => "intersects",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }

    /// Binding power for printing: higher binds tighter (language.md §7's table).
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            // 3 is prefix `not`.
            BinaryOp::Eq
            | BinaryOp::Ne
            | BinaryOp::Lt
            | BinaryOp::Le
            | BinaryOp::Gt
            | BinaryOp::Ge
            | BinaryOp::In
            | BinaryOp::NotIn
            | BinaryOp::Intersects => 4,
            BinaryOp::Add | BinaryOp::Sub => 5,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 6,
        }
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() == 4
    }
}

/// Precedence of prefix `not` (see [`BinaryOp::precedence`]).
pub const NOT_PRECEDENCE: u8 = 3;
/// Precedence of comparisons, `matches` and `exists`.
pub const COMPARISON_PRECEDENCE: u8 = 4;
/// Precedence of prefix `-`.
pub const NEG_PRECEDENCE: u8 = 7;

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// `[a, b, c]`: literals only, one element type.
    List(Vec<Expr>),
    Now,
    /// A bare `profile`, `block` or `event`, only valid as a script argument.
    Root(Root),
    /// `profile.a.b`, `block.tags`, `event.text`.
    Field {
        root: Root,
        path: Vec<Ident>,
    },
    /// A segment's name.
    Name(Ident),
    /// `map[key]`
    Index {
        target: Box<Expr>,
        key: Box<Expr>,
    },
    /// A built-in function call.
    Call {
        func: Ident,
        args: Vec<Expr>,
    },
    /// `ns::f(args)`
    ScriptCall {
        script: Ident,
        func: Ident,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// `s matches "REGEX"`
    Matches {
        subject: Box<Expr>,
        pattern: StrLit,
    },
    /// `p exists`
    Exists(Box<Expr>),
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }

    /// Calls `f` on this expression and every sub-expression, parents first.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match &self.kind {
            ExprKind::Literal(_)
            | ExprKind::Now
            | ExprKind::Root(_)
            | ExprKind::Field { .. }
            | ExprKind::Name(_) => {}
            ExprKind::List(items) => items.iter().for_each(|e| e.walk(f)),
            ExprKind::Index { target, key } => {
                target.walk(f);
                key.walk(f);
            }
            ExprKind::Call { args, .. } | ExprKind::ScriptCall { args, .. } => {
                args.iter().for_each(|e| e.walk(f))
            }
            ExprKind::Unary { operand, .. } => operand.walk(f),
            ExprKind::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            ExprKind::Matches { subject, .. } => subject.walk(f),
            ExprKind::Exists(e) => e.walk(f),
        }
    }
}
