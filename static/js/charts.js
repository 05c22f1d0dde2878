// Draws every element with a data-chart attribute as an Apache ECharts bar chart (SVG renderer).
// The data come from the server in the attribute: {kind: "bar"|"hbar", labels, values, unit}.
(function () {
  "use strict";
  function draw(el) {
    var spec = JSON.parse(el.getAttribute("data-chart"));
    var across = spec.kind === "hbar";
    var chart = echarts.init(el, null, { renderer: "svg", locale: "ZH" });
    var category = { type: "category", data: spec.labels, axisLabel: { interval: 0, fontSize: 12 } };
    var value = { type: "value", name: spec.unit || "", axisLabel: { fontSize: 12 } };
    chart.setOption({
      animation: false,
      aria: { enabled: true, label: { description: el.getAttribute("aria-label") || "" } },
      grid: { left: across ? 8 : 12, right: across ? 48 : 16, top: 28, bottom: 8, containLabel: true },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: across ? value : category,
      yAxis: across ? Object.assign({ inverse: true }, category) : value,
      series: [{
        type: "bar",
        data: spec.values,
        barMaxWidth: 36,
        itemStyle: { color: "#b3261e" },
        label: { show: true, position: across ? "right" : "top", fontSize: 12, color: "#1f2933" }
      }]
    });
    window.addEventListener("resize", function () { chart.resize(); });
  }
  var nodes = document.querySelectorAll("[data-chart]");
  for (var i = 0; i < nodes.length; i++) { draw(nodes[i]); }
})();
