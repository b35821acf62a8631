// The relay's dashboard: filters, sorts and edits the alias table the
// server rendered, through the admin JSON API (see forwards/relay/doc.go).
"use strict";
(function () {
  const $ = (sel, el) => (el || document).querySelector(sel);
  const $$ = (sel, el) => Array.from((el || document).querySelectorAll(sel));
  const tbody = $("#tbl tbody");
  let csrf = "";

  fetch("/api/session", {credentials: "same-origin"}).then(r => r.json()).then(s => { csrf = s.csrf || ""; }).catch(() => {});

  // api sends one request; it resolves to {ok, status, data}.
  async function api(method, url, body) {
    const headers = {"Content-Type": "application/json"};
    if (csrf) headers["X-CSRF-Token"] = csrf;
    let res;
    try {
      res = await fetch(url, {method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body)});
    } catch (e) {
      return {ok: false, status: 0, data: {error: "the relay cannot be reached: " + e.message}};
    }
    let data = {};
    try { data = await res.json(); } catch (e) { data = {error: res.statusText}; }
    return {ok: res.ok, status: res.status, data};
  }

  // sparkline returns an SVG polyline's points for daily counts (as dashboard.go's sparkline).
  function sparkline(daily) {
    const top = Math.max(1, ...daily);
    return daily.map((n, i) => {
      const x = daily.length > 1 ? i * 60 / (daily.length - 1) : 0;
      const y = 15 - n * 14 / top;
      return x.toFixed(1) + "," + y.toFixed(1);
    }).join(" ");
  }

  function seen(s) {
    return s ? s.slice(0, 10) + " " + s.slice(11, 16) : "never";
  }

  // fillRow shows alias object o (as GET /api/aliases has it) in tr.
  function fillRow(tr, o) {
    const a = o.alias, verdict = o.breach ? o.breach.verdict : "";
    tr.dataset.alias = a;
    tr.dataset.tag = o.tag || "";
    tr.dataset.action = o.action || "";
    tr.dataset.verdict = verdict;
    tr.dataset.messages = o.messages_30d;
    tr.dataset.refused = o.refused_30d;
    tr.dataset.last = o.last_seen || "";
    tr.dataset.daily = (o.daily || []).join(",");
    const cell = tr.querySelector("td.alias");
    cell.textContent = a;
    if (o.in_plan === false) {
      const b = document.createElement("span");
      b.className = "badge";
      b.textContent = "not in plan";
      cell.append(" ", b);
    }
    for (const [field, label] of [["tag", "tag"], ["forward_to", "forward_to"], ["note", "note"]]) {
      const el = tr.querySelector('[data-field="' + field + '"]');
      el.value = o[field] || "";
      el.dataset.orig = el.value;
      el.setAttribute("aria-label", label + " of " + a);
      el.classList.remove("failed");
    }
    tr.querySelector("td.action").textContent = o.action || "";
    $(".n", tr).textContent = o.messages_30d;
    $("polyline", tr).setAttribute("points", sparkline(o.daily || []));
    tr.querySelector("td.last").textContent = seen(o.last_seen);
    tr.querySelector("td.refused").textContent = o.refused_30d;
    const br = tr.querySelector("td.breach");
    br.textContent = "";
    if (verdict) {
      const v = document.createElement("span");
      v.className = "verdict v-" + verdict;
      v.textContent = verdict;
      br.append(v, " " + (o.breach.date || ""));
    }
    const btn = $(".toggle", tr), verb = o.action === "block" ? "unblock" : "block";
    btn.textContent = verb;
    btn.setAttribute("aria-label", verb + " " + a);
    $(".err", tr).textContent = "";
  }

  function showError(tr, r) {
    $(".err", tr).textContent = (r.status ? r.status + ": " : "") + (r.data.error || "failed");
  }

  async function patch(tr, body) {
    const r = await api("PATCH", "/api/aliases/" + encodeURIComponent(tr.dataset.alias), body);
    if (r.ok) {
      fillRow(tr, r.data);
      applyFilter();
    } else {
      showError(tr, r);
    }
    return r.ok;
  }

  // Block or unblock: one click.
  tbody.addEventListener("click", async ev => {
    const btn = ev.target.closest("button.toggle");
    if (!btn) return;
    const tr = btn.closest("tr");
    btn.disabled = true;
    await patch(tr, {action: tr.dataset.action === "block" ? "forward" : "block"});
    btn.disabled = false;
    btn.focus();
  });

  // In-place edits: Enter or leaving the field saves, Escape cancels.
  async function save(el) {
    if (el.value === el.dataset.orig || el.dataset.pending) return;
    el.dataset.pending = "1";
    const tr = el.closest("tr");
    const ok = await patch(tr, {[el.dataset.field]: el.value});
    delete el.dataset.pending;
    el.classList.toggle("failed", !ok);
  }
  tbody.addEventListener("keydown", ev => {
    const el = ev.target;
    if (!el.classList || !el.classList.contains("edit")) return;
    if (ev.key === "Enter") {
      ev.preventDefault();
      save(el);
    } else if (ev.key === "Escape") {
      el.value = el.dataset.orig;
      el.classList.remove("failed");
      $(".err", el.closest("tr")).textContent = "";
    }
  });
  tbody.addEventListener("focusout", ev => {
    if (ev.target.classList && ev.target.classList.contains("edit")) save(ev.target);
  });

  // Search and filters.
  const q = $("#q"), fTag = $("#f-tag"), fAction = $("#f-action"), fVerdict = $("#f-verdict");
  function applyFilter() {
    const words = q.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    const rows = $$("tr", tbody);
    for (const tr of rows) {
      const d = tr.dataset;
      const text = [d.alias, d.tag, d.action, d.verdict, $('[data-field="forward_to"]', tr).value, $('[data-field="note"]', tr).value].join("\n").toLowerCase();
      const ok = words.every(w => text.includes(w)) &&
        (!fTag.value || d.tag === fTag.value) &&
        (!fAction.value || d.action === fAction.value) &&
        (!fVerdict.value || (fVerdict.value === "-" ? !d.verdict : d.verdict === fVerdict.value));
      tr.hidden = !ok;
      if (ok) shown++;
    }
    $("#count").textContent = shown + " of " + rows.length;
  }
  for (const el of [q, fTag, fAction, fVerdict]) el.addEventListener("input", applyFilter);

  // Sorting: a click on a column's header, again for the other way.
  const numeric = {messages: true, refused: true};
  function key(tr, k) {
    const d = tr.dataset;
    switch (k) {
    case "forward_to": return $('[data-field="forward_to"]', tr).value;
    case "note": return $('[data-field="note"]', tr).value;
    case "breach": return d.verdict;
    default: return d[k] || "";
    }
  }
  for (const th of $$("#tbl thead th[data-key]")) {
    $("button", th).addEventListener("click", () => {
      const k = th.dataset.key;
      const dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      for (const o of $$("#tbl thead th")) o.removeAttribute("aria-sort");
      th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      const rows = $$("tr", tbody);
      rows.sort((a, b) => {
        let x = key(a, k), y = key(b, k);
        if (numeric[k]) { x = +x; y = +y; return dir * (x - y) || a.dataset.alias.localeCompare(b.dataset.alias); }
        return dir * (x.localeCompare(y) || a.dataset.alias.localeCompare(b.dataset.alias));
      });
      tbody.append(...rows);
    });
  }

  // A new burner: the address shown with a copy button, and a row.
  const form = $("#burner-form");
  form.addEventListener("submit", async ev => {
    ev.preventDefault();
    $("#burner-err").textContent = "";
    const r = await api("POST", "/api/burners", {service: $("#b-service").value, note: $("#b-note").value});
    if (!r.ok) {
      $("#burner-err").textContent = (r.status ? r.status + ": " : "") + (r.data.error || "failed");
      return;
    }
    $("#burner-addr").textContent = r.data.alias;
    $("#burner-copied").textContent = "";
    $("#burner-out").hidden = false;
    form.reset();
    const got = await api("GET", "/api/aliases");
    const o = got.ok && got.data.find(x => x.alias === r.data.alias);
    if (o && !$$("tr", tbody).some(tr => tr.dataset.alias === o.alias)) {
      const tr = $("#row-tpl").content.firstElementChild.cloneNode(true);
      fillRow(tr, o);
      tbody.prepend(tr);
      applyFilter();
    }
  });
  $("#burner-copy").addEventListener("click", async () => {
    const addr = $("#burner-addr").textContent;
    try {
      await navigator.clipboard.writeText(addr);
      $("#burner-copied").textContent = "copied";
    } catch (e) {
      const range = document.createRange();
      range.selectNodeContents($("#burner-addr"));
      getSelection().removeAllRanges();
      getSelection().addRange(range);
      $("#burner-copied").textContent = "selected: copy with Ctrl+C";
    }
  });

  // The queue and refusal panels, again every 30 seconds.
  async function refresh() {
    const h = await fetch("/healthz").then(r => r.json()).catch(() => null);
    if (h) {
      $("#q-status").textContent = h.status;
      $("#q-status").className = "st-" + h.status;
      $("#q-messages").textContent = h.queue_messages;
      $("#q-oldest").textContent = Math.round(h.oldest_queued_age_s) + " s";
      $("#q-deferred").textContent = Math.round(h.oldest_deferred_age_s) + " s";
      $("#q-deferred-n").textContent = h.deferred_messages;
      $("#q-failed").textContent = h.failed_kept;
      $("#q-problems").replaceChildren(...h.problems.map(p => { const li = document.createElement("li"); li.textContent = p; return li; }));
    }
    const r = await api("GET", "/api/refusals");
    if (r.ok) {
      const rows = r.data.groups.map(g => {
        const tr = document.createElement("tr");
        for (const [text, cls] of [[g.rcpt || "(before RCPT)"], [g.reason], [g.reply], [String(g.count), "num"],
          [g.from.join(", ") + (g.senders > g.from.length ? " …" : "")], [seen(g.last)]]) {
          const td = document.createElement("td");
          td.textContent = text;
          if (cls) td.className = cls;
          tr.append(td);
        }
        return tr;
      });
      if (rows.length) $("#ref-tbl tbody").replaceChildren(...rows);
    }
  }
  setInterval(refresh, 30000);
  applyFilter();
  document.documentElement.dataset.ready = "1";
})();
