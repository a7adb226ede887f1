// Audit pages: draw the charts and follow a running audit. No inline script: the data comes
// from <script type="application/json"> blocks (Django's json_script) and data- attributes.
(() => {
  "use strict";

  const PLOT_CONFIG = {
    displaylogo: false,
    responsive: true,
    modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"],
    toImageButtonOptions: { format: "png", scale: 2 },
  };

  function cannotDraw(element) {
    element.textContent = "This chart could not be drawn.";
    element.classList.add("text-muted", "small");
  }

  // Once every chart is drawn (or given up), <body data-charts-drawn> says so: for tests and
  // bench/audit_page.py, which time a page to its last chart.
  function drawCharts() {
    if (typeof window.Plotly === "undefined") return;
    const drawing = [...document.querySelectorAll("[data-chart]")].map((element) => {
      const source = document.getElementById(element.dataset.chart);
      if (!source) return Promise.resolve();
      try {
        const figure = JSON.parse(source.textContent);
        return window.Plotly.newPlot(element, figure.data || [], figure.layout || {}, PLOT_CONFIG).catch(() =>
          cannotDraw(element),
        );
      } catch (error) {
        cannotDraw(element);
        return Promise.resolve();
      }
    });
    if (drawing.length) {
      Promise.all(drawing).then(() => {
        document.body.dataset.chartsDrawn = "true";
      });
    }
  }

  // The run page: poll the status every 2 s, move the bar, reload once the run is final.
  function followRun() {
    const progress = document.getElementById("run-progress");
    if (!progress || !progress.dataset.statusUrl) return;
    const bar = document.getElementById("run-progress-bar");
    const message = document.getElementById("run-message");
    let failures = 0;
    let timer = null;

    const widthClass = (value) => `w-pct-${5 * Math.round(Math.max(0, Math.min(100, value)) / 5)}`;

    async function poll() {
      try {
        const response = await fetch(progress.dataset.statusUrl, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (!response.ok) throw new Error(`status ${response.status}`);
        const state = await response.json();
        failures = 0;
        if (state.finished) {
          window.clearInterval(timer);
          window.location.reload();
          return;
        }
        const value = Number(state.progress) || 0;
        progress.setAttribute("aria-valuenow", String(value));
        if (bar) {
          [...bar.classList].filter((name) => name.startsWith("w-pct-")).forEach((name) => bar.classList.remove(name));
          bar.classList.add(widthClass(value));
          bar.textContent = `${value} %`;
        }
        if (message) message.textContent = state.message || state.status_label || "";
      } catch (error) {
        failures += 1;
        if (failures >= 5) {
          window.clearInterval(timer);
          if (message) message.textContent = "Lost contact with the server: reload the page to see the progress.";
        }
      }
    }

    timer = window.setInterval(poll, 2000);
  }

  // The image set page while a worker reads the files: poll every 2 s, show the counts, reload
  // once the ingest has ended (the file table, or the refusal and its reason, come with the page).
  function followIngest() {
    const progress = document.getElementById("ingest-progress");
    if (!progress || !progress.dataset.statusUrl) return;
    const counts = document.getElementById("ingest-counts");
    const message = document.getElementById("ingest-message");
    let failures = 0;
    let timer = null;

    async function poll() {
      try {
        const response = await fetch(progress.dataset.statusUrl, {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
          cache: "no-store",
        });
        if (!response.ok) throw new Error(`status ${response.status}`);
        const state = await response.json();
        failures = 0;
        if (state.finished) {
          window.clearInterval(timer);
          window.location.reload();
          return;
        }
        if (counts) {
          const of = state.files ? ` (of ${state.files})` : "";
          counts.textContent = `Reading files: ${state.read} read, ${state.accepted} accepted, ${state.rejected} rejected${of}`;
        }
        if (message) {
          message.textContent =
            state.message ||
            (state.started
              ? "A worker is reading the files. This page updates by itself."
              : "Waiting for a worker. This page updates by itself.");
        }
      } catch (error) {
        failures += 1;
        if (failures >= 5) {
          window.clearInterval(timer);
          if (message) message.textContent = "Lost contact with the server: reload the page to see the progress.";
        }
      }
    }

    timer = window.setInterval(poll, 2000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    drawCharts();
    followRun();
    followIngest();
  });
})();
