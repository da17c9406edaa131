//! The `/metrics` page, built from lines kept between scrapes.
//!
//! Collecting every series into the crate's protobuf copy (`Registry::gather`) and freeing it
//! again cost most of a scrape at a thousand instances, though with a 60 s probe interval and a
//! 15 s scrape only about a quarter of the instances change between two scrapes. So each
//! instance keeps its own lines (`Encoded`), per metric family, and a scrape collects and
//! encodes again only the instances written since the last one (marked by
//! [`Metrics::if_live`]). Every line is still written by the `prometheus` crate's
//! `TextEncoder`, from the proto metrics the crate makes of that instance's series; the agent's own
//! families (build, reload, shard, process) come from a `gather()` of the agent's registry.
//!
//! The page is what the crate's `TextEncoder` writes for a `gather()` of every series
//! ([`Metrics::everything`]), but for the order of the series within a family (by instance
//! here, by label values there): one `# HELP` and `# TYPE` per family, a family's series
//! together, families in name order, a family with no series left out.

use super::families::Families;
use super::instance::{Encoded, InstanceMetrics};
use super::Metrics;
use prometheus::proto::{MetricFamily, MetricType};
use prometheus::{Registry, TextEncoder};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How the instances' families are written, and one page at a time.
pub(super) struct Page(Mutex<Layout>);

struct Layout {
    /// Name, help and type of each slot (an instance's series of one family).
    slots: Vec<(String, String, MetricType)>,
    /// The slots in family-name order.
    order: Vec<usize>,
    /// The `# HELP` / `# TYPE` lines of each slot, as the encoder wrote them for the first
    /// instance that had series there.
    headers: Vec<Option<String>>,
    /// Where one family is encoded before its header is split off.
    scratch: String,
}

impl Page {
    pub(super) fn new(families: &Families) -> Page {
        let slots: Vec<(String, String, MetricType)> = (families.slots().iter())
            .map(|(c, kind)| match c.desc().first() {
                Some(d) => (d.fq_name.clone(), d.help.clone(), *kind),
                None => (String::new(), String::new(), *kind),
            })
            .collect();
        let mut order: Vec<usize> = (0..slots.len()).collect();
        order.sort_by(|a, b| slots[*a].0.cmp(&slots[*b].0));
        Page(Mutex::new(Layout {
            headers: vec![None; slots.len()],
            slots,
            order,
            scratch: String::new(),
        }))
    }
}

/// The kept lines of `m`, encoded again first if it was written since they were.
fn fresh<'a>(m: &'a InstanceMetrics, f: &mut Layout) -> MutexGuard<'a, Encoded> {
    let mut e = m.encoded.lock().unwrap_or_else(PoisonError::into_inner);
    // Cleared before collecting: a write that lands meanwhile marks it again.
    if m.dirty.swap(false, Ordering::AcqRel) {
        encode(m, &mut e, f);
    }
    e
}

/// Collects and encodes one instance's series afresh.
fn encode(m: &InstanceMetrics, into: &mut Encoded, f: &mut Layout) {
    let mut text = String::with_capacity(into.text.len() + 256);
    let mut ends = Vec::with_capacity(f.slots.len());
    for (slot, mut series) in m.collect().into_iter().enumerate() {
        if let (false, Some((name, help, kind))) = (series.is_empty(), f.slots.get(slot)) {
            // The order `Registry::gather` gives the series of a family.
            series.sort_by(|a, b| {
                let a = a.get_label().iter().map(|l| l.value());
                a.cmp(b.get_label().iter().map(|l| l.value()))
            });
            let mut family = MetricFamily::default();
            family.set_name(name.clone());
            family.set_help(help.clone());
            family.set_field_type(*kind);
            family.set_metric(series);
            f.scratch.clear();
            match TextEncoder::new().encode_utf8(&[family], &mut f.scratch) {
                Ok(()) => {
                    let body = header_len(&f.scratch);
                    if let Some(h) = f.headers.get_mut(slot).filter(|h| h.is_none()) {
                        *h = Some(f.scratch[..body].to_string());
                    }
                    text.push_str(&f.scratch[body..]);
                }
                // Only a family with no series or no name is refused: never one of ours.
                Err(e) => tracing::error!(error = %e, "cannot encode a metric family"),
            }
        }
        ends.push(text.len());
    }
    text.shrink_to_fit();
    *into = Encoded { text, ends };
}

/// Length of the `#` lines (`# HELP`, `# TYPE`) that start an encoded family.
fn header_len(s: &str) -> usize {
    let mut at = 0;
    while s[at..].starts_with('#') {
        at += s[at..].find('\n').map_or(s.len() - at, |n| n + 1);
    }
    at
}

/// Appends the agent's own families named before `name` (all of them with `None`).
fn agent_families(
    agent: &mut std::iter::Peekable<std::vec::IntoIter<MetricFamily>>,
    name: Option<&str>,
    page: &mut String,
) {
    while let Some(family) = agent.next_if(|f| name.is_none_or(|n| f.name() < n)) {
        if let Err(e) = TextEncoder::new().encode_utf8(&[family], page) {
            tracing::error!(error = %e, "cannot encode a metric family");
        }
    }
}

impl Metrics {
    /// The text exposition format of every series: the agent's own families gathered, and
    /// each instance's lines, encoded again only if it was written since the last page.
    /// Blocking work: the web handler runs it through [`super::Exposition`], off the threads
    /// that time the probes. One page is built at a time.
    pub fn render(&self) -> String {
        let mut f = self.page.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut agent = self.registry.gather().into_iter().peekable();
        let instances = self.live.snapshot();
        let lines: Vec<MutexGuard<'_, Encoded>> =
            (instances.iter()).map(|m| fresh(m, &mut f)).collect();
        let mut page = String::with_capacity(self.exposition.size_hint());
        for &slot in &f.order {
            agent_families(&mut agent, Some(&f.slots[slot].0), &mut page);
            let Some(header) = &f.headers[slot] else {
                continue;
            };
            if lines.iter().all(|e| e.lines(slot).is_empty()) {
                continue;
            }
            page.push_str(header);
            for e in &lines {
                page.push_str(e.lines(slot));
            }
        }
        agent_families(&mut agent, None, &mut page);
        self.exposition.remember_size(page.len());
        page
    }

    /// Encodes again every instance written since it was last encoded, without building a
    /// page. Run between scrapes (see [`super::Exposition::keep_fresh`]), so a scrape finds the
    /// lines of all but the most recently written instances ready, whatever the time since the
    /// last scrape. Blocking work, one page or refresh at a time.
    pub fn refresh(&self) {
        let mut f = self.page.0.lock().unwrap_or_else(PoisonError::into_inner);
        for m in self.live.snapshot().iter() {
            drop(fresh(m, &mut f));
        }
    }

    /// A registry holding every series the agent exports (the agent's own metrics and every
    /// instance family, with a process collector of its own): what the crate's `gather()` and
    /// `TextEncoder` make of it is the page [`Metrics::render`] writes, but for the order of
    /// the series within a family. The reference for tests and the benchmarks.
    pub fn everything(&self) -> Result<Registry, prometheus::Error> {
        let r = Registry::new();
        self.register_own(&r)?;
        self.families.register(&r)?;
        Ok(r)
    }
}

/// The families of a text page in order, each as its header lines (`# HELP`, `# TYPE`) and its
/// sample lines sorted: two pages with the same families are equal here even if the series
/// within a family come in another order, the one way [`Metrics::render`] may differ from the
/// crate's page ([`Metrics::everything`]). For tests and the benchmarks.
pub fn by_family(page: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in page.lines() {
        match out.last_mut() {
            Some((header, samples)) if !line.starts_with("# HELP ") => {
                if line.starts_with('#') {
                    header.push_str(line);
                    header.push('\n');
                } else {
                    samples.push(line.to_string());
                }
            }
            _ => out.push((format!("{line}\n"), Vec::new())),
        }
    }
    for (_, samples) in &mut out {
        samples.sort();
    }
    out
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
