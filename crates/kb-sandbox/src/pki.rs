//! The sandbox's own PKI: a CA, the HTTPS server certificate, the operator client certificate
//! (all generated on first start and kept under the data dir), the Ed25519 key that signs
//! software statements and tokens, and the rustls server configuration with optional client
//! certificates.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::Clock as _;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SigningKey,
};
use rustls::DigitallySignedStruct;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime, pem::PemObject};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};

use super::error::SandboxError;

/// Paths of the generated PEM files.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    /// CA certificate.
    pub ca_cert: PathBuf,
    /// CA key.
    pub ca_key: PathBuf,
    /// HTTPS server certificate.
    pub server_cert: PathBuf,
    /// HTTPS server key.
    pub server_key: PathBuf,
    /// Operator client certificate (signed by the CA).
    pub client_cert: PathBuf,
    /// Operator client key.
    pub client_key: PathBuf,
    /// Ed25519 signing key (PKCS#8 PEM).
    pub signing_key: PathBuf,
}

impl PkiPaths {
    fn new(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client-key.pem"),
            signing_key: dir.join("signing-key.pem"),
        }
    }

    fn all(&self) -> [&PathBuf; 7] {
        [
            &self.ca_cert,
            &self.ca_key,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
            &self.signing_key,
        ]
    }
}

/// Loaded PKI material.
pub struct Pki {
    /// File paths.
    pub paths: PkiPaths,
    /// Key signing JWS (EdDSA).
    pub signer: KeyPair,
    /// Verifier of client certificates against the CA (used by handlers).
    pub client_verifier: Arc<dyn ClientCertVerifier>,
    /// rustls server config.
    pub server_config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("paths", &self.paths)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads the PKI from `dir`, generating everything on first start.
pub fn load_or_create(dir: &Path, host_name: &str, vendor: &str) -> Result<Pki, SandboxError> {
    let paths = PkiPaths::new(dir);
    if !paths.all().iter().all(|p| p.exists()) {
        generate(&paths, host_name, vendor)?;
    }
    let signer = KeyPair::from_pem(&std::fs::read_to_string(&paths.signing_key)?)?;

    let ca_der = CertificateDer::from_pem_file(&paths.ca_cert)
        .map_err(|e| SandboxError::Other(format!("ca pem: {e}")))?;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca_der.clone())?;
    let strict = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()
        .map_err(|e| SandboxError::Other(format!("client verifier: {e}")))?;
    let optional: Arc<dyn ClientCertVerifier> = Arc::new(AnyClientCert {
        inner: strict.clone(),
    });

    let server_der = CertificateDer::from_pem_file(&paths.server_cert)
        .map_err(|e| SandboxError::Other(format!("server pem: {e}")))?;
    let server_key = PrivateKeyDer::from_pem_file(&paths.server_key)
        .map_err(|e| SandboxError::Other(format!("server key pem: {e}")))?;
    let mut server_config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(optional)
        .with_single_cert(vec![server_der, ca_der], server_key)?;
    server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    Ok(Pki {
        paths,
        signer,
        client_verifier: strict,
        server_config: Arc::new(server_config),
    })
}

fn generate(paths: &PkiPaths, host_name: &str, vendor: &str) -> Result<(), SandboxError> {
    let now = super::config::SystemClock.now();

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, "Kasa KB Sandbox CA");
    dn.push(DnType::OrganizationName, "Kasa KB Sandbox");
    ca_params.distinguished_name = dn;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.not_before = now - time::Duration::days(1);
    ca_params.not_after = now + time::Duration::days(3650);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);

    let server_key = KeyPair::generate()?;
    let mut sans = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if !sans.iter().any(|s| s == host_name) {
        sans.push(host_name.to_owned());
    }
    let mut server_params = CertificateParams::new(sans)?;
    server_params
        .distinguished_name
        .push(DnType::CommonName, "Kasa KB Sandbox API");
    server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server_params.not_before = now - time::Duration::days(1);
    server_params.not_after = now + time::Duration::days(825);
    let server_cert = server_params.signed_by(&server_key, &issuer)?;

    let client_key = KeyPair::generate()?;
    let mut client_params = CertificateParams::new(Vec::<String>::new())?;
    client_params
        .distinguished_name
        .push(DnType::CommonName, "Kasa operator");
    client_params
        .distinguished_name
        .push(DnType::OrganizationName, vendor);
    client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    client_params.not_before = now - time::Duration::days(1);
    client_params.not_after = now + time::Duration::days(825);
    let client_cert = client_params.signed_by(&client_key, &issuer)?;

    let signing_key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;

    write_private(&paths.ca_key, &ca_key.serialize_pem())?;
    std::fs::write(&paths.ca_cert, ca_cert.pem())?;
    write_private(&paths.server_key, &server_key.serialize_pem())?;
    std::fs::write(&paths.server_cert, server_cert.pem())?;
    write_private(&paths.client_key, &client_key.serialize_pem())?;
    std::fs::write(&paths.client_cert, client_cert.pem())?;
    write_private(&paths.signing_key, &signing_key.serialize_pem())?;
    Ok(())
}

fn write_private(path: &Path, pem: &str) -> Result<(), SandboxError> {
    std::fs::write(path, pem)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// Signs `msg` with the sandbox's Ed25519 key.
pub fn sign(signer: &KeyPair, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
    signer.sign(msg)
}

/// Requests a client certificate and checks the proof of possession, but leaves the trust
/// decision to the handler (so an untrusted certificate gets KB's 403 body instead of a TLS
/// alert).
#[derive(Debug)]
struct AnyClientCert {
    inner: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for AnyClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether the peer's certificate chain is signed by the sandbox CA.
pub fn is_trusted(verifier: &dyn ClientCertVerifier, chain: &[CertificateDer<'static>]) -> bool {
    match chain.split_first() {
        Some((end, rest)) => verifier
            .verify_client_cert(end, rest, UnixTime::now())
            .is_ok(),
        None => false,
    }
}
