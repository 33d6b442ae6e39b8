//! The admin console at `/admin/`: server-rendered pages over the same model
//! methods as the API (`controllers::admin_kyc`), behind an admin's session.

mod companies;
mod kyc;
mod orders;
mod outbox;
mod summary;

use loco_rs::prelude::{get, post, Routes};

use super::sign_in;

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/admin")
        .add("/", get(summary::show))
        .add(
            "/login",
            get(sign_in::form::<true>).post(sign_in::sign_in::<true>),
        )
        .add("/logout", post(sign_in::sign_out::<true>))
        .add("/kyc", get(kyc::queue))
        .add("/kyc/{id}", get(kyc::detail))
        .add("/kyc/{id}/{action}", post(kyc::decide))
        .add("/companies", get(companies::list))
        .add("/companies/{id}", get(companies::detail))
        .add("/orders", get(orders::search))
        .add("/orders/{id}", get(orders::detail))
        .add("/outbox", get(outbox::list))
        .add("/outbox/{id}/retry", post(outbox::retry))
        .add(
            "/outbox/deliveries/{id}/retry",
            post(outbox::retry_delivery),
        )
}
