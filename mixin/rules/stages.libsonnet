// Failure rates by step, for dashboards and your own queries (no alert reads them: the step
// alerts need every cycle failing, not a 5-minute ratio that keeps firing for minutes after the
// step works again). Recording rules only, hence prometheusRules.
{
  prometheusRules+:: {
    local c = $._config,
    groups+: [
      {
        name: 'mailcanary.stages',
        rules: [
          {
            record: 'probe_client_region:mailcanary_probe_cycles:rate5m',
            expr: |||
              sum by (probe, client, region) (rate(mailcanary_probe_cycles_total{%(jobSelector)s}[5m]))
            ||| % c,
          },
          {
            record: 'probe_client_region_stage_reason:mailcanary_probe_failures:rate5m',
            expr: |||
              sum by (probe, client, region, stage, reason) (rate(mailcanary_probe_failures_total{%(jobSelector)s}[5m]))
            ||| % c,
          },
          // Fraction of cycles that failed, at any stage. 0 (not absent) for an instance that
          // has never failed: the agent creates failure series only at the first failure.
          {
            record: 'probe_client_region:mailcanary_probe_failures:ratio_rate5m',
            expr: |||
              (
                sum by (probe, client, region) (probe_client_region_stage_reason:mailcanary_probe_failures:rate5m)
                or
                0 * probe_client_region:mailcanary_probe_cycles:rate5m
              )
              / probe_client_region:mailcanary_probe_cycles:rate5m
            |||,
          },
        ],
      },
    ],
  },
}
