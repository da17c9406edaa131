// Is mail working, and if not, which step fails? Per probe and region, across regions, per
// client profile, per step. One group, so that every alert here reads the values recorded in the
// same evaluation: the step alerts (SMTP, IMAP, delivery) can never lag the generic
// MailCanaryProbeDown by an evaluation, as they could if they read another group's rules.
//
// TIMING, in one place. The alerts that say whether mail works and which step fails
// (MailCanaryProbeDown, ...ProbeDownGlobally, ...ClientProfileDown, ...SMTPFailing,
// ...IMAPFailing, ...AuthenticationFailing, ...DeliveryStalled) count failed cycles in a row,
// which the agent exports as `mailcanary_probe_consecutive_failures` (0 after a success),
// instead of looking back over a fixed window: a window is a different number of cycles at each
// probe interval, and the same rules must neither page on one failed cycle at the 60 s default
// nor wait minutes at 10 s.
// One knob, N = 2 (`_config.failingCycles`): "failing" is N failed cycles in a row.
// MailCanaryClientProfileDown asks for N + 1 failed cycles of one profile and N + 1 successful
// ones of another (`mailcanary_probe_consecutive_successes`), so that a whole-probe outage or
// recovery, which reaches the client profiles up to one interval apart, is never a
// client-profile alert. None of them has a `for:`: the count already says the failure lasted.
// With probe interval P, scrape interval S and evaluation interval E, such an alert fires within
//   N x 1.1 P (N cycles, the jitter included) + the last failing cycle's length (the deadline
//   for a held queue) + S + E
// of mail breaking (P = 10 s, S = E = 5 s: 32 s, 40 s for a held queue with an 8 s deadline; at
// P = 60 s and S = E = 15 s, 2 minutes 42 s; MailCanaryClientProfileDown one interval more), and
// resolves within 1.1 P + S + E (plus the length of a good cycle) of mail working again: the
// first successful cycle, scraped, evaluated. One failed cycle never pages, at any interval. An
// agent restart starts the counts from 0. The step is the stage of the profile's latest failed
// cycle (`mailcanary_probe_last_failure_timestamp_seconds`, the newest series per profile), never
// one that failed before the last success. docs/alerting.md gives every alert's time to fire and
// to resolve.
//
// The agent creates `mailcanary_probe_failures_total{stage,reason}` series at the first failure
// of that kind (value 1), while `outcome` and `phase` series exist from the start. increase()
// cannot see the first event of a series born with value 1, so no alert here counts failure
// events with increase(): the consecutive-failure gauge says *that* mail fails, the last-failure
// timestamps say *where*. Checked against the real agent by tests/e2e_alerts.rs.
local util = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local n = c.failingCycles,
    local latest = 'probe_client_region_stage_reason:mailcanary_probe_last_failure_timestamp_seconds:latest',
    // A Go template that names the stage and reason of the latest failure of the alert's series.
    local latestFailure(selector, text) =
      '{{ with printf "' + selector + '" ' + (
        if std.strReplace(selector, 'client=', '') != selector
        then '$labels.probe $labels.client $labels.region'
        else '$labels.probe $labels.region'
      ) + ' | query }}{{ with first . }}' + text + '{{ end }}{{ end }}',
    local ofProfile = latest + '{probe=%q,client=%q,region=%q}',
    local failing = 'probe_client_region:mailcanary_probe_consecutive_failures:max >= %d' % n,
    // Profiles whose latest failed cycle delivered its canary but got an authentication verdict
    // other than the expected pass: not an availability failure.
    local delivered = latest + '{stage="verify",reason="auth_verdict"}',

    groups+: [
      {
        name: 'mailcanary.availability',
        rules: [
          // Failed cycles in a row, per client profile (the agent counts them; 0 after a
          // success).
          {
            record: 'probe_client_region:mailcanary_probe_consecutive_failures:max',
            expr: |||
              max by (probe, client, region) (mailcanary_probe_consecutive_failures{%(jobSelector)s})
            ||| % c,
          },
          // The most successful cycles in a row among the probe's client profiles.
          {
            record: 'probe_region:mailcanary_probe_consecutive_successes:max',
            expr: |||
              max by (probe, region) (mailcanary_probe_consecutive_successes{%(jobSelector)s})
            ||| % c,
          },
          // The stage and reason of each client profile's latest failed cycle (value: its unix
          // time). Names the step that fails now, not one that failed before the last success.
          {
            record: latest,
            expr: |||
              max by (probe, client, region, stage, reason) (mailcanary_probe_last_failure_timestamp_seconds{%(jobSelector)s})
              == on (probe, client, region) group_left
              max by (probe, client, region) (mailcanary_probe_last_failure_timestamp_seconds{%(jobSelector)s})
            ||| % c,
          },
          // The fewest failed cycles in a row among the probe's client profiles: N or more only
          // when every profile of the probe has failed its last N cycles at least. A profile whose
          // latest failure is verify/auth_verdict counts 0: its canary was delivered (only the
          // receiving side's authentication verdict was not the expected pass), so it is not
          // "down" for MailCanaryProbeDown, ...ProbeDownGlobally or the fleet rules, which read
          // this; MailCanaryAuthenticationFailing speaks for it. After `latest`, which it reads
          // in the same evaluation.
          {
            record: 'probe_region:mailcanary_probe_consecutive_failures:min',
            expr: |||
              min by (probe, region) (
                probe_client_region:mailcanary_probe_consecutive_failures:max
                unless on (probe, client, region) %(delivered)s
                or
                0 * probe_client_region:mailcanary_probe_consecutive_failures:max
              )
            ||| % { delivered: delivered },
          },
          // 1 if any cycle of the series succeeded in the last minute, else 0; and the share of
          // the last 5 minutes' samples that were successes. For dashboards and your own queries
          // (no alert reads them: a fixed window means a different number of cycles at each
          // interval).
          {
            record: 'probe_client_region:mailcanary_probe_success:max1m',
            expr: |||
              max by (probe, client, region) (max_over_time(mailcanary_probe_success{%(jobSelector)s}[1m]))
            ||| % c,
          },
          {
            record: 'probe_region:mailcanary_probe_success:max1m',
            expr: |||
              max by (probe, region) (probe_client_region:mailcanary_probe_success:max1m)
            |||,
          },
          {
            record: 'probe_client_region:mailcanary_probe_success:avg5m',
            expr: |||
              avg by (probe, client, region) (avg_over_time(mailcanary_probe_success{%(jobSelector)s}[5m]))
            ||| % c,
          },

          // Every client profile of this probe failed its last N cycles, about N probe intervals
          // after mail breaks: at the 60 s default about 2 minutes, at 10 s about 30 s. One
          // failed cycle never pages, at any interval; the first successful cycle scraped
          // resolves it. The description names the stage of the latest failure, so an earlier,
          // different failure (a held queue just before Dovecot stopped) is not named as today's
          // cause.
          {
            alert: 'MailCanaryProbeDown',
            expr: 'probe_region:mailcanary_probe_consecutive_failures:min >= %d' % n,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Mail is failing end to end for a probe on every client profile in one region.',
              description: util.fold(|||
                Every client profile of probe {{ $labels.probe }} in region {{ $labels.region }} has
                failed its last {{ $value }} cycles or more: no canary is delivered.
              |||) + ' ' + latestFailure(
                'topk(1, ' + latest + '{probe=%q,region=%q})',
                'The latest failure is at stage {{ .Labels.stage }} with reason {{ .Labels.reason }}.'
              ),
            },
          },

          // Quorum: the same probe is down in `_config.regionQuorum` regions or more, so it is
          // the mail service and not one agent's network. Same timing as MailCanaryProbeDown.
          {
            alert: 'MailCanaryProbeDownGlobally',
            expr: 'count by (probe) (probe_region:mailcanary_probe_consecutive_failures:min >= %d) >= %d' % [n, c.regionQuorum],
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Mail is failing end to end for a probe in %s or more regions.' % util.words(c.regionQuorum),
              description: util.fold(|||
                Every client profile of probe {{ $labels.probe }} has failed its last cycles in
                {{ $value }} regions. This is a quorum of vantage points: the mail service itself is
                down, not one agent's network.
              |||),
            },
          },

          // One kind of client is broken while others of the same probe deliver (the January
          // 2023 "everyone except iOS users" case): this profile failed its last N + 1 cycles
          // while another profile succeeded its last N + 1. Profiles run their cycles out of
          // step, up to one interval apart, so an outage or a recovery of the whole probe
          // reaches them at different cycles; the counts of N + 1 make sure that every profile
          // has had a cycle since then: a whole-probe outage is MailCanaryProbeDown, never this,
          // and a profile that merely has not run since the probe recovered is not reported.
          // Resolves when the profile delivers again, or when the others fail too (then
          // MailCanaryProbeDown speaks). Never for a profile whose latest failure is
          // verify/auth_verdict: it delivers, with a wrong authentication verdict
          // (MailCanaryAuthenticationFailing).
          {
            alert: 'MailCanaryClientProfileDown',
            expr: |||
              probe_client_region:mailcanary_probe_consecutive_failures:max >= %(m)d
              and on (probe, region)
              probe_region:mailcanary_probe_consecutive_successes:max >= %(m)d
              unless on (probe, client, region)
              %(delivered)s
            ||| % { m: n + 1, delivered: delivered },
            labels: { severity: 'critical' },
            annotations: {
              summary: 'One client profile cannot use mail while other profiles of the same probe work.',
              description: util.fold(|||
                Client profile {{ $labels.client }} of probe {{ $labels.probe }} in region
                {{ $labels.region }} has failed its last {{ $value }} cycles, while another client
                profile of the same probe delivered in its last %s at least: users of this kind of
                client are cut off.
              ||| % util.words(n + 1)) + ' ' + latestFailure(
                ofProfile,
                'The latest failure is at stage {{ .Labels.stage }} with reason {{ .Labels.reason }}.'
              ),
            },
          },

          // The profile failed its last N cycles and the latest failed at an SMTP stage: the
          // count MailCanaryProbeDown reads, per profile, so this fires no later than the page
          // and resolves with the first successful cycle.
          {
            alert: 'MailCanarySMTPFailing',
            expr: |||
              %s
              and on (probe, client, region)
              %s{stage=~"%s"}
            ||| % [failing, latest, std.join('|', c.smtpStages)],
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Canaries cannot be submitted over SMTP.',
              description: util.fold(|||
                Probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                {{ $labels.region }} has failed its last {{ $value }} cycles, the latest while sending
                over SMTP.
              |||) + ' ' + latestFailure(
                ofProfile,
                'It failed at stage {{ .Labels.stage }} with reason {{ .Labels.reason }}.'
              ),
            },
          },

          // IMAP down: the profile failed its last N cycles, the latest at a stage starting with
          // imap_. Mail may still be accepted by SMTP and delivered unseen; that is why
          // MailCanaryDeliveryStalled stays quiet while this fires, and why the canaries
          // accepted meanwhile settle late when IMAP is back (SLO errors). Same timing as
          // MailCanaryProbeDown.
          {
            alert: 'MailCanaryIMAPFailing',
            expr: |||
              %s
              and on (probe, client, region)
              %s{stage=~"imap_.*"}
            ||| % [failing, latest],
            labels: { severity: 'warning' },
            annotations: {
              summary: 'Canaries cannot be looked for because the mailbox is unreachable over IMAP.',
              description: util.fold(|||
                Probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                {{ $labels.region }} has failed its last {{ $value }} cycles, the latest while reading
                the mailbox over IMAP.
              |||) + ' ' + latestFailure(
                ofProfile,
                'It failed at stage {{ .Labels.stage }} with reason {{ .Labels.reason }}.'
              ),
            },
          },

          // The receiving side's authentication verdict, for a probe with `expect_auth`: the
          // profile failed its last N cycles, the latest at verify/auth_verdict (the canary was
          // delivered, but its trusted Authentication-Results did not say pass for a method the
          // probe expects). Counted in cycles like the step alerts, so one odd canary (a DNS
          // blip at the receiver's SPF lookup, a temperror) never opens a ticket, and the first
          // canary that passes again resolves it. The description names the methods whose
          // current verdict is not pass (`mailcanary_auth_result{result!="pass"} == 1`); an
          // expected method missing from the header has no series, and the description says so.
          {
            alert: 'MailCanaryAuthenticationFailing',
            expr: |||
              %s
              and on (probe, client, region)
              %s{stage="verify",reason="auth_verdict"}
            ||| % [failing, latest],
            labels: { severity: 'warning' },
            annotations: {
              summary: 'The receiving side does not authenticate the canaries as the probe expects (SPF, DKIM, DMARC).',
              description: util.fold(|||
                Probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                {{ $labels.region }} has failed its last {{ $value }} cycles, the latest because the
                receiving side's Authentication-Results did not say pass for a method the probe
                expects (expect_auth). The canaries were delivered.
              |||) + ' {{ with printf `mailcanary_auth_result{' + c.jobSelector
                           + ',probe=%q,client=%q,region=%q,result!="pass"} == 1` $labels.probe $labels.client $labels.region | query | sortByLabel "method" }}'
                           + 'Verdicts other than pass on the last canary: {{ range $i, $s := . }}{{ if $i }}, {{ end }}{{ $s.Labels.method }}={{ $s.Labels.result }}{{ end }}.'
                           + '{{ else }}No verdict other than pass was exported: an expected method is missing from the trusted header.{{ end }}',
            },
          },

          // SMTP said 250 but canaries do not show up. Either the profile failed its last N
          // cycles, the latest at stage delivery with reason not_delivered (the canary was not
          // visible over IMAP by the deadline): MailCanaryProbeDown's timing, counted from the
          // first cycle whose deadline passes. Or canaries stay in flight for
          // `_config.deliveryStalledWindow` (5 m) with no canary arriving (on time, late or
          // recovered), which covers a deadline longer than the probe interval. Not while the
          // profile's latest failure is at IMAP: then the agent cannot look, and
          // MailCanaryIMAPFailing speaks instead. Both resolve as soon as a canary arrives again.
          {
            alert: 'MailCanaryDeliveryStalled',
            expr: |||
              (
                (
                  %(failing)s
                  and on (probe, client, region)
                  %(latest)s{stage="delivery",reason="not_delivered"}
                )
                or
                (
                  min by (probe, client, region) (min_over_time(mailcanary_canaries_in_flight{%(sel)s}[%(w)s])) > 0
                  unless on (probe, client, region)
                  sum by (probe, client, region) (increase(mailcanary_canaries_total{%(sel)s,outcome=~"on_time|late|recovered"}[%(w)s])) > 0
                )
              )
              unless on (probe, client, region)
              (
                probe_client_region:mailcanary_probe_consecutive_failures:max >= 1
                and on (probe, client, region)
                %(latest)s{stage=~"imap_.*"}
              )
            ||| % { failing: failing, latest: latest, sel: c.jobSelector, w: c.deliveryStalledWindow },
            labels: { severity: 'critical' },
            annotations: {
              summary: 'Mail is accepted over SMTP but not delivered to the mailbox.',
              description: util.fold(|||
                             Probe {{ $labels.probe }} with client profile {{ $labels.client }} in region
                             {{ $labels.region }}: the server accepts canaries over SMTP and the mailbox is reachable
                             over IMAP, but canaries do not arrive: mail is stuck in a queue or dropped between
                             acceptance and the mailbox (the delivery stage).
                           |||) + ' {{ with printf `sum(mailcanary_canaries_in_flight{' + c.jobSelector
                           + ',probe=%q,client=%q,region=%q})` $labels.probe $labels.client $labels.region | query }}'
                           + '{{ with first . }}{{ .Value }} canaries are in flight (accepted, not yet seen).{{ end }}{{ end }}',
            },
          },
        ],
      },
    ],
  },
}
