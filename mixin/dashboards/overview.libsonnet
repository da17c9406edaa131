// The overview dashboard: every probe x client profile x region at a glance: is mail working, the
// delivery SLO, which step fails, what happened to the canaries, stored mail, certificates, agents.
// The panels, row by row, are in overview_*.libsonnet. Queries select the agents with
// `_config.jobSelector` and the dashboard's variables (`%(sel)s`, see lib.libsonnet).
local lib = import 'lib.libsonnet';

{
  grafanaDashboards+:: {
    'mailcanary-overview.json': lib.dashboard(
      $._config,
      'mailcanary-overview',
      'mailcanary / overview',
      'Is mail working end to end, for which client profiles and regions, are canaries on time (the SLO), which step fails, and what happened to the canaries.',
      { uid: 'mailcanary-probe', title: 'Probe drill-down' },
      (import 'overview_health.libsonnet')($._config)
      + (import 'overview_slo.libsonnet')($._config)
      + (import 'overview_canaries.libsonnet')($._config),
    ),
  },
}
