//! Benchmark helper (`cargo run --release --example encoders -- N [K]`): the two `/metrics`
//! encoders side by side on the agent's own registry, filled as after one successful cycle of
//! each of `N` probe instances (default 1,000): the hand-written encoder of contract v1
//! (`bench/text_encoder.rs`) and the `prometheus` crate's `TextEncoder` (`Metrics::render`, what
//! the agent serves), `K` encodings each
//! (default 20), alternating, in one process. Checks that both write the same page, then prints
//! one JSON line:
//!
//! ```text
//! {"instances": N, "series": S, "bytes": B, "ours_ms": {...}, "crate_ms": {...}, "gather_ms": {...}}
//! ```
//!
//! with the median and maximum milliseconds per encoding for each (gather included), and
//! `gather_ms`: `Registry::gather` alone, the copy both encoders start from.

use mailcanary::config::Config;
use mailcanary::metrics::{common, phases, Metrics, MetricsOptions};
use std::time::Instant;

#[path = "text_encoder.rs"]
mod text_encoder;

/// The page as the hand-written encoder writes it.
fn render_by_hand(metrics: &Metrics) -> String {
    let families = metrics.registry.gather();
    let mut out = String::new();
    text_encoder::encode(&families, &mut out);
    out
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

/// Every series of `metrics` as after one successful cycle of each instance.
fn fill(metrics: &Metrics, config: &Config) {
    for inst in config.instances() {
        metrics.register_instance(&inst);
        let l = common(&inst);
        metrics.success.with_label_values(&l).set(1);
        metrics.cycles.with_label_values(&l).inc();
        metrics.probe_duration.with_label_values(&l).set(0.61);
        metrics.last_success.with_label_values(&l).set(1.8e9);
        metrics.delivery.with_label_values(&l).observe(0.503);
        metrics
            .canaries
            .with_label_values(&[l[0], l[1], l[2], "on_time"])
            .inc();
        for (k, p) in phases(&inst).iter().enumerate() {
            metrics
                .phase
                .with_label_values(&[l[0], l[1], l[2], p.as_str()])
                .set(0.001 * (k + 1) as f64);
        }
        for e in mailcanary::metrics::endpoints(&inst) {
            metrics
                .cert_expiry
                .with_label_values(&[l[0], l[1], l[2], &e])
                .set(1.9e9);
        }
    }
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
        fill(&metrics, &config);
        let (ours, reference) = (render_by_hand(&metrics), metrics.render());
        // The same page, but for the process_* figures (memory, CPU) that move in between.
        let steady = |p: &str| -> Vec<String> {
            p.lines()
                .filter(|l| !l.starts_with("process_"))
                .map(str::to_string)
                .collect()
        };
        if steady(&ours) != steady(&reference) {
            return Err("the two encoders wrote different pages".into());
        }
        let series = ours
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .count();
        let (mut a, mut b, mut g) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..k {
            let t = Instant::now();
            std::hint::black_box(metrics.registry.gather());
            g.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            std::hint::black_box(render_by_hand(&metrics));
            a.push(t.elapsed().as_secs_f64() * 1000.0);
            let t = Instant::now();
            std::hint::black_box(metrics.render());
            b.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        println!(
            "{{\"instances\": {n}, \"series\": {series}, \"bytes\": {}, \"ours_ms\": {}, \"crate_ms\": {}, \"gather_ms\": {}}}",
            ours.len(),
            summary(a),
            summary(b),
            summary(g)
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
