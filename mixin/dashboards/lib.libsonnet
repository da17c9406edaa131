local util = import '../lib/util.libsonnet';

// Small helpers for the mailcanary dashboards, built by hand (no grafonnet): the parts every
// panel, target and template variable share. `cfg` is the mixin's `_config`.
{
  // Every panel and query reads the dashboard's `datasource` variable (tests/contract_use.rs).
  ds:: { type: 'prometheus', uid: '${datasource}' },

  // The PromQL selector of a dashboard query: the agents' job, then the dashboard's variables.
  // `%(sel)s` in a query becomes `job="mailcanary",region=~"$region",probe=~"$probe",client=~"$client"`.
  // `%(vars)s` is the variables alone, for the recording rules' series (they carry no job label).
  vars(cfg):: {
    jobSelector: cfg.jobSelector,
    vars: 'region=~"$region",probe=~"$probe",client=~"$client"',
    sel: cfg.jobSelector + ',' + self.vars,
    le: '%g' % cfg.latencyThresholdSeconds,
    sloPercent: '%g' % (cfg.sloTarget * 100),
    pageFactors: ['%g' % b.factor for b in cfg.burnRatePage],
    // The fast page's long window: the overview's burn-rate panel reads its recording rule.
    local page = cfg.burnRatePage,
    local long = page[0].long,
    local split(w) = [std.substr(w, 0, std.length(w) - 1), std.substr(w, std.length(w) - 1, 1)],
    pageLong: long,
    pageLongTitle: std.join(' ', split(long)),  // '1 h'
    // The words of the burn-rate panel's description.
    burnPanel: {
      longText: util.last(long),  // 'the last hour'
      inLong: std.strReplace(util.last(long), 'the last', 'the'),  // 'the hour'
      f0: '%g' % page[0].factor,
      // The share of the 30-day budget the fast page's factor spends over its long window.
      pct: '%.3g' % (page[0].factor * util.seconds(long) / (30 * 86400) * 100),
      short: std.join(' ', split(page[0].short)),  // '5 m'
      f1: if std.length(page) > 1 then '%g' % page[1].factor else '-',
      long1: if std.length(page) > 1 then util.adjective(page[1].long) else '-',
    },
  },

  // A query; `instant` for stat and table panels (one value per series), else a range query.
  target(refId, expr, legendFormat, instant=false, format=null):: {
    refId: refId,
    datasource: $.ds,
    editorMode: 'code',
    expr: expr,
    legendFormat: legendFormat,
    range: !instant,
    instant: instant,
  } + (if format == null then {} else { format: format }),

  // A row header across the dashboard's width at height y.
  row(id, title, y):: {
    id: id,
    type: 'row',
    title: title,
    collapsed: false,
    datasource: $.ds,
    gridPos: { h: 1, w: 24, x: 0, y: y },
    panels: [],
  },

  // A panel at [x, y, w, h]; `rest` holds fieldConfig, options, transformations.
  panel(id, type, title, description, pos, targets, rest={}):: {
    id: id,
    type: type,
    title: title,
    description: description,
    datasource: $.ds,
    gridPos: { x: pos[0], y: pos[1], w: pos[2], h: pos[3] },
    targets: targets,
    fieldConfig: { defaults: {}, overrides: [] },
    options: {},
  } + rest,

  // Threshold steps from [[color, value], ...]; the first value is null (the base colour).
  steps(list):: { mode: 'absolute', steps: [{ color: s[0], value: s[1] } for s in list] },

  // The data source variable and the region > probe > client cascade of query variables, each
  // listing the values of `mailcanary_probe_success` under the ones before it.
  templating(cfg):: {
    local variable(name, label, filters) = {
      local series = 'mailcanary_probe_success{%s}' % std.join(',', [cfg.jobSelector] + filters),
      name: name,
      label: label,
      type: 'query',
      datasource: $.ds,
      definition: 'label_values(%s,%s)' % [series, name],
      query: {
        qryType: 1,
        query: 'label_values(%s,%s)' % [series, name],
        refId: 'PrometheusVariableQueryEditor-VariableQuery',
      },
      refresh: 2,
      multi: true,
      includeAll: true,
      allValue: '.*',
      current: { selected: true, text: ['All'], value: ['$__all'] },
      options: [],
      regex: '',
      sort: 1,
      hide: 0,
    },
    list: [
      {
        name: 'datasource',
        label: 'Data source',
        type: 'datasource',
        query: 'prometheus',
        current: {},
        options: [],
        refresh: 1,
        regex: '',
        hide: 0,
        multi: false,
        includeAll: false,
      },
      variable('region', 'Region', []),
      variable('probe', 'Probe', ['region=~"$region"']),
      variable('client', 'Client profile', ['region=~"$region"', 'probe=~"$probe"']),
    ],
  },

  // A dashboard with the settings both share, linking to `other` (uid, title) with the same
  // time range and variables.
  dashboard(cfg, uid, title, description, link, panels):: {
    uid: uid,
    title: title,
    description: description,
    tags: cfg.dashboardTags,
    schemaVersion: 39,
    version: 1,
    editable: true,
    graphTooltip: 1,
    time: { from: cfg.dashboardTimeFrom, to: 'now' },
    timepicker: {},
    timezone: '',
    refresh: cfg.dashboardRefresh,
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: '',
    annotations: { list: [] },
    links: [
      {
        title: link.title,
        type: 'link',
        url: '/d/%s/%s?${__url_time_range}&${region:queryparam}&${probe:queryparam}&${client:queryparam}&${datasource:queryparam}' % [link.uid, link.uid],
        targetBlank: false,
        icon: 'dashboard',
      },
    ],
    templating: $.templating(cfg),
    panels: panels,
  },
}
