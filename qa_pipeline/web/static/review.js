// Call review: transcript <-> audio sync, evidence jumps, overrides and role swap.
(function () {
  "use strict";
  const player = document.getElementById("player");
  const utts = Array.from(document.querySelectorAll("#transcript .utt"));
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const callId = decodeURIComponent(location.pathname.split("/").pop());
  const resultKey = document.querySelector(".scores").dataset.resultKey;
  const callUrl = "/api/calls/" + encodeURIComponent(callId);

  function seek(t) {
    player.currentTime = Math.max(0, t);
    highlight();
    const p = player.play();
    if (p && p.catch) p.catch(function () {});
  }
  function highlight() {
    const t = player.currentTime;
    let current = null;
    for (const u of utts) {
      if (t >= parseFloat(u.dataset.start) - 0.05 && t < parseFloat(u.dataset.end)) current = u;
    }
    for (const u of utts) u.classList.toggle("current", u === current);
    if (current && current.scrollIntoView) current.scrollIntoView({ block: "nearest" });
  }
  utts.forEach(function (u) { u.addEventListener("click", function () { seek(parseFloat(u.dataset.start)); }); });
  document.querySelectorAll(".evidence").forEach(function (a) {
    a.addEventListener("click", function (e) { e.preventDefault(); seek(parseFloat(a.dataset.start)); });
  });
  player.addEventListener("timeupdate", highlight);
  player.addEventListener("seeked", highlight);

  async function post(url, body) {
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!r.ok) { alert("Failed: " + (await r.text())); return null; }
    return r.json();
  }
  document.querySelectorAll(".item").forEach(function (box) {
    const itemId = box.dataset.item;
    const comment = box.querySelector(".comment");
    for (const [cls, agree] of [["agree", true], ["disagree", false]]) {
      const btn = box.querySelector("." + cls);
      if (!btn) continue;
      btn.addEventListener("click", async function () {
        const data = await post(callUrl + "/overrides", { item_id: itemId, agree: agree, comment: comment.value, result_key: resultKey });
        if (!data) return;
        document.getElementById("final-score").textContent = String(data.final_score);
        document.getElementById("review-state").textContent = data.review.state.replace("_", " ");
        const ov = data.overrides[itemId];
        box.querySelector(".override-state").textContent = "Reviewed by " + ov.reviewer + ": " + (ov.agree ? "agree" : "disagree → " + ov.human_outcome) + (ov.comment ? " — “" + ov.comment + "”" : "");
      });
    }
  });
  // review state, scorecard history, appeals: the page reloads to show the new state
  async function act(url, body) { if (await post(url, body)) location.reload(); }
  const mark = document.getElementById("mark-reviewed");
  if (mark) mark.addEventListener("click", function () { act(callUrl + "/review", { state: "reviewed", result_key: resultKey }); });
  document.querySelectorAll(".make-current").forEach(function (b) {
    b.addEventListener("click", function () { act(callUrl + "/current", { result_key: b.dataset.resultKey }); });
  });
  document.querySelectorAll(".appeal-form").forEach(function (f) {
    const itemId = f.closest(".item").dataset.item;
    f.querySelector(".appeal").addEventListener("click", function () {
      act(callUrl + "/appeals", { item_id: itemId, reason: f.querySelector(".appeal-reason").value, result_key: resultKey });
    });
  });
  document.querySelectorAll(".appeal[data-appeal]").forEach(function (box) {
    for (const [cls, accept] of [["accept-appeal", true], ["reject-appeal", false]]) {
      const btn = box.querySelector("." + cls);
      if (!btn) continue;
      btn.addEventListener("click", function () {
        act("/api/appeals/" + box.dataset.appeal + "/decision", { accept: accept, comment: box.querySelector(".decision-comment").value });
      });
    }
  });
  const swap = document.getElementById("swap-roles");
  if (swap) swap.addEventListener("click", async function () {
    if (await post(callUrl + "/swap-roles")) location.reload();
  });

  // sentiment timeline: {utterances:[{start, score, role}]}, {timeline:[...]} or [...] when present
  const canvas = document.getElementById("sentiment");
  if (canvas) {
    let s = {}; try { s = JSON.parse(canvas.dataset.series || "{}"); } catch (e) { s = {}; }
    const raw = Array.isArray(s) ? s : (s.utterances || s.timeline || s.points || []);
    const pts = raw.map(function (p) {
      const t = p.start !== undefined ? p.start : p.t;
      const v = p.score !== undefined ? p.score : (p.value !== undefined ? p.value : p.sentiment);
      return { t: t, v: v, role: p.role || "all" };
    }).filter(function (p) { return typeof p.t === "number" && typeof p.v === "number"; });
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    const dur = Math.max(1, ...pts.map(function (p) { return p.t; }), ...utts.map(function (u) { return parseFloat(u.dataset.end); }));
    ctx.strokeStyle = "#ccc"; ctx.beginPath(); ctx.moveTo(0, h / 2); ctx.lineTo(w, h / 2); ctx.stroke();
    if (!pts.length) { ctx.fillStyle = "#888"; ctx.fillText("no sentiment data for this call", 8, 16); }
    else {
      const colors = { agent: "#1f6fbf", customer: "#c0392b", all: "#555" };
      for (const role of Object.keys(colors)) {
        const mine = pts.filter(function (p) { return p.role === role; });
        if (!mine.length) continue;
        ctx.strokeStyle = colors[role]; ctx.fillStyle = colors[role]; ctx.beginPath();
        mine.forEach(function (p, i) {
          const x = p.t / dur * w, y = h / 2 - Math.max(-1, Math.min(1, p.v)) * (h / 2 - 4);
          if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
          ctx.fillRect(x - 2, y - 2, 4, 4);
        });
        ctx.stroke();
      }
      canvas.addEventListener("click", function (e) { seek(e.offsetX / canvas.clientWidth * dur); });
    }
  }
})();
