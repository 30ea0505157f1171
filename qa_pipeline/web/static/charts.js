// Charts of the review and coaching pages, drawn with the vendored ECharts (static/vendor/echarts.min.js,
// Apache-2.0): every chart has named axes with units, and dates on the coaching trends.
// Data and labels come from data-* attributes (the CSP allows no inline script).
(function () {
  "use strict";
  if (typeof echarts === "undefined") return;
  const font = '"Noto Sans CJK SC", "Noto Sans CJK", system-ui, sans-serif';
  const charts = [];
  function parse(el, key) { try { return JSON.parse(el.dataset[key] || "null"); } catch (e) { return null; } }
  function fmt(s, v) { return s.replace("{v}", v); }
  function make(el) { const c = echarts.init(el, null, { renderer: "canvas" }); charts.push(c); return c; }
  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });

  // timeline tick labels (positions from the server; style set here, not inline)
  document.querySelectorAll(".tl-ticks .tick").forEach(function (t) { t.style.left = t.dataset.x / 10 + "%"; });

  // review page: per-party mood (the quantity the negative_ending flag and sentiment checks read)
  const sent = document.getElementById("sentiment");
  if (sent) {
    // view.sentiment_series: {agent: [[t, mood]], customer: [[t, mood]], customer_end: number | null, threshold}
    const s = parse(sent, "series");
    const d = sent.dataset;
    const duration = parseFloat(d.duration) || 1;
    const chart = make(sent);
    const series = [
      { name: d.tAgent, type: "line", data: s.agent, color: "#1f6fbf", symbolSize: 7 },
      { name: d.tCustomer, type: "line", data: s.customer, color: "#c0392b", symbolSize: 7,
        markLine: { symbol: "none", lineStyle: { type: "dashed", color: "#c0392b" },
          label: { formatter: fmt(d.tThreshold, s.threshold), position: "insideEndTop" }, data: [{ yAxis: s.threshold }] } },
    ];
    const cust = s.customer;
    if (cust.length && s.customer_end !== null) {
      series[1].markPoint = { symbol: "pin", symbolSize: 36, itemStyle: { color: "#c0392b" },
        label: { formatter: String(s.customer_end), fontSize: 10 },
        data: [{ coord: [cust[cust.length - 1][0], s.customer_end], name: fmt(d.tEnd, s.customer_end) }] };
    }
    chart.setOption({
      textStyle: { fontFamily: font }, animation: false,
      title: s.agent.length + cust.length ? undefined : { text: d.tEmpty, left: "center", top: "middle", textStyle: { fontSize: 13, color: "#888" } },
      grid: { left: 60, right: 20, top: 30, bottom: 45 },
      legend: { top: 0 },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return typeof v === "number" ? v.toFixed(2) : v; } },
      xAxis: { type: "value", name: d.tX, nameLocation: "middle", nameGap: 28, min: 0, max: Math.ceil(duration) },
      yAxis: { type: "value", name: d.tY, nameLocation: "middle", nameGap: 40, min: -1, max: 1, interval: 0.5 },
      series: series,
    });
    chart.getZr().on("click", function (e) {
      const t = chart.convertFromPixel({ gridIndex: 0 }, [e.offsetX, e.offsetY])[0];
      if (t >= 0 && t <= duration) document.dispatchEvent(new CustomEvent("qa:seek", { detail: t }));
    });
  }

  // coaching page: the agent's average final score per period against the team, with the number of calls
  const trend = document.getElementById("score-trend");
  if (trend) {
    const w = parse(trend, "trend") || { periods: [] }, d = trend.dataset;
    make(trend).setOption({
      textStyle: { fontFamily: font }, animation: false,
      grid: { left: 60, right: 60, top: 40, bottom: 60 }, legend: { top: 0 },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", name: d.tX, nameLocation: "middle", nameGap: 40, data: w.periods },
      yAxis: [
        { type: "value", name: d.tY, nameLocation: "middle", nameGap: 40, min: 0, max: 100 },
        { type: "value", name: d.tN, nameLocation: "middle", nameGap: 40, minInterval: 1, splitLine: { show: false } },
      ],
      series: [
        { name: d.tAgent, type: "line", data: w.agent, connectNulls: false, color: "#1f6fbf", symbolSize: 7,
          label: { show: w.periods.length <= 16, position: "top", formatter: function (p) { return p.value === null ? "" : p.value; } } },
        { name: d.tTeam, type: "line", data: w.team, color: "#888", lineStyle: { type: "dashed" } },
        { name: d.tCalls, type: "bar", yAxisIndex: 1, data: w.agent_n, color: "rgba(31,111,191,0.18)", barMaxWidth: 24 },
      ],
    });
  }
  const items = document.getElementById("item-trend");
  if (items) {
    const w = parse(items, "trend") || { periods: [], items: [] }, d = items.dataset;
    const palette = ["#1f6fbf", "#c0392b", "#27ae60", "#8e44ad", "#d35400"];
    const series = [];
    w.items.forEach(function (it, i) {
      series.push({ name: it.name, type: "line", data: it.agent, color: palette[i % palette.length], symbolSize: 6 });
      series.push({ name: it.name + " · " + d.tTeam, type: "line", data: it.team, color: palette[i % palette.length],
        lineStyle: { type: "dashed", opacity: 0.6 }, symbol: "none" });
    });
    make(items).setOption({
      textStyle: { fontFamily: font }, animation: false,
      grid: { left: 60, right: 20, top: 50, bottom: 60 }, legend: { top: 0, type: "scroll" },
      tooltip: { trigger: "axis" },
      xAxis: { type: "category", name: d.tX, nameLocation: "middle", nameGap: 40, data: w.periods },
      yAxis: { type: "value", name: d.tY, nameLocation: "middle", nameGap: 40, min: 0, max: 100 },
      series: series,
    });
  }
  const warmth = document.getElementById("warmth-trend");
  if (warmth) {
    const w = parse(warmth, "trend") || { periods: [] }, d = warmth.dataset;
    make(warmth).setOption({
      textStyle: { fontFamily: font }, animation: false,
      grid: { left: 60, right: 20, top: 30, bottom: 60 }, tooltip: { trigger: "axis" },
      xAxis: { type: "category", name: d.tX, nameLocation: "middle", nameGap: 40, data: w.periods },
      yAxis: { type: "value", name: d.tY, nameLocation: "middle", nameGap: 40, min: 0, max: 100 },
      series: [{ name: d.tY, type: "line", data: w.warmth, color: "#d35400" }],
    });
  }
})();
