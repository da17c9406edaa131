//! Serving `/metrics` without delaying a probe.
//!
//! Encoding the page is blocking work proportional to the number of series (tens of
//! milliseconds at a thousand probe instances). Done on a tokio worker, it holds up the probe
//! tasks scheduled on that worker, and the instants they take (SMTP accepted, IDLE push) come
//! late by as much. So the page is encoded on tokio's blocking pool, and at most one encoding
//! runs at a time: a scrape that arrives while one is under way waits for it and serves the same
//! page, which is no older than the scrape that started it.

use super::Metrics;
use futures::future::{BoxFuture, FutureExt, Shared};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// The page, or `None` when encoding it failed (a panic in the encoder: never expected).
type Page = Option<Arc<str>>;

/// The encoding under way, if any, and the size of the last page.
#[derive(Default)]
pub struct Exposition {
    /// (generation, the encoding): scrapes arriving meanwhile join it.
    current: Mutex<Option<(u64, Shared<BoxFuture<'static, Page>>)>>,
    generation: AtomicU64,
    last_len: AtomicUsize,
}

impl Exposition {
    /// The text exposition page: joins the encoding under way or starts one off the workers.
    /// `None` when the encoding failed: the scrape then fails too, rather than look like an
    /// agent with no series.
    pub async fn page(metrics: &Arc<Metrics>) -> Page {
        let this = &metrics.exposition;
        let (generation, encoding) = {
            let mut current = this.current.lock().unwrap_or_else(PoisonError::into_inner);
            match current.as_ref() {
                Some((g, f)) => (*g, f.clone()),
                None => {
                    let g = this.generation.fetch_add(1, Ordering::Relaxed);
                    let m = metrics.clone();
                    let f = async move {
                        // The blocking pool runs it to the end even if every scrape gives up.
                        match tokio::task::spawn_blocking(move || m.render()).await {
                            Ok(page) => Some(Arc::from(page)),
                            Err(e) => {
                                tracing::error!(error = %e, "encoding /metrics failed");
                                None
                            }
                        }
                    }
                    .boxed()
                    .shared();
                    *current = Some((g, f.clone()));
                    (g, f)
                }
            }
        };
        let page = encoding.await;
        // The first scrape to get the page frees the slot, so the next scrape encodes afresh.
        let mut current = this.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
        }
        page
    }

    /// Capacity for the next page: the last one's length and some room to grow.
    pub(super) fn size_hint(&self) -> usize {
        let last = self.last_len.load(Ordering::Relaxed);
        last + last / 8 + 1024
    }

    pub(super) fn remember_size(&self, len: usize) {
        self.last_len.store(len, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::MetricsOptions;

    fn metrics() -> Arc<Metrics> {
        Arc::new(Metrics::new("test", MetricsOptions::default()).expect("metrics"))
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_page_is_the_registry_encoded() {
        let m = metrics();
        m.cycles.with_label_values(&["p", "c", "test"]).inc();
        let page = Exposition::page(&m).await.expect("page");
        assert!(page.contains(
            "mailcanary_probe_cycles_total{client=\"c\",probe=\"p\",region=\"test\"} 1\n"
        ));
        // The same page as a direct render, but for the process_* figures that move meanwhile.
        let ours = |p: &str| -> Vec<String> {
            p.lines()
                .filter(|l| l.starts_with("mailcanary_"))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(ours(&page), ours(&m.render()));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn concurrent_scrapes_share_one_encoding() {
        let m = metrics();
        // Two scrapes polled together: the second joins the first one's encoding.
        let (a, b) = tokio::join!(Exposition::page(&m), Exposition::page(&m));
        let (a, b) = (a.expect("page"), b.expect("page"));
        assert!(Arc::ptr_eq(&a, &b), "both scrapes got the same page");
        assert_eq!(m.exposition.generation.load(Ordering::Relaxed), 1);
        // Once it is served, the next scrape encodes afresh and sees new values.
        m.cycles.with_label_values(&["p", "c", "test"]).inc();
        let c = Exposition::page(&m).await.expect("page");
        assert!(!Arc::ptr_eq(&a, &c));
        assert!(c.contains(
            "mailcanary_probe_cycles_total{client=\"c\",probe=\"p\",region=\"test\"} 1\n"
        ));
        assert_eq!(m.exposition.generation.load(Ordering::Relaxed), 2);
    }
}
