//! Benchmark helper (`cargo run --release --example encoders -- N [K]`): ways of writing the
//! `/metrics` page side by side on the agent's own metrics, filled as after one successful cycle
//! of each of `N` probe instances (default 1,000), `K` rounds (default 20), alternating, in one
//! process:
//!
//! - `full`: `Registry::gather` of every series and the crate's `TextEncoder` (the agent's page
//!   before it kept each instance's lines; [`Metrics::everything`] holds the same series);
//! - `v1`: the same gather and the hand-written encoder of contract v1 (`bench/text_encoder.rs`);
//! - `cold`: the agent's page ([`Metrics::render`]) with every instance written since the last
//!   one, as at the first scrape;
//! - `quarter`: the agent's page with a quarter of the instances written since the last one,
//!   what a 15 s scrape of instances on a 60 s interval sees;
//! - `none`: the agent's page with no instance written since the last one.
//!
//! The writes before `cold` and `quarter` (one cycle's worth per instance) are not timed. First
//! checks that every way writes the same page (the agent's up to the order of the series within
//! a family), then prints one JSON line:
//!
//! ```text
//! {"instances": N, "series": S, "bytes": B, "full_ms": {...}, "v1_ms": {...},
//!  "gather_ms": {...}, "cold_ms": {...}, "quarter_ms": {...}, "none_ms": {...}}
//! ```
//!
//! with the median and maximum milliseconds per page for each, and `gather_ms`:
//! `Registry::gather` alone, the copy `full` and `v1` start from.

use mailcanary::config::{Config, Instance};
use mailcanary::metrics::{by_family, phases, Metrics, MetricsOptions, NO_LABELS};
use prometheus::Registry;
use std::time::Instant;

#[path = "text_encoder.rs"]
mod text_encoder;

/// The page as the hand-written encoder writes it from a gather of every series.
fn render_by_hand(all: &Registry) -> String {
    let families = all.gather();
    let mut out = String::new();
    text_encoder::encode(&families, &mut out);
    out
}

/// The page as the agent wrote it before it kept each instance's lines.
fn render_full(all: &Registry) -> String {
    use prometheus::Encoder;
    let families = all.gather();
    let mut buf = Vec::new();
    if let Err(e) = prometheus::TextEncoder::new().encode(&families, &mut buf) {
        eprintln!("encoders: {e}");
    }
    String::from_utf8(buf).unwrap_or_default()
}

fn config(dir: &std::path::Path, n: usize) -> Result<Config, String> {
    let io = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(dir.join("probes")).map_err(io)?;
    std::fs::write(dir.join("key"), "0123456789abcdef0123456789abcdef\n").map_err(io)?;
    std::fs::write(dir.join("password"), "secret\n").map_err(io)?;
    std::fs::write(
        dir.join("mailcanary.toml"),
        "[agent]\nregion = \"bench\"\nhmac_key_file = \"key\"\nprobes = [\"probes/*.toml\"]\n",
    )
    .map_err(io)?;
    for i in 0..n {
        std::fs::write(
            dir.join(format!("probes/box{i}.toml")),
            "clients = [\"ios_mail\"]\ninterval = \"60s\"\nfrom = \"a@example.test\"\n\
             to = \"a@example.test\"\n[smtp]\nhost = \"127.0.0.1\"\npassword_file = \"../password\"\n\
             [imap]\nhost = \"127.0.0.1\"\npassword_file = \"../password\"\n",
        )
        .map_err(io)?;
    }
    Config::load(&dir.join("mailcanary.toml")).map_err(|e| e.to_string())
}

/// One successful cycle of `inst`, `x` making its figures differ from the last one's.
fn cycle(metrics: &Metrics, inst: &Instance, x: f64) {
    metrics.if_live(inst, |m| {
        m.success.set(1);
        m.cycles.inc();
        m.probe_duration.set(0.61 + x);
        m.last_success.with_label_values(NO_LABELS).set(1.8e9 + x);
        m.delivery.observe(0.503 + x);
        m.canaries.with_label_values(&["on_time"]).inc();
        for (k, p) in phases(inst).iter().enumerate() {
            m.phase
                .with_label_values(&[p.as_str()])
                .set(0.001 * (k + 1) as f64 + x);
        }
        for e in mailcanary::metrics::endpoints(inst) {
            m.cert_expiry.with_label_values(&[&e]).set(1.9e9 + x);
        }
    });
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(f64::total_cmp);
    let median = ms[ms.len() / 2];
    let max = ms[ms.len() - 1];
    format!(
        "{{\"median\": {median:.3}, \"max\": {max:.3}, \"n\": {}}}",
        ms.len()
    )
}

/// The page without the process collector's families, whose values move between two pages.
fn steady(page: &str) -> Vec<(String, Vec<String>)> {
    let mut f = by_family(page);
    f.retain(|(header, _)| !header.starts_with("# HELP process_"));
    f
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let k: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20)
        .max(1);
    let run = || -> Result<(), String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let config = config(dir.path(), n)?;
        let metrics = Metrics::new("bench", MetricsOptions::for_config(&config))
            .map_err(|e| e.to_string())?;
        let instances = config.instances();
        for inst in &instances {
            metrics.register_instance(inst);
            cycle(&metrics, inst, 0.0);
        }
        let all = metrics.everything().map_err(|e| e.to_string())?;
        let (full, ours, cached) = (render_full(&all), render_by_hand(&all), metrics.render());
        // The hand-written encoder writes the crate's page byte for byte (but for the process_*
        // figures); the agent's is the same up to the order of the series within a family.
        let lines = |p: &str| -> Vec<String> {
            p.lines()
                .filter(|l| !l.starts_with("process_"))
                .map(str::to_string)
                .collect()
        };
        if lines(&ours) != lines(&full) {
            return Err("the hand-written encoder wrote another page than the crate's".into());
        }
        if steady(&cached) != steady(&full) {
            return Err("the agent's page is not the crate's page of the same series".into());
        }
        if let Ok(path) = std::env::var("ENCODERS_DUMP") {
            let _ = std::fs::write(path, &full);
        }
        let series = full
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        let names = ["full", "v1", "gather", "cold", "quarter", "none"];
        let mut t: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
        for round in 0..k {
            let x = (round + 1) as f64 * 1e-3;
            let at = Instant::now();
            std::hint::black_box(render_full(&all));
            t[0].push(ms(at));
            let at = Instant::now();
            std::hint::black_box(render_by_hand(&all));
            t[1].push(ms(at));
            let at = Instant::now();
            std::hint::black_box(all.gather());
            t[2].push(ms(at));
            for inst in &instances {
                cycle(&metrics, inst, x);
            }
            let at = Instant::now();
            std::hint::black_box(metrics.render());
            t[3].push(ms(at));
            for inst in instances.iter().skip(round % 4).step_by(4) {
                cycle(&metrics, inst, x);
            }
            let at = Instant::now();
            let page = std::hint::black_box(metrics.render());
            t[4].push(ms(at));
            let at = Instant::now();
            std::hint::black_box(metrics.render());
            t[5].push(ms(at));
            if round == 0 && steady(&page) != steady(&render_full(&all)) {
                return Err("after a quarter changed, the agent's page is not the crate's".into());
            }
        }
        let figures: Vec<String> = (names.iter().zip(t))
            .map(|(name, t)| format!("\"{name}_ms\": {}", summary(t)))
            .collect();
        println!(
            "{{\"instances\": {n}, \"series\": {series}, \"bytes\": {}, {}}}",
            full.len(),
            figures.join(", ")
        );
        Ok(())
    };
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("encoders: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
