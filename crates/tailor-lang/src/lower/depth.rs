//! Expression depth limits: lowering, printing and checking recurse over expressions, so an
//! expression nested too deeply is an error reported before anything recurses into it.

use pest::iterators::Pair;

use super::Rule;

/// Most brackets, calls, indexes and prefix operators nested inside one another.
pub(super) const MAX_NESTING: usize = 64;
/// Most operators along one path of an expression tree, chains such as `a or b or c` included.
pub(super) const MAX_DEPTH: usize = 512;

/// The `expr` pair, `expr` itself or one inside it, where a limit is passed, if one is.
///
/// Walks the pairs with an explicit stack: this is the check that keeps deep input from
/// exhausting the native one.
pub(super) fn too_deep<'i>(expr: &Pair<'i, Rule>) -> Option<Pair<'i, Rule>> {
    // Every `expr` pair still to visit, with the nesting and depth of its context.
    let mut pending = vec![(expr.clone(), 0usize, 0usize)];
    while let Some((e, nesting, depth)) = pending.pop() {
        let mut prefixes = 0;
        let mut operators = 0;
        let mut nested = Vec::new();
        for part in e.clone().into_inner() {
            match part.as_rule() {
                Rule::op_not | Rule::op_neg => {
                    prefixes += 1;
                    operators += 1;
                }
                Rule::op_index => {
                    operators += 1;
                    nested.extend(part.into_inner());
                }
                Rule::paren | Rule::list | Rule::call | Rule::script_call => {
                    for q in part.into_inner() {
                        match q.as_rule() {
                            Rule::args => nested.extend(q.into_inner()),
                            Rule::expr => nested.push(q),
                            _ => {}
                        }
                    }
                }
                Rule::op_exists => operators += 1,
                r if is_infix(r) => operators += 1,
                _ => {}
            }
        }
        let nesting = nesting + prefixes + 1;
        let depth = depth + operators + 1;
        if nesting > MAX_NESTING || depth > MAX_DEPTH {
            return Some(e);
        }
        pending.extend(
            nested
                .into_iter()
                .filter(|q| q.as_rule() == Rule::expr)
                .map(|q| (q, nesting, depth)),
        );
    }
    None
}

fn is_infix(r: Rule) -> bool {
    matches!(
        r,
        Rule::op_or
            | Rule::op_and
            | Rule::op_eq
            | Rule::op_ne
            | Rule::op_le
            | Rule::op_ge
            | Rule::op_lt
            | Rule::op_gt
            | Rule::op_not_in
            | Rule::op_in
            | Rule::op_intersects
            | Rule::op_matches
            | Rule::op_add
            | Rule::op_sub
            | Rule::op_mul
            | Rule::op_div
            | Rule::op_rem
    )
}
