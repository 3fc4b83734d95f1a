/* Attribution dashboard chart: revenue, cost and profit (left axis) and conversions (right axis)
   per selected model, from the JSON the page embeds with json_script. Chart.js is vendored. */
(function () {
  "use strict";

  var METRICS = [
    { key: "revenue", label: "revenue", axis: "money", type: "line" },
    { key: "cost", label: "cost", axis: "money", type: "line" },
    { key: "profit", label: "profit", axis: "money", type: "line" },
    { key: "conversions", label: "conversions", axis: "count", type: "bar" }
  ];
  var PALETTE = ["#417690", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#2c3e50", "#16a085", "#7f8c8d"];

  function datasets(chartData) {
    var result = [];
    var colour = 0;
    chartData.series.forEach(function (series) {
      METRICS.forEach(function (metric) {
        var hue = PALETTE[colour++ % PALETTE.length];
        result.push({
          type: metric.type,
          label: series.model_name + " #" + series.model_id + " — " + metric.label,
          data: series[metric.key],
          yAxisID: metric.axis,
          borderColor: hue,
          backgroundColor: metric.type === "bar" ? hue + "55" : hue,
          pointRadius: 0,
          borderWidth: 2,
          tension: 0.2
        });
      });
    });
    return result;
  }

  function draw() {
    var source = document.getElementById("dashboard-chart-data");
    var canvas = document.getElementById("dashboard-chart");
    if (!source || !canvas || typeof Chart === "undefined") {
      return;
    }
    var chartData = JSON.parse(source.textContent);
    if (!chartData || !chartData.series) {
      return;
    }
    new Chart(canvas, {
      data: { labels: chartData.labels, datasets: datasets(chartData) },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          tooltip: {
            callbacks: {
              title: function (items) {
                var index = items[0].dataIndex;
                return chartData.labels[index] + " (epoch " + chartData.epochs[index] + ")";
              }
            }
          }
        },
        scales: {
          x: { ticks: { maxTicksLimit: 12, autoSkip: true } },
          money: { type: "linear", position: "left", title: { display: true, text: "revenue / cost / profit" } },
          count: {
            type: "linear", position: "right", beginAtZero: true,
            title: { display: true, text: "conversions" }, grid: { drawOnChartArea: false }
          }
        }
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
