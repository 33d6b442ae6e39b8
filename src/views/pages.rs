//! Server-rendered pages: the Tera templates under `assets/views/`, built
//! into the binary (like the mail templates) and parsed once. Every `.html`
//! template escapes what it interpolates, so a company named `<script>`
//! renders as text.

use std::sync::OnceLock;

use include_dir::{include_dir, Dir};
use tera::{Context, Tera};

use crate::errors::ApiError;

static VIEWS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/assets/views");

fn templates(dir: &'static Dir<'static>, out: &mut Vec<(String, &'static str)>) {
    for file in dir.files() {
        if let Some(text) = file.contents_utf8() {
            out.push((file.path().display().to_string(), text));
        }
    }
    for sub in dir.dirs() {
        templates(sub, out);
    }
}

fn tera() -> &'static Tera {
    static TERA: OnceLock<Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut tera = Tera::default();
        tera.autoescape_on([".html"]);
        let mut all = Vec::new();
        templates(&VIEWS, &mut all);
        tera.add_raw_templates(all)
            .expect("the page templates compile");
        tera
    })
}

/// Renders `template` (a path under `assets/views/`) with `locals`.
///
/// # Errors
/// An internal error when the template fails (a missing local, say).
pub fn render(template: &str, locals: &serde_json::Value) -> Result<String, ApiError> {
    let ctx = Context::from_serialize(locals).map_err(ApiError::internal)?;
    tera().render(template, &ctx).map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_escapes() {
        let html = render(
            "error.html",
            &serde_json::json!({"status": 404, "title": "<script>alert(1)</script>", "message": "x"}),
        )
        .unwrap();
        assert!(html.contains("&lt;script&gt;"));
        assert!(!html.contains("<script>alert"));
    }
}
