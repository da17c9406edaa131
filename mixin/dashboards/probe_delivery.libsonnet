// The probe dashboard, rows "Delivery and canaries" and "Integrity and TLS".
// A function of the mixin's `_config`; gridPos is [x, y, w, h].
local lib = import 'lib.libsonnet';

function(cfg)
  local v = lib.vars(cfg), t = lib.target;
  [
    lib.row(12, 'Delivery and canaries', 43),
    lib.panel(
      13,
      'heatmap',
      'Delivery latency heatmap',
      'Canaries per latency bucket (SMTP accepted → visible over IMAP), observed once per canary when it settles: on time, late and recovered alike. Buckets 0.1 s up to the first bound at or above the longest lost_after (600 s by default), then +Inf.',
      [0, 44, 12, 9],
      [
        t('A', 'sum by (le) (increase(mailcanary_delivery_seconds_bucket{%(sel)s}[$__rate_interval]))' % v, '{{le}}', format='heatmap'),
      ],
      {
        options: {
          calculate: false,
          yAxis: { unit: 's', axisPlacement: 'left' },
          cellGap: 1,
          color: {
            mode: 'scheme',
            scheme: 'Oranges',
            fill: 'dark-orange',
            scale: 'exponential',
            exponent: 0.5,
            steps: 64,
            reverse: false,
          },
          rowsFrame: { layout: 'auto' },
          tooltip: { mode: 'single', yHistogram: false },
          legend: { show: true },
          filterValues: { le: 1e-09 },
          showValue: 'never',
        },
      }
    ),
    lib.panel(
      14,
      'timeseries',
      'Delivery latency p50 / p90 / p99',
      'By client profile and region, every settled canary (late ones included). Lost canaries are not in the histogram.',
      [12, 44, 12, 9],
      [
        t('A', 'histogram_quantile(0.5, sum by (client, region, le) (rate(mailcanary_delivery_seconds_bucket{%(sel)s}[$__rate_interval])))' % v, 'p50 {{client}} / {{region}}'),
        t('B', 'histogram_quantile(0.9, sum by (client, region, le) (rate(mailcanary_delivery_seconds_bucket{%(sel)s}[$__rate_interval])))' % v, 'p90 {{client}} / {{region}}'),
        t('C', 'histogram_quantile(0.99, sum by (client, region, le) (rate(mailcanary_delivery_seconds_bucket{%(sel)s}[$__rate_interval])))' % v, 'p99 {{client}} / {{region}}'),
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
      15,
      'timeseries',
      'Canary outcomes',
      'on_time, late, lost, recovered (seen after declared lost), duplicate, corrupt.',
      [0, 53, 12, 8],
      [
        t('A', 'sum by (outcome) (increase(mailcanary_canaries_total{%(sel)s}[$__rate_interval]))' % v, '{{outcome}}'),
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 'short',
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
      16,
      'timeseries',
      'Canaries in flight',
      'Accepted by SMTP, not yet seen over IMAP, not yet declared lost.',
      [12, 53, 12, 8],
      [
        t('A', 'sum by (client, region) (mailcanary_canaries_in_flight{%(sel)s})' % v, '{{client}} / {{region}}'),
      ],
      {
        fieldConfig: {
          defaults: { unit: 'short', decimals: 0 },
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
      20,
      'timeseries',
      'Canaries on time (on-time SLI)',
      'Share of the canaries settled in the interval that were on time, among on time, late and lost; the dashed line is the SLO target (mailcanary:slo_target:ratio from the rules). Gaps: no canary settled (a held queue settles later, as late).',
      [0, 61, 12, 8],
      [
        t('A', 'sum by (client, region) (rate(mailcanary_canaries_total{%(sel)s,outcome="on_time"}[$__rate_interval])) / sum by (client, region) (rate(mailcanary_canaries_total{%(sel)s,outcome=~"on_time|late|lost|junk"}[$__rate_interval]))' % v, '{{client}} / {{region}}'),
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
      21,
      'timeseries',
      'Canaries within %(le)s s (latency SLI)' % v,
      'Share of the canaries settled in the interval that were visible within %(le)s s of SMTP acceptance (bucket le=%(le)s; Prometheus 3 writes it %(le)s.0). Lost canaries are not in it.' % v,
      [12, 61, 12, 8],
      [
        t('A', 'sum by (client, region) (rate(mailcanary_delivery_seconds_bucket{%(sel)s,le=~"%(le)s|%(le)s.0"}[$__rate_interval])) / sum by (client, region) (rate(mailcanary_delivery_seconds_count{%(sel)s}[$__rate_interval]))' % v, '{{client}} / {{region}}'),
      ],
      {
        fieldConfig: {
          defaults: { unit: 'percentunit', max: 1 },
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
    lib.row(17, 'Integrity and TLS', 69),
    lib.panel(
      18,
      'state-timeline',
      'Sentinel messages intact',
      '1 (OK) when every sentinel message is present and byte-identical.',
      [0, 70, 12, 7],
      [
        t('A', 'min by (client, region) (mailcanary_sentinel_intact{%(sel)s})' % v, '{{client}} / {{region}}'),
      ],
      {
        fieldConfig: {
          defaults: {
            mappings: [
              {
                type: 'value',
                options: {
                  '0': { text: 'FAIL', color: 'red', index: 0 },
                  '1': { text: 'OK', color: 'green', index: 1 },
                },
              },
            ],
            thresholds: lib.steps([['red', null], ['green', 1]]),
            color: { mode: 'thresholds' },
            min: 0,
            max: 1,
          },
          overrides: [],
        },
        options: {
          showValue: 'never',
          mergeValues: true,
          rowHeight: 0.8,
          legend: { showLegend: false },
        },
      }
    ),
    lib.panel(
      19,
      'bargauge',
      'TLS certificates: days left',
      'Leaf certificate of each endpoint this probe talks to.',
      [12, 70, 12, 7],
      [
        t('A', '(min by (endpoint, region) (mailcanary_tls_cert_expiry_timestamp_seconds{%(sel)s}) - time()) / 86400' % v, '{{endpoint}} / {{region}}', instant=true),
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 'd',
            thresholds: lib.steps([['red', null], ['orange', 3], ['green', 14]]),
            color: { mode: 'thresholds' },
            decimals: 1,
          },
          overrides: [],
        },
        options: {
          orientation: 'horizontal',
          displayMode: 'basic',
          reduceOptions: {
            calcs: ['lastNotNull'],
            fields: '',
            values: false,
          },
        },
      }
    ),
  ]
