// A JSON writer for the dashboards: two-space indentation, keys sorted, and numbers written
// the short way (0.99, not std.manifestJsonEx's 0.98999999999999999: the same double, but
// noise in every diff).
// std.escapeStringJson walks the string a character at a time: far too slow for hundreds of
// queries. The dashboards hold no control characters but newline and tab.
local str(s) =
  '"' + std.strReplace(std.strReplace(std.strReplace(std.strReplace(std.strReplace(
    s, '\\', '\\\\'
  ), '"', '\\"'), '\n', '\\n'), '\t', '\\t'), '\r', '\\r') + '"';
local num(x) = if x == std.floor(x) && std.abs(x) < 1e15 then '%d' % x else '%.15g' % x;
local value(v, indent) =
  local inner = indent + '  ';
  if std.type(v) == 'object' then
    if std.length(std.objectFields(v)) == 0 then '{}'
    else '{\n' + std.join(',\n', [inner + str(k) + ': ' + value(v[k], inner) for k in std.objectFields(v)]) + '\n' + indent + '}'
  else if std.type(v) == 'array' then
    if std.length(v) == 0 then '[]'
    else '[\n' + std.join(',\n', [inner + value(x, inner) for x in v]) + '\n' + indent + ']'
  else if std.type(v) == 'number' then num(v)
  else if std.type(v) == 'string' then str(v)
  else std.manifestJson(v);
{
  manifest(v):: value(v, '') + '\n',
}
