// The mailcanary monitoring mixin: Prometheus alerts and recording rules and Grafana dashboards
// for mailcanary agents, in the style of the node-exporter and Alertmanager mixins. Override
// `_config` (config.libsonnet) and read
//   prometheusAlerts   groups of alerting rules, each with the recording rules its alerts read
//                      (in the same group, so an alert always sees the value recorded in the same
//                      evaluation: never split them)
//   prometheusRules    groups of recording rules no alert reads (dashboards, your own queries)
//   prometheusFleetAlerts  the global (federating) Prometheus of a fleet: quorum across regions
//                      (docs/scale.md); a regional Prometheus loads the two fields above
//   grafanaDashboards  { 'mailcanary-overview.json': {...}, 'mailcanary-probe.json': {...} }
// The files in alerts/ and dashboards/ are these fields with the default `_config`, written by
// scripts/mixin.sh (see outputs.jsonnet). docs/alerting.md shows how to import and override.
local withRunbooks(groups, base) = [
  g {
    rules: [
      if std.objectHas(r, 'alert')
      then r { annotations+: { runbook_url: base + r.alert + '.md' } }
      else r
      for r in g.rules
    ],
  }
  for g in groups
];

(import 'config.libsonnet')
+ (import 'alerts/slo.libsonnet')
+ (import 'alerts/availability.libsonnet')
+ (import 'rules/stages.libsonnet')
+ (import 'alerts/delivery.libsonnet')
+ (import 'alerts/tls.libsonnet')
+ (import 'alerts/agent.libsonnet')
+ (import 'alerts/fleet.libsonnet')
+ (import 'dashboards/overview.libsonnet')
+ (import 'dashboards/probe.libsonnet')
+ {
  assert std.length(self._config.jobSelector) > 0 : '_config.jobSelector: a label matcher such as job="mailcanary"',
  // Every alert links its runbook: `_config.runbookURLBase` + the alert's name + `.md`.
  prometheusAlerts+:: {
    groups: withRunbooks(super.groups, $._config.runbookURLBase),
  },
  prometheusFleetAlerts+:: {
    groups: withRunbooks(super.groups, $._config.runbookURLBase),
  },
}
