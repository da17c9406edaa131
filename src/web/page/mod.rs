//! The status page at `/`: server-rendered HTML with no external assets, readable on a phone.
//!
//! Top to bottom: the scenario banner (demo only), a one-line summary, the matrix of client ×
//! probe × region with each cell's state (a word and a mark, not colour alone), how long the
//! last delivery took and when, or how long it has been down and why; then the recent failures
//! with stage and reason in words and the server's own text; then one card per instance with its
//! latency sparkline, canaries in flight / late / lost and certificate expiry; then sentinels.
//!
//! Everything dynamic sits in `<main id="live">`, which the inline script replaces with a fresh
//! copy every few seconds; without JavaScript a meta refresh reloads the page. Every string from a
//! server or a config is escaped ([`fmt::esc`]): server replies are attacker-controlled text.
//!
//! Layout: `fmt` (escaping, times), `svg` (sparkline), `detail` (failures, cards, sentinels,
//! certificates), `assets` (CSS and script).

mod assets;
mod detail;
mod fmt;
mod svg;

use crate::status::{InstanceStatus, Notice};
use fmt::{ago, dur, esc, hhmm, latency};
use std::collections::BTreeMap;
use std::fmt::Write;

/// What one rendering shows.
pub struct View<'a> {
    pub region: &'a str,
    pub instances: &'a [InstanceStatus],
    /// Unix time of the rendering.
    pub now: f64,
    pub notice: Option<&'a Notice>,
}

/// Renders the whole page.
pub fn render(v: &View) -> String {
    let mut o = String::with_capacity(24 * 1024);
    let down = v.instances.iter().filter(|i| i.state == "down").count();
    let title = match down {
        0 => format!("mailcanary – {}", v.region),
        n => format!("({n} down) mailcanary – {}", v.region),
    };
    let _ = write!(
        o,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><noscript><meta http-equiv=\"refresh\" content=\"{r}\"></noscript>\
         <style>{css}</style></head><body>\
         <header><h1>mailcanary</h1><span class=\"muted\">region <b>{region}</b> · times in UTC</span>\
         <span id=\"refresh\" class=\"muted\">reloads every {r} s</span></header>\
         <main id=\"live\" data-now=\"{now:.0}\">",
        title = esc(&title),
        region = esc(v.region),
        r = assets::REFRESH_SECONDS,
        css = assets::CSS,
        now = v.now,
    );
    if let Some(n) = v.notice {
        banner(&mut o, n, v.now);
    }
    summary(&mut o, v);
    matrix(&mut o, v);
    detail::failures(&mut o, v.instances, v.now);
    detail::cards(&mut o, v.instances, v.now);
    detail::sentinels(&mut o, v.instances);
    detail::certificates(&mut o, v.instances, v.now);
    let script = assets::SCRIPT.replace("REFRESH_SECONDS", &assets::REFRESH_SECONDS.to_string());
    let _ = write!(
        o,
        "</main><footer><a href=\"/metrics\">/metrics</a> · <a href=\"/api/status\">/api/status</a> \
         (the same data as JSON) · mailcanary {version}\
         <noscript> · <a href=\"/\">reload</a></noscript></footer>\
         <script>{script}</script></body></html>",
        version = env!("CARGO_PKG_VERSION"),
    );
    o
}

fn banner(o: &mut String, n: &Notice, now: f64) {
    let head = if n.phase > n.phases {
        format!("{}: replay complete", n.scenario)
    } else {
        format!(
            "{} · phase {}/{}: {}",
            n.scenario, n.phase, n.phases, n.title
        )
    };
    let _ = write!(
        o,
        "<section id=\"notice\" class=\"notice\" data-phase=\"{phase}\" data-phases=\"{phases}\">\
         <p><b>{head}</b> <span class=\"muted\">since {at} ({for_})</span></p><p>{detail}</p>\
         <p class=\"muted\">Look at: {look}</p></section>",
        phase = n.phase,
        phases = n.phases,
        head = esc(&head),
        at = hhmm(n.since),
        for_ = dur(now - n.since),
        detail = esc(&n.detail),
        look = esc(&n.look_for),
    );
}

fn summary(o: &mut String, v: &View) {
    let count = |s: &str| v.instances.iter().filter(|i| i.state == s).count();
    let (up, down, unknown) = (count("up"), count("down"), count("unknown"));
    let total = v.instances.len();
    let text = if total == 0 {
        "No probe instances configured.".to_string()
    } else if down == 0 && unknown == 0 {
        format!("All {total} instances delivering.")
    } else {
        let mut t = format!("{up} of {total} delivering");
        if down > 0 {
            let _ = write!(t, ", {down} down");
        }
        if unknown > 0 {
            let _ = write!(t, ", {unknown} waiting for a first cycle");
        }
        t + "."
    };
    let _ = write!(
        o,
        "<p class=\"summary\" data-up=\"{up}\" data-down=\"{down}\">{}</p>",
        esc(&text)
    );
    let sum = |f: fn(&InstanceStatus) -> u64| v.instances.iter().map(f).sum::<u64>();
    let in_flight = sum(|i| i.in_flight.max(0) as u64);
    let (late, lost) = (sum(|i| i.late_total), sum(|i| i.lost_total));
    let junk = sum(|i| i.junk_total);
    let _ = write!(
        o,
        "<p class=\"muted\" id=\"canaries\">Canaries: <b>{in_flight}</b> in flight (accepted by \
         SMTP, not seen yet) · <b>{late}</b> late · <b>{lost}</b> lost · <b>{junk}</b> in Junk \
         since the agent started.</p>"
    );
}

/// The mark and word of a state: the state reads without colour.
fn badge(state: &str) -> (&'static str, &'static str) {
    match state {
        "up" => ("✓", "UP"),
        "down" => ("✗", "DOWN"),
        _ => ("…", "WAITING"),
    }
}

/// Class suffix for a state (only the three known values reach the markup).
fn state_class(state: &str) -> &'static str {
    match state {
        "up" => "up",
        "down" => "down",
        _ => "unknown",
    }
}

/// Rows are client profiles, columns probe · region: an agent has few probes and one region,
/// so the table stays narrow enough for a phone.
fn matrix(o: &mut String, v: &View) {
    let mut clients: Vec<&str> = Vec::new();
    let mut columns: Vec<(&str, &str)> = Vec::new();
    let mut cells: BTreeMap<(&str, &str, &str), &InstanceStatus> = BTreeMap::new();
    for i in v.instances {
        if !clients.contains(&i.client.as_str()) {
            clients.push(&i.client);
        }
        let col = (i.probe.as_str(), i.region.as_str());
        if !columns.contains(&col) {
            columns.push(col);
        }
        cells.insert((&i.client, &i.probe, &i.region), i);
    }
    o.push_str(
        "<h2>Client profiles × probes</h2><div class=\"scroll\"><table id=\"matrix\">\
         <tr><th>client profile</th>",
    );
    for (probe, region) in &columns {
        let _ = write!(
            o,
            "<th>{}<small>region {}</small></th>",
            esc(probe),
            esc(region)
        );
    }
    o.push_str("</tr>");
    for c in &clients {
        let _ = write!(o, "<tr><th>{}</th>", esc(c));
        for (probe, region) in &columns {
            match cells.get(&(*c, *probe, *region)) {
                Some(i) => cell(o, i, v.now),
                None => o.push_str("<td class=\"muted\">not run</td>"),
            }
        }
        o.push_str("</tr>");
    }
    o.push_str("</table></div>");
}

fn cell(o: &mut String, i: &InstanceStatus, now: f64) {
    let (mark, word) = badge(&i.state);
    let _ = write!(
        o,
        "<td class=\"cell c-{cls}\" data-instance=\"{probe}/{client}\" data-client=\"{client}\" \
         data-state=\"{cls}\"><span class=\"st\">{mark} {word}</span>",
        cls = state_class(&i.state),
        probe = esc(&i.probe),
        client = esc(&i.client),
    );
    match i.state.as_str() {
        "down" => {
            if let Some(t) = i.down_since {
                let _ = write!(o, "<small>down since {}, {}</small>", hhmm(t), dur(now - t));
            }
            if let Some(f) = i.failures.front() {
                let _ = write!(
                    o,
                    "<small class=\"words\" data-stage=\"{}\">{}</small>",
                    esc(&f.stage),
                    esc(&f.summary)
                );
            }
            let _ = write!(
                o,
                "<small>last delivery {}</small>",
                ago(now, i.last_success)
            );
        }
        "up" => {
            if let Some(d) = i.last_delivery_seconds {
                let _ = write!(o, "<small>delivered in {}</small>", latency(d));
            }
            let _ = write!(o, "<small>{}</small>", ago(now, i.last_success));
        }
        _ => o.push_str("<small>no cycle yet</small>"),
    }
    if i.in_flight > 0 {
        let _ = write!(o, "<small class=\"warn\">{} in flight</small>", i.in_flight);
    }
    o.push_str("</td>");
}

#[cfg(test)]
mod tests;
