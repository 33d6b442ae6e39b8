//! Case-insensitive "contains" search over text columns, with the user's
//! `%`, `_` and `\` taken literally.

use sea_orm::{
    sea_query::{Expr, ExprTrait, Func, LikeExpr},
    ColumnTrait, Condition,
};

/// Rows where any of `columns` contains `q`, any case.
pub fn contains_any<C: ColumnTrait>(columns: &[C], q: &str) -> Condition {
    let escaped = q
        .to_lowercase()
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    let pattern = format!("%{escaped}%");
    columns.iter().fold(Condition::any(), |cond, c| {
        cond.add(
            Expr::expr(Func::lower(Expr::col((c.entity_name(), *c))))
                .like(LikeExpr::new(pattern.clone()).escape('\\')),
        )
    })
}
