// Draws the statistics page's charts from the JSON the server embedded in the page.
"use strict";

(function () {
  const data = JSON.parse(document.getElementById("stats-data").textContent);
  const palette = ["#2f6fdf", "#e07b24", "#7b4fd1", "#1b998b", "#c2417b", "#8d6e63"];
  const kept = "#2e9e5b";
  const late = "#d64545";
  Chart.defaults.animation = false; // a page people read, and screenshots that are stable
  Chart.defaults.font.size = 13;

  function whole(axisTitle) {
    return { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: axisTitle } };
  }

  function bars(id, labels, datasets, options) {
    const canvas = document.getElementById(id);
    return new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: Object.assign({ responsive: true, maintainAspectRatio: false }, options),
    });
  }

  const channels = Object.keys(data.opened_by_channel);
  bars(
    "chart-opened",
    data.days,
    channels.map(function (name, index) {
      return { label: name, data: data.opened_by_channel[name], backgroundColor: palette[index % palette.length] };
    }),
    { scales: { x: { stacked: true }, y: Object.assign({ stacked: true }, whole("requests")) } }
  );
  bars(
    "chart-first-response",
    data.first_response.labels,
    [{ label: "requests", data: data.first_response.counts, backgroundColor: palette[0] }],
    { plugins: { legend: { display: false } }, scales: { y: whole("requests") } }
  );
  bars(
    "chart-resolution",
    data.resolution.labels,
    [{ label: "problems solved", data: data.resolution.counts, backgroundColor: palette[3] }],
    { plugins: { legend: { display: false } }, scales: { y: whole("problems") } }
  );
  bars(
    "chart-promises",
    data.days,
    [
      { label: "on time", data: data.promises_by_day.kept, backgroundColor: kept },
      { label: "late", data: data.promises_by_day.broken, backgroundColor: late },
    ],
    { scales: { x: { stacked: true }, y: Object.assign({ stacked: true }, whole("updates")) } }
  );
  bars(
    "chart-csat",
    data.csat_scores.labels,
    [{ label: "answers", data: data.csat_scores.counts,
       backgroundColor: [late, "#ef8a4b", "#e3c13b", "#8cc152", kept] }],
    { plugins: { legend: { display: false } },
      scales: { x: { title: { display: true, text: "score (1 = badly, 5 = very well)" } }, y: whole("answers") } }
  );
  document.body.dataset.charts = "drawn";
})();
