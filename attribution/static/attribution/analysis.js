/* Journey analysis bar chart (path length, time lag): conversions (left axis) and revenue
   (right axis) per bucket, from the JSON the page embeds with json_script. Chart.js is vendored. */
(function () {
  "use strict";

  function draw() {
    var source = document.getElementById("analysis-chart-data");
    var canvas = document.getElementById("analysis-chart");
    if (!source || !canvas || typeof Chart === "undefined") {
      return;
    }
    var chartData = JSON.parse(source.textContent);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: chartData.labels,
        datasets: [
          { label: "conversions", data: chartData.conversions, yAxisID: "count", backgroundColor: "#417690" },
          { label: "revenue", data: chartData.revenue, yAxisID: "money", backgroundColor: "#79aec8" }
        ]
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { title: { display: true, text: chartData.x_title } },
          count: { type: "linear", position: "left", beginAtZero: true, title: { display: true, text: "conversions" } },
          money: {
            type: "linear", position: "right", beginAtZero: true,
            title: { display: true, text: "revenue" }, grid: { drawOnChartArea: false }
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
