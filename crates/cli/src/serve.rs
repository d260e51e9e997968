//! `urbis serve`: assemble store, CSE and bindings; run until SIGTERM / Ctrl-C.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::net::TcpListener;
use urbis_core::Cse;
use urbis_http::client::HttpTransport;
use urbis_security::{Door, Verifier};
use urbis_store::postgres::{PostgresOptions, PostgresStore};
use urbis_store::sqlite::SqliteStore;
use urbis_store::Store;

use crate::settings::Settings;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file (see `urbis config default`).
    #[arg(long, env = "URBIS_CONFIG")]
    config: Option<PathBuf>,
    /// HTTP address, HOST:PORT (port 0 picks a free port).
    #[arg(long, env = "URBIS_HTTP_ADDR")]
    http_addr: Option<String>,
    /// Directory of the embedded store.
    #[arg(long, env = "URBIS_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Keep all data in memory (lost on exit).
    #[arg(long, env = "URBIS_IN_MEMORY")]
    in_memory: bool,
    /// Store the data in PostgreSQL: postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long, env = "URBIS_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// PostgreSQL: this node is the database's only user (keeps a read cache;
    /// other nodes are refused). Without it, several nodes may share the database.
    #[arg(long)]
    single_node: bool,
    /// Service provider ID.
    #[arg(long)]
    sp_id: Option<String>,
    /// Serve the upper tester interface (/__ut__) for conformance suites.
    #[arg(long)]
    upper_tester: bool,
    /// Also serve requests from this MQTT broker, mqtt://HOST:PORT or mqtts://HOST:PORT (TLS; see [mqtt] ca_file).
    #[arg(long)]
    mqtt_url: Option<String>,
    /// Also serve CoAP (UDP) on this address, HOST:PORT.
    #[arg(long)]
    coap_addr: Option<String>,
    /// Also serve WebSocket connections (TS-0020) on HOST:PORT.
    #[arg(long)]
    ws_addr: Option<String>,
    /// Serve the U4SSC KPI report at GET /kpi/report?year=Y&format=html|json|csv,
    /// computed from the store with this bindings file (docs/kpi.md).
    #[arg(long)]
    kpi_bindings: Option<PathBuf>,
    /// Statistics file for the served KPI report (besides those stored on the platform).
    #[arg(long, requires = "kpi_bindings")]
    kpi_stats: Option<PathBuf>,
    /// Listen beyond loopback without authentication (trusted networks only).
    #[arg(long)]
    insecure_public: bool,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut settings = Settings::load(args.config.as_deref())?;
    if let Some(addr) = args.http_addr {
        settings.http.addr = addr;
    }
    if let Some(dir) = args.data_dir {
        settings.store.data_dir = dir;
    }
    if args.in_memory {
        settings.store.in_memory = true;
    }
    if let Some(url) = args.database_url {
        settings.store.database_url = url;
    }
    if args.single_node {
        settings.store.single_node = true;
    }
    if let Some(sp_id) = args.sp_id {
        settings.cse.sp_id = sp_id;
    }
    if args.upper_tester {
        settings.http.upper_tester = true;
    }
    if let Some(url) = args.mqtt_url {
        settings.mqtt.enabled = true;
        settings.mqtt.url = url;
    }
    if let Some(addr) = args.coap_addr {
        settings.coap.enabled = true;
        settings.coap.addr = addr;
    }
    if let Some(addr) = args.ws_addr {
        settings.ws.enabled = true;
        settings.ws.addr = addr;
    }
    if args.insecure_public {
        settings.security.insecure_public = true;
    }
    settings.validate()?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&settings.log.level)
                .context("invalid log.level")?,
        )
        .with_writer(std::io::stderr)
        .init();
    warn_about_exposure(&settings);
    let kpi = crate::kpi::served_report(args.kpi_bindings.as_deref(), args.kpi_stats.as_deref())?;
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = worker_threads(&settings) {
        runtime.worker_threads(workers);
    }
    runtime.enable_all().build()?.block_on(serve(settings, kpi))
}

/// Tokio's own choice (one worker per core, or `TOKIO_WORKER_THREADS`),
/// except for a PostgreSQL store: its reads block their worker for a round
/// trip to the server, so it gets two workers per reader connection. On a
/// shared database `la` went from 4,400/s with 2 workers to 8,700/s with 8
/// (2 cores, 4 readers).
fn worker_threads(settings: &Settings) -> Option<usize> {
    if settings.store.database_url.is_empty() || std::env::var_os("TOKIO_WORKER_THREADS").is_some()
    {
        return None;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    Some(cores.max(2 * settings.store.pool_size as usize))
}

async fn serve(
    mut settings: Settings,
    kpi: Option<crate::kpi::ServedReport>,
) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = if !settings.store.database_url.is_empty() {
        let url = &settings.store.database_url;
        Arc::new(
            PostgresStore::connect(
                url,
                &PostgresOptions {
                    readers: settings.store.pool_size as usize,
                    single_node: settings.store.single_node,
                },
            )
            .with_context(|| {
                format!(
                    "cannot open the store at {}",
                    urbis_store::postgres::describe_url(url)
                )
            })?,
        )
    } else if settings.store.in_memory {
        Arc::new(SqliteStore::in_memory()?)
    } else {
        Arc::new(SqliteStore::open(&settings.store.data_dir)?)
    };
    let verifier = match settings.security.authentication {
        true => {
            let credentials = crate::credentials::open_store(&settings)?;
            tracing::info!(credentials = %credentials.describe(), "authentication required");
            Some(Arc::new(Verifier::new(credentials)))
        }
        false => None,
    };
    let http_door = Door {
        tls: tls_acceptor("http", &settings.http.tls_files())?,
        verifier: verifier.clone(),
    };
    let ws_door = Door {
        tls: tls_acceptor("ws", &settings.ws.tls_files())?,
        verifier,
    };
    let http_scheme = if http_door.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let listener = TcpListener::bind(&settings.http.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.http.addr))?;
    let local = listener.local_addr()?;
    let coap_socket = match settings.coap.enabled {
        true => Some(
            tokio::net::UdpSocket::bind(&settings.coap.addr)
                .await
                .with_context(|| format!("cannot listen on UDP {}", settings.coap.addr))?,
        ),
        false => None,
    };
    let ws_listener = if settings.ws.enabled {
        let listener = TcpListener::bind(&settings.ws.addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.ws.addr))?;
        Some(listener)
    } else {
        None
    };
    if settings.cse.point_of_access.is_empty() {
        settings.cse.point_of_access = vec![format!("{http_scheme}://{local}")];
        if settings.mqtt.enabled {
            settings.cse.point_of_access.push(settings.mqtt.url.clone());
        }
        if let Some(socket) = &coap_socket {
            settings
                .cse
                .point_of_access
                .push(format!("coap://{}", socket.local_addr()?));
        }
        if let Some(ws) = &ws_listener {
            settings.cse.point_of_access.push(match ws_door.tls {
                Some(_) => format!("wss://{}", ws.local_addr()?),
                None => format!("ws://{}", ws.local_addr()?),
            });
        }
    }
    let cse = Cse::open(settings.cse.clone(), store.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let timeout = Duration::from_millis(settings.cse.notification_timeout_ms);
    cse.add_transport(Arc::new(
        HttpTransport::trusting(timeout, &settings.http.notification_ca_file)
            .map_err(|e| anyhow::anyhow!("{e}"))?,
    ));
    // coap:// notification targets are reachable whether or not this CSE
    // serves CoAP itself: the transport opens its own socket on first use
    cse.add_transport(Arc::new(urbis_coap::CoapTransport::new()));
    // also without the server: ws:// points of access are dialed
    let ws_transport = urbis_ws::WsTransport::new(settings.ws.clone());
    cse.add_transport(ws_transport.clone());
    cse.start_background();
    if settings.http.upper_tester {
        tracing::warn!(
            "the upper tester interface /__ut__ is enabled: for conformance testing only"
        );
    }
    tracing::info!(store = %store.describe(), cse_id = %settings.cse.cse_id, "CSE ready");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mqtt = settings.mqtt.enabled.then(|| {
        let (cse, options, mut stopped) = (cse.clone(), settings.mqtt.clone(), stopped.clone());
        tokio::spawn(async move {
            urbis_mqtt::serve(cse, options, async move {
                let _ = stopped.changed().await;
            })
            .await
        })
    });
    let coap = coap_socket.map(|socket| {
        let (cse, options, mut stopped) = (cse.clone(), settings.coap.clone(), stopped.clone());
        tokio::spawn(async move {
            urbis_coap::serve_on(socket, cse, options, async move {
                let _ = stopped.changed().await;
            })
            .await
        })
    });
    let ws = ws_listener.map(|listener| {
        let (cse, mut stopped) = (cse.clone(), stopped.clone());
        tokio::spawn(async move {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "WebSocket binding listening");
            }
            urbis_ws::serve_door(listener, cse, ws_transport, ws_door, async move {
                let _ = stopped.changed().await;
            })
            .await
        })
    });
    drop(stopped);
    // A line that scripts and tests wait for.
    println!("urbis listening on {http_scheme}://{local}");
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    };
    // The KPI report, when asked for, is served beside the oneM2M API, behind
    // the same door (TLS, limits).
    let extra = match kpi {
        None => axum::Router::new(),
        Some(kpi) => kpi.routes(store.clone(), &settings.cse.cse_name),
    };
    let http = settings.http.clone();
    urbis_http::serve_door_with(listener, cse, http, http_door, extra, shutdown).await?;
    if let Some(mqtt) = mqtt {
        mqtt.await.context("MQTT binding task")??;
    }
    if let Some(coap) = coap {
        coap.await.context("CoAP binding task")?;
    }
    if let Some(ws) = ws {
        ws.await.context("WebSocket binding task")??;
    }
    tracing::info!("shut down cleanly");
    Ok(())
}

fn tls_acceptor(
    door: &str,
    files: &urbis_security::tls::TlsFiles,
) -> anyhow::Result<Option<urbis_security::tls::TlsAcceptor>> {
    if !files.enabled() {
        return Ok(None);
    }
    urbis_security::tls::acceptor(files)
        .map(Some)
        .with_context(|| format!("[{door}] TLS"))
}

/// Say loudly when anyone on the network can reach an open door.
fn warn_about_exposure(settings: &Settings) {
    let public = settings.public_addresses();
    if public.is_empty() {
        return;
    }
    if !settings.security.authentication {
        let banner = "!".repeat(78);
        eprintln!(
            "{banner}\n!! INSECURE: listening on {} WITHOUT AUTHENTICATION (insecure_public).\n\
             !! Anyone who reaches these addresses can act as any originator.\n{banner}",
            public.join(", ")
        );
        tracing::warn!(addresses = ?public, "listening publicly without authentication (insecure_public)");
    } else if !settings.http.tls_files().enabled() {
        tracing::warn!(
            addr = %settings.http.addr,
            "authentication over plain HTTP on a public address: passwords and tokens travel in clear"
        );
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgresql_store_gets_two_workers_per_reader() {
        let mut settings = Settings::default();
        assert_eq!(
            worker_threads(&settings),
            None,
            "embedded store: Tokio's choice"
        );
        settings.store.database_url = "postgres://postgres@127.0.0.1/test".into();
        settings.store.pool_size = 6;
        if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            assert_eq!(worker_threads(&settings), Some(cores.max(12)));
        }
    }
}
