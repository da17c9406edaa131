// The probe dashboard, rows "Result", "Where the time goes" and "Failures".
// A function of the mixin's `_config`; gridPos is [x, y, w, h].
local lib = import 'lib.libsonnet';

function(cfg)
  local v = lib.vars(cfg), t = lib.target;
  [
    lib.row(1, 'Result', 0),
    lib.panel(
      2,
      'state-timeline',
      'End-to-end success by client / region',
      '1 (OK) when the last cycle delivered its canary within the deadline.',
      [0, 1, 16, 8],
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
      3,
      'bargauge',
      'Last success age',
      'Seconds since the last successful cycle, per client profile and region.',
      [16, 1, 8, 8],
      [
        t('A', 'time() - max by (probe, client, region) (mailcanary_last_success_timestamp_seconds{%(sel)s})' % v, '{{probe}} / {{client}} / {{region}}', instant=true),
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 's',
            thresholds: lib.steps([['green', null], ['orange', 120], ['red', 300]]),
            color: { mode: 'thresholds' },
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
    lib.panel(
      4,
      'timeseries',
      'Cycles per minute',
      'Cycles started. Flat at 0 while the agent is up: the scheduler is stuck (MailCanaryAgentStale).',
      [0, 9, 24, 6],
      [
        t('A', 'sum by (probe, client, region) (rate(mailcanary_probe_cycles_total{%(sel)s}[$__rate_interval])) * 60' % v, '{{probe}} / {{client}} / {{region}}'),
      ],
      {
        fieldConfig: {
          defaults: { unit: 'short' },
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
    lib.row(5, 'Where the time goes: cycle and protocol phases', 15),
    lib.panel(
      6,
      'timeseries',
      'Slowest time per phase',
      'Longest time each SMTP and IMAP phase (connect, tls, greeting, ehlo, auth, mail_from, rcpt, data, imap_*, cleanup) took in a cycle of the selected instances, per interval. From mailcanary_phase_duration_seconds, the gauges of the last cycle; a phase a failed cycle did not reach is 0.',
      [0, 16, 12, 9],
      [
        t('A', 'max by (phase) (max_over_time(mailcanary_phase_duration_seconds{%(sel)s}[$__rate_interval]))' % v, '{{phase}}'),
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
      7,
      'timeseries',
      'Cycle duration',
      'How long the cycles took, start to end, success or failure (mailcanary_probe_duration_seconds, longest per interval). It includes the wait for the canary to show up over IMAP, which is not a protocol phase; a cycle that fails on a timeout lasts about its deadline.',
      [12, 16, 12, 9],
      [
        t('A', 'max by (probe, client, region) (max_over_time(mailcanary_probe_duration_seconds{%(sel)s}[$__rate_interval]))' % v, '{{probe}} / {{client}} / {{region}}'),
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
      8,
      'timeseries',
      'Time per phase (stacked)',
      'Seconds each protocol phase took in the last cycle (mailcanary_phase_duration_seconds), averaged over the interval and the selected instances, stacked: the height is the time a cycle spends in protocol phases. The gap to Cycle duration is mostly the wait for delivery. A phase a failed cycle did not reach counts 0.',
      [0, 25, 24, 8],
      [
        t('A', 'avg by (phase) (avg_over_time(mailcanary_phase_duration_seconds{%(sel)s}[$__rate_interval]))' % v, '{{phase}}'),
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 's',
            custom: {
              stacking: { mode: 'normal', group: 'A' },
              fillOpacity: 40,
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
    lib.row(9, 'Failures', 33),
    lib.panel(
      10,
      'timeseries',
      'Failures by stage / reason',
      'Failed cycles per second by first failing stage and reason.',
      [0, 34, 12, 9],
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
      11,
      'timeseries',
      'Failures by client profile / stage',
      'Same, split by client profile: a single profile failing is one kind of client cut off.',
      [12, 34, 12, 9],
      [
        t('A', 'sum by (client, stage) (rate(mailcanary_probe_failures_total{%(sel)s}[$__rate_interval])) or on () label_replace(label_replace(0 * sum(rate(mailcanary_probe_cycles_total{%(sel)s}[$__rate_interval])), "client", "none", "", ""), "stage", "none", "", "")' % v, '{{client}} / {{stage}}'),
      ],
      {
        fieldConfig: {
          defaults: { unit: 'ops' },
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
  ]
