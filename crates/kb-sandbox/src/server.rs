//! Listeners: the HTTPS API listener (TLS with optional client certificates) and the plain-HTTP
//! browser listener. Each request gets its transport and the peer's certificates as request
//! extensions, and API requests pass through fault injection (5xx, 429, delays, dropped
//! connections) before reaching the router.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::config::Fault;
use super::context::Ctx;

/// Certificates the TLS client presented (empty on plain HTTP or when none was sent).
#[derive(Debug, Clone, Default)]
pub struct PeerCerts(pub Arc<Vec<CertificateDer<'static>>>);

/// Which listener a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The HTTPS API listener.
    Tls,
    /// The plain-HTTP browser listener.
    Plain,
}

/// Paths that belong to KB's APIs (faults apply to them only, never to pages or control).
pub fn is_api_path(path: &str) -> bool {
    const PREFIXES: [&str; 8] = [
        "/adaa/",
        "/sandbox/adaa/",
        "/oauth2/",
        "/sandbox/oauth2/",
        "/client-registration/",
        "/sandbox/client-registration/",
        "/v2/software-statements",
        "/v3/software-statements",
    ];
    PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Serves `app` on `listener` until `shutdown` flips; TLS when `tls` is given.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    ctx: Ctx,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let Ok((stream, _peer)) = accepted else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let app = app.clone();
        let ctx = ctx.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            match tls {
                Some(acceptor) => {
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await
                    else {
                        return;
                    };
                    let certs: Vec<CertificateDer<'static>> = tls_stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .map(|c| c.iter().map(|d| d.clone().into_owned()).collect())
                        .unwrap_or_default();
                    let peer = PeerCerts(Arc::new(certs));
                    serve_conn(TokioIo::new(tls_stream), app, ctx, peer, Transport::Tls).await;
                }
                None => {
                    serve_conn(
                        TokioIo::new(stream),
                        app,
                        ctx,
                        PeerCerts::default(),
                        Transport::Plain,
                    )
                    .await;
                }
            }
        });
        while conns.try_join_next().is_some() {}
    }
    conns.abort_all();
}

async fn serve_conn<I>(io: I, app: Router, ctx: Ctx, peer: PeerCerts, transport: Transport)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let app = app.clone();
        let ctx = ctx.clone();
        let peer = peer.clone();
        async move {
            req.extensions_mut().insert(peer);
            req.extensions_mut().insert(transport);
            let path = req.uri().path();
            // KB's APIs only over HTTPS; the control endpoints only on the local plain listener.
            if (transport == Transport::Plain && is_api_path(path))
                || (transport == Transport::Tls && path.starts_with("/control"))
            {
                return Ok(not_here());
            }
            if is_api_path(req.uri().path()) {
                match ctx.take_fault(req.uri().path(), req.uri().query()) {
                    Some(Fault::Drop) => {
                        return Err(std::io::Error::other(
                            "kb sandbox: injected dropped connection",
                        ));
                    }
                    Some(Fault::Timeout) => {
                        tokio::time::sleep(ctx.fault_delay()).await;
                    }
                    Some(Fault::Error) => return Ok(gateway_fault()),
                    Some(Fault::RateLimit) => {
                        return Ok(too_many(
                            TOO_MANY,
                            ctx.cfg.behaviour.rate_limit_retry_after_secs,
                        ));
                    }
                    Some(Fault::Unchanged) => return Ok(too_many(UNCHANGED, None)),
                    None => {}
                }
            }
            let corr = req.headers().get("x-correlation-id").cloned();
            match app.oneshot(req).await {
                Ok(mut resp) => {
                    if let Some(c) = corr {
                        resp.headers_mut().entry("x-correlation-id").or_insert(c);
                    }
                    Ok(resp)
                }
                Err(never) => match never {},
            }
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    let _ = builder.serve_connection(io, svc).await;
}

fn gateway_fault() -> Response<Body> {
    let body = "<am:fault xmlns:am=\"http://wso2.org/apimanager\"><am:code>101504</am:code>\
<am:type>Status report</am:type><am:message>Runtime Error</am:message>\
<am:description>Send timeout</am:description></am:fault>";
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/xml"),
    );
    resp
}

fn not_here() -> Response<Body> {
    let body = r#"{"errors":[{"message":"Not found on this listener (KB APIs: HTTPS listener; control: plain HTTP listener)"}]}"#;
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::NOT_FOUND;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}

const TOO_MANY: &str = r#"{"errors":[{"code":"TOO_MANY_REQUESTS","message":"Too many requests"}]}"#;
const UNCHANGED: &str = r#"{"errors":[{"code":"TOO_MANY_REQUESTS","message":"Unchanged data download limit reached. Use publish-subscribe pattern (event subscriptions) to be notified about changes."}]}"#;

fn too_many(body: &'static str, retry_after_secs: Option<u64>) -> Response<Body> {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = retry_after_secs
        && let Ok(value) = header::HeaderValue::from_str(&secs.to_string())
    {
        resp.headers_mut().insert(header::RETRY_AFTER, value);
    }
    resp
}
