//! The latency sparkline: an inline SVG drawn from an instance's delivery history. Newest
//! cycle at the right; successful cycles as a line scaled to the slowest one shown, failed
//! cycles as red bars the full height, so an outage reads as a red band even without colour
//! (the bars break the line, and the caption says how many cycles failed).

use super::fmt::latency;
use crate::status::HISTORY;
use std::collections::VecDeque;
use std::fmt::Write;

const W: f64 = 240.0;
const H: f64 = 40.0;
const MIN_SLOTS: usize = 20;

/// The sparkline and its caption for `history` ((unix time, delivery seconds or `None` for a
/// failed cycle), oldest first).
pub fn sparkline(history: &VecDeque<(f64, Option<f64>)>) -> String {
    if history.is_empty() {
        return "<p class=\"spark-none\">no cycles yet</p>".into();
    }
    let n = history.len().min(HISTORY);
    let points: Vec<Option<f64>> = history
        .iter()
        .skip(history.len() - n)
        .map(|p| p.1)
        .collect();
    let ok: Vec<f64> = points.iter().flatten().copied().collect();
    let failed = n - ok.len();
    let max = ok.iter().copied().fold(0.0_f64, f64::max).max(0.001);
    // A short history is spread over at least MIN_SLOTS slots, newest at the right edge.
    let slots = n.clamp(MIN_SLOTS, HISTORY);
    let step = W / (slots - 1) as f64;
    let x0 = (slots - n) as f64 * step;
    let x = |i: usize| x0 + i as f64 * step;
    let y = |v: f64| H - 3.0 - (v / max) * (H - 6.0);

    let mut body = String::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |run: &mut Vec<(f64, f64)>, body: &mut String| {
        match run.as_slice() {
            [] => {}
            [(cx, cy)] => {
                let _ = write!(
                    body,
                    "<circle class=\"pt\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"2\"/>"
                );
            }
            pts => {
                let pts: Vec<String> = pts.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
                let _ = write!(
                    body,
                    "<polyline class=\"ln\" points=\"{}\"/>",
                    pts.join(" ")
                );
            }
        }
        run.clear();
    };
    for (i, p) in points.iter().enumerate() {
        match p {
            Some(v) => run.push((x(i), y(*v))),
            None => {
                flush(&mut run, &mut body);
                let _ = write!(
                    body,
                    "<rect class=\"fl\" x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{H}\"/>",
                    (x(i) - step / 2.0).max(0.0),
                    step.max(2.0)
                );
            }
        }
    }
    flush(&mut run, &mut body);

    let caption = if ok.is_empty() {
        format!("last {n} cycles: all failed")
    } else {
        let mut sorted = ok.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        let mut c = format!(
            "last {n} cycles: median {}, slowest {}",
            latency(median),
            latency(max)
        );
        if failed > 0 {
            let _ = write!(c, ", {failed} failed");
        }
        c
    };
    format!(
        "<svg class=\"spark\" viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"{caption}\"><title>{caption}</title>{body}</svg><p class=\"cap\">{caption}</p>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_deliveries_as_a_line_and_failures_as_bars() {
        let h: VecDeque<_> = [
            (1.0, Some(0.1)),
            (2.0, Some(0.3)),
            (3.0, None),
            (4.0, None),
            (5.0, Some(0.2)),
        ]
        .into_iter()
        .collect();
        let s = sparkline(&h);
        assert!(s.starts_with("<svg class=\"spark\""), "{s}");
        assert_eq!(s.matches("<polyline").count(), 1, "{s}");
        assert_eq!(
            s.matches("<circle").count(),
            1,
            "the lone point after the gap"
        );
        assert_eq!(s.matches("class=\"fl\"").count(), 2);
        assert!(s.contains("last 5 cycles: median 200 ms, slowest 300 ms, 2 failed"));
        assert!(!s.contains("NaN"));
    }

    #[test]
    fn all_failed_and_empty_histories_still_render() {
        let h: VecDeque<_> = [(1.0, None)].into_iter().collect();
        assert!(sparkline(&h).contains("all failed"));
        assert!(sparkline(&VecDeque::new()).contains("no cycles yet"));
    }
}
