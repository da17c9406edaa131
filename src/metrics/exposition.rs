//! Serving `/metrics` without delaying a probe.
//!
//! Building the page is blocking work: encoding the instances written since the last page and
//! copying every instance's kept lines (`page`), milliseconds to tens of milliseconds at a
//! thousand probe instances, the first page the most. Done on a tokio worker, it holds up the
//! probe tasks scheduled on that worker, and the instants they take (SMTP accepted, IDLE push)
//! come late by as much. So the page is encoded on tokio's blocking pool, and at most one encoding
//! runs at a time: a scrape that arrives while one is under way waits for it and serves the same
//! page, which is no older than the scrape that started it. The encoding frees its slot itself
//! when it ends, so a page is never served to a scrape that arrived after it was finished.
//! Between scrapes, the instances written meanwhile are encoded every few seconds
//! ([`Exposition::keep_fresh`]), so even the first scrape, or one after a long pause, has little
//! left to encode.

use super::Metrics;
use bytes::Bytes;
use futures::future::{BoxFuture, FutureExt, Shared};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// How often the lines of the instances written meanwhile are encoded between scrapes.
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Frees the slot of encoding `.1` when dropped: when the encoding ends, even by a panic.
struct Free<'a>(&'a Exposition, u64);

impl Drop for Free<'_> {
    fn drop(&mut self) {
        self.0.free(self.1);
    }
}

/// The page, or `None` when encoding it failed (a panic in the encoder: never expected). The
/// encoded `String`'s own buffer, shared by every scrape served from it (not copied: at ten
/// thousand instances a page is tens of megabytes).
type Page = Option<Bytes>;

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
                        let render = move || {
                            // The slot is freed when the encoding ends, not when a scrape
                            // collects it: a scrape that gave up (a Prometheus scrape timeout)
                            // must not leave a finished page for the next scrape to be served.
                            let _free = Free(&m.exposition, g);
                            m.render()
                        };
                        match tokio::task::spawn_blocking(render).await {
                            Ok(page) => Some(Bytes::from(page)),
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
        // Freed already when the encoding ended; this only covers an encoding that never ran.
        this.free(generation);
        page
    }

    /// Re-encodes the instances written meanwhile every [`REFRESH_EVERY`], off the workers,
    /// until the task is dropped: a scrape then encodes only what changed in the last few
    /// seconds, however long ago the last scrape was (the first one, or a slow cadence).
    pub async fn keep_fresh(metrics: Arc<Metrics>) {
        let mut tick = tokio::time::interval(REFRESH_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let m = metrics.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || m.refresh()).await {
                tracing::error!(error = %e, "refreshing the kept /metrics lines failed");
            }
        }
    }

    /// Empties the slot if it still holds encoding `generation`, so the next scrape encodes
    /// afresh.
    fn free(&self, generation: u64) {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            *current = None;
        }
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
    use crate::config::Instance;
    use crate::metrics::MetricsOptions;

    /// Metrics with one instance registered (probe `p`, client `thunderbird`, region `r`).
    fn metrics() -> (Arc<Metrics>, Instance) {
        let m = Arc::new(Metrics::new("test", MetricsOptions::default()).expect("metrics"));
        let i = crate::config::testing::one_instance("");
        m.register_instance(&i);
        (m, i)
    }

    /// One more cycle of the instance.
    fn cycle(m: &Metrics, i: &Instance) {
        m.if_live(i, |s| s.cycles.inc()).expect("registered");
    }

    /// A served page as text.
    fn text(page: Page) -> String {
        String::from_utf8(page.expect("page").to_vec()).expect("utf-8 page")
    }

    const CYCLES: &str =
        "mailcanary_probe_cycles_total{client=\"thunderbird\",probe=\"p\",region=\"r\"}";

    #[tokio::test(flavor = "current_thread")]
    async fn the_page_is_the_registry_encoded() {
        let (m, i) = metrics();
        cycle(&m, &i);
        let page = text(Exposition::page(&m).await);
        assert!(page.contains(&format!("{CYCLES} 1\n")), "{page}");
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
        let (m, i) = metrics();
        // Two scrapes polled together: the second joins the first one's encoding.
        let (a, b) = tokio::join!(Exposition::page(&m), Exposition::page(&m));
        let (a, b) = (a.expect("page"), b.expect("page"));
        assert_eq!(a.as_ptr(), b.as_ptr(), "both scrapes got the same page");
        assert_eq!(m.exposition.generation.load(Ordering::Relaxed), 1);
        // Once it is served, the next scrape encodes afresh and sees new values.
        cycle(&m, &i);
        let c = Exposition::page(&m).await.expect("page");
        assert_ne!(a.as_ptr(), c.as_ptr());
        let c = text(Some(c));
        assert!(c.contains(&format!("{CYCLES} 1\n")), "{c}");
        assert_eq!(m.exposition.generation.load(Ordering::Relaxed), 2);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_scrape_that_gives_up_leaves_no_finished_page_for_the_next() {
        use std::time::Duration;
        let (m, i) = metrics();
        cycle(&m, &i);
        // Polled once (its encoding starts on the blocking pool), then dropped: a scrape whose
        // client gave up.
        let mut scrape = Box::pin(Exposition::page(&m));
        assert!(
            futures::poll!(&mut scrape).is_pending(),
            "encoding under way"
        );
        drop(scrape);
        // The encoding ends by itself and frees the slot (nothing signals it: look).
        let until = tokio::time::Instant::now() + Duration::from_secs(10);
        while m.exposition.current.lock().expect("slot").is_some()
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        cycle(&m, &i);
        let page = text(Exposition::page(&m).await);
        assert!(
            page.contains(&format!("{CYCLES} 2\n")),
            "a page encoded before the value changed was served:\n{page}"
        );
    }
}
