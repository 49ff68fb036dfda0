/* Cleara charts: draw every [data-plotly-figure] that enters the page.
 *
 * The server renders a chart as a div holding the figure as JSON (incidents/charts.py,
 * figure_html); no inline script, so the Content-Security-Policy can forbid them. htmx.onLoad
 * runs for the first page and for everything htmx swaps in later (partials, pushes, polls).
 * data-plotly-click names a click handler below.
 *
 * plotly.js (1.2 MB, the largest thing a page needs) is not in the page: this script fetches it
 * from its own data-plotly-src after the page's load event, and only when the page has a chart
 * by then or gets one later. Until it arrives a chart is its sized, empty placeholder; when it
 * arrives every placeholder is drawn. The page is usable, and its load event fires, without it.
 */
(function () {
  "use strict";

  var clickHandlers = {
    // A click on a timeline point fetches that event into #event-detail.
    "timeline-event": function (gd, data) {
      var point = data && data.points && data.points[0];
      var wrapper = gd.closest("[data-event-url]");
      if (!point || point.customdata === undefined || !wrapper) return;
      var url = wrapper.dataset.eventUrl.replace(/\/0\/$/, "/" + point.customdata + "/");
      htmx.ajax("GET", url, { target: "#event-detail", swap: "outerHTML" }).then(function () {
        var panel = document.getElementById("event-detail");
        if (panel) panel.focus({ preventScroll: false });
      });
    },
  };

  var plotlySrc = document.currentScript && document.currentScript.dataset.plotlySrc;
  var pageLoaded = document.readyState === "complete";
  var plotlyRequested = false;

  function drawAll(root) {
    var scope = root || document;
    if (scope.matches && scope.matches("[data-plotly-figure]")) draw(scope);
    if (scope.querySelectorAll) scope.querySelectorAll("[data-plotly-figure]").forEach(draw);
  }

  // Fetch plotly.js once, after the load event, when there is something to draw.
  function requestPlotly() {
    if (window.Plotly || plotlyRequested || !pageLoaded || !plotlySrc) return;
    if (!document.querySelector("[data-plotly-figure]:not([data-plotly-drawn])")) return;
    plotlyRequested = true;
    var script = document.createElement("script");
    script.src = plotlySrc;
    script.async = true;
    script.onload = function () { drawAll(document); };
    script.onerror = function () { plotlyRequested = false; };  // a later swap tries again
    document.head.appendChild(script);
  }

  function draw(gd) {
    if (gd.dataset.plotlyDrawn) return;
    if (!window.Plotly) { requestPlotly(); return; }
    gd.dataset.plotlyDrawn = "1";
    var figure = JSON.parse(gd.dataset.plotlyFigure);
    var config = JSON.parse(gd.dataset.plotlyConfig || "{}");
    // On a phone (narrow, or a touch screen without hover) Plotly shows its mode bar for good,
    // over the chart's newest points: none there. Drag to zoom, double-tap and the range buttons stay.
    if (window.matchMedia && window.matchMedia("(max-width: 720px), (hover: none)").matches) config.displayModeBar = false;
    window.Plotly.newPlot(gd, figure.data || [], figure.layout || {}, config).then(function () {
      var handler = clickHandlers[gd.dataset.plotlyClick];
      if (handler) gd.on("plotly_click", function (data) { handler(gd, data); });
    });
  }

  htmx.onLoad(drawAll);
  if (!pageLoaded) {
    window.addEventListener("load", function () { pageLoaded = true; requestPlotly(); });
  }
})();
