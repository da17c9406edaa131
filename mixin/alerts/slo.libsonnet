// Delivery SLO: the share of canaries on time (99 % as shipped, `_config.sloTarget`). The SLI is
// the ledger's verdict per canary, from `mailcanary_canaries_total{outcome}`: errors are `late` +
// `lost`, the total is `on_time` + `late` + `lost` (`recovered` was already counted as `lost`;
// `duplicate` and `corrupt` are extra copies and integrity problems, with alerts of their own). A
// late canary counts when it settles, that is when it finally arrives, even if a later cycle or
// the agent after a restart sees it; one that never arrives counts when it is declared lost
// (`lost_after`). A failed cycle that sent no canary is no canary outcome: MailCanaryProbeDown and
// the stage alerts cover it.
//
// THE SLO, in one place:
//   - Target: `mailcanary:slo_target:ratio`, 0.99 = 99 % of canaries on time over 30 days, an
//     error budget of 1 - 0.99 = 1 %. Every burn-rate threshold and the budget in the alert
//     descriptions are computed from this one series (and the dashboards draw it as the SLO
//     line), recorded from `_config.sloTarget`: nothing else names the number.
//   - On time: seen over IMAP within the probe's `deadline` (agent config, default 60 s). The
//     agent decides on_time / late / lost per canary; the on-time threshold is changed there.
//   - Latency threshold: `_config.latencyThresholdSeconds` (60 s), a bucket `le` of
//     `mailcanary_delivery_seconds` (Prometheus 3 writes `le="60"` as `le="60.0"`, hence the regex
//     `le=~"60|60\\.0"`). It must be a bucket bound the agent exports (docs/metrics.md lists
//     them; 60 is always one). The dashboards' latency-SLI panels follow it.
//
// Error budget 1 %. Multi-window, multi-burn-rate alerts (Google SRE workbook, chapter 5):
// page at 14.4x over 1 h and 5 m (2 % of the 30-day budget in an hour) or 6x over 6 h and 30 m
// (5 % in 6 hours); ticket at 1x over 3 d and 6 h (`_config.burnRatePage`, `burnRateTicket`).
// The long window says the burn is significant, the short one that it is still going on, so the
// alert resolves soon after it stops. The alerts keep their v1 names
// (MailCanaryDeliveryLatency...) so that routes and silences keep working; they now read the
// on-time SLI.
//
// The latency SLI (share of delivered canaries visible within 60 s) is recorded alongside, for
// dashboards and reports. Since contract v2 `mailcanary_delivery_seconds` is observed once per
// canary when it settles, late and recovered ones included, so held or deferred mail shows in it
// with its true delay. Lost canaries have no delay and are not in the histogram: the on-time SLI
// counts them, which is why the alerts read that one.
//
// Recording rules are named level:metric:operations and sit in the same group as the alerts that
// read them, so an alert always sees the value recorded in the same evaluation.
local util = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local windows = [b.long for b in c.burnRatePage] + [b.short for b in c.burnRatePage]
                    + [c.burnRateTicket.long, c.burnRateTicket.short],
    // Every window a burn-rate condition reads, shortest first: one recording rule each.
    local sliWindows = std.set(windows, util.seconds),
    local onTime(w) = 'probe_client_region:mailcanary_canaries_late_or_lost:ratio_rate' + w,
    local slow(w) = 'probe_client_region:mailcanary_delivery_slow:ratio_rate' + w,
    // The thresholds are burn rate x error budget, the budget being 1 - target:
    // `on () group_left ()` applies the one label-less target series to every probe, client
    // profile and region.
    local condition(b) = |||
      %(long)s
        > on () group_left () (%(f)s * (1 - mailcanary:slo_target:ratio))
      and
      %(short)s
        > on () group_left () (%(f)s * (1 - mailcanary:slo_target:ratio))
    ||| % { long: onTime(b.long), short: onTime(b.short), f: util.num(b.factor) },
    local indent(text) = std.join('\n', [if l == '' then '' else '  ' + l for l in std.split(text, '\n')]),
    // A Go template that prints the on-time error ratio of the alert's series over window w.
    local ratioOf(w) =
      '{{ with printf "' + onTime(w) + '{probe=%q,client=%q,region=%q}" $labels.probe $labels.client $labels.region | query }}{{ . | first | value | humanizePercentage }}{{ end }}',
    local budget = util.fold(|||
      against an error budget of
      {{ with query "1 - mailcanary:slo_target:ratio" }}{{ . | first | value | humanizePercentage }}{{ end }}
      (SLO: {{ with query "mailcanary:slo_target:ratio" }}{{ . | first | value | humanizePercentage }}{{ end }}
      of canaries on time)
    |||),

    groups+: [
      {
        name: 'mailcanary.slo',
        rules: [
          // The SLO target: `_config.sloTarget`, recorded once.
          { record: 'mailcanary:slo_target:ratio', expr: 'vector(%s)' % util.num(c.sloTarget) },
        ] + [
          // On-time SLI, error ratio: late, lost or junk-filed canaries among those settled in the
          // window (a canary in Junk was not delivered where the user reads mail).
          // NaN (no sample is compared) while no canary settles, e.g. during a held queue: the
          // held canaries count when they settle or are declared lost.
          {
            record: onTime(w),
            expr: |||
              sum by (probe, client, region) (rate(mailcanary_canaries_total{%(sel)s,outcome=~"late|lost|junk"}[%(w)s]))
              / sum by (probe, client, region) (rate(mailcanary_canaries_total{%(sel)s,outcome=~"on_time|late|lost|junk"}[%(w)s]))
            ||| % { sel: c.jobSelector, w: w },
          }
          for w in sliWindows
        ] + [
          // Latency SLI, error ratio: settled canaries (on time, late or recovered) that took
          // longer than the threshold from SMTP acceptance to being visible over IMAP. The
          // threshold is the bucket bound in `le=~"60|60\\.0"`.
          {
            record: slow(w),
            expr: |||
              1 - (
                sum by (probe, client, region) (rate(mailcanary_delivery_seconds_bucket{%(sel)s,le=~"%(le)s|%(le)s\\.0"}[%(w)s]))
                / sum by (probe, client, region) (rate(mailcanary_delivery_seconds_count{%(sel)s}[%(w)s]))
              )
            ||| % { sel: c.jobSelector, w: w, le: util.num(c.latencyThresholdSeconds) },
          }
          for w in sliWindows
        ] + [
          {
            alert: 'MailCanaryDeliveryLatencyBudgetBurn',
            expr:
              if std.length(c.burnRatePage) == 1 then condition(c.burnRatePage[0])
              else std.join('or\n', ['(\n' + indent(condition(b)) + ')\n' for b in c.burnRatePage]),
            'for': c.burnRatePageFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: "Late and lost canaries are burning the delivery SLO's error budget fast.",
              description: util.fold(
                |||
                  Probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                  {{ $labels.region }}: late or lost canaries were
                ||| + std.join(' and ', [
                  ratioOf(c.burnRatePage[0].long) + ' of the canaries settled over ' + util.duration(c.burnRatePage[0].long),
                ] + [
                  ratioOf(b.long) + ' over ' + util.duration(b.long)
                  for b in c.burnRatePage[1:]
                ]) + ', ' + budget + '. At this rate the 30-day budget is gone within days.'
              ),
            },
          },
          {
            alert: 'MailCanaryDeliveryLatencyBudgetSlowBurn',
            expr: condition(c.burnRateTicket),
            'for': c.burnRateTicketFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: "Late and lost canaries are slowly using up the delivery SLO's error budget.",
              description: util.fold(|||
                Probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                {{ $labels.region }}: {{ $value | humanizePercentage }} of the canaries settled over
                %s were late or lost,
              ||| % util.last(c.burnRateTicket.long) + budget + '.'),
            },
          },
        ],
      },
    ],
  },
}
