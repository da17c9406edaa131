// The overview dashboard, rows "Canaries: in flight, late, lost" and "Stored mail,
// certificates, agents".
// A function of the mixin's `_config`; gridPos is [x, y, w, h].
local lib = import 'lib.libsonnet';

function(cfg)
  local v = lib.vars(cfg), t = lib.target;
  [
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
      17,
      'timeseries',
      'Canary outcomes',
      'Canaries per outcome: on_time, late, lost, junk (filed into the Junk folder), recovered (seen after declared lost), duplicate, corrupt.',
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
              stacking: { mode: 'normal', group: 'A' },
              fillOpacity: 60,
            },
          },
          overrides: [
            {
              matcher: { id: 'byName', options: 'on_time' },
              properties: [
                {
                  id: 'color',
                  value: { mode: 'fixed', fixedColor: 'green' },
                },
              ],
            },
            {
              matcher: { id: 'byName', options: 'late' },
              properties: [
                {
                  id: 'color',
                  value: { mode: 'fixed', fixedColor: 'orange' },
                },
              ],
            },
            {
              matcher: { id: 'byName', options: 'lost' },
              properties: [
                {
                  id: 'color',
                  value: { mode: 'fixed', fixedColor: 'red' },
                },
              ],
            },
            {
              matcher: { id: 'byName', options: 'recovered' },
              properties: [
                {
                  id: 'color',
                  value: { mode: 'fixed', fixedColor: 'blue' },
                },
              ],
            },
            {
              matcher: { id: 'byName', options: 'duplicate' },
              properties: [
                {
                  id: 'color',
                  value: { mode: 'fixed', fixedColor: 'purple' },
                },
              ],
            },
            {
              matcher: { id: 'byName', options: 'corrupt' },
              properties: [
                {
                  id: 'color',
                  value: { mode: 'fixed', fixedColor: 'dark-red' },
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
              matcher: { id: 'byName', options: 'days left' },
              properties: [
                { id: 'decimals', value: 1 },
                {
                  id: 'thresholds',
                  value: {
                    mode: 'absolute',
                    steps: [
                      { color: 'red', value: null },
                      { color: 'orange', value: 3 },
                      { color: 'green', value: 14 },
                    ],
                  },
                },
                {
                  id: 'custom.cellOptions',
                  value: { type: 'color-background' },
                },
              ],
            },
          ],
        },
        options: {
          sortBy: [
            { displayName: 'days left', desc: false },
          ],
        },
        transformations: [
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true },
              renameByName: { Value: 'days left' },
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
              matcher: { id: 'byName', options: 'reload ok' },
              properties: [
                {
                  id: 'mappings',
                  value: [
                    {
                      type: 'value',
                      options: {
                        '0': { text: 'FAIL', color: 'red', index: 0 },
                        '1': { text: 'OK', color: 'green', index: 1 },
                      },
                    },
                  ],
                },
                {
                  id: 'custom.cellOptions',
                  value: { type: 'color-background' },
                },
                {
                  id: 'thresholds',
                  value: {
                    mode: 'absolute',
                    steps: [
                      { color: 'red', value: null },
                      { color: 'green', value: 1 },
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
              excludeByName: { Time: true, 'Value #B': true },
              renameByName: { 'Value #A': 'reload ok' },
            },
          },
        ],
      }
    ),
  ]
