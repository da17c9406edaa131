// Small helpers of the mailcanary mixin: durations and numbers in words for alert texts, and
// folding of the multi-line texts written in the jsonnet sources.
{
  // '5m' -> [5, 'minute']; Prometheus durations of one unit (s, m, h, d, w).
  local parse(d) =
    local unit = std.substr(d, std.length(d) - 1, 1);
    local n = std.parseInt(std.substr(d, 0, std.length(d) - 1));
    local names = { s: 'second', m: 'minute', h: 'hour', d: 'day', w: 'week' };
    assert std.objectHas(names, unit) : 'duration %s: one number and one unit of s, m, h, d, w' % d;
    [n, names[unit]],

  // Seconds in a duration, to order windows.
  seconds(d)::
    local p = parse(d);
    p[0] * { second: 1, minute: 60, hour: 3600, day: 86400, week: 604800 }[p[1]],

  // '1h' -> '1 hour', '6h' -> '6 hours'.
  duration(d)::
    local p = parse(d);
    '%d %s%s' % [p[0], p[1], if p[0] == 1 then '' else 's'],

  // '1m' -> 'a minute', '5m' -> '5 minutes'.
  aDuration(d)::
    local p = parse(d);
    if p[0] == 1 then 'a ' + p[1] else self.duration(d),

  // '6h' -> '6-hour'.
  adjective(d)::
    local p = parse(d);
    '%d-%s' % p,

  // '1h' -> 'the last hour', '10m' -> 'the last 10 minutes'.
  last(d)::
    local p = parse(d);
    if p[0] == 1 then 'the last ' + p[1] else 'the last ' + self.duration(d),

  // 3 -> 'three': small counts read as words in alert descriptions.
  words(n)::
    local w = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
    if n >= 0 && n < std.length(w) then w[n] else std.toString(n),

  // A number in PromQL or a text: 14.4, 6, 0.99 (never 6.0 or 0.98999999).
  num(x):: '%.15g' % x,

  // Joins the lines of a text written over several lines into one, the way YAML's `>-` folds:
  // what an annotation's value is.
  fold(text)::
    std.join(' ', std.filter(function(l) l != '', [std.stripChars(l, ' ') for l in std.split(text, '\n')])),
}
