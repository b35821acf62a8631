
// catchall report: the alias table and the timeline. The data comes from the
// JSON block; every piece of it reaches the page through textContent or
// setAttribute, never as markup. Only the rows in view are drawn. A row's
// reasons are a <details>: the browser opens it, the script only remembers
// which rows are open (and how much taller they are) across redraws.
(function () {
  'use strict';
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); });
  var T0 = performance.now();
  var D = JSON.parse(document.getElementById('data').textContent);
  var A = D.aliases;
  var RH = 24;     // table row height (px), kept by the CSS; an open row is taller by its a.xh
  var NCOL = 10;   // table columns
  var LH = 18;     // timeline row height
  var OVER = 12;   // rows drawn above and below the visible ones
  var LABEL = 250; // timeline label width
  var SVGNS = 'http://www.w3.org/2000/svg';
  var VERDICTS = { breached: 4, leaked: 3, aggregate: 2, clean: 1 };
  var TAGS = { personal: 1, business: 1, disposable: 1 };
  var has = function (o, k) { return Object.prototype.hasOwnProperty.call(o, k); };
  var $ = function (id) { return document.getElementById(id); };
  var tbody = $('tbody'), tscroll = $('tscroll'), lscroll = $('lscroll'), lspacer = $('lspacer');
  var tl = $('tl'), axis = $('axis'), qEl = $('q'), countEl = $('count');
  var fTag = $('f-tag'), fAction = $('f-action'), fVerdict = $('f-verdict');

  var startY = 0, startM = 0;
  if (D.start) { startY = +D.start.slice(0, 4); startM = +D.start.slice(5, 7); }
  // pos is a date's position on the timeline, in months from D.start; -1 if none.
  function pos(date) {
    if (!date || !D.start) { return -1; }
    var y = +date.slice(0, 4), m = +date.slice(5, 7), d = +date.slice(8, 10);
    var days = new Date(Date.UTC(y, m, 0)).getUTCDate();
    return (y - startY) * 12 + (m - startM) + (d - 1) / days;
  }
  function monthName(i) {
    var m = startM - 1 + i;
    var y = startY + Math.floor(m / 12);
    m = m % 12 + 1;
    return y + '-' + (m < 10 ? '0' : '') + m;
  }
  function hitText(h) { return h.date ? h.name + ' ' + h.date : h.name; }
  // percent is a confidence as the page shows it; report.go's Percent computes the same.
  function percent(c) { return Math.floor(c * 100 + 1e-9) + ' %'; }
  function low(a) { return a.confidence !== null && a.confidence < D.low_below; }

  A.forEach(function (a) {
    var parts = [a.alias, a.unicode || '', a.note || '', a.tag, a.action, a.forward_to, a.verdict];
    a.breaches.forEach(function (h) { parts.push(hitText(h)); });
    a.hay = parts.concat(a.reasons).join('\n').toLowerCase();
    a.vrank = has(VERDICTS, a.verdict) ? VERDICTS[a.verdict] : 0;
    a.crank = a.confidence === null ? 2 : a.confidence; // no confidence: after every one
    a.open = false; // its reasons are open
    a.xh = 0;       // how much taller than RH it is when open
    a.fpos = pos(a.first);
    a.lpos = pos(a.last);
  });

  // Sorting: key → comparator (ascending); ties by alias.
  function byStr(k) { return function (a, b) { return a[k] < b[k] ? -1 : a[k] > b[k] ? 1 : 0; }; }
  var COMPARE = {
    alias: byStr('alias'), tag: byStr('tag'), action: byStr('action'), forward_to: byStr('forward_to'),
    first: byStr('first'), last: byStr('last'),
    messages: function (a, b) { return a.messages - b.messages; },
    confidence: function (a, b) { return a.crank - b.crank; },
    breaches: function (a, b) { return a.vrank - b.vrank || a.breaches.length - b.breaches.length; }
  };
  var FIRST_DIR = { messages: -1, breaches: -1, last: -1 };
  var state = { key: 'alias', dir: 1 };
  var view = A.slice();
  var nOpen = 0;               // rows of A whose reasons are open
  var rowOf = new WeakMap();   // drawn <tr> → its alias

  function apply() {
    var q = qEl.value.trim().toLowerCase(), tag = chosen(fTag), action = chosen(fAction), verdict = chosen(fVerdict);
    view = A.filter(function (a) {
      return (!q || a.hay.indexOf(q) >= 0) && (tag === null || a.tag === tag) && (action === null || a.action === action) &&
        (verdict === null || a.verdict === verdict);
    });
    var c = COMPARE[state.key], alias = COMPARE.alias, dir = state.dir;
    view.sort(function (a, b) { return dir * c(a, b) || alias(a, b); });
    document.querySelectorAll('#tbl th[data-key]').forEach(function (th) {
      if (th.dataset.key === state.key) {
        th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      } else {
        th.removeAttribute('aria-sort');
      }
    });
    countEl.textContent = view.length === A.length ? A.length + ' aliases' : view.length + ' of ' + A.length + ' aliases';
    tscroll.scrollTop = 0;
    lscroll.scrollTop = 0;
    renderTable();
    renderTimeline();
  }

  function el(name, cls, text) {
    var e = document.createElement(name);
    if (cls) { e.className = cls; }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function badge(cls, text, title) {
    var b = el('span', 'badge ' + cls, text);
    if (title) { b.title = title; }
    return b;
  }
  function cell(tr, text, cls) {
    var td = el('td', cls, text);
    tr.appendChild(td);
    return td;
  }
  function spacer(h) {
    var tr = el('tr', 'sp'), td = el('td');
    td.colSpan = NCOL;
    td.style.height = h + 'px';
    tr.appendChild(td);
    return tr;
  }
  function row(a) {
    var tr = el('tr', 'r');
    var td = cell(tr, a.alias, 'alias');
    td.title = (a.unicode ? a.alias + ' (' + a.unicode + ')' : a.alias) + (a.note ? '\n' + a.note : '');
    if (a.unicode) { td.appendChild(el('span', 'u', a.unicode)); }
    if (a.note) { td.appendChild(el('span', 'note', a.note)); } // the same markup as page.html's lists
    cell(tr, '').appendChild(badge(has(TAGS, a.tag) ? 't-' + a.tag : 't-other', a.tag));
    td = cell(tr, '', low(a) ? 'num conf low' : 'num conf');
    if (a.confidence === null) {
      td.textContent = '—';
    } else {
      td.appendChild(el('span', 'pct', percent(a.confidence)));
    }
    if (low(a)) {
      td.appendChild(document.createTextNode(' '));
      td.appendChild(el('span', 'lowmark', 'low'));
    }
    cell(tr, a.action, a.action === 'block' ? 'a-block' : '');
    cell(tr, a.forward_to).title = a.forward_to;
    cell(tr, String(a.messages), 'num');
    cell(tr, a.first || '—');
    cell(tr, a.last || '—');
    td = cell(tr, '');
    if (a.verdict) { td.appendChild(badge(has(VERDICTS, a.verdict) ? 'v-' + a.verdict : 'v-other', a.verdict, a.verdict)); }
    var titles = [];
    a.breaches.forEach(function (h) {
      var t = h.name + (h.date ? ', breached ' + h.date : '') + (h.weak ? ' (' + h.weak + ')' : '');
      titles.push(t);
      td.appendChild(badge(h.weak ? 'hit weak' : 'hit', hitText(h), t));
    });
    if (titles.length) { td.title = titles.join('\n'); }
    // The same markup as the "why" template of page.html.
    td = cell(tr, '', 'why');
    if (a.reasons.length) {
      var det = el('details'), sum = el('summary'), ul = el('ul');
      sum.appendChild(el('span', 'pv', a.reasons.join('; ')));
      sum.appendChild(el('span', 'n', a.reasons.length === 1 ? '1 reason' : a.reasons.length + ' reasons'));
      det.appendChild(sum);
      a.reasons.forEach(function (r) { ul.appendChild(el('li', '', r)); });
      det.appendChild(ul);
      det.open = a.open;
      td.appendChild(det);
    } else {
      td.appendChild(el('span', 'none', '—'));
    }
    rowOf.set(tr, a);
    return tr;
  }

  // range returns the rows of view to draw in a scroller of row height h.
  function range(scroller, h, skip) {
    // The scroller grows with its content up to a part of the window: draw
    // for the larger of the two.
    var top = Math.max(0, scroller.scrollTop - skip);
    var first = Math.max(0, Math.floor(top / h) - OVER);
    var last = Math.min(view.length, Math.ceil((top + Math.max(scroller.clientHeight, window.innerHeight)) / h) + OVER);
    return [first, Math.max(first, last)];
  }

  // The table's rows are RH high but for the open ones, a.xh higher: open
  // lists the indexes in view of the open rows, ascending.
  function opened() {
    var open = [];
    for (var i = 0; nOpen && i < view.length; i++) { if (view[i].open) { open.push(i); } }
    return open;
  }
  // rowTop is where row i of view starts in the table's body.
  function rowTop(i, open) {
    var y = i * RH;
    for (var k = 0; k < open.length && open[k] < i; k++) { y += view[open[k]].xh; }
    return y;
  }
  // rowAt is the row of view at y in the table's body (view.length or more past the end).
  function rowAt(y, open) {
    var extra = 0;
    for (var k = 0; k < open.length; k++) {
      var j = open[k], t = j * RH + extra;
      if (y < t) { break; }
      if (y < t + RH + view[j].xh) { return j; }
      extra += view[j].xh;
    }
    return Math.floor((y - extra) / RH);
  }

  function renderTable() {
    var head = $('tbl').tHead.offsetHeight, open = opened(), frag = document.createDocumentFragment();
    // The scroller grows with its content up to a part of the window: draw
    // for the larger of the two.
    var y = Math.max(0, tscroll.scrollTop - head), h = Math.max(tscroll.clientHeight, window.innerHeight);
    var first = Math.min(view.length, Math.max(0, rowAt(y, open) - OVER));
    var last = Math.max(first, Math.min(view.length, rowAt(y + h, open) + 1 + OVER));
    var drawn = [];
    if (first > 0) { frag.appendChild(spacer(rowTop(first, open))); }
    for (var i = first; i < last; i++) { drawn.push(frag.appendChild(row(view[i]))); }
    if (view.length > last) { frag.appendChild(spacer(rowTop(view.length, open) - rowTop(last, open))); }
    if (!view.length) {
      var tr = el('tr');
      var td = cell(tr, 'no alias matches', 'empty');
      td.colSpan = NCOL;
      frag.appendChild(tr);
    }
    tbody.replaceChildren(frag);
    // An open row's height depends on the column widths: measure it again.
    // Only drawn rows change, so the spacers stay right.
    drawn.forEach(function (tr) {
      var a = rowOf.get(tr);
      if (a.open) { a.xh = Math.max(0, tr.offsetHeight - RH); }
    });
  }

  // A row's reasons were opened or closed: remember it, and its height. The
  // rows drawn stay as they are (redrawing would take the focus away from
  // the summary), and the spacers stay right: the row is among them.
  tbody.addEventListener('toggle', function (e) {
    var det = e.target, tr = det.parentNode && det.parentNode.parentNode, a = tr && rowOf.get(tr);
    if (!a || !det.isConnected || a.open === det.open) { return; }
    a.open = det.open;
    nOpen += a.open ? 1 : -1;
    a.xh = a.open ? Math.max(0, tr.offsetHeight - RH) : 0;
  }, true);

  function svg(name, attrs, cls) {
    var e = document.createElementNS(SVGNS, name);
    for (var k in attrs) { if (has(attrs, k)) { e.setAttribute(k, attrs[k]); } }
    if (cls) { e.setAttribute('class', cls); }
    return e;
  }
  function titled(e, text) {
    var t = document.createElementNS(SVGNS, 'title');
    t.textContent = text;
    e.appendChild(t);
    return e;
  }
  function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + '…' : s; }

  function geometry() {
    var w = Math.max(600, lspacer.clientWidth);
    var mw = D.months ? (w - LABEL - 12) / D.months : 0;
    return { w: w, mw: mw, x: function (p) { return LABEL + p * mw; } };
  }

  function renderAxis() {
    var g = geometry(), frag = document.createDocumentFragment();
    axis.setAttribute('width', g.w);
    if (!D.months) {
      frag.appendChild(svg('text', { x: 4, y: 15 }, 'yr')).textContent = 'no dates in the plan';
      axis.replaceChildren(frag);
      return;
    }
    var step = Math.max(1, Math.ceil(44 / (12 * g.mw)));
    for (var i = 0; i < D.months; i++) {
      var m = (startM - 1 + i) % 12, y = startY + Math.floor((startM - 1 + i) / 12);
      if (i === 0 || (m === 0 && y % step === 0)) {
        if (i === 0 && m !== 0 && D.months - i > 6 && 12 - m < 6) { continue; }
        frag.appendChild(svg('text', { x: g.x(i) + 2, y: 15 }, 'yr')).textContent = String(y);
      }
    }
    axis.replaceChildren(frag);
  }

  function renderTimeline() {
    var g = geometry();
    lspacer.style.height = Math.max(1, view.length) * LH + 'px';
    var r = range(lscroll, LH, 0), n = r[1] - r[0], frag = document.createDocumentFragment();
    tl.setAttribute('width', g.w);
    tl.setAttribute('height', Math.max(1, n * LH));
    tl.style.top = r[0] * LH + 'px';
    var grid = '';
    for (var i = 0; i <= D.months; i++) {
      if ((startM - 1 + i) % 12 === 0) { grid += 'M' + g.x(i).toFixed(1) + ' 0V' + n * LH; }
    }
    for (var j = 0; j < n; j++) {
      if ((r[0] + j) % 2) { frag.appendChild(svg('rect', { x: 0, y: j * LH, width: g.w, height: LH }, 'zebra')); }
    }
    if (grid) { frag.appendChild(svg('path', { d: grid }, 'grid')); }
    var lmax = Math.log(1 + Math.max(1, D.max_month));
    for (j = 0; j < n; j++) {
      var a = view[r[0] + j], y = j * LH;
      titled(frag.appendChild(svg('text', { x: 4, y: y + 13 }, 'lbl')), a.alias).appendChild(document.createTextNode(clip(a.alias, 38)));
      if (a.fpos < 0 && a.lpos < 0) {
        frag.appendChild(svg('text', { x: LABEL + 4, y: y + 13 }, 'nodate')).textContent = 'no dates';
      } else {
        var f = a.fpos >= 0 ? a.fpos : a.lpos, l = a.lpos >= 0 ? a.lpos : a.fpos;
        var wide = !D.archive, hh = wide ? 6 : 2;
        titled(frag.appendChild(svg('rect', {
          x: g.x(f).toFixed(1), y: y + (LH - hh) / 2, width: Math.max(2, g.x(l) - g.x(f)).toFixed(1), height: hh
        }, wide ? 'span wide' : 'span')), (a.first || '?') + ' to ' + (a.last || '?') + ', ' + a.messages + ' messages');
      }
      for (var k = 0; k + 1 < a.months.length; k += 2) {
        var c = a.months[k + 1];
        titled(frag.appendChild(svg('rect', {
          x: g.x(a.months[k]).toFixed(1), y: y + 4, width: Math.max(1, g.mw - 0.5).toFixed(1), height: LH - 8,
          'fill-opacity': (0.25 + 0.75 * Math.log(1 + c) / lmax).toFixed(2)
        }, 'm')), monthName(a.months[k]) + ': ' + c + (c === 1 ? ' message' : ' messages'));
      }
      a.breaches.forEach(function (h) {
        var p = pos(h.date);
        if (p < 0) { return; }
        titled(frag.appendChild(svg('rect', { x: (g.x(p) - 1).toFixed(1), y: y + 1, width: 3, height: LH - 2 }, 'b')),
          h.name + ' breach, ' + h.date + (h.weak ? ' (' + h.weak + ')' : ''));
      });
    }
    tl.replaceChildren(frag);
  }

  // The filter menus: an option's value is an index into its menu's values,
  // so no data ends up in an attribute.
  var menus = new Map();
  function fill(select, key, empty) {
    var seen = new Set();
    A.forEach(function (a) { seen.add(a[key]); });
    var values = Array.from(seen).sort();
    menus.set(select, values);
    values.forEach(function (v, i) {
      var o = el('option', '', v === '' ? empty : v);
      o.value = String(i);
      select.appendChild(o);
    });
  }
  function chosen(select) { return select.value === '' ? null : menus.get(select)[+select.value]; }
  fill(fTag, 'tag', '(no tag)');
  fill(fAction, 'action', '(no action)');
  fill(fVerdict, 'verdict', '(not checked)');

  document.querySelectorAll('#tbl th[data-key]').forEach(function (th) {
    th.querySelector('button').addEventListener('click', function () {
      var k = th.dataset.key;
      state.dir = state.key === k ? -state.dir : (has(FIRST_DIR, k) ? FIRST_DIR[k] : 1);
      state.key = k;
      apply();
    });
  });
  qEl.addEventListener('input', apply);
  [fTag, fAction, fVerdict].forEach(function (s) { s.addEventListener('change', apply); });
  function throttled(f) {
    var queued = false;
    return function () {
      if (queued) { return; }
      queued = true;
      requestAnimationFrame(function () { queued = false; f(); });
    };
  }
  tscroll.addEventListener('scroll', throttled(renderTable));
  lscroll.addEventListener('scroll', throttled(renderTimeline));
  window.addEventListener('resize', throttled(function () { renderAxis(); renderTable(); renderTimeline(); }));

  renderAxis();
  apply();
  var T1 = performance.now();
  // The browser scrolled to a #fragment before the rows were drawn: again.
  var target = location.hash.length > 1 && document.getElementById(location.hash.slice(1));
  if (target) { target.scrollIntoView(); }

  // Self-test (#selftest or #selftest:QUERY): drive the controls, check what
  // they did, and write the findings as JSON into <pre id="selftest">. The
  // last step opens a row's reasons and waits for the browser's toggle event.
  function selftest(q, report) {
    var ms = function (t) { return Math.round((performance.now() - t) * 10) / 10; };
    var rendered = function () { return Array.prototype.slice.call(tbody.querySelectorAll('tr.r')); };
    var texts = function (i) { return rendered().map(function (tr) { return tr.cells[i].firstChild ? tr.cells[i].firstChild.textContent : ''; }); };
    var ordered = function (list, cmp) {
      for (var i = 1; i < list.length; i++) { if (cmp(list[i - 1], list[i]) > 0) { return false; } }
      return true;
    };
    var out = { rows: A.length, view: view.length, rendered: rendered().length, load_ms: Math.round(T1 - T0), page_ms: Math.round(T1) };
    var click = function (key) { document.querySelector('#tbl th[data-key="' + key + '"] button').click(); };
    var t = performance.now();
    click('messages');
    out.sort_messages = {
      ms: ms(t), dir: state.dir, first: view.length ? view[0].alias : '',
      ordered: ordered(view, function (a, b) { return b.messages - a.messages; }),
      dom_ordered: ordered(texts(5).map(Number), function (a, b) { return b - a; }),
      dom_first: texts(0)[0] || ''
    };
    t = performance.now();
    click('alias');
    out.sort_alias = {
      ms: ms(t), dir: state.dir, first: view.length ? view[0].alias : '', dom_first: texts(0)[0] || '',
      ordered: ordered(view, COMPARE.alias), dom_ordered: ordered(texts(0), function (a, b) { return a < b ? -1 : a > b ? 1 : 0; })
    };
    click('alias');
    out.sort_alias_desc = { dir: state.dir, first: view.length ? view[0].alias : '', dom_first: texts(0)[0] || '' };
    click('alias');
    t = performance.now();
    qEl.value = q;
    qEl.dispatchEvent(new Event('input'));
    var rows = rendered();
    out.filter = {
      ms: ms(t), q: q, count: view.length, count_text: countEl.textContent, rendered: rows.length,
      all_match: rows.every(function (tr) { return tr.textContent.toLowerCase().indexOf(q.toLowerCase()) >= 0; }),
      aliases: texts(0).slice(0, 50),
      text_intact: rows.every(function (tr, i) { return tr.cells[0].firstChild.textContent === view[i].alias; })
    };
    qEl.value = '';
    qEl.dispatchEvent(new Event('input'));
    var vi = menus.get(fVerdict).indexOf('breached');
    if (vi >= 0) {
      fVerdict.value = String(vi);
      fVerdict.dispatchEvent(new Event('change'));
      out.verdict_filter = {
        count: view.length, all_breached: view.every(function (a) { return a.verdict === 'breached'; }),
        rendered: rendered().length
      };
      fVerdict.value = '';
      fVerdict.dispatchEvent(new Event('change'));
    }
    click('confidence');
    out.sort_confidence = {
      dir: state.dir, first: view.length ? view[0].alias : '', dom_first: texts(0)[0] || '',
      ordered: ordered(view, COMPARE.confidence), dom_text: texts(2)[0] || '',
      dom_cells: rendered().map(function (tr) { return tr.cells[2].textContent; }),
      low_marked: rendered().every(function (tr) {
        var a = rowOf.get(tr), c = tr.cells[2];
        return c.classList.contains('low') === low(a) && (c.textContent.indexOf('low') >= 0) === low(a);
      })
    };
    click('breaches');
    out.timeline = {
      rows: tl.querySelectorAll('text.lbl').length, cells: tl.querySelectorAll('rect.m').length,
      breaches: tl.querySelectorAll('rect.b').length, spans: tl.querySelectorAll('rect.span').length,
      years: axis.querySelectorAll('text.yr').length, width: +tl.getAttribute('width'),
      first_alias: view.length ? view[0].alias : ''
    };
    click('alias');
    var drawn = rendered(), tr = null;
    for (var j = 0; j < drawn.length && !tr; j++) { if (drawn[j].querySelector('details')) { tr = drawn[j]; } }
    out.reasons = { found: !!tr };
    var finish = function () {
      out.pwned = window.__pwned === true;
      out.errors = errors;
      report(out);
    };
    if (!tr) { finish(); return; }
    var a = rowOf.get(tr), det = tr.querySelector('details'), r = out.reasons, done = false;
    var drawnRow = function () { return rendered().filter(function (t) { return rowOf.get(t) === a; })[0]; };
    var bodyOK = function () {
      return Math.abs(tbody.getBoundingClientRect().height - (view.length * RH + a.xh)) < 1.5;
    };
    r.alias = a.alias;
    r.closed_heights = drawn.every(function (t) { return t.getBoundingClientRect().height === RH; });
    // A closed <details> keeps its content out of sight (but measurable).
    var visible = function (e) { return e.checkVisibility ? e.checkVisibility() : e.getClientRects().length > 0; };
    r.closed_visible = visible(det.querySelector('ul'));
    var check = function () {
      if (done) { return; }
      done = true;
      try {
        checkOpen();
      } catch (e) {
        errors.push(String(e && e.stack || e));
      }
      finish();
    };
    var checkOpen = function () {
      var t = drawnRow(), d = t && t.querySelector('details');
      r.remembered = a.open;
      r.extra = a.xh;
      r.open = !!(d && d.open);
      r.open_height = t ? t.getBoundingClientRect().height : 0;
      r.items = d ? Array.prototype.map.call(d.querySelectorAll('li'), function (li) { return li.textContent; }) : [];
      r.want = a.reasons;
      r.list_visible = !!d && visible(d.querySelector('ul')) && d.querySelector('ul').getBoundingClientRect().height > 0;
      r.body_height = bodyOK();
      // Redrawn (as a scroll does), the row is still open; scrolled to the
      // end, the last row is drawn and the body keeps its height.
      renderTable();
      t = drawnRow();
      r.open_redrawn = !!(t && t.querySelector('details').open);
      tscroll.scrollTop = tscroll.scrollHeight;
      renderTable();
      var all = rendered(), lastTr = all[all.length - 1];
      r.last = view.length ? view[view.length - 1].alias : '';
      r.last_drawn = lastTr ? rowOf.get(lastTr).alias : '';
      r.last_visible = lastTr ? lastTr.getBoundingClientRect().bottom <= tscroll.getBoundingClientRect().bottom + 1 : false;
      r.body_height_end = bodyOK();
      tscroll.scrollTop = 0;
      renderTable();
    };
    det.addEventListener('toggle', function () { setTimeout(check, 0); }, { once: true });
    tr.querySelector('summary').click();
    setTimeout(check, 3000);
  }
  var hash = '';
  try { hash = decodeURIComponent(location.hash.slice(1)); } catch (e) { hash = ''; }
  if (hash === 'selftest' || hash.indexOf('selftest:') === 0) {
    try {
      selftest(hash.slice('selftest:'.length), function (out) {
        var pre = el('pre', '', JSON.stringify(out));
        pre.id = 'selftest';
        document.body.appendChild(pre);
      });
    } catch (e) {
      var pre = el('pre', '', JSON.stringify({ errors: errors.concat([String(e && e.stack || e)]) }));
      pre.id = 'selftest';
      document.body.appendChild(pre);
    }
  }
}());
