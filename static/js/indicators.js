/* The indicators' charts (templates/indicators/index.html): each canvas[data-chart] names the
 * id of a <script type="application/json"> (Django's json_script) holding its data, already
 * under the small-cell rule: a hidden count is null (no bar) and its label says « < 5 ». The
 * table beside each chart holds the same figures, for screen readers and the exports. */
(function () {
  "use strict";
  if (typeof window.Chart === "undefined") {
    return;
  }
  var colours = ["#0d6efd", "#adb5bd"];
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) {
      return;
    }
    var data = JSON.parse(source.textContent);
    var box = canvas.parentElement;
    box.style.position = "relative";
    box.style.height = (parseInt(box.dataset.height, 10) || 240) + "px";
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (serie, i) {
          return { label: serie.label, data: serie.values, backgroundColor: colours[i % 2] };
        }),
      },
      options: {
        indexAxis: "y",
        animation: false,
        maintainAspectRatio: false,
        plugins: {
          tooltip: {
            callbacks: {
              label: function (item) {
                var shown = data.series[item.datasetIndex].shown[item.dataIndex];
                return item.dataset.label + " : " + shown;
              },
            },
          },
        },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
  });
})();
