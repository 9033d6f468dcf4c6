//! Errors of starting and running the sandbox.

/// Sandbox start-up or persistence error.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// File system or socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Snapshot (de)serialisation failed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Certificate generation failed.
    #[error("certificate: {0}")]
    Cert(#[from] rcgen::Error),
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(#[from] rustls::Error),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}
