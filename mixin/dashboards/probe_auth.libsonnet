// The probe dashboard, row "Authentication and spam score": the receiving side's verdicts on the
// last verified canary of each client profile (SPF, DKIM, DMARC, ARC, from its trusted
// Authentication-Results header) and the spam score it wrote, so a canary drifting towards the
// junk threshold shows before it lands in Junk. Both series exist only once a canary carried a
// verdict or a score (docs/metrics.md). A function of the mixin's `_config`; gridPos is
// [x, y, w, h].
local lib = import 'lib.libsonnet';

function(cfg)
  local v = lib.vars(cfg), t = lib.target;
  // RFC 8601's result values, plus `unknown` for anything else, coloured for the table.
  local colour = {
    pass: 'green',
    none: 'text',
    neutral: 'text',
    softfail: 'orange',
    policy: 'orange',
    temperror: 'orange',
    fail: 'red',
    permerror: 'red',
    unknown: 'purple',
  };
  local results = std.objectFields(colour);
  [
    lib.row(22, 'Authentication and spam score', 77),
    lib.panel(
      23,
      'table',
      'Authentication verdicts of the last canary',
      "Per probe, client profile, region and method, the result the receiving side wrote into the last verified canary's trusted Authentication-Results header (the one with the probe's authserv_id, or the topmost): pass, fail, softfail, neutral, none, policy, temperror, permerror (unknown: a value outside RFC 8601). A probe with expect_auth fails its cycle on anything but pass for an expected method (MailCanaryAuthenticationFailing). Empty until a canary carried the header.",
      [0, 78, 12, 8],
      [
        t('A', 'max by (probe, client, region, method, result) (mailcanary_auth_result{%(sel)s} == 1)' % v, '__auto', instant=true, format='table'),
      ],
      {
        fieldConfig: {
          defaults: {},
          overrides: [
            {
              matcher: { id: 'byName', options: 'result' },
              properties: [
                {
                  id: 'mappings',
                  value: [
                    {
                      type: 'value',
                      options: {
                        [results[i]]: { color: colour[results[i]], index: i }
                        for i in std.range(0, std.length(results) - 1)
                      },
                    },
                  ],
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
            { displayName: 'probe', desc: false },
          ],
        },
        transformations: [
          {
            id: 'organize',
            options: {
              excludeByName: { Time: true, Value: true },
              indexByName: { probe: 0, client: 1, region: 2, method: 3, result: 4 },
            },
          },
        ],
      }
    ),
    lib.panel(
      24,
      'timeseries',
      'Spam score of the last canary',
      "The score the receiving side's spam filter wrote into the last verified canary that carried one (X-Spam-Status score=, X-Spam-Score or X-Rspamd-Score). A score rising towards the filter's junk threshold (the dashed line: %(t)s, rspamd's add_header action by default; SpamAssassin's required_score is 5) means canaries are about to be filed into Junk. Gaps: no canary carried a score." % { t: '%g' % cfg.spamScoreThreshold },
      [12, 78, 12, 8],
      [
        t('A', 'max by (probe, client, region) (mailcanary_spam_score{%(sel)s})' % v, '{{probe}} / {{client}} / {{region}}'),
      ],
      {
        fieldConfig: {
          defaults: {
            unit: 'none',
            decimals: 2,
            thresholds: lib.steps([['green', null], ['red', cfg.spamScoreThreshold]]),
            custom: {
              thresholdsStyle: { mode: 'dashed' },
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
  ]
