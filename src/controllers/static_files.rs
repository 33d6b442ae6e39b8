//! `/static/*` and `/docs`: the files under `assets/static/`, built into the
//! binary (`include_dir`), so they are served whatever the working directory
//! and with no internet access: the vendored API reference viewer
//! (`scripts/vendor-docs.sh`) and the pages' stylesheets.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use include_dir::{include_dir, Dir};
use loco_rs::prelude::{get, Routes};

use super::extract::ApiPath;
use crate::errors::{ApiError, ApiResult};

static ASSETS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets/static");

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "text/plain; charset=utf-8",
    }
}

/// The embedded file at `path`, or 404. Paths are looked up in the embedded
/// tree only: nothing reaches the file system.
fn serve(path: &str) -> ApiResult {
    let file = ASSETS.get_file(path).ok_or_else(ApiError::not_found)?;
    Ok((
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        file.contents(),
    )
        .into_response())
}

/// `GET /static/<path>`
async fn file(ApiPath(path): ApiPath<String>) -> ApiResult {
    serve(&path)
}

/// `GET /docs` → the interactive API reference.
async fn docs() -> Response {
    serve("docs/index.html").into_response()
}

pub fn routes() -> Routes {
    Routes::new()
        .add("/static/{*path}", get(file))
        .add("/docs", get(docs))
}
