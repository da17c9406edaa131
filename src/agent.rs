//! `mailcanary run`: builds the agent from its config, serves HTTP, runs the scheduler, reloads
//! on SIGHUP or `POST /-/reload` (with `--web.enable-lifecycle`), and shuts down gracefully on
//! SIGTERM/SIGINT. With a shard (`--shard i/n` over `[agent] shard`), it runs only that shard
//! of the instances, at start and after every reload.

mod error;
mod rlimit;

pub use error::AgentError;

use crate::config::{Config, ConfigErrors, Shard};
use crate::ledger::Ledger;
use crate::metrics::{Metrics, MetricsOptions};
use crate::probe::cycle::CycleCtx;
use crate::scheduler::{Cycles, Scheduler, Shared};
use crate::secret::KeyRing;
use crate::status::StatusBoard;
use crate::tls::TlsContext;
use crate::web::security::{Auth, Security, Source};
use crate::web::{self, ReloadRequest, WebOptions, WebState};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Settled canaries and cycle results older than this are pruned from the ledger.
pub const LEDGER_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// How often the ledger is pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// How long running cycles get to finish their current step at shutdown.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// Builds what cycles need from a config: TLS roots, the ledger, the HMAC key.
pub fn cycle_ctx(config: &Config, ledger: Ledger) -> Result<CycleCtx, AgentError> {
    let tls = TlsContext::new(config.agent.ca_file.as_deref())?;
    let key = config.agent.hmac_key.load().map_err(AgentError::HmacKey)?;
    Ok(CycleCtx {
        tls,
        ledger,
        keys: KeyRing::new(key),
    })
}

/// How long a key replaced by a reload keeps verifying the canaries it signed: as long as any
/// of them can still settle as on time or late (the longest `lost_after`), plus the longest
/// cycle timeout for a canary sent just before the reload.
fn retired_key_lifetime(old: &Config, new: &Config) -> Duration {
    let timeout = |c: &Config| c.probes.iter().map(|p| p.timeout).max().unwrap_or_default();
    old.longest_lost_after()
        .max(new.longest_lost_after())
        .saturating_add(timeout(old).max(timeout(new)))
}

/// Loads a config, printing nothing; its errors display one per line.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    Config::load(path)
}

/// Where the HTTP endpoints listen, when not the config's `listen_address`.
pub enum Listen {
    /// An address to bind (`--web.listen-address`); port 0 lets the system pick one.
    Address(SocketAddr),
    /// A listener its caller bound already, so that it knew the port before the agent started
    /// (the demo prints its URLs first).
    Bound(TcpListener),
}

/// Binds the HTTP endpoints' listener at `addr` (port 0: the system picks one).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, AgentError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Bind { addr, source })
}

/// Runs the agent until `shutdown` resolves, with the HTTP server's default options.
pub async fn run(
    config_path: PathBuf,
    listen: Option<Listen>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    run_with(config_path, listen, WebOptions::default(), None, shutdown).await
}

/// Runs the agent until `shutdown` resolves, its HTTP server as `web` says; `shard` (the
/// `--shard` flag) overrides the config's `[agent] shard`, at start and at every reload.
pub async fn run_with(
    config_path: PathBuf,
    listen: Option<Listen>,
    web: WebOptions,
    shard: Option<Shard>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    match rlimit::raise_nofile() {
        Ok((old, new)) if old != new => {
            tracing::info!(from = old, to = new, "raised the open-file limit")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
    let mut config = load(&config_path)?;
    config.override_shard(shard);
    let ledger = Ledger::open(&config.agent.ledger_path)?;
    let ctx = cycle_ctx(&config, ledger.clone())?;
    // One ring for the life of the process: contexts rebuilt by a reload share it, so a key
    // retired by a reload keeps verifying in every cycle, old context or new.
    let keys = ctx.keys.clone();
    let region = config.agent.region.clone();
    let metrics = Arc::new(
        Metrics::new(&region, MetricsOptions::for_config(&config)).map_err(AgentError::Metrics)?,
    );
    metrics.switch_shard(&region, Shard::ALL, config.effective_shard());
    let status = StatusBoard::default();
    let shared = Shared {
        cycles: Arc::new(ctx),
        metrics: metrics.clone(),
        status: status.clone(),
    };
    let listener = match listen {
        Some(Listen::Bound(l)) => l,
        Some(Listen::Address(a)) => bind(a).await?,
        None => bind(config.agent.listen_address).await?,
    };
    // The address bound: with port 0, the port the system chose, which the start-up line names.
    let addr = listener.local_addr().unwrap_or(config.agent.listen_address);
    let security = Arc::new(security(&config, &web, addr)?);
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let app = web::router(
        WebState {
            metrics: metrics.clone(),
            status,
            region: region.clone(),
            reload: reload_tx,
            ledger: Some(config.agent.ledger_path.clone()),
        },
        security.clone(),
        web.enable_lifecycle,
    );
    let (server_stop_tx, server_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let limits = web.limits;
    let server = tokio::spawn(async move {
        let stop = async {
            let _ = server_stop_rx.await;
        };
        if let Err(e) = web::serve::serve(listener, app, security, limits, stop).await {
            tracing::error!(error = %e, "http server stopped");
        }
    });
    let pruner = tokio::spawn(prune_periodically(ledger.clone()));
    let refresher = tokio::spawn(crate::metrics::Exposition::keep_fresh(metrics.clone()));
    let mut scheduler = Scheduler::new(shared);
    let instances = config.agent_instances();
    tracing::info!(
        address = %addr, region = %region, probes = config.probes.len(), instances = instances.len(),
        shard = %config.effective_shard(), version = env!("CARGO_PKG_VERSION"), "mailcanary agent started"
    );
    warn_plaintext_auth(&instances);
    scheduler.apply(instances, None);
    let mut current = config;

    let mut hup = signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = hup.recv() => {
                let _ = reload(&config_path, shard, &mut current, &mut scheduler, &ledger, &keys, &metrics);
            }
            Some(reply) = reload_rx.recv() => {
                let r = reload(&config_path, shard, &mut current, &mut scheduler, &ledger, &keys, &metrics);
                let _ = reply.send(r.map_err(web::ReloadRejected::new));
            }
        }
    }
    tracing::info!("shutting down");
    pruner.abort();
    refresher.abort();
    scheduler.shutdown(SHUTDOWN_GRACE).await;
    let _ = server_stop_tx.send(());
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, server).await;
    Ok(())
}

/// TLS and basic auth for the HTTP side, from `--web.config.file` or the deprecated `[web]`
/// section; warns when the port is reachable beyond loopback without a password.
fn security(config: &Config, web: &WebOptions, addr: SocketAddr) -> Result<Security, AgentError> {
    let legacy = config.agent.web != crate::config::Web::default();
    let security = match (&web.config_file, legacy) {
        (Some(_), true) => return Err(web::WebError::BothWebConfigs.into()),
        (Some(file), false) => Security::new(Source::File(file.clone()))?,
        (None, true) => {
            tracing::warn!(
                "the [web] section of the config is deprecated and goes in the next release: \
                 move TLS and basic auth to a web config file (--web.config.file); \
                 `mailcanary check` shows how"
            );
            Security::new(Source::Legacy(config.agent.web.clone()))?
        }
        (None, false) => Security::open(),
    };
    let open = security
        .active()
        .is_none_or(|a| matches!(a.auth, Auth::Open));
    if open && !addr.ip().is_loopback() {
        tracing::warn!(
            address = %addr,
            "the HTTP endpoints are reachable beyond loopback without basic auth: set \
             basic_auth_users in a web config file (--web.config.file), or listen on 127.0.0.1"
        );
    }
    Ok(security)
}

fn signal(
    kind: tokio::signal::unix::SignalKind,
) -> Result<tokio::signal::unix::Signal, AgentError> {
    tokio::signal::unix::signal(kind).map_err(AgentError::Signal)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination() {
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    match term {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Names every instance whose client profile logs in without TLS (`allow_plaintext_auth`):
/// its password or token crosses the network in clear text.
fn warn_plaintext_auth(instances: &[crate::config::Instance]) {
    for i in instances {
        let sides = crate::config::plaintext_auth_sides(&i.client);
        if !sides.is_empty() {
            tracing::warn!(
                probe = %i.probe.name,
                client = %i.client.name,
                protocols = %sides.join(","),
                "credentials sent in clear text: the client profile logs in without TLS \
                 (allow_plaintext_auth = true)"
            );
        }
    }
}

/// Applies a new config if it is valid; otherwise keeps the old one running. The HMAC key is
/// read again whether or not its source changed: a rotated key file takes effect here, and the
/// key it replaces stays in `keys` for the canaries it signed. The `--shard` flag, if given,
/// stays over the new config's `[agent] shard`.
fn reload(
    path: &Path,
    shard: Option<Shard>,
    current: &mut Config,
    scheduler: &mut Scheduler,
    ledger: &Ledger,
    keys: &KeyRing,
    metrics: &Metrics,
) -> Result<(), AgentError> {
    let region = current.agent.region.clone();
    let result = (|| {
        let mut new = load(path)?;
        new.override_shard(shard);
        let a = (
            &new.agent.region,
            &new.agent.listen_address,
            &new.agent.ledger_path,
        );
        let b = (
            &current.agent.region,
            &current.agent.listen_address,
            &current.agent.ledger_path,
        );
        if a != b {
            return Err(AgentError::RestartOnly);
        }
        let key = new.agent.hmac_key.load().map_err(AgentError::HmacKey)?;
        let ctx: Option<Arc<dyn Cycles>> = if new.agent != current.agent {
            Some(Arc::new(CycleCtx {
                keys: keys.clone(),
                ..cycle_ctx(&new, ledger.clone())?
            }))
        } else {
            None
        };
        let keep_for = retired_key_lifetime(current, &new);
        if keys.rotate(key, keep_for, std::time::SystemTime::now()) {
            tracing::info!(
                keep_s = keep_for.as_secs(),
                "canary HMAC key changed: new canaries use the new key; the previous one \
                 still verifies canaries it signed"
            );
        }
        if MetricsOptions::for_config(&new) != metrics.options {
            // The metric set is fixed when the registry is built: changing it would reset
            // every series. Said once here, applied at the next start.
            tracing::warn!(
                "phase_histograms or the longest lost_after changed: the metric set \
                 (per-phase histograms, delivery buckets) follows at the next restart"
            );
        }
        let instances = new.agent_instances();
        warn_plaintext_auth(&instances);
        scheduler.apply(instances, ctx);
        metrics.switch_shard(&region, current.effective_shard(), new.effective_shard());
        *current = new;
        Ok(())
    })();
    let ok = result.is_ok();
    metrics
        .reload_ok
        .with_label_values(&[&region])
        .set(i64::from(ok));
    match &result {
        Ok(()) => tracing::info!(instances = scheduler.running(), "config reloaded"),
        Err(e) => tracing::error!(error = %e, "config reload rejected, old config kept"),
    }
    result
}

/// Keeps the ledger bounded: settled canaries and cycle results past [`LEDGER_RETENTION`] go.
async fn prune_periodically(ledger: Ledger) {
    let mut tick = tokio::time::interval(PRUNE_EVERY);
    loop {
        tick.tick().await;
        let before = crate::ledger::now() - LEDGER_RETENTION.as_secs_f64();
        match ledger.run(move |l| l.prune(before)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "pruned old ledger rows"),
            Err(e) => tracing::error!(error = %e, "cannot prune the ledger"),
        }
    }
}
