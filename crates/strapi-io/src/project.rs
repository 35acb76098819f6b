//! Reads a Strapi project's schemas from disk: `src/api/*/content-types/*/schema.json`
//! and `src/components/<category>/<name>.json`.

use std::path::{Path, PathBuf};

use strapi_io_core::schema::{Component, ContentType, SchemaError, Schemas};

/// Why the project's schemas could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A schema file is malformed or inconsistent.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// No content type was found.
    #[error("{0}: no content types found (expected src/api/*/content-types/*/schema.json)")]
    Empty(PathBuf),
}

fn read_dir_sorted(path: &Path) -> Result<Vec<PathBuf>, ProjectError> {
    let io = |source| ProjectError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        out.push(entry.map_err(io)?.path());
    }
    out.sort();
    Ok(out)
}

fn read(path: &Path) -> Result<String, ProjectError> {
    std::fs::read_to_string(path).map_err(|source| ProjectError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn name_of(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Loads every content type and component under `src_dir` (a Strapi project's `src/`).
pub fn load_schemas(src_dir: &Path) -> Result<Schemas, ProjectError> {
    let mut schemas = Schemas::new();
    let api = src_dir.join("api");
    if api.is_dir() {
        for api_dir in read_dir_sorted(&api)? {
            let cts = api_dir.join("content-types");
            if !cts.is_dir() {
                continue;
            }
            for ct_dir in read_dir_sorted(&cts)? {
                let file = ct_dir.join("schema.json");
                if !file.is_file() {
                    continue;
                }
                let uid = format!("api::{}.{}", name_of(&api_dir), name_of(&ct_dir));
                let origin = file.display().to_string();
                let ct = ContentType::parse(&uid, &origin, &read(&file)?)?;
                schemas.add_content_type(&origin, ct)?;
            }
        }
    }
    if schemas.content_types().next().is_none() {
        return Err(ProjectError::Empty(src_dir.to_path_buf()));
    }
    let components = src_dir.join("components");
    if components.is_dir() {
        for category in read_dir_sorted(&components)? {
            if !category.is_dir() {
                continue;
            }
            for file in read_dir_sorted(&category)? {
                if file.extension().and_then(|e| e.to_str()) != Some("json") {
                    continue;
                }
                let stem = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let uid = format!("{}.{}", name_of(&category), stem);
                let origin = file.display().to_string();
                let c = Component::parse(&uid, &origin, &read(&file)?)?;
                schemas.add_component(&origin, c)?;
            }
        }
    }
    schemas.validate()?;
    Ok(schemas)
}
