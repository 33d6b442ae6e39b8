use axum::http::StatusCode;
use loco_rs::{boot::run_task, task};
use order_fellow::{
    app::App,
    models::{
        _entities::{kyc_audit_logs, webhook_secrets},
        kyc,
    },
    settings::AppSettings,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::support::*;

async fn active_secrets(ctx: &loco_rs::app::AppContext) -> u64 {
    webhook_secrets::Entity::find()
        .filter(webhook_secrets::Column::IsActive.eq(true))
        .count(&ctx.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_verified_business_submits_kyc_and_reads_it_back() {
    with_app(|server, ctx| async move {
        let token = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        server
            .get("/api/v1/kyc/")
            .add_header(k.clone(), v.clone())
            .await
            .assert_status(StatusCode::NOT_FOUND);

        let res = submit_kyc(&server, &token).await;
        res.assert_status(StatusCode::CREATED);
        let body = res.json::<Value>();
        assert_eq!(body["status"], "pending");
        assert_eq!(body["country"], "NG");
        assert_eq!(body["contact_phone"], "+2348123456789");
        assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
        assert!(body["submitted_at"].is_string());
        assert!(body["rejection_reason"].is_null());

        let got = server.get("/api/v1/kyc/").add_header(k, v).await;
        got.assert_status_ok();
        assert_eq!(got.json::<Value>()["id"], body["id"]);
    })
    .await;
}

#[tokio::test]
async fn kyc_fields_are_validated_one_by_one() {
    with_app(|server, ctx| async move {
        let token = given_a_verified_business(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        let res = server
            .post("/api/v1/kyc/")
            .add_header(k, v)
            .json(&json!({
                "business_name": " ",
                "registration_number": "RC 1<script>",
                "country": "XX",
                "business_address": "Lagos, somewhere",
                "website": "ftp://nope",
                "contact_phone": "call me",
            }))
            .await;
        res.assert_status(StatusCode::BAD_REQUEST);
        let d = &res.json::<Value>()["details"];
        for f in [
            "business_name",
            "registration_number",
            "country",
            "website",
            "contact_phone",
        ] {
            assert!(d[f].is_array(), "{f}: {d}");
        }
        assert!(d.get("business_address").is_none());
    })
    .await;
}

#[tokio::test]
async fn kyc_needs_a_login_and_a_business_account() {
    with_app(|server, ctx| async move {
        server
            .post("/api/v1/kyc/")
            .json(&kyc_body())
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
        let admin = given_an_admin(&server, &ctx).await;
        let res = submit_kyc(&server, &admin).await;
        res.assert_status(StatusCode::FORBIDDEN);
        assert!(res.json::<Value>()["error"].is_string());
    })
    .await;
}

#[tokio::test]
async fn a_second_submission_conflicts_while_pending_or_approved() {
    with_app(|server, ctx| async move {
        let (token, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let again = submit_kyc(&server, &token).await;
        again.assert_status(StatusCode::CONFLICT);
        assert_eq!(again.json::<Value>()["current_status"], "pending");

        let admin = given_an_admin(&server, &ctx).await;
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/approve/"),
            None,
        )
        .await
        .assert_status_ok();
        let after = submit_kyc(&server, &token).await;
        after.assert_status(StatusCode::CONFLICT);
        assert_eq!(after.json::<Value>()["current_status"], "approved");
    })
    .await;
}

#[tokio::test]
async fn after_a_rejection_the_business_may_submit_again() {
    with_app(|server, ctx| async move {
        let (token, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let admin = given_an_admin(&server, &ctx).await;
        let res = admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/reject/"),
            Some(json!({"reason": "Registration number does not match"})),
        )
        .await;
        res.assert_status_ok();
        assert_eq!(res.json::<Value>()["status"], "rejected");
        let mails = mails_to(&ctx, "ada@example.com").await;
        assert!(mails
            .last()
            .unwrap()
            .contains("Registration number does not match"));

        let (k, v) = bearer(&token);
        let mine = server
            .get("/api/v1/kyc/")
            .add_header(k.clone(), v.clone())
            .await
            .json::<Value>();
        assert_eq!(
            mine["rejection_reason"],
            "Registration number does not match"
        );

        let again = submit_kyc(&server, &token).await;
        again.assert_status(StatusCode::CREATED);
        let new_id = again.json::<Value>()["id"].as_str().unwrap().to_string();
        assert_ne!(new_id, id);
        let current = server
            .get("/api/v1/kyc/")
            .add_header(k, v)
            .await
            .json::<Value>();
        assert_eq!(current["status"], "pending");
        assert_eq!(current["id"], new_id.as_str());
    })
    .await;
}

#[tokio::test]
async fn admin_routes_refuse_business_tokens_and_anonymous_calls() {
    with_app(|server, ctx| async move {
        let (token, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let (k, v) = bearer(&token);
        let res = server
            .get("/api/v1/admin/kyc/")
            .add_header(k.clone(), v.clone())
            .await;
        res.assert_status(StatusCode::FORBIDDEN);
        assert_eq!(res.json::<Value>()["error"], "Admin access required");
        server
            .post(&format!("/api/v1/admin/kyc/{id}/approve/"))
            .add_header(k, v)
            .await
            .assert_status(StatusCode::FORBIDDEN);
        server
            .get("/api/v1/admin/kyc/")
            .await
            .assert_status(StatusCode::UNAUTHORIZED);
    })
    .await;
}

#[tokio::test]
async fn admins_list_applications_oldest_first_with_paging_and_filters() {
    with_app(|server, ctx| async move {
        let mut ids = vec![];
        for n in 0..3 {
            let (_, id) =
                given_a_pending_application(&server, &ctx, &format!("biz{n}@example.com")).await;
            ids.push(id);
        }
        let admin = given_an_admin(&server, &ctx).await;
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{}/approve/", ids[1]),
            None,
        )
        .await
        .assert_status_ok();
        let (k, v) = bearer(&admin);

        let page = server
            .get("/api/v1/admin/kyc/?status=pending&page=1&page_size=1")
            .add_header(k.clone(), v.clone())
            .await;
        page.assert_status_ok();
        let body = page.json::<Value>();
        assert_eq!(body["count"], 2);
        assert_eq!(body["next"], 2);
        assert_eq!(body["results"][0]["id"], ids[0].as_str());
        assert_eq!(body["results"][0]["company"]["email"], "biz0@example.com");

        let p2 = server
            .get("/api/v1/admin/kyc/?status=pending&page=2&page_size=1")
            .add_header(k.clone(), v.clone())
            .await
            .json::<Value>();
        assert_eq!(p2["results"][0]["id"], ids[2].as_str());
        assert!(p2["next"].is_null());

        let all = server
            .get("/api/v1/admin/kyc/")
            .add_header(k.clone(), v.clone())
            .await
            .json::<Value>();
        assert_eq!(all["count"], 3);

        for bad in ["?status=maybe", "?page=0", "?page_size=1000", "?page=abc"] {
            let r = server
                .get(&format!("/api/v1/admin/kyc/{bad}"))
                .add_header(k.clone(), v.clone())
                .await;
            r.assert_status(StatusCode::BAD_REQUEST);
            assert!(r.json::<Value>()["error"].is_string());
        }

        let detail = server
            .get(&format!("/api/v1/admin/kyc/{}/", ids[1]))
            .add_header(k.clone(), v.clone())
            .await;
        detail.assert_status_ok();
        assert_eq!(detail.json::<Value>()["status"], "approved");
        for missing in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
            server
                .get(&format!("/api/v1/admin/kyc/{missing}/"))
                .add_header(k.clone(), v.clone())
                .await
                .assert_status(StatusCode::NOT_FOUND);
        }
    })
    .await;
}

#[tokio::test]
async fn approval_issues_a_secret_mails_the_business_and_is_audited() {
    with_app(|server, ctx| async move {
        let (token, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        assert_eq!(active_secrets(&ctx).await, 0);
        let admin = given_an_admin(&server, &ctx).await;
        let res = admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/approve/"),
            None,
        )
        .await;
        res.assert_status_ok();
        assert_eq!(res.json::<Value>()["status"], "approved");
        assert!(res.json::<Value>()["reviewed_at"].is_string());
        assert_eq!(active_secrets(&ctx).await, 1);
        assert!(current_secret(&server, &token).await.starts_with("whsk_"));
        assert!(mails_to(&ctx, "ada@example.com")
            .await
            .last()
            .unwrap()
            .contains("approved"));

        let (k, v) = bearer(&admin);
        let audit = server
            .get(&format!("/api/v1/admin/kyc/{id}/audit/"))
            .add_header(k, v)
            .await;
        audit.assert_status_ok();
        let rows = audit.json::<Value>();
        assert_eq!(rows.as_array().unwrap().len(), 1);
        assert_eq!(rows[0]["from_status"], "pending");
        assert_eq!(rows[0]["to_status"], "approved");
        assert!(rows[0]["actor"].as_str().unwrap().starts_with("admin:"));
    })
    .await;
}

#[tokio::test]
async fn rejection_needs_a_reason() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let admin = given_an_admin(&server, &ctx).await;
        for body in [json!({}), json!({"reason": "  "})] {
            let res = admin_post(
                &server,
                &admin,
                &format!("/api/v1/admin/kyc/{id}/reject/"),
                Some(body),
            )
            .await;
            res.assert_status(StatusCode::BAD_REQUEST);
            assert!(res.json::<Value>()["details"]["reason"].is_array());
        }
    })
    .await;
}

#[tokio::test]
async fn illegal_transitions_conflict_with_the_current_status() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let admin = given_an_admin(&server, &ctx).await;
        let reject = |reason: &'static str| {
            let path = format!("/api/v1/admin/kyc/{id}/reject/");
            let server = &server;
            let admin = admin.clone();
            async move { admin_post(server, &admin, &path, Some(json!({"reason": reason}))).await }
        };
        reject("blurry documents").await.assert_status_ok();
        let twice = reject("again").await;
        twice.assert_status(StatusCode::CONFLICT);
        assert_eq!(twice.json::<Value>()["current_status"], "rejected");
        let approve = admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/approve/"),
            None,
        )
        .await;
        approve.assert_status(StatusCode::CONFLICT);
        assert_eq!(approve.json::<Value>()["current_status"], "rejected");
        let suspend = admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/suspend/"),
            Some(json!({"reason": "x"})),
        )
        .await;
        suspend.assert_status(StatusCode::CONFLICT);
        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{}/approve/", uuid::Uuid::new_v4()),
            None,
        )
        .await
        .assert_status(StatusCode::NOT_FOUND);
    })
    .await;
}

#[tokio::test]
async fn suspension_revokes_the_secret_at_once_and_reapproval_issues_a_new_one() {
    with_app(|server, ctx| async move {
        let (token, id) = given_an_approved_business(&server, &ctx, "ada@example.com").await;
        let first = current_secret(&server, &token).await;
        let admin = given_an_admin(&server, &ctx).await;
        let res = admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/suspend/"),
            Some(json!({"reason": "chargeback fraud"})),
        )
        .await;
        res.assert_status_ok();
        assert_eq!(res.json::<Value>()["status"], "suspended");
        assert_eq!(active_secrets(&ctx).await, 0);
        let (k, v) = bearer(&token);
        server
            .get("/api/v1/webhook/secret/")
            .add_header(k, v)
            .await
            .assert_status(StatusCode::FORBIDDEN);
        let key = order_fellow::domain::api_key::ApiKey::parse(&first).unwrap();
        assert!(matches!(
            order_fellow::models::webhook_secrets::lookup(
                &ctx.db,
                &order_fellow::models::known_keys::KnownKeys::get(&ctx),
                &key
            )
            .await
            .unwrap(),
            order_fellow::models::webhook_secrets::KeyCheck::Unknown
        ));

        admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/approve/"),
            None,
        )
        .await
        .assert_status_ok();
        let second = current_secret(&server, &token).await;
        assert_ne!(first, second);
        assert_eq!(active_secrets(&ctx).await, 1);
    })
    .await;
}

#[tokio::test]
async fn the_bulk_task_approves_through_the_same_hook() {
    with_app(|server, ctx| async move {
        let (t1, a) = given_a_pending_application(&server, &ctx, "one@example.com").await;
        let (t2, b) = given_a_pending_application(&server, &ctx, "two@example.com").await;
        let vars = task::Vars::from_cli_args(vec![("ids".into(), format!("{a},{b}"))]);
        run_task::<App>(&ctx, Some(&"kyc_approve".to_string()), &vars)
            .await
            .unwrap();
        assert_eq!(active_secrets(&ctx).await, 2);
        assert!(current_secret(&server, &t1).await.starts_with("whsk_"));
        assert!(current_secret(&server, &t2).await.starts_with("whsk_"));
        let audits = kyc_audit_logs::Entity::find().all(&ctx.db).await.unwrap();
        assert!(audits.iter().all(|a| a.actor == "task:kyc_approve"));
        // Running it again changes nothing and reports the conflict.
        assert!(
            run_task::<App>(&ctx, Some(&"kyc_approve".to_string()), &vars)
                .await
                .is_err()
        );
        assert_eq!(active_secrets(&ctx).await, 2);
    })
    .await;
}

#[tokio::test]
async fn two_approvals_at_once_leave_exactly_one_active_secret() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let app = AppSettings::get(&ctx);
        let pid = uuid::Uuid::parse_str(&id).unwrap();
        let approve = || {
            kyc::transition(
                &ctx.db,
                &app,
                pid,
                kyc::Decision::approve(),
                &kyc::Actor::Task,
            )
        };
        let (a, b) = tokio::join!(approve(), approve());
        assert_eq!(
            u8::from(a.is_ok()) + u8::from(b.is_ok()),
            1,
            "one wins, one conflicts"
        );
        assert_eq!(active_secrets(&ctx).await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_corrupt_stored_status_is_an_internal_error_never_an_approval() {
    with_app(|server, ctx| async move {
        let (_, id) = given_a_pending_application(&server, &ctx, "ada@example.com").await;
        let admin = given_an_admin(&server, &ctx).await;
        order_fellow::models::kyc::Entity::update_many()
            .col_expr(
                order_fellow::models::kyc::Column::Status,
                sea_orm::sea_query::Expr::value("bogus"),
            )
            .exec(&ctx.db)
            .await
            .unwrap();
        let res = admin_post(
            &server,
            &admin,
            &format!("/api/v1/admin/kyc/{id}/approve/"),
            None,
        )
        .await;
        res.assert_status(StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.json::<Value>(),
            json!({"error": "Internal server error"})
        );
        assert_eq!(active_secrets(&ctx).await, 0);
    })
    .await;
}
