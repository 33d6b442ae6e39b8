//! Searching. Accounts: a case-insensitive "contains" over text columns,
//! with the user's `%`, `_` and `\` taken literally (a few thousand rows at
//! most). Orders, up to millions: words, served by an index (see
//! `orders::find` and the `order_search` migration).

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

/// The words of an order search: the runs of letters and digits in `q`,
/// lowered (as the indexes see the searched text, see the `order_search`
/// migration). `alan@Bletchley` has two; `%` has none.
pub fn words(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The FTS5 query (SQLite) for orders where every word is a word of the
/// customer's name, e-mail or the external id, optionally of one owner and
/// one status. `words` must not be empty; each is letters and digits only,
/// quoted all the same.
///
/// Whole words, not prefixes: a prefix makes FTS5 merge the lists of every
/// word it begins (`com` in a million e-mail addresses: ~100 ms), while an
/// AND of whole words seeks through each list (a few ms at a million orders).
pub fn fts5_query(words: &[String], owner: Option<i64>, status: Option<&str>) -> String {
    let mut query = String::new();
    if let Some(owner) = owner {
        query.push_str(&format!("owner:c{owner} AND "));
    }
    if let Some(status) = status {
        query.push_str(&format!(
            "status:\"{}\" AND ",
            status.replace(['_', '"'], "")
        ));
    }
    let terms: Vec<String> = words.iter().map(|w| format!("\"{w}\"")).collect();
    query.push_str("{customer_name customer_email external_order_id} : (");
    query.push_str(&terms.join(" AND "));
    query.push(')');
    query
}

/// The same words as a PostgreSQL `tsquery`.
pub fn tsquery(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" & ")
}

#[cfg(test)]
mod tests {
    use super::{fts5_query, tsquery, words};

    #[test]
    fn the_words_of_a_search_are_its_runs_of_letters_and_digits() {
        assert_eq!(words("Alan@Bletchley.uk"), ["alan", "bletchley", "uk"]);
        assert_eq!(words(" c-3 "), ["c", "3"]);
        assert_eq!(words("Émile"), ["émile"]);
        assert!(words("%_\"'").is_empty());
    }

    #[test]
    fn the_index_queries_ask_for_every_word() {
        let w = words("grace h");
        assert_eq!(
            fts5_query(&w, Some(7), Some("IN_TRANSIT")),
            "owner:c7 AND status:\"INTRANSIT\" AND \
             {customer_name customer_email external_order_id} : (\"grace\" AND \"h\")"
        );
        assert_eq!(
            fts5_query(&w, None, None),
            "{customer_name customer_email external_order_id} : (\"grace\" AND \"h\")"
        );
        assert_eq!(tsquery(&w), "'grace' & 'h'");
    }
}
