//! Checking `learn` items (language.md §9): every statement against the profile schema.

use tailor_lang::Diagnostic;
use tailor_lang::ast::{self, Stmt};
use tailor_lang::suggest;

use super::{Checker, ExprCtx};
use crate::ir::{CExpr, CLearn, CStmt};
use crate::schema::PROFILE_ID;
use crate::value::{Ty, Value};

impl Checker<'_> {
    pub(super) fn learn(&mut self, l: &ast::Learn) -> CLearn {
        // `block` is the opened block in an item that answers `open` alone (language.md §12).
        let opens = !l.on.is_empty() && l.on.iter().all(|k| k.kind == ast::EventKind::Open);
        let ctx = ExprCtx::learn(opens);
        let when = l
            .when
            .as_ref()
            .map(|w| self.bool_expr(w, ctx, "a learn's `when`"));
        let mut stmts = Vec::new();
        for s in &l.stmts {
            let Some((slot, ty)) = self.target(s.path()) else {
                // Still check the expressions, for their own errors.
                match s {
                    Stmt::Set { value, .. }
                    | Stmt::Add { value, .. }
                    | Stmt::Remove { value, .. } => {
                        self.expr(value, ctx);
                    }
                    Stmt::Incr { key, by, .. } => {
                        self.expr(key, ctx);
                        if let Some(b) = by {
                            self.expr(b, ctx);
                        }
                    }
                    Stmt::Unset { .. } => {}
                }
                continue;
            };
            let field = s.path().dotted();
            let stmt = match s {
                Stmt::Set { value, .. } => {
                    let (c, t) = self.expr(value, ctx);
                    if !t.fits(ty) {
                        self.error(
                            Diagnostic::error(
                                "tailor::type_mismatch",
                                format!("cannot set `profile.{field}` (`{ty}`) to a `{t}`"),
                            )
                            .at(value.span, format!("this is `{t}`"))
                            .help(format!(
                                "the schema declares `{field}: {ty}`: give it a `{ty}` value"
                            )),
                        );
                    }
                    CStmt::Set { slot, value: c }
                }
                Stmt::Unset { .. } => CStmt::Unset { slot },
                Stmt::Add { value, path, .. } | Stmt::Remove { value, path, .. } => {
                    let (c, t) = self.expr(value, ctx);
                    let verb = if matches!(s, Stmt::Add { .. }) {
                        "add"
                    } else {
                        "remove"
                    };
                    match ty {
                        Ty::SetString | Ty::SetInt => {
                            let elem = ty.element().unwrap_or(Ty::Any);
                            // One element, or a set or list of them (language.md §12).
                            let whole = matches!(
                                t,
                                Ty::SetString
                                    | Ty::SetInt
                                    | Ty::ListString
                                    | Ty::ListInt
                                    | Ty::ListFloat
                                    | Ty::ListEmpty
                            ) && t.element().is_some_and(|e| e == elem || e == Ty::Any);
                            if !t.fits(elem) && !whole {
                                self.error(
                                    Diagnostic::error(
                                        "tailor::type_mismatch",
                                        format!(
                                            "cannot {verb} a `{t}` {} `profile.{field}` (`{ty}`)",
                                            if verb == "add" { "to" } else { "from" }
                                        ),
                                    )
                                    .at(value.span, format!("this is `{t}`"))
                                    .help(format!("`{field}` holds `{elem}` values: {verb} one, or a set or list of them")),
                                );
                            }
                        }
                        _ => self.error(
                            Diagnostic::error(
                                "tailor::type_mismatch",
                                format!("`{verb}` needs a set, but `profile.{field}` is `{ty}`"),
                            )
                            .at(path.span, "not a set")
                            .help(format!(
                                "`{verb}` changes a set; to change `profile.{field}`, write `set profile.{field} = …`"
                            )),
                        ),
                    }
                    if verb == "add" {
                        CStmt::Add { slot, value: c }
                    } else {
                        CStmt::Remove { slot, value: c }
                    }
                }
                Stmt::Incr { key, by, path, .. } => {
                    let (k, kt) = self.expr(key, ctx);
                    if !kt.fits(Ty::String) {
                        self.error(
                            Diagnostic::error(
                                "tailor::type_mismatch",
                                format!("a map key is a `string`, found `{kt}`"),
                            )
                            .at(key.span, format!("this is `{kt}`"))
                            .help(
                                "name the key with a string, as in `incr profile.reads[event.key]`",
                            ),
                        );
                    }
                    let elem = match ty {
                        Ty::MapInt => Ty::Int,
                        Ty::MapFloat => Ty::Float,
                        _ => {
                            self.error(
                                Diagnostic::error("tailor::type_mismatch", format!("`incr` needs a map of numbers, but `profile.{field}` is `{ty}`"))
                                    .at(path.span, "not `map<int>` or `map<float>`")
                                    .help("`incr` counts in a `map<int>` or `map<float>` field, such as `reads: map<int>`; use `set`, `add` or `remove` for other fields"),
                            );
                            Ty::Any
                        }
                    };
                    let by_c = match by {
                        Some(b) => {
                            let (c, t) = self.expr(b, ctx);
                            if !t.fits(elem) {
                                self.error(
                                    Diagnostic::error(
                                        "tailor::type_mismatch",
                                        format!("cannot add a `{t}` to `profile.{field}` (`{ty}`)"),
                                    )
                                    .at(b.span, format!("this is `{t}`"))
                                    .help(format!("`{field}` holds `{elem}` values: write the amount as one, as in `by 2`")),
                                );
                            }
                            c
                        }
                        None => CExpr::Const(Value::Int(1)),
                    };
                    CStmt::Incr {
                        slot,
                        key: k,
                        by: by_c,
                    }
                }
            };
            stmts.push(stmt);
        }
        CLearn {
            on: l.on.iter().map(|k| k.kind).collect(),
            when,
            stmts,
            span: l.span,
        }
    }

    /// The slot and type of a learn statement's target.
    fn target(&mut self, p: &ast::ProfilePath) -> Option<(usize, Ty)> {
        let dotted = p.dotted();
        match self.profile.slot(&dotted) {
            Some(PROFILE_ID) => {
                self.error(
                    Diagnostic::error("tailor::readonly_field", "`profile.id` cannot be changed")
                        .at(p.span, "the profile's identity")
                        .help("`id` names the user and never changes: learn into a field of your own, declared in `profile { … }`"),
                );
                None
            }
            Some(slot) => Some((
                slot,
                self.profile.field(slot).map_or(Ty::Any, |f| f.ty.into()),
            )),
            // The profile did not parse: its fields are unknown, not absent.
            None if self.unparsed(ast::ItemKeyword::Profile, None) => None,
            None => {
                let mut d = Diagnostic::error(
                    "tailor::unknown_field",
                    format!("unknown field `profile.{dotted}`"),
                )
                .at(p.span, "not declared in `profile { … }`");
                d = match suggest(&dotted, self.profile.names()) {
                    Some(s) => d.help(format!("did you mean `profile.{s}`?")),
                    None => d.help(format!(
                        "declare it in `profile {{ … }}` first, as in `{dotted}: string`"
                    )),
                };
                self.error(d);
                None
            }
        }
    }
}
