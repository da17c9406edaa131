// Lost, junk-filed, corrupt and duplicated canaries; stored mail integrity; delivery latency.
//
// No rule reads `mailcanary_phase_seconds`: that per-phase histogram exists only when an agent
// opts in (`[agent] phase_histograms = true`). Phase timings are the gauges
// `mailcanary_phase_duration_seconds{phase}` of the last cycle.
local util = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local w = c.canaryIntegrityWindow,
    groups+: [
      {
        name: 'mailcanary.delivery',
        rules: [
          {
            record: 'probe_client_region:mailcanary_delivery_seconds:p50_5m',
            expr: |||
              histogram_quantile(0.5, sum by (probe, client, region, le) (rate(mailcanary_delivery_seconds_bucket{%(jobSelector)s}[5m])))
            ||| % c,
          },
          {
            record: 'probe_client_region:mailcanary_delivery_seconds:p99_5m',
            expr: |||
              histogram_quantile(0.99, sum by (probe, client, region, le) (rate(mailcanary_delivery_seconds_bucket{%(jobSelector)s}[5m])))
            ||| % c,
          },

          {
            alert: 'MailCanaryCanariesLost',
            expr: |||
              sum by (probe, client, region) (increase(mailcanary_canaries_total{%(sel)s,outcome="lost"}[%(w)s])) > 0
            ||| % { sel: c.jobSelector, w: w },
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Canaries accepted over SMTP were declared lost.',
              description: util.fold(|||
                {{ $value | humanize }} canaries of probe {{ $labels.probe }} with client profile
                {{ $labels.client }} in region {{ $labels.region }} were accepted over SMTP and declared
                lost in %s: they never appeared in the mailbox before the loss deadline.
              ||| % util.last(w)),
            },
          },

          {
            alert: 'MailCanaryCanariesInJunk',
            expr: |||
              sum by (probe, client, region) (increase(mailcanary_canaries_total{%(sel)s,outcome="junk"}[%(w)s])) > 0
            ||| % { sel: c.jobSelector, w: w },
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Canaries were filed into the Junk folder instead of the mailbox.',
              description: util.fold(|||
                {{ $value | humanize }} canaries of probe {{ $labels.probe }} with client profile
                {{ $labels.client }} in region {{ $labels.region }} were delivered into the account's
                Junk folder in %s: the receiving side classified them as spam, and the user would not
                see them in the mailbox.
              ||| % util.last(w)),
            },
          },

          {
            alert: 'MailCanaryCanariesCorrupt',
            expr: |||
              sum by (probe, client, region, outcome) (increase(mailcanary_canaries_total{%(sel)s,outcome=~"corrupt|duplicate"}[%(w)s])) > 0
            ||| % { sel: c.jobSelector, w: w },
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Canaries arrived altered or more than once.',
              description: util.fold(|||
                {{ $value | humanize }} canaries of probe {{ $labels.probe }} with client profile
                {{ $labels.client }} in region {{ $labels.region }} arrived with outcome
                {{ $labels.outcome }} in %s (corrupt: body or signature changed in transit or
                storage; duplicate: delivered more than once).
              ||| % util.last(w)),
            },
          },

          {
            alert: 'MailCanarySentinelBroken',
            expr: |||
              min by (probe, client, region) (mailcanary_sentinel_intact{%(jobSelector)s}) == 0
            ||| % c,
            'for': c.sentinelBrokenFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Stored sentinel messages are missing or altered in the mailbox.',
              description: util.fold(|||
                Probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                {{ $labels.region }} found a sentinel message missing or not byte-identical for at least
                %s: mail already stored in the mailbox may be lost or damaged.
              ||| % util.duration(c.sentinelBrokenFor)),
            },
          },
        ],
      },
    ],
  },
}
