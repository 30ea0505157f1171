// Analytics dashboard charts (vendored ECharts, Apache-2.0): driver mix (calls per driver) and the
// daily trend per driver. Data and translated labels come from data-* attributes (the CSP allows
// no inline script).
(function () {
  "use strict";
  if (typeof echarts === "undefined") return;
  const font = '"Noto Sans CJK SC", "Noto Sans CJK", system-ui, sans-serif';
  function parse(el, key) { try { return JSON.parse(el.dataset[key] || "null"); } catch (e) { return null; } }
  const charts = [];
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });

  const mixEl = document.getElementById("driver-mix");
  if (mixEl) {
    const mix = parse(mixEl, "mix");  // {labels: [driver id], calls: [n]}
    const names = parse(mixEl, "display");  // the labels' display names, same order
    const c = echarts.init(mixEl, null, { renderer: "canvas" }); charts.push(c);
    c.setOption({
      textStyle: { fontFamily: font }, animation: false,
      grid: { left: 120, right: 30, top: 10, bottom: 40 }, tooltip: { trigger: "axis" },
      xAxis: { type: "value", name: mixEl.dataset.tX, nameLocation: "middle", nameGap: 26, minInterval: 1 },
      yAxis: { type: "category", data: names.slice().reverse() },
      series: [{ type: "bar", data: mix.calls.slice().reverse(), color: "#1f6fbf", label: { show: true, position: "right" } }],
    });
    mixEl.dataset.rendered = "1";
  }

  const trendEl = document.getElementById("driver-trend");
  if (trendEl) {
    const t = parse(trendEl, "trend");  // schemas.DriverTrend: {days: [day], series: {driver: [n per day]}}
    const names = parse(trendEl, "display");  // {driver: display name} for every series
    const c = echarts.init(trendEl, null, { renderer: "canvas" }); charts.push(c);
    c.setOption({
      textStyle: { fontFamily: font }, animation: false,
      grid: { left: 60, right: 30, top: 40, bottom: 60 }, legend: { top: 0, type: "scroll" }, tooltip: { trigger: "axis" },
      xAxis: { type: "category", name: trendEl.dataset.tX, nameLocation: "middle", nameGap: 40, data: t.days },
      yAxis: { type: "value", name: trendEl.dataset.tY, nameLocation: "middle", nameGap: 40, minInterval: 1 },
      series: Object.keys(t.series).map(function (k) { return { name: names[k], type: "line", data: t.series[k], symbolSize: 5 }; }),
    });
    trendEl.dataset.rendered = "1";
  }
})();
