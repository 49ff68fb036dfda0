/* Cleara charts: draw every [data-plotly-figure] that enters the page.
 *
 * The server renders a chart as a div holding the figure as JSON (incidents/charts.py,
 * figure_html); no inline script, so the Content-Security-Policy can forbid them. htmx.onLoad
 * runs for the first page and for everything htmx swaps in later (partials, pushes, polls).
 * data-plotly-click names a click handler below.
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

  function draw(gd) {
    if (gd.dataset.plotlyDrawn || !window.Plotly) return;
    gd.dataset.plotlyDrawn = "1";
    var figure = JSON.parse(gd.dataset.plotlyFigure);
    var config = JSON.parse(gd.dataset.plotlyConfig || "{}");
    window.Plotly.newPlot(gd, figure.data || [], figure.layout || {}, config).then(function () {
      var handler = clickHandlers[gd.dataset.plotlyClick];
      if (handler) gd.on("plotly_click", function (data) { handler(gd, data); });
    });
  }

  htmx.onLoad(function (elt) {
    if (elt.matches && elt.matches("[data-plotly-figure]")) draw(elt);
    if (elt.querySelectorAll) elt.querySelectorAll("[data-plotly-figure]").forEach(draw);
  });
})();
