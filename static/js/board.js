// Board dashboard: draw the charts from their json_script blocks (no inline script under the
// CSP); a click on a bar opens the project list behind it (the bar's customdata). The tables
// beside the charts carry the same numbers and links.
(() => {
  "use strict";

  const PLOT_CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
    toImageButtonOptions: { format: "png", scale: 2 },
  };

  function sameOriginPath(link) {
    if (typeof link !== "string") return null;
    const url = new URL(link, window.location.origin);
    return url.origin === window.location.origin ? url.pathname + url.search : null;
  }

  function drawCharts() {
    if (typeof window.Plotly === "undefined") return;
    document.querySelectorAll("[data-chart]").forEach((element) => {
      const source = document.getElementById(element.dataset.chart);
      if (!source) return;
      try {
        const figure = JSON.parse(source.textContent);
        window.Plotly.newPlot(element, figure.data || [], figure.layout || {}, PLOT_CONFIG).then(() => {
          element.dataset.drawn = "true";
          element.on("plotly_click", (event) => {
            const point = event && event.points && event.points[0];
            const target = point ? sameOriginPath(point.customdata) : null;
            if (target) window.location.assign(target);
          });
        });
      } catch (error) {
        element.textContent = "This chart could not be drawn; the table below has the same figures.";
        element.classList.add("text-muted", "small");
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawCharts);
  } else {
    drawCharts();
  }
})();
