//! The business dashboard at `/dashboard/`: KYC, the webhook secret, a test
//! order, orders and endpoints, over the same model methods as the API,
//! behind a business's session (verified e-mail required by sign-in).

mod home;
mod orders;
mod secret;

use loco_rs::prelude::{get, post, Routes};

use super::sign_in;

pub fn routes() -> Routes {
    Routes::new()
        .prefix("/dashboard")
        .add("/", get(home::show))
        .add(
            "/login",
            get(sign_in::form::<false>).post(sign_in::sign_in::<false>),
        )
        .add("/logout", post(sign_in::sign_out::<false>))
        .add("/kyc", post(home::submit_kyc))
        .add("/secret", get(secret::show))
        .add("/secret/rotate", post(secret::rotate))
        .add("/orders", get(orders::list))
        .add("/orders/{id}/status", post(orders::change_status))
        .add("/endpoints", get(home::endpoints))
}
