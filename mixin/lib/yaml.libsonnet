// A YAML writer for Prometheus rule files, so that the generated file reads like a hand-written
// one: keys in the order Prometheus documents them (not jsonnet's alphabetical order), PromQL as
// `|` blocks, long annotations folded with `>-`, plain scalars where YAML reads them back as the
// same string, JSON-quoted ones elsewhere. (std.manifestYamlDoc quotes every string and sorts
// every key.)
local order = [
  'name',
  'interval',
  'limit',
  'rules',
  'record',
  'alert',
  'expr',
  'for',
  'keep_firing_for',
  'labels',
  'annotations',
  'summary',
  'description',
  'runbook_url',
];
// Sort keys: a letter per known key (its rank), 'z' before any other key.
local letters26 = std.stringChars('abcdefghijklmnopqrstuvwxy');
local rank = { [order[i]]: letters26[i] for i in std.range(0, std.length(order) - 1) };
local keys(o) = std.sort(std.objectFields(o), function(k) (if std.objectHas(rank, k) then rank[k] else 'z') + k);

local width = 100;
// Whether s contains pat (std.findSubstr is far too slow for annotation texts).
local has(s, pat) = std.strReplace(s, pat, '') != s;
local reserved = ['true', 'false', 'yes', 'no', 'on', 'off', 'null', 'y', 'n', '~'];
local letters = std.stringChars('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ');

local digits = std.stringChars('0123456789');
// A Prometheus duration such as 2m or 30m: YAML reads it back as a string.
local duration(s) =
  std.length(s) > 1 && std.member(['s', 'm', 'h', 'd', 'w'], s[std.length(s) - 1])
  && std.length([c for c in std.stringChars(std.substr(s, 0, std.length(s) - 1)) if !std.member(digits, c)]) == 0;

// A string YAML reads back unchanged without quotes.
local plain(s) =
  duration(s) ||
  std.length(s) > 0
  && std.member(letters, s[0])
  && !std.member(reserved, std.asciiLower(s))
  && !has(s, ': ')
  && !has(s, ' #')
  && !has(s, '\t')
  && !std.member([':', ' '], s[std.length(s) - 1]);

// Words of a one-line text, packed into lines of at most `width` columns after `indent`. A
// Go template action `{{ ... }}` stays on one line.
local count(pat, s) = (std.length(s) - std.length(std.strReplace(s, pat, ''))) / std.length(pat);
local wrap(s, indent) =
  local raw = std.split(s, ' ');
  // Raw words glued into unbreakable ones: `{{ with ... }}` is one word.
  local glue(i, open, words) =
    if i >= std.length(raw) then words
    else
      local w = raw[i], n = std.length(words);
      local next = open + count('{{', w) - count('}}', w);
      if open > 0 then glue(i + 1, next, words[:n - 1] + [words[n - 1] + ' ' + w]) tailstrict
      else glue(i + 1, next, words + [w]) tailstrict;
  local words = glue(0, 0, []);
  local fill(i, cur, lines) =
    if i >= std.length(words) then lines + [cur]
    else
      local w = words[i];
      if cur == '' then fill(i + 1, w, lines) tailstrict
      else if std.length(indent) + std.length(cur) + 1 + std.length(w) <= width then fill(i + 1, cur + ' ' + w, lines) tailstrict
      else fill(i + 1, w, lines + [cur]) tailstrict;
  fill(0, '', []);

// A text folds safely when its words are separated by single spaces (a folded line break is
// read back as one space).
local foldable(s) =
  !has(s, '  ') && s[0] != ' ' && s[std.length(s) - 1] != ' '
  && !has(s, '\n');

// The value after `key:` (the leading space included) and the lines that follow, for a scalar.
local scalar(s, indent) =
  if std.type(s) == 'number' || std.type(s) == 'boolean' || s == null then ' ' + std.manifestJson(s)
  else if has(s, '\n') then
    local body = if std.endsWith(s, '\n') then std.substr(s, 0, std.length(s) - 1) else s;
    if body[0] == ' ' || has(s, '\t') then ' ' + std.manifestJson(s)
    else (if std.endsWith(s, '\n') && !std.endsWith(body, '\n') then ' |' else ' |-') + '\n'
         + std.join('\n', [if l == '' then '' else indent + l for l in std.split(body, '\n')])
  // Long templated texts (annotations) are folded; other plain strings stay on their line.
  else if std.length(indent) + std.length(s) > width && has(s, '{{') && foldable(s) then ' >-\n' + std.join('\n', [indent + l for l in wrap(s, indent)])
  else if plain(s) then ' ' + s
  else ' ' + std.manifestJson(s);

local value(v, indent) =
  if std.type(v) == 'object' then
    '\n' + std.join('\n', [indent + k + ':' + value(v[k], indent + '  ') for k in keys(v)])
  else if std.type(v) == 'array' then
    '\n' + std.join('\n', [indent + '- ' + item(x, indent + '  ') for x in v])
  else scalar(v, indent),

      // One list item: an object's first key on the dash's line, the others aligned under it.
      item(x, indent) =
  if std.type(x) == 'object' then
    local ks = keys(x);
    std.join('\n', [
      (if i == 0 then '' else indent) + ks[i] + ':' + value(x[ks[i]], indent + '  ')
      for i in std.range(0, std.length(ks) - 1)
    ])
  else std.stripChars(scalar(x, indent), ' ');

{
  // A YAML document for `doc` (an object), after the comment lines of `header`.
  manifest(doc, header=''):: header + std.join('\n', [k + ':' + value(doc[k], '  ') for k in keys(doc)]) + '\n',
}
