// The knobs of the mailcanary mixin. Override any of them with
//   (import 'mailcanary-mixin/mixin.libsonnet') + { _config+:: { jobSelector: 'job="mail-probes"' } }
// The values below are what alerts/ and dashboards/ ship (scripts/mixin.sh generates them from
// these defaults); docs/alerting.md explains each.
{
  _config+:: {
    // The label matcher that selects the agents' series: in every rule and every dashboard query
    // that reads a metric the agent exports (and `up`). Keep it an equality matcher if you want
    // MailCanaryAgentAbsent's description to name the job (absent() only copies equality labels).
    jobSelector: 'job="mailcanary"',

    // --- The delivery SLO -----------------------------------------------------------------------
    // Share of canaries on time over 30 days. Recorded once, as `mailcanary:slo_target:ratio`:
    // every burn-rate threshold and the budget in the alert descriptions are computed from that
    // series, and the dashboards draw it as the SLO line.
    sloTarget: 0.99,
    // The latency SLI's threshold, in seconds: a bucket bound of `mailcanary_delivery_seconds`
    // that the agent exports (docs/metrics.md lists them; 60 is always one).
    latencyThresholdSeconds: 60,
    // Multi-window, multi-burn-rate alerts (Google SRE workbook, chapter 5). A condition holds
    // when the error ratio exceeds `factor` x the error budget over both its long and its short
    // window. The page fires on either page condition; the ticket on its one condition.
    burnRatePage: [
      { long: '1h', short: '5m', factor: 14.4 },  // 2 % of the 30-day budget in an hour
      { long: '6h', short: '30m', factor: 6 },  // 5 % of it in 6 hours
    ],
    burnRateTicket: { long: '3d', short: '6h', factor: 1 },
    burnRatePageFor: '2m',
    burnRateTicketFor: '30m',

    // --- Availability ---------------------------------------------------------------------------
    // N: the failed cycles in a row that make a client profile "failing" (MailCanaryProbeDown,
    // ...ProbeDownGlobally, ...SMTPFailing, ...IMAPFailing, ...AuthenticationFailing,
    // ...DeliveryStalled).
    // MailCanaryClientProfileDown asks for N + 1 failed cycles of one profile and N + 1
    // successful ones of another. Raise it for a probe interval so short that N cycles are a blip.
    failingCycles: 2,
    // MailCanaryProbeDownGlobally: the number of regions in which the same probe must be down
    // for the mail service itself (not one agent's network) to be down.
    regionQuorum: 2,
    // The fleet's global Prometheus (prometheusFleetAlerts, docs/scale.md): the label matcher of
    // its job that scrapes each regional Prometheus' /federate, and how long a region may be
    // missing from it before MailCanaryFleetRegionUnseen.
    federateJobSelector: 'job="mailcanary-federate"',
    fleetRegionUnseenFor: '1m',
    // MailCanaryDeliveryStalled's second condition: canaries in flight for this long with none
    // arriving.
    deliveryStalledWindow: '5m',
    // The SMTP stages of the metric contract (MailCanarySMTPFailing).
    smtpStages: ['dns', 'connect', 'tls', 'greeting', 'ehlo', 'auth', 'mail_from', 'rcpt', 'data'],

    // --- Canaries and stored mail -------------------------------------------------------------
    // Lost, corrupt and duplicated canaries are counted over this window.
    canaryIntegrityWindow: '1h',
    sentinelBrokenFor: '2m',

    // --- TLS certificates -----------------------------------------------------------------------
    certExpiryWarningDays: 14,
    certExpiryCriticalDays: 3,
    certExpiryFor: '10m',

    // --- The agent itself -----------------------------------------------------------------------
    agentDownFor: '2m',
    agentAbsentFor: '5m',
    // MailCanaryAgentStale: no cycle started over this window, for series scraped for at least
    // `agentStaleMinAge`.
    agentStaleWindow: '10m',
    agentStaleMinAge: '5m',
    agentStaleFor: '2m',
    localFaultWindow: '5m',
    configReloadFailedFor: '5m',

    // Every alert's runbook_url is this base followed by `<alertname>.md`.
    runbookURLBase: 'https://github.com/mailcanary/mailcanary/blob/main/docs/runbooks/',

    // --- Dashboards -----------------------------------------------------------------------------
    // The receiving spam filter's junk threshold, drawn as a line on the probe dashboard's spam
    // score panel: rspamd's `add_header` action (6 by default); SpamAssassin's `required_score`
    // is 5. No alert reads it.
    spamScoreThreshold: 6,
    dashboardTags: ['mailcanary'],
    dashboardRefresh: '30s',
    dashboardTimeFrom: 'now-6h',
  },
}
