//! Where the last verified canary landed, as metrics: `mailcanary_auth_result{method,result}`
//! (1 for the current result of each method the trusted `Authentication-Results` field gives)
//! and `mailcanary_spam_score`. No series exists for an instance before a verdict or a score
//! has been seen, so the default series budget holds; each method has at most one series (a
//! changed result moves it, a method no longer reported loses it), and the score's series goes
//! when the last canary carried none. Labels come from fixed sets only: the hop names of the
//! `Received` trail are server text and never become metrics.

use super::instance::{Series, NO_LABELS};
use crate::landing::{AuthHeader, AuthResult, Method};
use prometheus::{GaugeVec, IntGaugeVec};

/// The two metric families, for one instance.
pub struct LandingMetrics {
    /// `method`, `result`.
    pub auth_result: Series<IntGaugeVec>,
    /// No label of its own: the one series exists only while the last canary carried a score.
    pub spam_score: Series<GaugeVec>,
}

impl LandingMetrics {
    /// The instance's last verified canary: its trusted field (if any) and its score.
    pub fn record(&self, trusted: Option<&AuthHeader>, score: Option<f64>) {
        for m in Method::ALL {
            let now = trusted.and_then(|h| h.result(*m));
            for r in AuthResult::ALL {
                let labels = [m.as_str(), r.as_str()];
                if now == Some(*r) {
                    self.auth_result.with_label_values(&labels).set(1);
                } else {
                    self.auth_result.remove_label_values(&labels);
                }
            }
        }
        match score {
            Some(s) => self.spam_score.with_label_values(NO_LABELS).set(s),
            None => self.spam_score.remove_label_values(NO_LABELS),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Instance;
    use crate::landing;
    use crate::metrics::{Metrics, MetricsOptions};

    fn series(m: &Metrics) -> Vec<String> {
        m.render()
            .lines()
            .filter(|l| {
                l.starts_with("mailcanary_auth_result{") || l.starts_with("mailcanary_spam_score")
            })
            .map(str::to_string)
            .collect()
    }

    fn record(m: &Metrics, i: &Instance, block: &str) {
        let l = landing::read(block.as_bytes(), 0.0);
        m.if_live(i, |s| s.landing.record(l.trusted(None), l.spam_score))
            .expect("registered");
    }

    #[test]
    fn one_series_per_method_present_and_none_before_a_verdict() {
        let m = Metrics::new("r", MetricsOptions::default()).expect("metrics");
        let i = crate::config::testing::one_instance("");
        m.register_instance(&i);
        assert!(series(&m).is_empty(), "nothing before a verdict");
        record(
            &m,
            &i,
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
            &i,
            "Authentication-Results: mx; dkim=fail; spf=pass; dkim=bogus\r\n\r\n",
        );
        let s = series(&m);
        assert_eq!(s.len(), 2, "{s:?}");
        assert!(s
            .iter()
            .any(|l| l.contains("method=\"dkim\"") && l.contains("result=\"fail\"")));
        assert!(!s.iter().any(|l| l.contains("dmarc")));
        assert!(!s.iter().any(|l| l.starts_with("mailcanary_spam_score")));
        record(&m, &i, "Authentication-Results: mx; arc=whatever\r\n\r\n");
        let s = series(&m);
        assert_eq!(s.len(), 1, "{s:?}");
        assert!(s[0].contains("method=\"arc\"") && s[0].contains("result=\"unknown\""));
        // A canary with neither: no series.
        record(&m, &i, "Subject: x\r\n\r\n");
        assert!(series(&m).is_empty());
    }
}
