// The fleet rules, evaluated by the global Prometheus that federates one Prometheus per region
// (docs/scale.md draws the topology and gives the configs). Their own field,
// `prometheusFleetAlerts`, and their own file, alerts/mailcanary-fleet.rules.yml: a regional
// Prometheus loads prometheusAlerts and prometheusRules, the global one these.
//
// WHAT THE GLOBAL PROMETHEUS SEES. It scrapes `/federate` of each regional Prometheus under the
// job `_config.federateJobSelector`, one target per region labelled with that region, with
//   match[]: probe_region:mailcanary_probe_consecutive_failures:min,
//            probe_region:mailcanary_probe_consecutive_successes:max
// (recorded by each regional Prometheus from prometheusAlerts) and honor_labels: true. Every rule
// here reads only those two series and `up` of that job. A regional Prometheus that cannot be
// scraped, or an agent its Prometheus cannot scrape, takes its series away (stale at once): a
// missing region is never read as "mail down", only as MailCanaryFleetRegionUnseen (and
// MailCanaryAgentDown from the region itself).
//
// WHO PAGES FOR MAIL DOWN. In a fleet the regional Prometheus servers drop their own
// MailCanaryProbeDown and MailCanaryProbeDownGlobally before sending (alert_relabel_configs, in
// docs/scale.md): one region cannot tell the mail service from its own network path. The rules
// below decide with every region in view:
//   - down in `_config.regionQuorum` regions or more (every client profile failed its last N
//     cycles in each): MailCanaryFleetProbeDown, critical: the mail service is down;
//   - down in one region while another region's latest cycles succeed:
//     MailCanaryFleetProbeDownInOneRegion, warning (a ticket): that region's network or agent;
//   - down in the only region that sees the probe (the others are gone or never watched it):
//     MailCanaryFleetProbeDownUnconfirmed, critical: no second vantage point can vouch for the
//     service, so it pages as a one-region fleet would.
// TIMING. The counts are failed cycles in a row, as in alerts/availability.libsonnet
// (N = `_config.failingCycles`). An outage of the whole service reaches the regions up to one
// probe interval apart: the one-region alert asks for N + 1 failed cycles in its region, by
// which time the other regions have failed N cycles at least and the quorum speaks instead.
// Each alert fires one regional evaluation and one federation scrape and global evaluation after
// its regional condition.
local util = import '../lib/util.libsonnet';

{
  prometheusFleetAlerts+:: {
    local c = $._config,
    local n = c.failingCycles,
    local downMin = 'probe_region:mailcanary_probe_consecutive_failures:min',
    local quorum = 'count by (probe) (%s >= %d) >= %d' % [downMin, n, c.regionQuorum],
    local federate = 'up{%s}' % c.federateJobSelector,
    groups+: [
      {
        name: 'mailcanary.fleet',
        rules: [
          {
            // Quorum of vantage points: the probe is down in `_config.regionQuorum` regions or
            // more.
            alert: 'MailCanaryFleetProbeDown',
            expr: quorum + '\n',
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Mail is down as seen from %s or more regions.' % util.words(c.regionQuorum),
              description: util.fold(|||
                Every client profile of probe {{ $labels.probe }} has failed its last cycles in
                {{ $value }} regions: independent vantage points agree that the mail service is down,
                not one region's network.
              |||),
            },
          },
          {
            // Down in this region (N + 1 failed cycles in a row on every client profile) while
            // at least one other region's latest cycle of the probe succeeded, and no quorum.
            alert: 'MailCanaryFleetProbeDownInOneRegion',
            expr: |||
              %(down)s >= %(n1)d
              and on (probe)
              max by (probe) (probe_region:mailcanary_probe_consecutive_successes:max) >= 1
              unless on (probe)
              %(quorum)s
            ||| % { down: downMin, n1: n + 1, quorum: quorum },
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Mail fails from one region only while other regions deliver.',
              description: util.fold(|||
                Every client profile of probe {{ $labels.probe }} has failed its last {{ $value }}
                cycles in region {{ $labels.region }}, while another region still delivers: the path
                from that region (its network, its agents' host, a regional front end) is broken,
                not the mail service as a whole.
              |||),
            },
          },
          {
            // Down in the only region that has series for the probe: the other regions are gone
            // (MailCanaryFleetRegionUnseen) or do not watch it.
            alert: 'MailCanaryFleetProbeDownUnconfirmed',
            expr: |||
              %(down)s >= %(n)d
              and on (probe)
              count by (probe) (%(down)s) == 1
            ||| % { down: downMin, n: n },
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Mail is down as seen from the only region that watches it now.',
              description: util.fold(|||
                Every client profile of probe {{ $labels.probe }} has failed its last {{ $value }}
                cycles in region {{ $labels.region }}, and no other region reports on this probe: no
                second vantage point can tell the mail service from that region's path.
              |||),
            },
          },
          {
            // The global Prometheus cannot scrape a regional one, or scrapes it and gets no
            // mailcanary series (every agent of the region gone, or a wrong match[]).
            // `_config.fleetRegionUnseenFor`, so a single failed federation scrape is not an
            // alert.
            alert: 'MailCanaryFleetRegionUnseen',
            expr: |||
              %(up)s == 0
              or
              (
                %(up)s == 1
                unless on (region)
                %(down)s
              )
            ||| % { up: federate, down: downMin },
            'for': c.fleetRegionUnseenFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'The global view has lost a region; mail seen from it is unmonitored.',
              description: util.fold(|||
                For at least %(for)s the global Prometheus has had no mailcanary series from region
                {{ $labels.region }} ({{ $labels.instance }}
                {{- if eq $value 0.0 }} cannot be scraped{{ else }} answers but sends none{{ end }}).
                Its probes count in no quorum: a mail outage seen from there alone cannot be told
                from its path, and one seen elsewhere lacks a vantage point.
              ||| % { 'for': util.aDuration(c.fleetRegionUnseenFor) }),
            },
          },
        ],
      },
    ],
  },
}
