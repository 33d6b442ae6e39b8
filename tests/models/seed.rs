//! Made-up orders in bulk (`seed_orders`, `make bench SEED=…`): stored as the
//! intake stores them, each with its first history row, searchable at once.
use order_fellow::{
    domain::email::Email,
    models::{seed, users},
};
use serde_json::Value;

use crate::support::*;

#[tokio::test]
async fn seeded_orders_are_listed_searched_and_have_their_history() {
    with_app(|server, ctx| async move {
        let (token, _) = given_an_approved_company_key(&server, &ctx, "shop@example.com").await;
        let company =
            users::Model::find_by_email(&ctx.db, &Email::parse("shop@example.com").unwrap())
                .await
                .unwrap()
                .unwrap();
        assert_eq!(
            seed::orders(&ctx.db, company.id, 2_500).await.unwrap(),
            2_500
        );

        let (k, v) = bearer(&token);
        let get = |path: &str| server.get(path).add_header(k.clone(), v.clone());
        let all = get("/api/v1/orders/?page_size=100").await.json::<Value>();
        assert_eq!(
            (&all["count"], &all["count_exact"]),
            (&1_000.into(), &false.into())
        );
        let last = get("/api/v1/orders/?page_size=100&page=25")
            .await
            .json::<Value>();
        assert_eq!(
            (&last["count"], &last["count_exact"]),
            (&2_500.into(), &true.into())
        );
        let newest = &all["results"][0];
        let ext = newest["external_order_id"].as_str().unwrap();
        assert!(
            ext.starts_with("seed-") && ext.ends_with("-0002499"),
            "{ext}"
        );

        let found = get(&format!("/api/v1/orders/?q={ext}"))
            .await
            .json::<Value>();
        assert_eq!(found["count"], 1);
        let email = newest["customer_details"]["email"].as_str().unwrap();
        let by_email = get(&format!("/api/v1/orders/?q={email}"))
            .await
            .json::<Value>();
        assert_eq!(by_email["results"][0]["id"], newest["id"]);
        let every = get("/api/v1/orders/?q=seed&page=25&page_size=100")
            .await
            .json::<Value>();
        assert_eq!(every["count"], 2_500);

        let detail = get(&format!(
            "/api/v1/orders/{}/",
            newest["id"].as_str().unwrap()
        ))
        .await
        .json::<Value>();
        assert_eq!(detail["history"].as_array().unwrap().len(), 1);
        assert_eq!(detail["history"][0]["to_status"], newest["tracking_status"]);
    })
    .await;
}
