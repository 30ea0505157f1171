// Tiny line charts for canvases with data-series (JSON list) and data-key (value field).
(function () {
  "use strict";
  document.querySelectorAll("canvas[data-series]").forEach(function (c) {
    let s = []; try { s = JSON.parse(c.dataset.series); } catch (e) { return; }
    const vals = s.map(function (p) { return p[c.dataset.key]; }).filter(function (v) { return typeof v === "number"; });
    if (!vals.length) return;
    const ctx = c.getContext("2d"), w = c.width, h = c.height;
    const lo = Math.min.apply(null, vals.concat([0])), hi = Math.max.apply(null, vals.concat([1]));
    ctx.strokeStyle = "#1f6fbf"; ctx.beginPath();
    vals.forEach(function (v, i) {
      const x = vals.length === 1 ? w / 2 : i / (vals.length - 1) * (w - 10) + 5;
      const y = h - 5 - (v - lo) / ((hi - lo) || 1) * (h - 10);
      if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      ctx.fillStyle = "#1f6fbf"; ctx.fillRect(x - 2, y - 2, 4, 4);
    });
    ctx.stroke();
  });
})();
