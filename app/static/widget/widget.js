/*! Switchboard website chat widget. Plain ES2019, no dependencies, no build step. */
(function () {
  'use strict';
  var W = window, D = document;
  try {
    if (W.Switchboard && W.Switchboard._sb) return; // included twice: the first copy wins
  } catch (e) { return; }

  // ---------------------------------------------------------------- helpers
  // Every callback the widget hands to the browser goes through safe(): never throw into the host page.
  function safe(fn) {
    return function () {
      try { return fn.apply(this, arguments); } catch (e) { try { console.warn('[switchboard]', e); } catch (_) { /* ignore */ } }
    };
  }
  function hex32() {
    var a = new Uint8Array(16), s = '';
    W.crypto.getRandomValues(a);
    for (var i = 0; i < 16; i++) s += (a[i] + 256).toString(16).slice(1);
    return s;
  }
  // h(tag, className, attributes, ...children); string children become text nodes (never HTML).
  function h(tag, cls, at) {
    var e = D.createElement(tag);
    if (cls) e.className = cls;
    for (var k in at) e.setAttribute(k, at[k]);
    for (var i = 3; i < arguments.length; i++) if (arguments[i] != null) e.append(arguments[i]);
    return e;
  }
  function svg(path, cls) {
    var NS = 'http://www.w3.org/2000/svg', s = D.createElementNS(NS, 'svg');
    s.setAttribute('viewBox', '0 0 24 24');
    s.setAttribute('aria-hidden', 'true');
    if (cls) s.setAttribute('class', cls);
    path.split('|').forEach(function (d) { var p = D.createElementNS(NS, 'path'); p.setAttribute('d', d); s.append(p); });
    return s;
  }
  var I = {
    chat: 'M21 11.5a8.4 8.4 0 0 1-9 8.4 9 9 0 0 1-3.8-.8L3 20.5l1.4-4.6A8 8 0 0 1 3 11.5 8.6 8.6 0 0 1 12 3a8.6 8.6 0 0 1 9 8.5z',
    down: 'M6 9l6 6 6-6',
    x: 'M18 6L6 18|M6 6l12 12',
    clip: 'M21.4 11.1l-9.2 9.2a6 6 0 0 1-8.5-8.5l9.2-9.2a4 4 0 0 1 5.7 5.7l-9.2 9.2a2 2 0 0 1-2.8-2.8l8.5-8.5',
    send: 'M22 2L11 13|M22 2l-7 20-4-9-9-4 20-7z',
    file: 'M14 2H6a2 2 0 0 0-2 2v16a2 2 0 0 0 2 2h12a2 2 0 0 0 2-2V8z|M14 2v6h6',
    ok: 'M20 6L9 17l-5-5',
    ok2: 'M18 7l-8.5 9.5L6 13|M23 7l-8.5 9.5-1.2-1.3|M1 13l3.5 3.5'
  };
  function httpUrl(u) {
    try { var x = new URL(u, base); return /^https?:$/.test(x.protocol) ? x.href : null; } catch (e) { return null; }
  }
  function link(href, cls) { return h('a', cls, { href: href, target: '_blank', rel: 'noopener noreferrer' }); }
  // Append text to parent, turning http(s) URLs into safe links.
  function linkify(parent, text) {
    var re = /\bhttps?:\/\/[^\s<>"']+/gi, last = 0, m;
    text = String(text || '');
    while ((m = re.exec(text))) {
      var u = m[0].replace(/[.,!?;:)\]}'"]+$/, ''), href = httpUrl(u);
      if (!href) continue;
      var a = link(href);
      a.textContent = u;
      parent.append(text.slice(last, m.index), a);
      re.lastIndex = last = m.index + u.length;
    }
    parent.append(text.slice(last));
  }
  function humanSize(n) {
    n = +n || 0;
    var i = 0;
    while (n >= 1024 && i < 3) { n /= 1024; i++; }
    try {
      return new Intl.NumberFormat(undefined, { style: 'unit', unit: ['byte', 'kilobyte', 'megabyte', 'gigabyte'][i], unitDisplay: 'short', maximumFractionDigits: i ? 1 : 0 }).format(n);
    } catch (e) { return n.toFixed(i ? 1 : 0) + ' ' + ['B', 'KB', 'MB', 'GB'][i]; }
  }
  function hhmm(iso) {
    var d = new Date(iso);
    try { return isNaN(d) ? '' : d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }); } catch (e) { return ''; }
  }
  // Text colour for a background: white unless dark text has clearly better WCAG contrast.
  function textOn(hex) {
    var L = [1, 3, 5].reduce(function (s, i, j) {
      var c = parseInt(hex.substr(i, 2), 16) / 255;
      return s + [0.2126, 0.7152, 0.0722][j] * (c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4));
    }, 0);
    var white = 1.05 / (L + 0.05);
    return white >= 4.5 || white >= (L + 0.05) / 0.05 ? '#fff' : '#111827';
  }

  // ------------------------------------------------------- find our <script>
  var script = D.currentScript;
  if (!script || !script.getAttribute('data-switchboard-channel')) script = D.querySelector('script[data-switchboard-channel]');
  if (!script) return;
  var C = script.getAttribute('data-switchboard-channel'), base;
  try { base = new URL(script.src, location.href).origin; } catch (e) { return; }
  if (!C) return;
  var api = base + '/widget/v1/' + encodeURIComponent(C);
  var storeKey = 'switchboard:' + C + ':visitor';

  // ------------------------------------------------------------------ state
  var S = {}, cfg = {}, ready = false, isOpen = false, wantOpen = false;
  // fresh: we posted and a chat is on its way; stale: the conversation couldn't be loaded yet
  var visitor = null, chat = null, fresh = false, stale = true, cursor = 0;
  var recs = [], byId = {}, byCid = {}, seq = 0, maxId = 0, stuck = true;
  var unread = 0, lastRead = 0, lastDelivered = 0, receiptTimer = 0, noteTimer = 0;
  var root, ui = {}, cfgAt = 0, cfgTimer = 0, mailed = false;
  var mailKey = 'switchboard:' + C + ':email';

  try { visitor = W.localStorage.getItem(storeKey); mailed = !!W.localStorage.getItem(mailKey); } catch (e) { /* storage blocked */ }
  if (!/^[0-9a-f]{32}$/.test(visitor || '')) visitor = null;
  // The visitor id is created with the first message only (in memory if storage is blocked).
  function ensureVisitor() {
    if (!visitor) {
      visitor = hex32();
      try { W.localStorage.setItem(storeKey, visitor); } catch (e) { /* in-memory only */ }
    }
    return visitor;
  }

  function req(method, path, body) {
    var o = { method: method, mode: 'cors', credentials: 'omit', cache: 'no-store' };
    if (body instanceof FormData) o.body = body;
    else if (body) { o.headers = { 'Content-Type': 'application/json' }; o.body = JSON.stringify(body); }
    return fetch(api + path, o);
  }
  function json(r) { if (!r.ok) throw r; return r.json(); }

  // ------------------------------------------------------------------- boot
  function boot(attempt) {
    req('GET', '/config').then(json).then(safe(function (c) {
      cfg = c || {};
      S = cfg.strings || {};
      cfgAt = Date.now();
      var go = safe(function () {
        build();
        ready = true;
        if (visitor) sync(true);
        if (wantOpen) open();
      });
      if (D.body) go(); else D.addEventListener('DOMContentLoaded', go);
    }), function () {
      if (attempt < 4) setTimeout(function () { boot(attempt + 1); }, 2000 * Math.pow(2, attempt));
    });
  }

  // The availability (team away or there) also reaches an open widget: the config is fetched
  // again on opening (unless just fetched) and every 60 s while the panel is open.
  function refresh() {
    if (Date.now() - cfgAt < 5000 || D.visibilityState === 'hidden') return;
    cfgAt = Date.now();
    req('GET', '/config').then(json).then(safe(function (c) {
      if (c && c.strings) { cfg = c; S = c.strings; away(); }
    }), function () { /* keep what we have */ });
  }

  // ----------------------------------------------------------------- styles
  var CSS = [
    // the host element itself lives in the page: make it inert to page CSS
    ':host{all:initial!important;display:block!important;position:static!important;width:0!important;height:0!important;visibility:visible!important;opacity:1!important;transform:none!important}',
    '*{box-sizing:border-box;margin:0;padding:0;font:inherit;color:inherit}',
    '.sb{--a:#4f46e5;--t:#fff;position:fixed;z-index:2147483000;bottom:20px;right:20px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:#1f2330;-webkit-font-smoothing:antialiased;text-align:left}',
    '.sb.l{right:auto;left:20px}',
    'button{cursor:pointer;background:none;border:0;display:inline-flex;align-items:center;justify-content:center}',
    'svg{width:20px;height:20px;flex:none;fill:none;stroke:currentColor;stroke-width:2;stroke-linecap:round;stroke-linejoin:round}',
    ':focus{outline:none}:focus-visible{outline:2px solid var(--a);outline-offset:2px}',
    '.ln{position:relative;width:56px;height:56px;border-radius:50%;background:var(--a);color:var(--t);box-shadow:0 6px 20px rgba(15,20,40,.22),0 2px 6px rgba(15,20,40,.12);transition:transform .2s,box-shadow .2s}',
    '.ln:hover{transform:scale(1.06);box-shadow:0 8px 26px rgba(15,20,40,.26)}',
    '.ln svg{width:26px;height:26px;position:absolute;transition:transform .25s,opacity .2s}',
    '.ln .i2,.o .ln .i1{opacity:0;transform:rotate(-60deg) scale(.6)}',
    '.o .ln .i2{opacity:1;transform:none}',
    '.bd{position:absolute;top:-3px;right:-3px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#e5484d;color:#fff;font-size:11px;font-weight:700;line-height:20px;text-align:center;box-shadow:0 0 0 2px #fff}',
    '.bd:empty{display:none}',
    '.p{position:absolute;bottom:72px;right:0;width:368px;height:min(580px,calc(100vh - 110px));display:flex;flex-direction:column;background:#fff;border-radius:18px;overflow:hidden;box-shadow:0 16px 48px rgba(15,20,40,.2),0 2px 8px rgba(15,20,40,.08);visibility:hidden;opacity:0;transform:translateY(14px) scale(.98);transform-origin:bottom right;transition:opacity .2s,transform .22s,visibility 0s .22s}',
    '.l .p{right:auto;left:0;transform-origin:bottom left}',
    '.o .p{visibility:visible;opacity:1;transform:none;transition:opacity .2s,transform .22s}',
    '.hd{display:flex;align-items:center;gap:12px;padding:16px 12px 16px 16px;background:var(--a);color:var(--t)}',
    '.ht{flex:1;min-width:0}',
    'h2{font-size:16px;font-weight:650;line-height:1.3}',
    'h2,.st span{display:block;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}',
    '.st{font-size:12.5px;opacity:.85}',
    '.st .s2{white-space:normal;opacity:.9;margin-top:1px;line-height:1.35}',
    '.av{position:relative;flex:none;width:40px;height:40px;border-radius:50%;background:rgba(255,255,255,.2);display:flex;align-items:center;justify-content:center;font-size:17px;font-weight:650;text-transform:uppercase}',
    '.dt{position:absolute;right:-1px;bottom:-1px;width:12px;height:12px;border-radius:50%;background:#9aa1ad;border:2px solid var(--a)}',
    '.on .dt{background:#2fbf71}',
    '.x{width:36px;height:36px;border-radius:10px;opacity:.85}',
    '.x:hover{opacity:1;background:rgba(127,127,127,.18)}',
    '.cb{padding:6px 12px;background:#fff4e5;color:#8a4b00;font-size:12.5px;text-align:center;border-bottom:1px solid #f6dfbf}',
    '[hidden]{display:none!important}',
    '.lg{flex:1;overflow-y:auto;overscroll-behavior:contain;padding:18px 16px 8px;background:#f7f8fa;display:flex;flex-direction:column}',
    '.m{display:flex;flex-direction:column;align-items:flex-start;max-width:82%;margin-top:10px}',
    '.m.g{margin-top:3px}',
    '.m.in{align-self:flex-end;align-items:flex-end}',
    '.au{font-size:12px;color:#6b7280;margin:0 0 3px 4px}',
    '.bb{padding:9px 13px;border-radius:16px;background:#fff;box-shadow:0 1px 2px rgba(15,20,40,.08);white-space:pre-wrap;overflow-wrap:anywhere}',
    '.out .bb{border-bottom-left-radius:5px}',
    '.in .bb{background:var(--a);color:var(--t);border-bottom-right-radius:5px;box-shadow:none}',
    '.bb a{text-decoration:underline;text-underline-offset:2px}',
    '.sending .bb{opacity:.7}',
    '.failed .bb{opacity:.85;box-shadow:0 0 0 1.5px #e5484d}',
    '.at{display:flex;flex-direction:column;gap:6px;margin-top:4px}',
    '.at:first-child{margin-top:0}',
    '.im{display:block;border-radius:12px;overflow:hidden;background:#e8eaee;line-height:0}',
    '.im img{display:block;max-width:240px;max-height:220px;object-fit:cover}',
    '.fl{display:flex;align-items:center;gap:10px;padding:9px 12px;border-radius:12px;background:#fff;border:1px solid #e4e6eb;text-decoration:none;max-width:260px}',
    '.fl svg{color:var(--a)}',
    '.fn{display:block;font-weight:550;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;max-width:180px}',
    '.fs{display:block;font-size:12px;color:#6b7280}',
    '.mt{display:flex;align-items:center;gap:4px;font-size:11.5px;color:#8b919c;margin:3px 4px 0}',
    '.mt svg{width:15px;height:15px}',
    '.mt .rd{color:#2f80ed}',
    // time and ticks only under the last bubble of a group
    '.m:has(+.m.g) .mt:not(.sn){display:none}',
    '.er{font-size:12px;color:#c2272d;margin:3px 4px 0;text-align:right}',
    '.er button{color:inherit;font-weight:600;text-decoration:underline;margin-left:6px}',
    '.sy{align-self:center;text-align:center;max-width:90%;margin:12px 0 4px;font-size:12.5px;color:#6b7280}',
    '.dv{align-self:stretch;display:flex;flex-direction:column;align-items:center;margin:16px 0 8px;font-size:12.5px;color:#6b7280;text-align:center}',
    '.dv:before{content:"";align-self:stretch;border-top:1px solid #e1e4e9;margin-bottom:10px}',
    '.dv span+span{font-size:12px;color:#8b919c;margin-top:2px}',
    '.nt{margin:0 12px 6px;padding:7px 10px;border-radius:10px;background:#fdecec;color:#b42318;font-size:12.5px}',
    '.cp{display:flex;align-items:flex-end;gap:4px;padding:10px 10px 10px 8px;border-top:1px solid #eceef2;background:#fff}',
    'textarea{flex:1;resize:none;border:0;background:transparent;padding:9px 6px;max-height:120px;min-height:40px;font-size:15px;line-height:1.45;color:#1f2330;overflow-y:auto}',
    'textarea::placeholder{color:#9aa1ad}',
    'textarea:focus-visible{outline:none}',
    '.ab,.sd{width:40px;height:40px;border-radius:12px;color:#6b7280}',
    '.ab:hover{background:#f1f2f5;color:#1f2330}',
    '.sd{background:var(--a);color:var(--t);transition:opacity .15s}',
    '.sd:disabled{opacity:.35;cursor:default}',
    '.sd svg{width:18px;height:18px}',
    '.pw{padding:0 12px 8px;background:#fff;font-size:11px;color:#a1a6b0;text-align:center}',
    '.pw:empty,[type=file]{display:none}',
    // the away card: an e-mail to answer at
    '.ec{align-self:stretch;margin:14px 0 4px;padding:12px;border-radius:14px;background:#fff;border:1px solid #e4e6eb;box-shadow:0 1px 2px rgba(15,20,40,.05)}',
    '.ec label{display:block;font-size:13px;font-weight:550;margin:0 0 8px 2px}',
    '.ef{display:flex;gap:6px}',
    '.ec input{flex:1;min-width:0;height:38px;padding:0 10px;border:1px solid #d5d9e0;border-radius:10px;background:#fff;font-size:14px}',
    '.ec input:focus-visible{outline-offset:-1px}',
    '.ec [aria-invalid=true]{border-color:#e5484d}',
    '.es{height:38px;padding:0 14px;border-radius:10px;background:var(--a);color:var(--t);font-weight:600}',
    '.es:disabled{opacity:.55;cursor:default}',
    '.ee{font-size:12px;color:#c2272d;margin:6px 0 0 2px}.ee:empty{display:none}',
    '.et{display:flex;align-items:center;gap:8px;font-size:13px;outline:none!important}.et svg{color:#2fbf71}',
    // phones: the panel takes the whole screen
    '@media (max-width:480px){.sb{bottom:16px;right:16px}.sb.l{left:16px}',
    '.p{position:fixed;inset:0;width:100%;height:100%;height:100dvh;border-radius:0;transform:translateY(24px)}',
    '.o .ln{visibility:hidden}textarea,.ec input{font-size:16px}.m{max-width:88%}.pw{padding-bottom:calc(8px + env(safe-area-inset-bottom,0px))}}',
    '@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}.ln:hover{transform:none}}'
  ].join('');

  // ------------------------------------------------------------------ build
  function build() {
    var ch = cfg.channel || {}, title = ch.title || '';
    var host = h('switchboard-widget', '', { 'data-switchboard': '' });
    root = host.attachShadow({ mode: 'open' });
    // Constructable stylesheets are not subject to the host page's CSP style-src.
    try { var sh = new CSSStyleSheet(); sh.replaceSync(CSS); root.adoptedStyleSheets = [sh]; } catch (e) { root.append(h('style', '', {}, CSS)); }

    var col = /^#[0-9a-f]{6}$/i.test(ch.color || '') ? ch.color : '#4f46e5';
    var sb = ui.sb = h('div', 'sb' + (ch.position === 'left' ? ' l' : ''));
    sb.style.setProperty('--a', col);
    sb.style.setProperty('--t', textOn(col));

    ui.x = h('button', 'x', { type: 'button', 'aria-label': S.close || '' }, svg(I.down));
    ui.bar = h('div', 'cb', { role: 'status', hidden: '' }, S.connection_lost);
    ui.log = h('div', 'lg', { role: 'log', 'aria-live': 'polite', tabindex: '0', 'aria-label': title });
    if (ch.greeting) { var g = h('div', 'bb'); linkify(g, ch.greeting); ui.log.append(h('div', 'm out', {}, g)); }
    ui.note = h('div', 'nt', { role: 'alert', hidden: '' });
    ui.file = h('input', '', { type: 'file', tabindex: '-1', 'aria-hidden': 'true' });
    ui.attach = h('button', 'ab', { type: 'button', 'aria-label': S.attach || '', title: S.attach || '' }, svg(I.clip));
    ui.ta = h('textarea', '', { rows: '1', placeholder: S.placeholder || '', 'aria-label': S.placeholder || '' });
    ui.send = h('button', 'sd', { type: 'submit', 'aria-label': S.send || '', title: S.send || '', disabled: '' }, svg(I.send));
    var form = h('form', 'cp', { novalidate: '' }, ui.file, ui.attach, ui.ta, ui.send);
    ui.s1 = h('span');
    ui.s2 = h('span', 's2');
    var hd = ui.hd = h('div', 'hd', {},
      h('div', 'av', { 'aria-hidden': 'true' }, Array.from(title.trim())[0] || '', h('span', 'dt')),
      h('div', 'ht', {}, h('h2', '', {}, title), h('div', 'st', { role: 'status' }, ui.s1, ui.s2)),
      ui.x);
    ui.panel = h('div', 'p', { role: 'dialog', 'aria-label': title, id: 'sb-panel' },
      hd, ui.bar, ui.log, ui.note, form, h('div', 'pw', {}, S.powered_by));
    ui.badge = h('span', 'bd', { 'aria-hidden': 'true' });
    ui.ln = h('button', 'ln', { type: 'button', 'aria-expanded': 'false', 'aria-controls': 'sb-panel' }, svg(I.chat, 'i1'), svg(I.x, 'i2'), ui.badge);
    sb.append(ui.panel, ui.ln);
    root.append(sb);
    badge();
    away();

    ui.ln.onclick = safe(function () { isOpen ? close() : open(); });
    ui.x.onclick = safe(close);
    ui.file.onchange = safe(onFile);
    ui.attach.onclick = safe(function () { ui.file.click(); });
    ui.ta.oninput = safe(autosize);
    ui.ta.onkeydown = safe(function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) { e.preventDefault(); submit(); }
    });
    form.onsubmit = safe(function (e) { e.preventDefault(); submit(); });
    ui.log.onscroll = safe(function () { stuck = nearBottom(); });
    sb.onkeydown = safe(function (e) { if (e.key === 'Escape' && isOpen) { e.stopPropagation(); close(); } });
    D.addEventListener('visibilitychange', safe(function () { schedulePoll(); receipts(); }));
    W.addEventListener('online', safe(reconnectNow));
    D.body.append(host);
  }

  function autosize() {
    var t = ui.ta;
    t.style.height = 'auto';
    t.style.height = Math.min(t.scrollHeight, 120) + 'px';
    ui.send.disabled = !t.value.trim();
  }
  function nearBottom() { var l = ui.log; return l.scrollHeight - l.scrollTop - l.clientHeight < 60; }
  function toBottom() { ui.log.scrollTop = ui.log.scrollHeight; stuck = true; }
  function note(t) {
    ui.note.textContent = t || '';
    ui.note.hidden = !t;
    clearTimeout(noteTimer);
    if (t) noteTimer = setTimeout(function () { ui.note.hidden = true; }, 6000);
  }

  // ----------------------------------------------------------------- away
  function txt(e, t) { t = t || ''; if (e.textContent !== t) e.textContent = t; } // no re-announcing
  function away() {
    var a = cfg.availability, on = a ? !!a.available : !!cfg.online;
    ui.hd.classList.toggle('on', on);
    txt(ui.s1, on ? S.online : S.away || S.offline);
    txt(ui.s2, on ? '' : S.away_reply);
    ui.s2.hidden = on || !S.away_reply;
    card();
  }
  // While the team is away (and the queue asks for it), after the visitor's first message has
  // reached us: "leave your e-mail". Once saved it never comes back on this site.
  function card() {
    var a = cfg.availability || {};
    if (ui.ec || mailed || !a.ask_email || a.available || !visitor ||
      !recs.some(function (r) { return r.kind === 'msg' && r.m.direction === 'in' && r.m.id != null; })) return;
    var inp = h('input', '', { id: 'sb-em', type: 'email', autocomplete: 'email', maxlength: '254', required: '', 'aria-describedby': 'sb-ee' }),
      btn = h('button', 'es', { type: 'submit' }, S.email_save),
      err = h('div', 'ee', { id: 'sb-ee', role: 'alert' }),
      f = ui.ec = h('form', 'ec', { 'data-k': 'e', novalidate: '' }, h('label', '', { for: 'sb-em' }, S.email_ask), h('div', 'ef', {}, inp, btn), err);
    f.onsubmit = safe(function (e) {
      e.preventDefault();
      var v = inp.value.trim();
      if (!v) return inp.focus();
      if (btn.disabled) return;
      btn.disabled = true;
      var fd = new FormData();
      fd.append('visitor', visitor);
      fd.append('email', v);
      req('POST', '/contact', fd).then(function (r) {
        return r.json().then(function (b) { if (!r.ok) throw b; return b; });
      }).then(safe(function (b) {
        mailed = true;
        try { W.localStorage.setItem(mailKey, '1'); } catch (x) { /* this page view only */ }
        var t = h('p', 'et', { tabindex: '-1' }, svg(I.ok), b.message);
        f.replaceChildren(t);
        t.focus({ preventScroll: true });
      }), safe(function (b) {
        btn.disabled = false;
        err.textContent = (b && typeof b.error === 'string' && b.error) || S.failed || '';
        inp.setAttribute('aria-invalid', 'true');
        inp.focus();
      }));
    });
    inp.oninput = function () { inp.removeAttribute('aria-invalid'); };
    ui.log.append(f);
    if (stuck) toBottom();
  }

  // ------------------------------------------------------------ open/close
  function open() {
    wantOpen = true;
    if (!ready || isOpen) return;
    isOpen = true;
    ui.sb.classList.add('o');
    ui.ln.setAttribute('aria-expanded', 'true');
    unread = 0;
    badge();
    toBottom();
    // on touch screens don't pop the keyboard up over the history
    var coarse = W.matchMedia && W.matchMedia('(pointer:coarse)').matches;
    setTimeout(safe(function () { if (isOpen) (coarse ? ui.log : ui.ta).focus({ preventScroll: true }); }), 60);
    conn();
    receipts();
    refresh();
    clearInterval(cfgTimer);
    cfgTimer = setInterval(safe(refresh), 60000);
  }
  function close() {
    wantOpen = false;
    if (!isOpen) return;
    isOpen = false;
    clearInterval(cfgTimer);
    var inside = root.activeElement != null;
    ui.sb.classList.remove('o');
    ui.ln.setAttribute('aria-expanded', 'false');
    badge();
    if (inside) ui.ln.focus();
    conn();
  }
  function badge() {
    ui.badge.textContent = unread ? (unread > 9 ? '9+' : unread) : '';
    ui.ln.setAttribute('aria-label', ((isOpen ? S.close : S.open) || '') + (unread && !isOpen ? ' (' + unread + ')' : ''));
  }
  function seen() { return isOpen && D.visibilityState !== 'hidden'; }

  // -------------------------------------------------------------- messages
  // Records: {kind: 'msg', m: message, s: seq, el, dirty, local?} or {kind: 'div', chat, hint, k}.
  // Ordered by message id; messages without an id yet (sending/accepted) go last.
  function order(r) { return r.kind === 'div' ? r.k : r.m.id != null ? r.m.id : 1e15 + r.s; }

  function upsert(m) {
    if (!m || typeof m !== 'object') return;
    var r = (m.id != null && byId[m.id]) || (m.client_id && byCid[m.client_id]);
    if (r) {
      if (r.m.id != null && m.id == null) return; // an older copy
      // keep the local previews until the server's processed copy has the attachments
      if (r.local && !(m.attachments || []).length) m.attachments = r.m.attachments;
      r.local = false;
      r.m = m;
      r.dirty = true;
    } else {
      recs.push(r = { kind: 'msg', m: m, s: seq++, dirty: true });
      if (m.direction === 'out' && m.status !== 'read' && !seen()) { unread++; badge(); }
    }
    if (m.id != null) { byId[m.id] = r; maxId = Math.max(maxId, m.id); }
    if (m.client_id) byCid[m.client_id] = r;
    if (m.direction === 'out') receipts();
  }

  // A closed chat gets a divider ("closed" + "new_chat_hint"); a new chat's messages follow below
  // it and the hint goes away.
  function setChat(c) {
    if (!c || c.id == null) return;
    if (chat && chat.id !== c.id && recs.length) divider(chat.id);
    chat = { id: c.id, status: c.status };
    if (c.status === 'closed') divider(c.id, true);
    else {
      fresh = false;
      recs.forEach(function (r) { if (r.hint) { r.hint = false; r.dirty = true; } });
    }
    conn();
  }
  function divider(chatId, hint) {
    if (!recs.some(function (r) { return r.chat === chatId; })) recs.push({ kind: 'div', chat: chatId, hint: hint, k: maxId + 0.5, s: seq++, dirty: true });
  }

  function render() {
    if (!ui.log) return;
    var stick = stuck, prev = null, first = ui.log.firstChild;
    recs.sort(function (a, b) { return order(a) - order(b) || a.s - b.s; });
    var after = first && !first.hasAttribute('data-k') ? first : null; // the greeting stays on top
    recs.forEach(function (r) {
      var g = !!prev && prev.kind === 'msg' && r.kind === 'msg' && prev.m.direction === r.m.direction &&
        (r.m.direction === 'in' || (r.m.direction === 'out' && prev.m.author === r.m.author));
      if (r.dirty || r.g !== g) {
        var n = draw(r, g);
        if (r.el && r.el !== n) r.el.replaceWith(n);
        r.el = n; r.dirty = false; r.g = g;
      }
      var nx = after ? after.nextSibling : ui.log.firstChild;
      if (nx !== r.el) ui.log.insertBefore(r.el, nx);
      after = r.el; prev = r;
    });
    card();
    if (stick) toBottom();
  }

  function draw(r, grouped) {
    if (r.kind === 'div') return h('div', 'dv', { 'data-k': 'd' }, h('span', '', {}, S.closed), r.hint && S.new_chat_hint ? h('span', '', {}, S.new_chat_hint) : null);
    var m = r.m, st = m.status || '', dir = m.direction;
    if (dir !== 'in' && dir !== 'out') { var sy = h('div', 'sy', { 'data-k': 's' }); linkify(sy, m.text); return sy; }
    // The wrapper stays and its content is rebuilt only when it changes, so the live region doesn't
    // re-announce a message on every status update.
    var w = r.el && r.el.getAttribute('data-k') === 'm' ? r.el : h('div', '', { 'data-k': 'm' });
    w.className = 'm ' + dir + (grouped ? ' g' : '') + (dir === 'in' ? ' ' + st : '');
    if (m.id != null) w.setAttribute('data-id', m.id);
    if (m.client_id) w.setAttribute('data-client-id', m.client_id);
    var atts = (m.attachments || []).filter(function (a) { return a && (a.local || httpUrl(a.url)); });
    var key = JSON.stringify([m.text, m.author, grouped, atts]);
    if (w._key !== key) {
      w._key = key;
      w.textContent = '';
      content(w, m, grouped, atts);
    } else {
      while (w.lastChild && w.lastChild._meta) w.lastChild.remove();
    }
    var meta;
    if (st === 'failed') {
      meta = h('div', 'er', {}, r.err || S.failed || '');
      if (r.local) {
        var rb = h('button', '', { type: 'button' }, S.retry);
        rb.onclick = safe(function () { post(r, 0); });
        meta.append(rb);
      }
    } else if (st === 'sending') {
      meta = h('div', 'mt sn', { 'aria-hidden': 'true' }, S.sending);
    } else {
      meta = h('div', 'mt', { 'aria-hidden': 'true' }, hhmm(m.created_at),
        dir === 'in' ? svg(/delivered|read/.test(st) ? I.ok2 : I.ok, st === 'read' ? 'rd' : '') : null);
    }
    meta._meta = 1;
    w.append(meta);
    return w;
  }

  function content(w, m, grouped, atts) {
    if (m.direction === 'out' && m.author && !grouped) w.append(h('div', 'au', {}, m.author));
    if (m.text || !atts.length) { var bb = h('div', 'bb'); linkify(bb, m.text); w.append(bb); }
    if (!atts.length) return;
    var box = h('div', 'at');
    atts.forEach(function (a) {
      var href = a.local ? a.url : httpUrl(a.url), name = a.name || '', l = link(href, a.image ? 'im' : 'fl');
      if (a.image) {
        var img = h('img', '', { src: href, alt: name, loading: 'lazy' });
        img.onload = function () { if (stuck) toBottom(); };
        l.append(img);
      } else {
        if (!a.local) l.setAttribute('download', name);
        l.append(svg(I.file), h('span', '', {}, h('span', 'fn', {}, name), h('span', 'fs', {}, humanSize(a.size))));
      }
      box.append(l);
    });
    w.append(box);
  }

  // ------------------------------------------------------------- sending
  function submit() {
    var text = ui.ta.value.replace(/^\s*\n|\s+$/g, '');
    if (!text.trim()) return;
    ui.ta.value = '';
    autosize();
    send(text, null);
  }
  function onFile() {
    var f = ui.file.files && ui.file.files[0];
    ui.file.value = '';
    if (!f) return;
    if (cfg.max_file_size && f.size > cfg.max_file_size) return note(S.file_too_large);
    note('');
    send('', f);
  }
  function send(text, file) {
    ensureVisitor();
    var cid = hex32(), atts = [];
    if (file) {
      var u = '';
      try { u = URL.createObjectURL(file); } catch (e) { /* no preview */ }
      atts.push({ url: u, name: file.name, size: file.size, mime: file.type, image: !!u && /^image\//.test(file.type), local: true });
    }
    var r = { kind: 'msg', local: true, file: file, s: seq++, dirty: true,
      m: { id: null, client_id: cid, direction: 'in', text: text, created_at: new Date().toISOString(), status: 'sending', author: null, attachments: atts } };
    recs.push(r);
    byCid[cid] = r;
    stuck = true;
    post(r, 0);
  }
  function setStatus(r, st, err) {
    if (!r.local) return; // the server's copy has replaced ours already
    r.m.status = st; r.err = err; r.dirty = true;
    render();
  }
  // client_id makes retries idempotent; 5xx and network errors retry with backoff, 4xx don't.
  function post(r, tries) {
    setStatus(r, 'sending');
    var fd = new FormData();
    fd.append('visitor', ensureVisitor());
    fd.append('client_id', r.m.client_id);
    fd.append('text', r.m.text || '');
    if (r.file) fd.append('file', r.file, r.file.name);
    req('POST', '/messages', fd).then(function (res) {
      if (res.ok) {
        setStatus(r, 'accepted');
        fresh = true;
        conn(true);
      } else if (res.status < 500) {
        return res.json().catch(function () { return {}; }).then(function (b) {
          setStatus(r, 'failed', (b && typeof b.error === 'string' && b.error) || S.failed);
        });
      } else throw res;
    }).catch(safe(function () {
      if (tries < 3) setTimeout(function () { post(r, tries + 1); }, 1000 * Math.pow(2, tries) + Math.random() * 500);
      else setStatus(r, 'failed', S.failed);
    }));
  }

  // ------------------------------------------------------------- receipts
  function receipts() {
    clearTimeout(receiptTimer);
    receiptTimer = setTimeout(safe(sendReceipts), 400);
  }
  function sendReceipts() {
    var newest = 0, st = '', body = { visitor: visitor };
    recs.forEach(function (r) { if (r.kind === 'msg' && r.m.direction === 'out' && r.m.id > newest) { newest = r.m.id; st = r.m.status; } });
    if (!visitor || !newest || st === 'read') return;
    if (seen()) {
      if (newest <= lastRead) return;
      lastRead = lastDelivered = body.read = newest;
    } else {
      if (newest <= lastDelivered || st === 'delivered') return;
      lastDelivered = body.delivered = newest;
    }
    req('POST', '/receipts', body).catch(function () { /* best effort */ });
  }

  // ------------------------------------------------------------- syncing
  var syncing = null;
  // Fetch the conversation: all of it, or what came after the cursor (gap filling, polling).
  function sync(full) {
    if (!visitor) return Promise.resolve(false);
    if (syncing) return syncing;
    syncing = req('GET', '/conversation?visitor=' + visitor + (!full && cursor ? '&after=' + cursor : '')).then(json).then(safe(function (d) {
      (d.messages || []).forEach(upsert);
      if (d.chat) setChat(d.chat);
      if (typeof d.cursor === 'number' && d.cursor > cursor) cursor = d.cursor;
      stale = false;
      render();
      conn();
      return true;
    })).catch(function () { return false; }).then(function (ok) { syncing = null; return !!ok; });
    if (full) syncing.then(function () { conn(); }); // after a failure too: `stale` keeps us trying
    return syncing;
  }

  // ----------------------------------------------------------- connection
  // Websocket first; after 2 failed opens (or without WebSocket) poll, and retry the socket every 60 s.
  var ws = null, wsOpen = false, wsFails = 0, wsTries = 0, wsTimer = 0, pollTimer = 0, polling = false, lostTimer = 0, lost = false;
  function want() { return !!visitor && (isOpen || fresh || stale || (!!chat && chat.status !== 'closed')); }

  function conn(force) {
    if (!ui.bar) return;
    if (!want()) return stopAll();
    if (polling && force) poll();
    if (ws) { if (force && wsOpen) sync(false); return; }
    if (wsTimer || polling) return;
    if (!W.WebSocket) return startPoll();
    openWs();
  }
  function stopAll() {
    clearTimeout(wsTimer); wsTimer = 0;
    clearTimeout(pollTimer); polling = false;
    if (ws) { var s = ws; ws = null; wsOpen = false; try { s.close(); } catch (e) { /* ignore */ } }
    setLost(false);
  }
  function retryWs(delay) {
    wsTimer = setTimeout(safe(function () { wsTimer = 0; if (want()) openWs(); }), delay);
  }
  function openWs() {
    clearTimeout(wsTimer); wsTimer = 0;
    var s, opened = 0;
    try { s = ws = new W.WebSocket(api.replace(/^http/, 'ws') + '/ws?visitor=' + visitor); } catch (e) { return failWs(false); }
    s.onopen = safe(function () {
      if (ws !== s) return;
      opened = Date.now(); wsOpen = true;
      polling = false; clearTimeout(pollTimer);
      setLost(false);
    });
    s.onmessage = safe(function (e) {
      if (ws !== s) return;
      var d = JSON.parse(e.data);
      // The server says hello once it has subscribed us: only a fetch made after that
      // cannot miss anything (a sync already in flight may predate the subscription).
      if (d.type === 'hello' || d.type === 'resync') {
        (syncing || Promise.resolve()).then(function () { return sync(false); });
        return;
      }
      if (d.type === 'message') upsert(d.message);
      else if (d.type === 'chat') setChat(d.chat);
      else return;
      render();
    });
    s.onclose = safe(function () {
      if (ws !== s) return;
      ws = null; wsOpen = false;
      // a socket dropped within seconds of opening (e.g. by a proxy) counts as a failed open
      var ok = opened && Date.now() - opened > 5000;
      if (ok) wsFails = wsTries = 0;
      failWs(ok);
    });
  }
  function failWs(wasOpen) {
    if (!wasOpen) wsFails++;
    if (!want()) return;
    if (wsFails >= 2) { startPoll(); return retryWs(60000); }
    if (!polling) setLost(true);
    retryWs(Math.min(30000, 1000 * Math.pow(2, wsTries++)) * (0.5 + Math.random() / 2));
  }
  function reconnectNow() {
    if (!want() || wsOpen) return;
    wsFails = wsTries = 0;
    if (polling) poll();
    if (!ws && W.WebSocket) openWs();
  }
  function startPoll() {
    if (!polling) { polling = true; poll(); }
  }
  function poll() {
    clearTimeout(pollTimer);
    if (polling) sync(false).then(safe(function (ok) { if (polling) { setLost(!ok); schedulePoll(); } }));
  }
  function schedulePoll() {
    if (!polling) return;
    clearTimeout(pollTimer);
    pollTimer = setTimeout(safe(poll), D.visibilityState === 'hidden' ? 15000 : 3000);
  }
  // The "connection lost" bar shows when neither socket nor polling has worked for 1.5 s.
  function setLost(v) {
    if (!v) { clearTimeout(lostTimer); lost = false; ui.bar.hidden = true; }
    else if (!lost) { lost = true; lostTimer = setTimeout(function () { if (lost) ui.bar.hidden = false; }, 1500); }
  }

  // -------------------------------------------------------------- public
  var pub = Object.freeze({
    _sb: 1,
    open: safe(open),
    close: safe(close),
    isReady: function () { return ready; }
  });
  try { Object.defineProperty(W, 'Switchboard', { value: pub, configurable: true }); } catch (e) { W.Switchboard = pub; }
  try { boot(0); } catch (e) { /* never break the host page */ }
})();
