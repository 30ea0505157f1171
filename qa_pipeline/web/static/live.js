// Live page: poll the calls in progress every second; a clicked call shows its rolling transcript.
(function () {
  "use strict";
  const root = document.getElementById("live");
  const strings = root.dataset;
  const body = document.querySelector("#live-calls tbody");
  let selected = null;

  function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
  function clock(s) { s = Math.round(s); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
  function alertText(a) { return "[" + a.rule_id + " · " + a.severity + "] " + clock(a.at_s) + " " + (a.agent_id || "") + " " + (a.quote || a.reason); }

  function renderCalls(calls) {
    body.replaceChildren();
    for (const c of calls) {
      const tr = document.createElement("tr");
      tr.className = "live-call" + (c.alerts.length ? " alerted" : "");
      tr.dataset.callId = c.call_id;
      tr.appendChild(cell(c.call_id));
      tr.appendChild(cell((c.agent_name || "") + " " + (c.agent_id || "")));
      tr.appendChild(cell(c.team || ""));
      tr.appendChild(cell(c.queue || ""));
      tr.appendChild(cell(clock(c.position_s)));
      tr.appendChild(cell(strings["t" + c.state.charAt(0).toUpperCase() + c.state.slice(1)] || c.state));
      tr.appendChild(cell(c.mood === null ? "—" : c.mood.toFixed(2)));
      const td = cell("", "live-alerts");
      for (const a of c.alerts) { const div = document.createElement("div"); div.className = "live-alert sev-" + a.severity; div.dataset.rule = a.rule_id; div.textContent = alertText(a); td.appendChild(div); }
      tr.appendChild(td);
      tr.addEventListener("click", function () { selected = c.call_id; refreshDetail(); });
      body.appendChild(tr);
    }
  }

  function renderDetail(c) {
    document.getElementById("live-detail").hidden = false;
    document.getElementById("live-title").textContent = c.call_id + " · " + (c.agent_name || c.agent_id || "");
    const lag = document.getElementById("live-lag");
    lag.hidden = !(c.lag_s > 3);
    lag.textContent = strings.tLagging + " " + c.lag_s + " s";
    const alerts = document.getElementById("live-alerts");
    alerts.replaceChildren();
    for (const a of c.alerts) { const li = document.createElement("li"); li.className = "sev-" + a.severity; li.textContent = alertText(a); alerts.appendChild(li); }
    const tr = document.getElementById("live-transcript");
    tr.replaceChildren();
    for (const u of c.utterances) {
      const p = document.createElement("p"); p.className = "utt " + u.role;
      p.textContent = clock(u.start) + " " + u.role + ": " + u.text; tr.appendChild(p);
    }
  }

  function refreshDetail() {
    if (!selected) return;
    fetch("/api/live/calls/" + encodeURIComponent(selected), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; }).then(function (c) { if (c) renderDetail(c); }).catch(function () {});
  }
  function refresh() {
    fetch("/api/live/calls", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : { calls: [] }; })
      .then(function (d) { renderCalls(d.calls); }).catch(function () {});
    refreshDetail();
  }
  refresh();
  setInterval(refresh, 1000);
})();
