//! The admin console at `/admin/`: server-rendered pages over the same model
//! methods as the API (`controllers::admin_kyc`), behind an admin's session.

mod companies;
mod kyc;
mod orders;
mod outbox;
mod session;
mod summary;

use loco_rs::prelude::{get, post, Routes};

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/admin")
        .add("/", get(summary::show))
        .add("/login", get(session::form).post(session::sign_in))
        .add("/logout", post(session::sign_out))
        .add("/kyc", get(kyc::queue))
        .add("/kyc/{id}", get(kyc::detail))
        .add("/kyc/{id}/approve", post(kyc::approve))
        .add("/kyc/{id}/reject", post(kyc::reject))
        .add("/kyc/{id}/suspend", post(kyc::suspend))
        .add("/companies", get(companies::list))
        .add("/companies/{id}", get(companies::detail))
        .add("/orders", get(orders::search))
        .add("/orders/{id}", get(orders::detail))
        .add("/outbox", get(outbox::list))
        .add("/outbox/{id}/retry", post(outbox::retry))
}
