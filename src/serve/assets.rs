//! The page, its script and style, and Leaflet, compiled into the binary (no Node, no network
//! at run time).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

/// (URL name, bytes) of every asset under `/assets/`.
const ASSETS: [(&str, &[u8]); 9] = [
    ("app.js", include_bytes!("web/app.js")),
    ("app.css", include_bytes!("web/app.css")),
    (
        "leaflet.js",
        include_bytes!("web/vendor/leaflet/leaflet.js"),
    ),
    (
        "leaflet.css",
        include_bytes!("web/vendor/leaflet/leaflet.css"),
    ),
    (
        "layers.png",
        include_bytes!("web/vendor/leaflet/images/layers.png"),
    ),
    (
        "layers-2x.png",
        include_bytes!("web/vendor/leaflet/images/layers-2x.png"),
    ),
    (
        "marker-icon.png",
        include_bytes!("web/vendor/leaflet/images/marker-icon.png"),
    ),
    (
        "marker-icon-2x.png",
        include_bytes!("web/vendor/leaflet/images/marker-icon-2x.png"),
    ),
    (
        "marker-shadow.png",
        include_bytes!("web/vendor/leaflet/images/marker-shadow.png"),
    ),
];

/// `GET /`: the app's page (it asks for sign-in itself).
pub async fn index() -> Html<&'static str> {
    Html(include_str!("web/index.html"))
}

/// `GET /assets/{name}` (and `/assets/images/{name}`, where Leaflet's CSS looks).
pub async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _)| *n == name) {
        Some((n, bytes)) => (
            [
                (header::CONTENT_TYPE, super::api::content_type(n)),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}
