// The agent itself: scraped, running cycles, config loaded. `_config.jobSelector` is how
// Prometheus knows the agents: MailCanaryAgentDown and MailCanaryAgentAbsent read `up` with it.
local util = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    groups+: [
      {
        name: 'mailcanary.agent',
        rules: [
          {
            alert: 'MailCanaryAgentDown',
            expr: 'up{%(jobSelector)s} == 0' % c,
            'for': c.agentDownFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Prometheus cannot scrape a mailcanary agent; mail in its region is unmonitored.',
              description: util.fold(|||
                Prometheus has failed to scrape the mailcanary agent {{ $labels.instance }} (job
                {{ $labels.job }}) for at least %s. Its probes are not being watched.
              ||| % util.duration(c.agentDownFor)),
            },
          },

          {
            alert: 'MailCanaryAgentAbsent',
            expr: 'absent(up{%(jobSelector)s})' % c,
            'for': c.agentAbsentFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'No mailcanary agent is known to Prometheus; mail is unmonitored.',
              description: util.fold(|||
                There has been no scrape target with job="{{ $labels.job }}" for at least %s: service
                discovery or the Prometheus configuration lost the agents, and no mail alert can fire.
              ||| % util.duration(c.agentAbsentFor)),
            },
          },

          // The agent answers scrapes but runs no cycles: probe_success is frozen at its last
          // value. Only for series scraped for `agentStaleMinAge` (5 minutes) at least: the
          // first two scrapes of a new agent may fall between two cycles, and an increase of 0
          // over them says nothing.
          {
            alert: 'MailCanaryAgentStale',
            expr: |||
              sum by (probe, client, region) (increase(mailcanary_probe_cycles_total{%(sel)s}[%(w)s])) == 0
              and on (probe, client, region)
              sum by (probe, client, region) (mailcanary_probe_cycles_total{%(sel)s} offset %(age)s) >= 0
            ||| % { sel: c.jobSelector, w: c.agentStaleWindow, age: c.agentStaleMinAge },
            'for': c.agentStaleFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'A mailcanary agent is up but has stopped running probe cycles.',
              description: util.fold(|||
                Probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                {{ $labels.region }} started no cycle in %s although the agent is
                scraped: its success metric is frozen and no mail alert can fire for it.
              ||| % util.last(c.agentStaleWindow)),
            },
          },

          // Cycles of this probe instance end on a fault of the agent itself: its ledger cannot
          // be written or read (disk full, read-only filesystem, permissions), or a credential
          // file cannot be read. Those cycles are no evidence about mail: they count in
          // mailcanary_local_faults_total only, leave mailcanary_probe_success and the counts of
          // consecutive failures and successes as they were, so no availability alert fires for
          // them. This alert says the probe is blind instead. Fires at the first such cycle
          // scraped; resolves `localFaultWindow` (5 minutes) after the last.
          {
            alert: 'MailCanaryLocalFault',
            expr: |||
              sum by (probe, client, region) (increase(mailcanary_local_faults_total{%(sel)s}[%(w)s])) > 0
            ||| % { sel: c.jobSelector, w: c.localFaultWindow },
            labels: { severity: 'critical' },
            annotations: {
              summary: 'A mailcanary agent cannot probe because of a fault of its own, not of the mail service.',
              description: util.fold(|||
                Cycles of probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                {{ $labels.region }} end on a fault of the agent itself (its ledger cannot be written,
                for example a full disk, or a credential cannot be read). They are not counted as mail
                failures, so no mail alert can fire for this probe until the agent is fixed.
              |||),
            },
          },

          {
            alert: 'MailCanaryConfigReloadFailed',
            expr: |||
              min by (job, instance, region) (mailcanary_config_last_reload_successful{%(jobSelector)s}) == 0
            ||| % c,
            'for': c.configReloadFailedFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A mailcanary agent rejected its new configuration and keeps running the old one.',
              description: util.fold(|||
                The last configuration reload of agent {{ $labels.instance }} in region
                {{ $labels.region }} failed. It still probes with the previous configuration; probe
                changes made since are not in effect.
              |||),
            },
          },
        ],
      },
    ],
  },
}
