// The probe dashboard: one probe in depth: cycle and protocol phase timings, failures by stage
// and reason, the delivery latency heatmap, the on-time and latency SLIs, canary outcomes, the
// receiving side's authentication verdicts and spam score.
// The panels, row by row, are in probe_*.libsonnet. Queries select the agents with
// `_config.jobSelector` and the dashboard's variables (`%(sel)s`, see lib.libsonnet).
local lib = import 'lib.libsonnet';

{
  grafanaDashboards+:: {
    'mailcanary-probe.json': lib.dashboard(
      $._config,
      'mailcanary-probe',
      'mailcanary / probe',
      'One probe in detail: cycle and protocol phase timings of the last cycles, failures by stage and reason, delivery latency heatmap, on-time and latency SLIs, canary outcomes, authentication verdicts and spam score of the last canary.',
      { uid: 'mailcanary-overview', title: 'Overview' },
      (import 'probe_cycles.libsonnet')($._config)
      + (import 'probe_delivery.libsonnet')($._config)
      + (import 'probe_auth.libsonnet')($._config),
    ),
  },
}
