//! The web console's files, embedded in the binary: a page at `/`, its script and styles
//! under `/console/`, and the vendored charting library (uPlot, MIT) under
//! `/console/vendor/`. The browser builds every view from the JSON API (`/v1/...`); the
//! broker only hands out these bytes, so the console needs no build step and no network
//! beyond the admin listener.

use super::http::Response;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: HTML,
        body: include_bytes!("console/index.html"),
    },
    Asset {
        path: "/console/app.js",
        content_type: JS,
        body: include_bytes!("console/app.js"),
    },
    Asset {
        path: "/console/style.css",
        content_type: CSS,
        body: include_bytes!("console/style.css"),
    },
    Asset {
        path: "/console/vendor/uPlot.iife.min.js",
        content_type: JS,
        body: include_bytes!("console/vendor/uPlot.iife.min.js"),
    },
    Asset {
        path: "/console/vendor/uPlot.min.css",
        content_type: CSS,
        body: include_bytes!("console/vendor/uPlot.min.css"),
    },
    Asset {
        path: "/console/vendor/uPlot.LICENSE",
        content_type: TEXT,
        body: include_bytes!("console/vendor/uPlot.LICENSE"),
    },
];

/// The embedded file at `path`, if there is one. `/console` and `/console/` are the page.
pub fn asset(path: &str) -> Option<Response> {
    let path = match path {
        "/console" | "/console/" | "/index.html" => "/",
        p => p,
    };
    ASSETS.iter().find(|a| a.path == path).map(|a| Response {
        status: 200,
        content_type: a.content_type,
        body: a.body.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_what_it_loads_are_served() {
        let page = asset("/").unwrap();
        assert_eq!(page.content_type, HTML);
        let html = String::from_utf8(page.body).unwrap();
        // Every local file the page names is embedded; nothing is loaded from elsewhere.
        for (at, _) in html.match_indices("/console/") {
            let rest = &html[at..];
            let end = rest.find('"').unwrap();
            let path = &rest[..end];
            assert!(
                asset(path).is_some(),
                "the page loads {path}, which is not embedded"
            );
        }
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert_eq!(asset("/console/").unwrap().body, asset("/").unwrap().body);
        assert!(asset("/console/nope.js").is_none());
        assert!(asset("/console/../Cargo.toml").is_none());
    }
}
