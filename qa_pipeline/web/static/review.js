// Call review: transcript <-> audio sync, evidence jumps, overrides and role swap.
(function () {
  "use strict";
  const player = document.getElementById("player");
  const utts = Array.from(document.querySelectorAll("#transcript .utt"));
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const callId = decodeURIComponent(location.pathname.split("/").pop());
  const resultKey = document.querySelector(".scores").dataset.resultKey;
  const callUrl = "/api/calls/" + encodeURIComponent(callId);
  // page strings in the user's language (data-t-* on .scores, from the message catalogue)
  const strings = document.querySelector(".scores").dataset;
  function tr(key) { const k = "t" + key.charAt(0).toUpperCase() + key.slice(1); return strings[k] || key; }

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
        document.getElementById("review-state").textContent = tr(data.review.state);
        const ov = data.overrides[itemId];
        box.querySelector(".override-state").textContent = tr("reviewedBy").replace("{who}", ov.reviewer) + ": " +
          (ov.agree ? tr("agree") : tr("disagree").replace("{o}", tr(ov.human_outcome))) + (ov.comment ? " — “" + ov.comment + "”" : "");
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

  // timeline lanes and markers, and the charts (charts.js dispatches qa:seek) seek the audio
  document.querySelectorAll("#timeline [data-start]").forEach(function (el) {
    el.addEventListener("click", function () { seek(parseFloat(el.dataset.start)); });
  });
  document.addEventListener("qa:seek", function (e) { seek(e.detail); });
})();
