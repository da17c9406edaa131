// The overview dashboard, row "Is mail working end to end?".
// A function of the mixin's `_config`; gridPos is [x, y, w, h].
local lib = import 'lib.libsonnet';

function(cfg)
  local v = lib.vars(cfg), t = lib.target;
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
            thresholds: lib.steps([['green', null], ['red', 1]]),
            color: { mode: 'thresholds' },
            decimals: 0,
          },
          overrides: [],
        },
        options: {
          colorMode: 'background',
          graphMode: 'none',
          reduceOptions: {
            calcs: ['lastNotNull'],
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
            thresholds: lib.steps([['red', null], ['green', 1]]),
            color: { mode: 'thresholds' },
          },
          overrides: [],
        },
        options: {
          colorMode: 'background',
          graphMode: 'none',
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
            thresholds: lib.steps([['green', null], ['red', 1]]),
            color: { mode: 'thresholds' },
          },
          overrides: [],
        },
        options: {
          colorMode: 'background',
          graphMode: 'none',
          reduceOptions: {
            calcs: ['lastNotNull'],
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
            thresholds: lib.steps([['green', null], ['orange', 2], ['red', 5]]),
            color: { mode: 'thresholds' },
          },
          overrides: [],
        },
        options: {
          colorMode: 'background',
          graphMode: 'area',
          reduceOptions: {
            calcs: ['lastNotNull'],
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
            thresholds: lib.steps([['red', null], ['orange', 0.99], ['green', 0.999]]),
            color: { mode: 'thresholds' },
          },
          overrides: [],
        },
        options: {
          colorMode: 'value',
          graphMode: 'none',
          reduceOptions: {
            calcs: ['lastNotNull'],
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
        t('A', 'sum(increase(mailcanary_canaries_total{%(sel)s,outcome="on_time"}[$__range])) / sum(increase(mailcanary_canaries_total{%(sel)s,outcome=~"on_time|late|lost|junk"}[$__range]))' % v, 'on time', instant=true),
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 'percentunit',
            decimals: 2,
            thresholds: lib.steps([['red', null], ['orange', cfg.sloTarget], ['green', 0.999]]),
            color: { mode: 'thresholds' },
          },
          overrides: [],
        },
        options: {
          colorMode: 'value',
          graphMode: 'none',
          reduceOptions: {
            calcs: ['lastNotNull'],
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
          alignValue: 'left',
          legend: { showLegend: false },
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
              matcher: { id: 'byName', options: 'availability' },
              properties: [
                { id: 'unit', value: 'percentunit' },
                { id: 'decimals', value: 3 },
              ],
            },
            {
              matcher: { id: 'byName', options: 'last success age' },
              properties: [
                { id: 'unit', value: 's' },
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
              excludeByName: { Time: true },
              renameByName: { 'Value #A': 'availability', 'Value #B': 'last success age' },
            },
          },
        ],
      }
    ),
  ]
