//! TLS for stream listeners (rustls): the server certificate and key from PEM files, and the
//! client-certificate check a connector asks for. Errors name the file and what is wrong with it.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use super::connector::{ClientAuth, TlsConfig};

/// A TLS setting the listener cannot use.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config.tls.{field}: cannot read {path}: {reason}")]
    File {
        field: &'static str,
        path: String,
        reason: String,
    },
    #[error("config.tls: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("config.tls.client_ca: {0}")]
    ClientVerifier(#[from] rustls::server::VerifierBuilderError),
}

/// The acceptor for `tls`.
pub fn acceptor(tls: &TlsConfig) -> Result<TlsAcceptor, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs = certificates("cert", &tls.cert)?;
    let key = PrivateKeyDer::from_pem_file(&tls.key).map_err(|e| file_error("key", &tls.key, &e))?;
    let builder =
        rustls::ServerConfig::builder_with_provider(Arc::clone(&provider)).with_safe_default_protocol_versions()?;
    let builder = match (&tls.client_ca, tls.client_auth) {
        (Some(ca), ClientAuth::Optional | ClientAuth::Required) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates("client_ca", ca)? {
                roots.add(cert)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if tls.client_auth == ClientAuth::Optional {
                verifier.allow_unauthenticated().build()?
            } else {
                verifier.build()?
            };
            builder.with_client_cert_verifier(verifier)
        }
        _ => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn certificates(field: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| file_error(field, path, &e))?;
    if certs.is_empty() {
        return Err(Error::File {
            field,
            path: path.display().to_string(),
            reason: "no PEM certificate in it".into(),
        });
    }
    Ok(certs)
}

fn file_error(field: &'static str, path: &Path, e: &rustls::pki_types::pem::Error) -> Error {
    Error::File {
        field,
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}
