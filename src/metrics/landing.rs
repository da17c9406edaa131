//! Where the last verified canary landed, as metrics: `mailcanary_auth_result{method,result}`
//! (1 for the current result of each method the trusted `Authentication-Results` field gives)
//! and `mailcanary_spam_score`. No series exists for an instance before a verdict or a score
//! has been seen, so the default series budget holds; each method has at most one series (a
//! changed result moves it, a method no longer reported loses it), and the score's series goes
//! when the last canary carried none. Labels come from fixed sets only: the hop names of the
//! `Received` trail are server text and never become metrics.

use crate::landing::{AuthHeader, AuthResult, Method};
use prometheus::{GaugeVec, IntGaugeVec, Opts};

/// The two metric families.
pub struct LandingMetrics {
    pub auth_result: IntGaugeVec,
    pub spam_score: GaugeVec,
}

impl LandingMetrics {
    pub(super) fn new(common: &[&'static str]) -> Result<Self, prometheus::Error> {
        let with = |extra: &[&'static str]| -> Vec<&'static str> {
            common.iter().chain(extra).copied().collect()
        };
        Ok(LandingMetrics {
            auth_result: IntGaugeVec::new(
                Opts::new(
                    "mailcanary_auth_result",
                    "1 for the result of each method in the trusted Authentication-Results of \
                     the last verified canary (RFC 8601 results; anything else is unknown)",
                ),
                &with(&["method", "result"]),
            )?,
            spam_score: GaugeVec::new(
                Opts::new(
                    "mailcanary_spam_score",
                    "The spam score the receiving side wrote on the last verified canary that \
                     carried one",
                ),
                &with(&[]),
            )?,
        })
    }

    /// The last verified canary of instance `l`: its trusted field (if any) and its score.
    pub fn record(&self, l: [&str; 3], trusted: Option<&AuthHeader>, score: Option<f64>) {
        for m in Method::ALL {
            let now = trusted.and_then(|h| h.result(*m));
            for r in AuthResult::ALL {
                let labels = [l[0], l[1], l[2], m.as_str(), r.as_str()];
                if now == Some(*r) {
                    self.auth_result.with_label_values(&labels).set(1);
                } else {
                    let _ = self.auth_result.remove_label_values(&labels);
                }
            }
        }
        match score {
            Some(s) => self.spam_score.with_label_values(&l).set(s),
            None => {
                let _ = self.spam_score.remove_label_values(&l);
            }
        }
    }

    /// Removes every series of instance `l`.
    pub fn forget(&self, l: [&str; 3]) {
        self.record(l, None, None);
    }
}

#[cfg(test)]
mod tests {
    use crate::landing;
    use crate::metrics::{Metrics, MetricsOptions};

    const L: [&str; 3] = ["p", "c", "r"];

    fn series(m: &Metrics) -> Vec<String> {
        m.render()
            .lines()
            .filter(|l| {
                l.starts_with("mailcanary_auth_result{") || l.starts_with("mailcanary_spam_score")
            })
            .map(str::to_string)
            .collect()
    }

    fn record(m: &Metrics, block: &str) {
        let l = landing::read(block.as_bytes(), 0.0);
        m.landing.record(L, l.trusted(None), l.spam_score);
    }

    #[test]
    fn one_series_per_method_present_and_none_before_a_verdict() {
        let m = Metrics::new("r", MetricsOptions::default()).expect("metrics");
        assert!(series(&m).is_empty(), "nothing before a verdict");
        record(
            &m,
            "Authentication-Results: mx; dkim=pass; spf=pass; dmarc=pass\r\n\
             X-Spam-Score: 1.5\r\n\r\n",
        );
        let s = series(&m);
        assert_eq!(s.len(), 4, "{s:?}");
        assert!(s.iter().any(|l| l.contains("method=\"dkim\"")
            && l.contains("result=\"pass\"")
            && l.ends_with(" 1")));
        assert!(s
            .iter()
            .any(|l| l.starts_with("mailcanary_spam_score{") && l.ends_with(" 1.5")));
        // dkim turns to fail, dmarc disappears, the score goes: one dkim series, no dmarc.
        record(
            &m,
            "Authentication-Results: mx; dkim=fail; spf=pass; dkim=bogus\r\n\r\n",
        );
        let s = series(&m);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s
            .iter()
            .any(|l| l.contains("method=\"dkim\"") && l.contains("result=\"fail\"")));
        assert!(!s.iter().any(|l| l.contains("dmarc")));
        assert!(!s.iter().any(|l| l.starts_with("mailcanary_spam_score")));
        record(&m, "Authentication-Results: mx; arc=whatever\r\n\r\n");
        let s = series(&m);
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(s[0].contains("method=\"arc\"") && s[0].contains("result=\"unknown\""));
        m.landing.forget(L);
        assert!(series(&m).is_empty());
    }
}
