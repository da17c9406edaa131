// The overview dashboard, rows "Delivery SLO and latency" and "Which step fails?".
// A function of the mixin's `_config`; gridPos is [x, y, w, h].
local lib = import 'lib.libsonnet';

function(cfg)
  local v = lib.vars(cfg), t = lib.target;
  [
    lib.row(9, 'Delivery SLO and latency (SMTP accepted → visible over IMAP)', 24),
    lib.panel(
      10,
      'timeseries',
      'Delivery latency p50 / p99',
      'From the end of SMTP DATA to the canary being visible over IMAP, for every canary when it settles: on time, late (seen by a later cycle or after a restart) and recovered alike. Lost canaries are not in it (see Canaries on time). A polling client profile cannot measure below its poll interval.',
      [0, 25, 12, 9],
      [
        t('A', 'histogram_quantile(0.99, sum by (probe, client, region, le) (rate(mailcanary_delivery_seconds_bucket{%(sel)s}[$__rate_interval])))' % v, 'p99 {{probe}} / {{client}} / {{region}}'),
        t('B', 'histogram_quantile(0.5, sum by (probe, client, region, le) (rate(mailcanary_delivery_seconds_bucket{%(sel)s}[$__rate_interval])))' % v, 'p50 {{probe}} / {{client}} / {{region}}'),
      ],
      {
        fieldConfig: {
          defaults: { unit: 's' },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            placement: 'bottom',
            showLegend: true,
            calcs: ['lastNotNull', 'max'],
          },
          tooltip: { mode: 'multi', sort: 'desc' },
        },
      }
    ),
    lib.panel(
      11,
      'timeseries',
      'Canaries on time (on-time SLI)',
      'On-time SLI: share of the canaries settled in the interval that were on time, among on time, late and lost. A late canary counts when it finally arrives, a lost one when it is declared lost; nothing counts while canaries are held (gaps). The dashed line is the SLO target (mailcanary:slo_target:ratio from the rules). Below it the error budget is being spent: see the MailCanaryDeliveryLatencyBudgetBurn alerts.',
      [12, 25, 12, 9],
      [
        t('A', 'sum by (probe, client, region) (rate(mailcanary_canaries_total{%(sel)s,outcome="on_time"}[$__rate_interval])) / sum by (probe, client, region) (rate(mailcanary_canaries_total{%(sel)s,outcome=~"on_time|late|lost|junk"}[$__rate_interval]))' % v, '{{probe}} / {{client}} / {{region}}'),
        t('B', 'mailcanary:slo_target:ratio', 'SLO target'),
      ],
      {
        fieldConfig: {
          defaults: { unit: 'percentunit', max: 1 },
          overrides: [
            {
              matcher: { id: 'byName', options: 'SLO target' },
              properties: [
                {
                  id: 'color',
                  value: { mode: 'fixed', fixedColor: 'red' },
                },
                {
                  id: 'custom.lineStyle',
                  value: {
                    fill: 'dash',
                    dash: [10, 10],
                  },
                },
              ],
            },
          ],
        },
        options: {
          legend: {
            displayMode: 'table',
            placement: 'bottom',
            showLegend: true,
            calcs: ['lastNotNull', 'max'],
          },
          tooltip: { mode: 'multi', sort: 'desc' },
        },
      }
    ),
    lib.panel(
      23,
      'timeseries',
      'Canaries within %(le)s s (latency SLI)' % v,
      'Latency SLI: share of the canaries that settled in the interval (on time, late or recovered) that were visible within %(le)s s (bucket le=%(le)s; Prometheus 3 writes it %(le)s.0). Lost canaries have no delay and are not in it: the alerts read the on-time SLI.' % v,
      [0, 34, 12, 9],
      [
        t('A', 'sum by (probe, client, region) (rate(mailcanary_delivery_seconds_bucket{%(sel)s,le=~"%(le)s|%(le)s.0"}[$__rate_interval])) / sum by (probe, client, region) (rate(mailcanary_delivery_seconds_count{%(sel)s}[$__rate_interval]))' % v, '{{probe}} / {{client}} / {{region}}'),
      ],
      {
        fieldConfig: {
          defaults: { unit: 'percentunit', min: 0, max: 1 },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            placement: 'bottom',
            showLegend: true,
            calcs: ['lastNotNull', 'max'],
          },
          tooltip: { mode: 'multi', sort: 'desc' },
        },
      }
    ),
    lib.panel(
      24,
      'timeseries',
      'Error budget burn rate (%s)' % v.pageLongTitle,
      'How fast late and lost canaries spend the error budget, over %(longText)s: 1 spends exactly the 30-day budget in 30 days, %(f0)s spends %(pct)s %% of it in %(inLong)s (the page threshold, with the same over %(short)s), %(f1)s the %(long1)s page threshold. Reads the recording rules of alerts/mailcanary.rules.yml.' % v.burnPanel,
      [12, 34, 12, 9],
      [
        t('A', 'probe_client_region:mailcanary_canaries_late_or_lost:ratio_rate%(pageLong)s{%(vars)s} / on () group_left () (1 - mailcanary:slo_target:ratio)' % v, '{{probe}} / {{client}} / {{region}}'),
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 'suffix:×',
            min: 0,
            thresholds: {
              mode: 'absolute',
              steps: [
                { color: 'green', value: null },
                { color: 'yellow', value: 1 },
                {
                  color: 'orange',
                  value: cfg.burnRatePage[1].factor,
                },
                {
                  color: 'red',
                  value: cfg.burnRatePage[0].factor,
                },
              ],
            },
            custom: {
              thresholdsStyle: { mode: 'line' },
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            placement: 'bottom',
            showLegend: true,
            calcs: ['lastNotNull', 'max'],
          },
          tooltip: { mode: 'multi', sort: 'desc' },
        },
      }
    ),
    lib.row(12, 'Which step fails?', 43),
    lib.panel(
      13,
      'timeseries',
      'Failures by stage / reason',
      'Failed cycles per second by first failing stage and reason. stage imap_* with SMTP fine: the mailbox is unreachable; stage delivery / not_delivered: accepted but not delivered.',
      [0, 44, 12, 9],
      [
        t('A', 'sum by (stage, reason) (rate(mailcanary_probe_failures_total{%(sel)s}[$__rate_interval])) or on () label_replace(label_replace(0 * sum(rate(mailcanary_probe_cycles_total{%(sel)s}[$__rate_interval])), "stage", "none", "", ""), "reason", "none", "", "")' % v, '{{stage}} / {{reason}}'),
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 'ops',
            custom: {
              drawStyle: 'bars',
              stacking: { mode: 'normal', group: 'A' },
              fillOpacity: 60,
            },
          },
          overrides: [],
        },
        options: {
          legend: {
            displayMode: 'table',
            placement: 'bottom',
            showLegend: true,
            calcs: ['lastNotNull', 'max'],
          },
          tooltip: { mode: 'multi', sort: 'desc' },
        },
      }
    ),
    lib.panel(
      14,
      'table',
      'Failures by probe / client / region / stage / reason (range)',
      'Failed cycles in the time range.',
      [12, 44, 12, 9],
      [
        t('A', 'sum by (probe, client, region, stage, reason) (increase(mailcanary_probe_failures_total{%(sel)s}[$__range])) or on () label_replace(label_replace(0 * sum(rate(mailcanary_probe_cycles_total{%(sel)s}[$__rate_interval])), "stage", "none", "", ""), "reason", "none", "", "")' % v, '__auto', instant=true, format='table'),
      ],
      {
        options: {
          sortBy: [
            { displayName: 'failures', desc: true },
          ],
        },
        transformations: [
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true },
              renameByName: { Value: 'failures' },
            },
          },
        ],
      }
    ),
  ]
