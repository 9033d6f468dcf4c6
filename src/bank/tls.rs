//! TLS material for the KB client: the client certificate identity used for mutual TLS (Client
//! Registration requires a qualified certificate from I.CA or PostSignum carrying the
//! organisation's name and IČO) and an optional extra CA bundle. PEM cert + key files are read
//! directly; a PKCS#12 (`.p12`/`.pfx`) file is converted in memory with `p12-keystore`, because
//! reqwest's rustls backend only accepts PEM identities.
//!
//! rustls does not check the client certificate's extended key usage, so KB-accepted certificates
//! without `clientAuth` work as they are. Server certificates are always verified.

use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::error::{Error, Result};
use crate::secret::Secret;

/// Where the client certificate and its private key come from.
#[derive(Debug, Clone)]
pub enum ClientIdentity {
    /// PEM files: the certificate (optionally followed by its chain) and the private key
    /// (PKCS#8, PKCS#1 RSA or SEC1 EC).
    Pem {
        cert_path: PathBuf,
        key_path: PathBuf,
    },
    /// A PKCS#12 file and its password.
    Pkcs12 {
        path: PathBuf,
        password: Secret<String>,
    },
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read {what} {}: {e}", path.display())))
}

/// Loads the identity into the form reqwest (rustls) wants.
pub(crate) fn load_identity(identity: &ClientIdentity) -> Result<reqwest::Identity> {
    let pem = match identity {
        ClientIdentity::Pem {
            cert_path,
            key_path,
        } => {
            let mut pem = read(cert_path, "client certificate")?;
            pem.push(b'\n');
            pem.extend(read(key_path, "client private key")?);
            pem
        }
        ClientIdentity::Pkcs12 { path, password } => {
            let der = read(path, "PKCS#12 file")?;
            pkcs12_to_pem(&der, password.expose_str())?
        }
    };
    reqwest::Identity::from_pem(&pem)
        .map_err(|e| Error::Config(format!("unusable client certificate or key: {e}")))
}

/// When the operator's client certificate (the first certificate of the identity) expires.
pub fn certificate_not_after(identity: &ClientIdentity) -> Result<time::OffsetDateTime> {
    let pem = match identity {
        ClientIdentity::Pem { cert_path, .. } => read(cert_path, "client certificate")?,
        ClientIdentity::Pkcs12 { path, password } => {
            let der = read(path, "PKCS#12 file")?;
            pkcs12_to_pem(&der, password.expose_str())?
        }
    };
    for block in x509_parser::pem::Pem::iter_from_buffer(&pem) {
        let block = block.map_err(|e| Error::Config(format!("unreadable certificate PEM: {e}")))?;
        if block.label != "CERTIFICATE" {
            continue;
        }
        let certificate = block
            .parse_x509()
            .map_err(|e| Error::Config(format!("unreadable certificate: {e}")))?;
        let not_after = certificate.validity().not_after.timestamp();
        return time::OffsetDateTime::from_unix_timestamp(not_after)
            .map_err(|e| Error::Config(format!("certificate expiry out of range: {e}")));
    }
    Err(Error::Config(
        "no certificate in the client identity".into(),
    ))
}

/// Extracts the first private key and its certificate chain from PKCS#12 data as PEM text.
pub(crate) fn pkcs12_to_pem(der: &[u8], password: &str) -> Result<Vec<u8>> {
    let store = p12_keystore::KeyStore::from_pkcs12(der, password)
        .map_err(|e| Error::Config(format!("cannot open PKCS#12 file (wrong password?): {e}")))?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| {
        Error::Config("PKCS#12 file has no private key with a certificate".into())
    })?;
    let mut pem = String::new();
    for cert in chain.chain() {
        pem.push_str(&pem_block("CERTIFICATE", cert.as_der()));
    }
    pem.push_str(&pem_block("PRIVATE KEY", chain.key()));
    Ok(pem.into_bytes())
}

fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Reads a PEM bundle of extra trusted CA certificates (e.g. a local simulator's CA).
pub(crate) fn load_ca_bundle(path: &Path) -> Result<Vec<reqwest::Certificate>> {
    let pem = read(path, "CA bundle")?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|e| Error::Config(format!("unusable CA bundle {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(Error::Config(format!(
            "CA bundle {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/bank/testdata")
            .join(name)
    }

    fn client_with(identity: &ClientIdentity) -> Result<reqwest::Client> {
        let identity = load_identity(identity)?;
        reqwest::Client::builder()
            .use_rustls_tls()
            .identity(identity)
            .build()
            .map_err(|e| Error::Config(crate::bank::error::error_chain(&e)))
    }

    #[test]
    fn the_certificate_expiry_is_read_from_pem_and_pkcs12() -> Result<()> {
        let pem = certificate_not_after(&ClientIdentity::Pem {
            cert_path: testdata("client-cert.pem"),
            key_path: testdata("client-key.pem"),
        })?;
        let p12 = certificate_not_after(&ClientIdentity::Pkcs12 {
            path: testdata("client-aes.p12"),
            password: Secret::new("test-only".to_owned()),
        })?;
        assert_eq!(pem, p12);
        assert!(pem.year() >= 2026);
        Ok(())
    }

    #[test]
    fn pem_identity_loads() -> Result<()> {
        client_with(&ClientIdentity::Pem {
            cert_path: testdata("client-cert.pem"),
            key_path: testdata("client-key.pem"),
        })?;
        Ok(())
    }

    #[test]
    fn pkcs12_identities_load_modern_and_legacy() -> Result<()> {
        for file in ["client-aes.p12", "client-legacy.p12"] {
            client_with(&ClientIdentity::Pkcs12 {
                path: testdata(file),
                password: Secret::from("test-only"),
            })?;
        }
        Ok(())
    }

    #[test]
    fn wrong_pkcs12_password_is_a_config_error_without_the_password() {
        let err = client_with(&ClientIdentity::Pkcs12 {
            path: testdata("client-aes.p12"),
            password: Secret::from("not-the-password"),
        });
        let text = format!("{:?}", err.err());
        assert!(
            text.contains("Config") && !text.contains("not-the-password"),
            "{text}"
        );
    }

    #[test]
    fn ca_bundle_loads_and_missing_file_is_reported() -> Result<()> {
        assert_eq!(load_ca_bundle(&testdata("ca.pem"))?.len(), 1);
        assert!(matches!(
            load_ca_bundle(&testdata("missing.pem")),
            Err(Error::Config(_))
        ));
        Ok(())
    }
}
