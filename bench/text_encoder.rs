//! The hand-written `/metrics` encoder the agent used with contract v1, kept here as the
//! benchmarks' point of comparison (`bench/encoders.rs`): the text exposition format (0.0.4),
//! byte for byte what the `prometheus` crate's `TextEncoder` writes, but formatting each series'
//! label set once instead of once per line. With v1's ~300 series per instance (a histogram per
//! phase) that halved the scrape; with contract v2's ~44 it is within about 10 % of the crate's
//! encoder (bench/RESULTS.md), so the agent uses the crate's. Sample timestamps, which the
//! agent never sets, are not written.

use prometheus::proto::{LabelPair, Metric, MetricFamily, MetricType};
use std::fmt::Write;

/// Appends `families` to `out` in the text format.
pub fn encode(families: &[MetricFamily], out: &mut String) {
    let mut labels = String::new();
    for mf in families {
        let name = mf.name();
        if !mf.help().is_empty() {
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape_into(out, mf.help(), false);
            out.push('\n');
        }
        let kind = mf.get_field_type();
        out.push_str("# TYPE ");
        out.push_str(name);
        out.push_str(match kind {
            MetricType::COUNTER => " counter\n",
            MetricType::GAUGE => " gauge\n",
            MetricType::HISTOGRAM => " histogram\n",
            MetricType::SUMMARY => " summary\n",
            MetricType::UNTYPED => " untyped\n",
        });
        for m in mf.get_metric() {
            label_prefix(&mut labels, m.get_label());
            match kind {
                MetricType::COUNTER => {
                    sample(out, name, "", &labels, None, m.get_counter().value())
                }
                MetricType::GAUGE => sample(out, name, "", &labels, None, m.get_gauge().value()),
                MetricType::HISTOGRAM => histogram(out, name, &labels, m),
                MetricType::SUMMARY => {
                    let s = m.get_summary();
                    for q in s.get_quantile() {
                        let quantile = q.quantile().to_string();
                        sample(
                            out,
                            name,
                            "",
                            &labels,
                            Some(("quantile", &quantile)),
                            q.value(),
                        );
                    }
                    sample(out, name, "_sum", &labels, None, s.sample_sum());
                    sample(out, name, "_count", &labels, None, s.sample_count() as f64);
                }
                // The agent registers no untyped metric (nor can the crate encode one).
                MetricType::UNTYPED => {}
            }
        }
    }
}

fn histogram(out: &mut String, name: &str, labels: &str, m: &Metric) {
    let h = m.get_histogram();
    let mut inf_seen = false;
    let mut bound = String::new();
    for b in h.get_bucket() {
        let upper = b.upper_bound();
        bound.clear();
        let _ = write!(bound, "{upper}");
        let count = b.cumulative_count() as f64;
        sample(out, name, "_bucket", labels, Some(("le", &bound)), count);
        inf_seen |= upper.is_sign_positive() && upper.is_infinite();
    }
    if !inf_seen {
        let count = h.get_sample_count() as f64;
        sample(out, name, "_bucket", labels, Some(("le", "+Inf")), count);
    }
    sample(out, name, "_sum", labels, None, h.get_sample_sum());
    sample(
        out,
        name,
        "_count",
        labels,
        None,
        h.get_sample_count() as f64,
    );
}

/// `{a="x",b="y"` (no closing brace), or empty for a series without labels.
fn label_prefix(buf: &mut String, pairs: &[LabelPair]) {
    buf.clear();
    let mut sep = '{';
    for lp in pairs {
        buf.push(sep);
        buf.push_str(lp.name());
        buf.push_str("=\"");
        escape_into(buf, lp.value(), true);
        buf.push('"');
        sep = ',';
    }
}

fn sample(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    extra: Option<(&str, &str)>,
    value: f64,
) {
    out.push_str(name);
    out.push_str(suffix);
    out.push_str(labels);
    if let Some((k, v)) = extra {
        out.push(if labels.is_empty() { '{' } else { ',' });
        out.push_str(k);
        out.push_str("=\"");
        escape_into(out, v, true);
        out.push('"');
    }
    if !labels.is_empty() || extra.is_some() {
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Backslash and newline escaped, and the double quote too inside a label value.
fn escape_into(out: &mut String, v: &str, quote: bool) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus::{
        CounterVec, Encoder, Gauge, HistogramOpts, HistogramVec, Opts, Registry, TextEncoder,
    };

    /// Both encodings of one gathering (the process collector changes between two).
    fn both(r: &Registry) -> (String, String) {
        let families = r.gather();
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&families, &mut buf)
            .expect("encode");
        let mut ours = String::new();
        encode(&families, &mut ours);
        (ours, String::from_utf8(buf).expect("utf-8"))
    }

    #[test]
    fn identical_to_the_crates_encoder() {
        let r = Registry::new();
        let c = CounterVec::new(Opts::new("c_total", "a \\ help\nline"), &["a", "b"]).unwrap();
        let h = HistogramVec::new(
            HistogramOpts::new("h_seconds", "h").buckets(vec![0.001, 0.5, 1.0, 2.5, 1e3]),
            &["phase"],
        )
        .unwrap();
        let g = Gauge::new("g", "a gauge").unwrap();
        let plain = HistogramVec::new(HistogramOpts::new("plain_seconds", "p"), &[]).unwrap();
        r.register(Box::new(c.clone())).unwrap();
        r.register(Box::new(h.clone())).unwrap();
        r.register(Box::new(g.clone())).unwrap();
        r.register(Box::new(plain.clone())).unwrap();
        c.with_label_values(&["x", "quote \" back \\ nl \n é"])
            .inc_by(3.0);
        c.with_label_values(&["y", ""]).inc();
        for v in [0.0004, 0.2, 0.7, 3.0, 1e6, 0.5] {
            h.with_label_values(&["tls"]).observe(v);
        }
        h.with_label_values(&["connect"]);
        g.set(-1.5e-7);
        plain.with_label_values::<&str>(&[]).observe(12.25);
        let (ours, reference) = both(&r);
        assert!(reference.contains(r#"le="+Inf""#) && reference.contains(r#"\""#));
        assert_eq!(ours, reference);
    }
}
