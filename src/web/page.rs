//! The status page: server-rendered HTML, no external assets, readable on a phone.

use crate::status::InstanceStatus;
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ago(now: f64, t: Option<f64>) -> String {
    match t {
        None => "never".into(),
        Some(t) => {
            let s = (now - t).max(0.0) as u64;
            format!(
                "{} ago",
                humantime::format_duration(std::time::Duration::from_secs(s))
            )
        }
    }
}

/// Renders the page for `instances` as of `now`.
pub fn render(region: &str, instances: &[InstanceStatus], now: f64) -> String {
    let mut rows = String::new();
    for i in instances {
        let delivery = i
            .last_delivery_seconds
            .map(|d| format!("{:.0} ms", d * 1000.0))
            .unwrap_or_else(|| "–".into());
        let outage = match i.down_since {
            Some(t) => format!("down since {}", ago(now, Some(t))),
            None => String::new(),
        };
        let failure = i
            .failures
            .front()
            .filter(|_| i.state == "down")
            .map(|f| {
                format!(
                    "{} <small>({}/{})</small><br><small>{}</small>",
                    esc(&f.summary),
                    esc(&f.stage),
                    esc(&f.reason),
                    esc(&f.detail)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            rows,
            "<tr class=\"{state}\"><td>{probe}</td><td>{client}</td><td>{region}</td>\
             <td class=\"st\">{state}</td><td>{delivery}</td><td>{last}</td><td>{inflight}</td>\
             <td>{outage}<br>{failure}</td></tr>",
            state = esc(&i.state),
            probe = esc(&i.probe),
            client = esc(&i.client),
            region = esc(&i.region),
            last = ago(now, i.last_success),
            inflight = i.in_flight,
        );
    }
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>mailcanary – {region}</title><style>\
         body{{font-family:system-ui,sans-serif;margin:1em}}table{{border-collapse:collapse;width:100%}}\
         td,th{{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}}\
         tr.up .st{{background:#c8f0c8}}tr.down .st{{background:#f6c0c0}}tr.unknown .st{{background:#eee}}\
         </style></head><body><h1>mailcanary <small>region {region}</small></h1>\
         <table><tr><th>probe</th><th>client</th><th>region</th><th>state</th><th>last delivery</th>\
         <th>last success</th><th>in flight</th><th>problem</th></tr>{rows}</table>\
         <p><a href=\"/metrics\">metrics</a> · <a href=\"/api/status\">json</a></p></body></html>",
        region = esc(region)
    )
}
