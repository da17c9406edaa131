// The overview dashboard: every probe x client profile x region at a glance: is mail working, the
// delivery SLO, which step fails, what happened to the canaries, stored mail, certificates, agents.
// Queries select the agents with `_config.jobSelector` and the dashboard's variables (`%(sel)s`,
// see lib.libsonnet); gridPos is [x, y, w, h].
local lib = import 'lib.libsonnet';

{
  local v = lib.vars($._config),
  local t = lib.target,
  grafanaDashboards+:: {
    'mailcanary-overview.json': lib.dashboard(
      $._config,
      'mailcanary-overview',
      'mailcanary / overview',
      'Is mail working end to end, for which client profiles and regions, are canaries on time (the SLO), which step fails, and what happened to the canaries.',
      { uid: 'mailcanary-probe', title: 'Probe drill-down' },
      [
        lib.row(1, 'Is mail working end to end?', 0),
        lib.panel(
          2,
          'stat',
          'Probe × client × region failing now',
          'Series whose last cycle did not deliver its canary within the deadline. 0 is good.',
          [0, 1, 4, 6],
          [
            t('A', 'sum(1 - max by (probe, client, region) (mailcanary_probe_success{%(sel)s}))' % v, 'failing', instant=true),
          ],
          {
            fieldConfig: {
              defaults: {
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'red',
                      value: 1,
                    },
                  ],
                },
                color: {
                  mode: 'thresholds',
                },
                decimals: 0,
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'none',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          }
        ),
        lib.panel(
          3,
          'stat',
          'Agents up',
          'Scrape targets of job mailcanary answering Prometheus.',
          [4, 1, 4, 6],
          [
            t('A', 'sum(up{%(jobSelector)s})' % v, 'up', instant=true),
          ],
          {
            fieldConfig: {
              defaults: {
                decimals: 0,
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
                color: {
                  mode: 'thresholds',
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'none',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          }
        ),
        lib.panel(
          4,
          'stat',
          'Canaries lost (range)',
          "Canaries accepted over SMTP and declared lost in the dashboard's time range.",
          [8, 1, 4, 6],
          [
            t('A', 'sum(increase(mailcanary_canaries_total{%(sel)s,outcome="lost"}[$__range])) or vector(0)' % v, 'lost', instant=true),
          ],
          {
            fieldConfig: {
              defaults: {
                decimals: 0,
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'red',
                      value: 1,
                    },
                  ],
                },
                color: {
                  mode: 'thresholds',
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'none',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          }
        ),
        lib.panel(
          5,
          'stat',
          'Canaries in flight',
          'Accepted by SMTP, not yet seen over IMAP, not yet declared lost.',
          [12, 1, 4, 6],
          [
            t('A', 'sum(mailcanary_canaries_in_flight{%(sel)s})' % v, 'in flight', instant=true),
          ],
          {
            fieldConfig: {
              defaults: {
                decimals: 0,
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: 2,
                    },
                    {
                      color: 'red',
                      value: 5,
                    },
                  ],
                },
                color: {
                  mode: 'thresholds',
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'background',
              graphMode: 'area',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          }
        ),
        lib.panel(
          6,
          'stat',
          'Availability (range)',
          'Share of scrapes in the time range where the last cycle had succeeded, all selected series.',
          [16, 1, 4, 6],
          [
            t('A', 'avg(avg_over_time(mailcanary_probe_success{%(sel)s}[$__range]))' % v, 'availability', instant=true),
          ],
          {
            fieldConfig: {
              defaults: {
                unit: 'percentunit',
                decimals: 2,
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: 0.99,
                    },
                    {
                      color: 'green',
                      value: 0.999,
                    },
                  ],
                },
                color: {
                  mode: 'thresholds',
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'value',
              graphMode: 'none',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          }
        ),
        lib.panel(
          22,
          'stat',
          'Canaries on time (range)',
          'On-time SLI over the time range: share of the canaries settled in the range (on time, late or lost) that were on time. Late and lost canaries spend the error budget of the SLO (%s %% on time as shipped; colours assume it).' % v.sloPercent,
          [20, 1, 4, 6],
          [
            t('A', 'sum(increase(mailcanary_canaries_total{%(sel)s,outcome="on_time"}[$__range])) / sum(increase(mailcanary_canaries_total{%(sel)s,outcome=~"on_time|late|lost"}[$__range]))' % v, 'on time', instant=true),
          ],
          {
            fieldConfig: {
              defaults: {
                unit: 'percentunit',
                decimals: 2,
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'orange',
                      value: $._config.sloTarget,
                    },
                    {
                      color: 'green',
                      value: 0.999,
                    },
                  ],
                },
                color: {
                  mode: 'thresholds',
                },
              },
              overrides: [],
            },
            options: {
              colorMode: 'value',
              graphMode: 'none',
              reduceOptions: {
                calcs: [
                  'lastNotNull',
                ],
                fields: '',
                values: false,
              },
            },
          }
        ),
        lib.panel(
          7,
          'state-timeline',
          'End-to-end success by probe / client / region',
          '1 (OK) when the last cycle delivered its canary within the deadline. One row red while the others of the same probe are green: one kind of client is cut off.',
          [0, 7, 24, 9],
          [
            t('A', 'max by (probe, client, region) (mailcanary_probe_success{%(sel)s})' % v, '{{probe}} / {{client}} / {{region}}'),
          ],
          {
            fieldConfig: {
              defaults: {
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '0': {
                        text: 'FAIL',
                        color: 'red',
                        index: 0,
                      },
                      '1': {
                        text: 'OK',
                        color: 'green',
                        index: 1,
                      },
                    },
                  },
                ],
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
                color: {
                  mode: 'thresholds',
                },
                min: 0,
                max: 1,
              },
              overrides: [],
            },
            options: {
              showValue: 'never',
              mergeValues: true,
              rowHeight: 0.8,
              alignValue: 'left',
              legend: {
                showLegend: false,
              },
            },
          }
        ),
        lib.panel(
          8,
          'table',
          'Availability by probe / client / region (range)',
          'Per series: share of the range it was up, and seconds since its last successful cycle.',
          [0, 16, 24, 8],
          [
            t('A', 'avg by (probe, client, region) (avg_over_time(mailcanary_probe_success{%(sel)s}[$__range]))' % v, '__auto', instant=true, format='table'),
            t('B', 'time() - max by (probe, client, region) (mailcanary_last_success_timestamp_seconds{%(sel)s})' % v, '__auto', instant=true, format='table'),
          ],
          {
            fieldConfig: {
              defaults: {},
              overrides: [
                {
                  matcher: {
                    id: 'byName',
                    options: 'availability',
                  },
                  properties: [
                    {
                      id: 'unit',
                      value: 'percentunit',
                    },
                    {
                      id: 'decimals',
                      value: 3,
                    },
                  ],
                },
                {
                  matcher: {
                    id: 'byName',
                    options: 'last success age',
                  },
                  properties: [
                    {
                      id: 'unit',
                      value: 's',
                    },
                  ],
                },
              ],
            },
            transformations: [
              {
                id: 'merge',
                options: {},
              },
              {
                id: 'organize',
                options: {
                  excludeByName: {
                    Time: true,
                  },
                  renameByName: {
                    'Value #A': 'availability',
                    'Value #B': 'last success age',
                  },
                },
              },
            ],
          }
        ),
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
              defaults: {
                unit: 's',
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
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
            t('A', 'sum by (probe, client, region) (rate(mailcanary_canaries_total{%(sel)s,outcome="on_time"}[$__rate_interval])) / sum by (probe, client, region) (rate(mailcanary_canaries_total{%(sel)s,outcome=~"on_time|late|lost"}[$__rate_interval]))' % v, '{{probe}} / {{client}} / {{region}}'),
            t('B', 'mailcanary:slo_target:ratio', 'SLO target'),
          ],
          {
            fieldConfig: {
              defaults: {
                unit: 'percentunit',
                max: 1,
              },
              overrides: [
                {
                  matcher: {
                    id: 'byName',
                    options: 'SLO target',
                  },
                  properties: [
                    {
                      id: 'color',
                      value: {
                        mode: 'fixed',
                        fixedColor: 'red',
                      },
                    },
                    {
                      id: 'custom.lineStyle',
                      value: {
                        fill: 'dash',
                        dash: [
                          10,
                          10,
                        ],
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
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
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
              defaults: {
                unit: 'percentunit',
                min: 0,
                max: 1,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
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
                    {
                      color: 'green',
                      value: null,
                    },
                    {
                      color: 'yellow',
                      value: 1,
                    },
                    {
                      color: 'orange',
                      value: $._config.burnRatePage[1].factor,
                    },
                    {
                      color: 'red',
                      value: $._config.burnRatePage[0].factor,
                    },
                  ],
                },
                custom: {
                  thresholdsStyle: {
                    mode: 'line',
                  },
                },
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
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
                  stacking: {
                    mode: 'normal',
                    group: 'A',
                  },
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
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
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
                {
                  displayName: 'failures',
                  desc: true,
                },
              ],
            },
            transformations: [
              {
                id: 'organize',
                options: {
                  excludeByName: {
                    Time: true,
                  },
                  renameByName: {
                    Value: 'failures',
                  },
                },
              },
            ],
          }
        ),
        lib.row(15, 'Canaries: in flight, late, lost', 53),
        lib.panel(
          16,
          'timeseries',
          'Canaries in flight',
          'Accepted by SMTP, not yet seen over IMAP, not yet declared lost. Rising with IMAP working: mail is queued or dropped after acceptance.',
          [0, 54, 12, 8],
          [
            t('A', 'sum by (probe, client, region) (mailcanary_canaries_in_flight{%(sel)s})' % v, '{{probe}} / {{client}} / {{region}}'),
          ],
          {
            fieldConfig: {
              defaults: {
                unit: 'short',
                decimals: 0,
              },
              overrides: [],
            },
            options: {
              legend: {
                displayMode: 'table',
                placement: 'bottom',
                showLegend: true,
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          }
        ),
        lib.panel(
          17,
          'timeseries',
          'Canary outcomes',
          'Canaries per outcome: on_time, late, lost, recovered (seen after declared lost), duplicate, corrupt.',
          [12, 54, 12, 8],
          [
            t('A', 'sum by (outcome) (increase(mailcanary_canaries_total{%(sel)s}[$__rate_interval]))' % v, '{{outcome}}'),
          ],
          {
            fieldConfig: {
              defaults: {
                unit: 'short',
                custom: {
                  drawStyle: 'bars',
                  stacking: {
                    mode: 'normal',
                    group: 'A',
                  },
                  fillOpacity: 60,
                },
              },
              overrides: [
                {
                  matcher: {
                    id: 'byName',
                    options: 'on_time',
                  },
                  properties: [
                    {
                      id: 'color',
                      value: {
                        mode: 'fixed',
                        fixedColor: 'green',
                      },
                    },
                  ],
                },
                {
                  matcher: {
                    id: 'byName',
                    options: 'late',
                  },
                  properties: [
                    {
                      id: 'color',
                      value: {
                        mode: 'fixed',
                        fixedColor: 'orange',
                      },
                    },
                  ],
                },
                {
                  matcher: {
                    id: 'byName',
                    options: 'lost',
                  },
                  properties: [
                    {
                      id: 'color',
                      value: {
                        mode: 'fixed',
                        fixedColor: 'red',
                      },
                    },
                  ],
                },
                {
                  matcher: {
                    id: 'byName',
                    options: 'recovered',
                  },
                  properties: [
                    {
                      id: 'color',
                      value: {
                        mode: 'fixed',
                        fixedColor: 'blue',
                      },
                    },
                  ],
                },
                {
                  matcher: {
                    id: 'byName',
                    options: 'duplicate',
                  },
                  properties: [
                    {
                      id: 'color',
                      value: {
                        mode: 'fixed',
                        fixedColor: 'purple',
                      },
                    },
                  ],
                },
                {
                  matcher: {
                    id: 'byName',
                    options: 'corrupt',
                  },
                  properties: [
                    {
                      id: 'color',
                      value: {
                        mode: 'fixed',
                        fixedColor: 'dark-red',
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
                calcs: [
                  'lastNotNull',
                  'max',
                ],
              },
              tooltip: {
                mode: 'multi',
                sort: 'desc',
              },
            },
          }
        ),
        lib.row(18, 'Stored mail, certificates, agents', 62),
        lib.panel(
          19,
          'state-timeline',
          'Sentinel messages intact',
          '1 (OK) when every sentinel message planted in the mailbox is present and byte-identical. FAIL: stored mail may be lost or damaged.',
          [0, 63, 12, 8],
          [
            t('A', 'min by (probe, client, region) (mailcanary_sentinel_intact{%(sel)s})' % v, '{{probe}} / {{client}} / {{region}}'),
          ],
          {
            fieldConfig: {
              defaults: {
                mappings: [
                  {
                    type: 'value',
                    options: {
                      '0': {
                        text: 'FAIL',
                        color: 'red',
                        index: 0,
                      },
                      '1': {
                        text: 'OK',
                        color: 'green',
                        index: 1,
                      },
                    },
                  },
                ],
                thresholds: {
                  mode: 'absolute',
                  steps: [
                    {
                      color: 'red',
                      value: null,
                    },
                    {
                      color: 'green',
                      value: 1,
                    },
                  ],
                },
                color: {
                  mode: 'thresholds',
                },
                min: 0,
                max: 1,
              },
              overrides: [],
            },
            options: {
              showValue: 'never',
              mergeValues: true,
              rowHeight: 0.8,
              legend: {
                showLegend: false,
              },
            },
          }
        ),
        lib.panel(
          20,
          'table',
          'TLS certificates: days left',
          'Leaf certificate of each endpoint as seen by the probes. Alerts at 14 days (warning) and 3 days (critical).',
          [12, 63, 12, 8],
          [
            t('A', '(min by (probe, endpoint, region) (mailcanary_tls_cert_expiry_timestamp_seconds{%(sel)s}) - time()) / 86400' % v, '__auto', instant=true, format='table'),
          ],
          {
            fieldConfig: {
              defaults: {},
              overrides: [
                {
                  matcher: {
                    id: 'byName',
                    options: 'days left',
                  },
                  properties: [
                    {
                      id: 'decimals',
                      value: 1,
                    },
                    {
                      id: 'thresholds',
                      value: {
                        mode: 'absolute',
                        steps: [
                          {
                            color: 'red',
                            value: null,
                          },
                          {
                            color: 'orange',
                            value: 3,
                          },
                          {
                            color: 'green',
                            value: 14,
                          },
                        ],
                      },
                    },
                    {
                      id: 'custom.cellOptions',
                      value: {
                        type: 'color-background',
                      },
                    },
                  ],
                },
              ],
            },
            options: {
              sortBy: [
                {
                  displayName: 'days left',
                  desc: false,
                },
              ],
            },
            transformations: [
              {
                id: 'organize',
                options: {
                  excludeByName: {
                    Time: true,
                  },
                  renameByName: {
                    Value: 'days left',
                  },
                },
              },
            ],
          }
        ),
        lib.panel(
          21,
          'table',
          'Agents: config reload and build',
          'Per agent: last config reload accepted (1) or rejected (0, old config kept), and the running version.',
          [0, 71, 24, 7],
          [
            t('A', 'min by (instance, region) (mailcanary_config_last_reload_successful{%(jobSelector)s,region=~"$region"})' % v, '__auto', instant=true, format='table'),
            t('B', 'max by (instance, region, version) (mailcanary_build_info{%(jobSelector)s,region=~"$region"})' % v, '__auto', instant=true, format='table'),
          ],
          {
            fieldConfig: {
              defaults: {},
              overrides: [
                {
                  matcher: {
                    id: 'byName',
                    options: 'reload ok',
                  },
                  properties: [
                    {
                      id: 'mappings',
                      value: [
                        {
                          type: 'value',
                          options: {
                            '0': {
                              text: 'FAIL',
                              color: 'red',
                              index: 0,
                            },
                            '1': {
                              text: 'OK',
                              color: 'green',
                              index: 1,
                            },
                          },
                        },
                      ],
                    },
                    {
                      id: 'custom.cellOptions',
                      value: {
                        type: 'color-background',
                      },
                    },
                    {
                      id: 'thresholds',
                      value: {
                        mode: 'absolute',
                        steps: [
                          {
                            color: 'red',
                            value: null,
                          },
                          {
                            color: 'green',
                            value: 1,
                          },
                        ],
                      },
                    },
                  ],
                },
              ],
            },
            transformations: [
              {
                id: 'merge',
                options: {},
              },
              {
                id: 'organize',
                options: {
                  excludeByName: {
                    Time: true,
                    'Value #B': true,
                  },
                  renameByName: {
                    'Value #A': 'reload ok',
                  },
                },
              },
            ],
          }
        ),
      ],
    ),
  },
}
