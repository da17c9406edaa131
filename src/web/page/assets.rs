//! The status page's only assets, inlined: its stylesheet and the small script that refreshes
//! the live part of the page every few seconds without a full reload. Without JavaScript the
//! page falls back to a `<noscript>` meta refresh (see `mod.rs`).

/// Seconds between refreshes, by script or (without JavaScript) by meta refresh.
pub const REFRESH_SECONDS: u32 = 5;

/// The stylesheet. Colours are never the only signal: every state also has a word and a mark.
pub const CSS: &str = r#"
:root{--up:#17692f;--up-bg:#dcf2e2;--down:#a8201a;--down-bg:#fbe0dd;--unk:#5b6168;--unk-bg:#eceff1;
--fg:#1f2328;--muted:#57606a;--line:#d0d7de;--bg:#f6f8fa;--note:#6639ba;--note-bg:#f1ebfd}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:var(--fg);background:var(--bg)}
header,main,footer{max-width:1120px;margin:0 auto;padding:.6rem 1rem}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.3rem 1rem}
h1{font-size:1.3rem;margin:.2rem 0}
h2{font-size:1.05rem;margin:1.3rem 0 .5rem}
h3{font-size:.98rem;margin:0 0 .3rem}
.muted,.cap{color:var(--muted);font-size:.85rem}
.cap{margin:.1rem 0 .4rem}
#refresh.stale{color:var(--down);font-weight:600}
.notice{border-left:6px solid var(--note);background:var(--note-bg);padding:.6rem .9rem;border-radius:6px;margin:.4rem 0 .8rem}
.notice b{color:var(--note)}
.notice p{margin:.2rem 0}
.summary{font-size:1.05rem;font-weight:600;margin:.3rem 0}
.scroll{overflow-x:auto;-webkit-overflow-scrolling:touch}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid var(--line);padding:.45rem .55rem;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}
th small{display:block;font-weight:400;color:var(--muted);font-size:.8rem}
#matrix{width:auto;min-width:min(100%,40rem)}#matrix td{min-width:11rem}
td small{display:block;color:var(--muted);font-size:.8rem}
.st{font-weight:700;display:block;letter-spacing:.02em}
.c-up{background:var(--up-bg)}.c-up .st,.k-up .st{color:var(--up)}
.c-down{background:var(--down-bg)}.c-down .st,.k-down .st{color:var(--down)}
.c-unknown{background:var(--unk-bg)}.c-unknown .st,.k-unknown .st{color:var(--unk)}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(290px,1fr));gap:.8rem}
.card{background:#fff;border:1px solid var(--line);border-top:6px solid var(--unk);border-radius:8px;padding:.6rem .8rem}
.card.k-up{border-top-color:var(--up)}.card.k-down{border-top-color:var(--down)}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:.1rem .7rem;margin:.3rem 0;font-size:.88rem}
.card dt{color:var(--muted)}.card dd{margin:0}
.spark{width:100%;height:40px;display:block;background:#fbfcfd;border:1px solid #eaeef2;border-radius:4px}
.spark .ln{fill:none;stroke:#0969da;stroke-width:1.6;vector-effect:non-scaling-stroke}
.spark .pt{fill:#0969da}.spark .fl{fill:var(--down);opacity:.55}
.fails{list-style:none;padding:0;margin:0}
.fails li{background:#fff;border:1px solid var(--line);border-left:5px solid var(--down);border-radius:6px;padding:.45rem .7rem;margin:.35rem 0}
.words{font-weight:600}
code{font:.82em ui-monospace,SFMono-Regular,Menlo,monospace;background:#eef1f4;padding:0 .3em;border-radius:3px}
.detail{display:block;font:.8rem ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-word;color:#3b434b;margin-top:.2rem}
.warn{color:var(--down);font-weight:600}
footer{font-size:.85rem;color:var(--muted)}
a{color:#0969da}
@media (max-width:600px){body{font-size:14px}th,td{padding:.35rem .4rem}header,main,footer{padding:.5rem .6rem}}
"#;

/// Refreshes `#live` from a fresh copy of this page every [`REFRESH_SECONDS`] (counting the
/// swaps in its `data-refreshes`); says so in `#refresh`, and says when it cannot (the agent
/// stopped, the network went away).
pub const SCRIPT: &str = r#"
(function(){
  var every = REFRESH_SECONDS * 1000, flag = document.getElementById('refresh'), count = 0;
  function say(text, stale){ if(flag){ flag.textContent = text; flag.className = stale ? 'stale' : ''; } }
  function tick(){
    fetch(window.location.pathname, {cache: 'no-store', credentials: 'same-origin'})
      .then(function(r){ if(!r.ok){ throw new Error('HTTP ' + r.status); } return r.text(); })
      .then(function(text){
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var fresh = doc.getElementById('live'), old = document.getElementById('live');
        if(fresh && old){
          var node = document.importNode(fresh, true);
          node.setAttribute('data-refreshes', String(++count));
          old.replaceWith(node);
        }
        if(doc.title){ document.title = doc.title; }
        say('live: updated ' + new Date().toLocaleTimeString(), false);
      })
      .catch(function(e){ say('not updating (' + e.message + '), retrying', true); })
      .then(function(){ window.setTimeout(tick, every); });
  }
  say('live: refreshes every ' + REFRESH_SECONDS + ' s', false);
  window.setTimeout(tick, every);
})();
"#;
