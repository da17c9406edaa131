//! Finding the SMTP server of a mail domain: the `dns` phase of a probe that names `mx_domain`
//! instead of a host. The MX with the lowest preference is used (RFC 5321 §5.1; with no MX at
//! all, the domain's own address records, the "implicit MX"), then its addresses.
//!
//! Resolution goes to the agent's `dns_servers`, or the system resolver, afresh every cycle (no
//! cache between cycles), so a DNS outage shows in the very next cycle. Classification: SERVFAIL
//! and other server errors are `temp_fail`, no such domain or no usable record `perm_fail`, no
//! answer in time `timeout`.

use super::{Failure, Reason, Stage};
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

fn resolver(servers: &[SocketAddr], timeout: Duration) -> Result<TokioResolver, Failure> {
    let mut builder = if servers.is_empty() {
        Resolver::builder_tokio().map_err(|e| {
            Failure::new(
                Stage::Dns,
                Reason::Internal,
                format!("system resolver configuration: {e}"),
            )
        })?
    } else {
        let name_servers = servers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp, tcp])
            })
            .collect();
        Resolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), name_servers),
            TokioRuntimeProvider::default(),
        )
    };
    let opts = builder.options_mut();
    opts.cache_size = 0;
    opts.timeout = timeout;
    opts.attempts = 1;
    builder
        .build()
        .map_err(|e| Failure::new(Stage::Dns, Reason::Internal, format!("resolver: {e}")))
}

fn classify(what: &str, e: &NetError) -> Failure {
    let reason = match e {
        NetError::Dns(DnsError::NoRecordsFound(_)) => Reason::PermFail,
        NetError::Dns(DnsError::ResponseCode(_)) => Reason::TempFail,
        NetError::Timeout => Reason::Timeout,
        _ => Reason::TempFail,
    };
    Failure::new(Stage::Dns, reason, format!("{what}: {e}"))
}

/// The MX host of `domain` and its addresses at `port`.
pub async fn resolve_mx(
    domain: &str,
    servers: &[SocketAddr],
    port: u16,
    timeout: Duration,
) -> Result<(String, Vec<SocketAddr>), Failure> {
    let r = resolver(servers, timeout)?;
    let fqdn = format!("{}.", domain.trim_end_matches('.'));
    let host = match r.mx_lookup(fqdn.as_str()).await {
        Ok(lookup) => lookup
            .answers()
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                _ => None,
            })
            .min()
            .map(|(_, h)| h)
            .ok_or_else(|| {
                Failure::new(
                    Stage::Dns,
                    Reason::PermFail,
                    format!("MX {domain}: no MX record"),
                )
            })?,
        // No MX at all: the domain itself is the mail server (implicit MX).
        Err(NetError::Dns(DnsError::NoRecordsFound(ref nr)))
            if nr.response_code != ResponseCode::NXDomain =>
        {
            fqdn.clone()
        }
        Err(e) => return Err(classify(&format!("MX {domain}"), &e)),
    };
    let host = host.trim_end_matches('.').to_string();
    if host.is_empty() {
        return Err(Failure::new(
            Stage::Dns,
            Reason::PermFail,
            format!("MX {domain}: null MX (accepts no mail)"),
        ));
    }
    let ips = r
        .lookup_ip(format!("{host}.").as_str())
        .await
        .map_err(|e| classify(&format!("address of {host}"), &e))?;
    let addrs: Vec<SocketAddr> = ips
        .iter()
        .map(|ip: IpAddr| SocketAddr::new(ip, port))
        .collect();
    let addrs = with_address(&host, addrs)?;
    Ok((host, addrs))
}

/// `addrs`, unless the name resolved to none: a `dns` / `perm_fail` failure then.
pub fn with_address(host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, Failure> {
    if addrs.is_empty() {
        return Err(Failure::new(
            Stage::Dns,
            Reason::PermFail,
            format!("{host}: no address"),
        ));
    }
    Ok(addrs)
}
