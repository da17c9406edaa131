//! The status page below the matrix: recent failures in words, one card per instance
//! (sparkline, canaries, outage), sentinels and certificate expiry.

use super::fmt::{ago, clip, dur, esc, hhmm, hhmmss, latency};
use super::svg::sparkline;
use super::{badge, state_class};
use crate::status::{FailureView, InstanceStatus, LandedView, SentinelSummary};
use std::collections::BTreeMap;
use std::fmt::Write;

/// Entries shown in the "Recent failures" list.
const SHOWN_FAILURES: usize = 8;
/// Characters of a server's reply shown.
const DETAIL_CHARS: usize = 400;
/// Certificates expiring sooner than this many days are flagged.
const CERT_WARN_DAYS: f64 = 14.0;

/// Repeats of one failure of one instance: the newest, when the oldest was, how many.
struct Group<'a> {
    inst: &'a InstanceStatus,
    newest: &'a FailureView,
    oldest: f64,
    count: usize,
}

/// Recent failures across every instance, newest first: when, which instance, stage and
/// reason in words (and as labels), and what the server said. Repeats of the same failure of
/// the same instance are folded into one entry with a count and a time span.
pub fn failures(o: &mut String, instances: &[InstanceStatus], now: f64) {
    let mut all: Vec<(&InstanceStatus, &FailureView)> = instances
        .iter()
        .flat_map(|i| i.failures.iter().map(move |f| (i, f)))
        .collect();
    all.sort_by(|a, b| b.1.at.total_cmp(&a.1.at));
    let mut groups: Vec<Group> = Vec::new();
    for (inst, f) in all {
        let same = |g: &&mut Group| {
            std::ptr::eq(g.inst, inst)
                && g.newest.stage == f.stage
                && g.newest.reason == f.reason
                && g.newest.detail == f.detail
        };
        match groups.iter_mut().find(same) {
            Some(g) => {
                g.oldest = f.at;
                g.count += 1;
            }
            None => groups.push(Group {
                inst,
                newest: f,
                oldest: f.at,
                count: 1,
            }),
        }
    }
    o.push_str("<h2>Recent failures</h2>");
    if groups.is_empty() {
        o.push_str("<p class=\"muted\" id=\"failures\">None since the agent started.</p>");
        return;
    }
    o.push_str("<ul class=\"fails\" id=\"failures\">");
    for g in groups.into_iter().take(SHOWN_FAILURES) {
        let (i, f, oldest, n) = (g.inst, g.newest, g.oldest, g.count);
        let when = if n > 1 {
            format!(
                "{n} cycles, {} → {} ({})",
                hhmmss(oldest),
                hhmmss(f.at),
                ago(now, Some(f.at))
            )
        } else {
            format!("{} ({})", hhmmss(f.at), ago(now, Some(f.at)))
        };
        let _ = write!(
            o,
            "<li data-instance=\"{probe}/{client}\" data-stage=\"{stage}\" data-reason=\"{reason}\">\
             <span class=\"muted\">{probe} / {client} · {when}</span><br>\
             <span class=\"words\">{summary}</span> <code>{stage}</code> <code>{reason}</code>\
             <span class=\"detail\">{detail}</span></li>",
            probe = esc(&i.probe),
            client = esc(&i.client),
            stage = esc(&f.stage),
            reason = esc(&f.reason),
            summary = esc(&f.summary),
            detail = clip(&f.detail, DETAIL_CHARS),
        );
    }
    o.push_str("</ul>");
}

/// One card per instance.
pub fn cards(o: &mut String, instances: &[InstanceStatus], now: f64) {
    o.push_str("<h2>Instances</h2><div class=\"cards\">");
    for i in instances {
        card(o, i, now);
    }
    o.push_str("</div>");
}

fn card(o: &mut String, i: &InstanceStatus, now: f64) {
    let (mark, word) = badge(&i.state);
    let _ = write!(
        o,
        "<section class=\"card k-{cls}\" data-instance=\"{probe}/{client}\" data-state=\"{cls}\">\
         <h3>{probe} / {client} <span class=\"muted\">{region}</span></h3>\
         <span class=\"st\">{mark} {word}</span>",
        cls = state_class(&i.state),
        probe = esc(&i.probe),
        client = esc(&i.client),
        region = esc(&i.region),
    );
    o.push_str(&sparkline(&i.history));
    o.push_str("<dl>");
    if let Some(t) = i.down_since {
        let _ = write!(
            o,
            "<dt>outage</dt><dd class=\"warn\">down since {}, {}</dd>",
            hhmm(t),
            dur(now - t)
        );
    }
    if let (Some(f), "down") = (i.failures.front(), i.state.as_str()) {
        let _ = write!(
            o,
            "<dt>failing at</dt><dd><span class=\"words\">{}</span><span class=\"detail\">{}</span></dd>",
            esc(&f.summary),
            clip(&f.detail, DETAIL_CHARS)
        );
    }
    let last = match i.last_delivery_seconds {
        Some(d) => format!("{}, {}", latency(d), ago(now, i.last_success)),
        None => "never".into(),
    };
    let _ = write!(
        o,
        "<dt>last delivery</dt><dd>{last}</dd><dt>last cycle</dt><dd>{}</dd>\
         <dt>in flight</dt><dd data-k=\"in_flight\">{}</dd>\
         <dt>late</dt><dd data-k=\"late\">{}</dd><dt>lost</dt><dd data-k=\"lost\">{}{}</dd>\
         <dt>in Junk</dt><dd data-k=\"junk\">{}</dd>",
        ago(now, i.last_cycle),
        i.in_flight,
        i.late_total,
        i.lost_total,
        if i.recovered_total > 0 {
            format!(" ({} recovered later)", i.recovered_total)
        } else {
            String::new()
        },
        i.junk_total
    );
    if let Some(l) = &i.landed {
        landed(o, l);
    }
    o.push_str("</dl><p class=\"cap\">in flight: accepted by SMTP, not seen yet; late, lost and in Junk: since the agent started</p></section>");
}

/// Where the last verified canary landed: the trusted verdicts (and whose), the spam score,
/// the hops. All of it is server text: escaped, and already bounded by [`crate::landing`].
fn landed(o: &mut String, l: &LandedView) {
    let verdicts = match &l.trusted {
        Some(h) => format!(
            "{} <span class=\"muted\">({})</span>",
            esc(&h.summary()),
            clip(&h.authserv_id, DETAIL_CHARS)
        ),
        None => "<span class=\"muted\">no trusted Authentication-Results</span>".into(),
    };
    let score = l
        .spam_score
        .map(|s| esc(&s.to_string()))
        .unwrap_or_else(|| "<span class=\"muted\">none written</span>".into());
    let _ = write!(
        o,
        "<dt>verdicts</dt><dd data-k=\"auth\">{verdicts}</dd>\
         <dt>spam score</dt><dd data-k=\"spam_score\">{score}</dd><dt>hops</dt><dd data-k=\"hops\">"
    );
    if l.hops.is_empty() {
        o.push_str("<span class=\"muted\">no Received fields</span>");
    } else {
        o.push_str("<ol class=\"hops\">");
        for h in &l.hops {
            let _ = write!(
                o,
                "<li>{} <span class=\"muted\">{}</span> {}</li>",
                clip(h.by.as_deref().unwrap_or("?"), DETAIL_CHARS),
                clip(h.with.as_deref().unwrap_or("?"), DETAIL_CHARS),
                esc(&h.delay_text())
            );
        }
        o.push_str("</ol>");
    }
    o.push_str("</dd>");
}

/// Sentinels: stored messages planted once and checked for presence, bytes and flags.
pub fn sentinels(o: &mut String, instances: &[InstanceStatus]) {
    o.push_str("<h2>Stored mail (sentinels)</h2>");
    let summary = SentinelSummary::of(instances);
    match summary.state {
        "not_configured" => o.push_str(
            "<p id=\"sentinels\" data-state=\"not_configured\"><b>not configured</b> \
             <span class=\"muted\">— plant them with <code>mailcanary sentinel plant -c FILE \
             --probe NAME</code>; each cycle then checks they are present, byte-identical and \
             keep their flags.</span></p>",
        ),
        "intact" => {
            let _ = write!(
                o,
                "<p id=\"sentinels\" data-state=\"intact\"><b>intact</b> \
                 <span class=\"muted\">— every sentinel present and byte-identical ({} probe instance(s) checking)</span></p>",
                summary.checking
            );
        }
        _ => {
            o.push_str("<p id=\"sentinels\" data-state=\"broken\"><b>BROKEN</b> — stored mail changed or went missing:</p><ul>");
            for b in &summary.broken {
                let _ = write!(
                    o,
                    "<li>{}/{}/{}: {}</li>",
                    esc(&b.probe),
                    esc(&b.client),
                    esc(&b.region),
                    esc(&b.detail)
                );
            }
            o.push_str("</ul>");
        }
    }
}

/// Certificate expiry per endpoint, the earliest notAfter seen by any instance.
pub fn certificates(o: &mut String, instances: &[InstanceStatus], now: f64) {
    let mut certs: BTreeMap<&str, i64> = BTreeMap::new();
    for i in instances {
        for (e, t) in &i.certs {
            let v = certs.entry(e).or_insert(*t);
            *v = (*v).min(*t);
        }
    }
    o.push_str("<h2>Certificates</h2>");
    if certs.is_empty() {
        o.push_str("<p class=\"muted\">No TLS handshake seen yet.</p>");
        return;
    }
    o.push_str("<div class=\"scroll\"><table id=\"certs\"><tr><th>endpoint</th><th>expires</th><th>days left</th></tr>");
    for (e, t) in certs {
        let days = (t as f64 - now) / 86_400.0;
        let when = humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.max(0) as u64),
        );
        let left = if days < 0.0 {
            "<span class=\"warn\">EXPIRED</span>".to_string()
        } else if days < CERT_WARN_DAYS {
            format!("<span class=\"warn\">{days:.0} (soon)</span>")
        } else {
            format!("{days:.0}")
        };
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{when}</td><td>{left}</td></tr>",
            esc(e)
        );
    }
    o.push_str("</table></div>");
}
