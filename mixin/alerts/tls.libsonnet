// TLS certificates the probes see: a warning `_config.certExpiryWarningDays` before expiry, a
// page `_config.certExpiryCriticalDays` before (and once expired).
local util = import '../lib/util.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local left = 'min by (probe, endpoint, region) (mailcanary_tls_cert_expiry_timestamp_seconds{%(jobSelector)s}) - time()' % c,
    groups+: [
      {
        name: 'mailcanary.tls',
        rules: [
          {
            alert: 'MailCanaryTLSCertExpiring',
            expr: |||
              %(left)s < %(warn)d * 86400
              and
              %(left)s >= %(crit)d * 86400
            ||| % { left: left, warn: c.certExpiryWarningDays, crit: c.certExpiryCriticalDays },
            'for': c.certExpiryFor,
            labels: { severity: 'warning' },
            annotations: {
              summary: 'A mail server TLS certificate expires in less than %d days.' % c.certExpiryWarningDays,
              description: util.fold(|||
                The certificate of {{ $labels.endpoint }} seen by probe {{ $labels.probe }} from region {{ $labels.region }} expires in {{ $value | humanizeDuration }}.
              |||),
            },
          },
          {
            alert: 'MailCanaryTLSCertExpiringCritical',
            expr: |||
              %(left)s < %(crit)d * 86400
            ||| % { left: left, crit: c.certExpiryCriticalDays },
            'for': c.certExpiryFor,
            labels: { severity: 'critical' },
            annotations: {
              summary: 'A mail server TLS certificate expires in less than %d days or has expired.' % c.certExpiryCriticalDays,
              description: util.fold(|||
                The certificate of {{ $labels.endpoint }} seen by probe {{ $labels.probe }} from region {{ $labels.region }} {{ if lt $value 0.0 }}has already expired{{ else }}expires in {{ $value | humanizeDuration }}{{ end }}. Clients that verify certificates will refuse to connect.
              |||),
            },
          },
        ],
      },
    ],
  },
}
