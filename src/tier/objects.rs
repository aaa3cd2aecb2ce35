//! Opening the object store a URL names: `file:///absolute/dir` (created if missing) or
//! `s3://bucket[/prefix]`, configured from the usual `AWS_*` environment variables
//! (`AWS_ENDPOINT` and `AWS_ALLOW_HTTP=true` for an S3-compatible server on plain HTTP).

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::prefix::PrefixStore;

/// An object store URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("object store URL {url:?}: {reason}")]
pub struct UrlError {
    pub url: String,
    pub reason: String,
}

/// The store `url` names; paths given to it are relative to the URL's directory or prefix.
pub fn open(url: &str) -> Result<Arc<dyn ObjectStore>, UrlError> {
    let bad = |reason: String| UrlError {
        url: url.to_owned(),
        reason,
    };
    if let Some(path) = url.strip_prefix("file://") {
        if !path.starts_with('/') {
            return Err(bad(
                "a file:// URL needs an absolute path, e.g. file:///var/lib/tidemark/objects".into(),
            ));
        }
        std::fs::create_dir_all(path).map_err(|e| bad(format!("cannot create the directory: {e}")))?;
        let store = LocalFileSystem::new_with_prefix(path).map_err(|e| bad(e.to_string()))?;
        return Ok(Arc::new(store));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("an s3:// URL needs a bucket, e.g. s3://tidemark-cold/prod".into()));
        }
        let s3 = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let prefix = prefix.trim_matches('/');
        return Ok(if prefix.is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(PrefixStore::new(s3, prefix))
        });
    }
    let scheme = url.split_once("://").map_or(url, |(s, _)| s);
    Err(bad(format!(
        "scheme {scheme:?} is not supported; use file:///absolute/directory or s3://bucket/prefix"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_and_unknown_schemes_are_refused_with_the_reason() {
        let e = open("file://relative/dir").unwrap_err();
        assert!(e.reason.contains("absolute"), "{e}");
        let e = open("gs://bucket").unwrap_err();
        assert!(e.reason.contains("\"gs\""), "{e}");
        let e = open("s3://").unwrap_err();
        assert!(e.reason.contains("bucket"), "{e}");
    }

    #[test]
    fn a_local_directory_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("objects");
        open(&format!("file://{}", root.display())).unwrap();
        assert!(root.is_dir());
    }
}
