//! `socket.serverOptions.serveClient`: the socket.io-client bundles served under the
//! Socket.IO path as Node's `serveClient` serves them (`/socket.io/socket.io.js`, its `.min`,
//! `.esm.min`, `.msgpack.min` variants and their source maps), read once at start from a
//! socket.io-client `dist` directory the user points to — the project vendors none. Only
//! those file names are served (no path from the request reaches the file system); each with
//! a strong `ETag` of its contents, `If-None-Match` answered 304.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The file names served, as Node serves them.
pub(crate) const FILES: [&str; 8] = [
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
];

/// Largest file read (the bundles are tens of kilobytes, their maps a few hundred).
const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

struct File {
    body: axum::body::Bytes,
    content_type: &'static str,
    etag: HeaderValue,
}

/// The bundles found in the directory, by request path.
#[derive(Clone)]
pub(crate) struct ClientBundle {
    files: Arc<HashMap<String, File>>,
}

impl ClientBundle {
    /// Reads the bundles of `dir` to serve under `socket_path` (`/socket.io`). Fails when the
    /// directory holds none of them, or one cannot be read.
    pub(crate) fn load(dir: &Path, socket_path: &str) -> Result<Self, String> {
        let prefix = socket_path.trim_end_matches('/');
        let mut files = HashMap::new();
        for name in FILES {
            let path = dir.join(name);
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if !meta.is_file() || meta.len() > MAX_FILE_BYTES {
                return Err(format!(
                    "socket.serverOptions.serveClient: {} is not a file of at most {MAX_FILE_BYTES} bytes",
                    path.display()
                ));
            }
            let body = std::fs::read(&path).map_err(|e| {
                format!(
                    "socket.serverOptions.serveClient: cannot read {}: {e}",
                    path.display()
                )
            })?;
            let digest = hex::encode(&Sha256::digest(&body)[..12]);
            let etag = HeaderValue::from_str(&format!("\"{digest}\""))
                .map_err(|e| format!("socket.serverOptions.serveClient: {e}"))?;
            let content_type = if name.ends_with(".map") {
                "application/json; charset=utf-8"
            } else {
                "application/javascript; charset=utf-8"
            };
            files.insert(
                format!("{prefix}/{name}"),
                File {
                    body: body.into(),
                    content_type,
                    etag,
                },
            );
        }
        if files.is_empty() {
            return Err(format!(
                "socket.serverOptions.serveClient: no socket.io-client bundle ({}) in {}",
                FILES[0],
                dir.display()
            ));
        }
        Ok(ClientBundle {
            files: Arc::new(files),
        })
    }

    /// How many files are served.
    pub(crate) fn len(&self) -> usize {
        self.files.len()
    }
}

/// Middleware in front of the Socket.IO layer: answers `GET`/`HEAD` of a bundle, passes every
/// other request on.
pub(crate) async fn serve(
    State(bundle): State<ClientBundle>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    if method != Method::GET && method != Method::HEAD {
        return next.run(request).await;
    }
    let Some(file) = bundle.files.get(request.uri().path()) else {
        return next.run(request).await;
    };
    let fresh = request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == file.etag.to_str().unwrap_or_default() || tag.trim() == "*");
    let headers = [
        (header::ETAG, file.etag.clone()),
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=0"),
        ),
    ];
    if fresh {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(file.body.clone())
    };
    (
        StatusCode::OK,
        headers,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(file.content_type),
        )],
        body,
    )
        .into_response()
}
