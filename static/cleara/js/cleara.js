/* Cleara console: the small amount of JavaScript htmx does not cover.
 *
 * - Live state: pages hold a WebSocket (htmx ws extension); this tracks whether it is open so
 *   that the polling fallback knows when to poll (clearaShouldPoll), and shows it.
 * - Copy link, Ctrl+Enter to submit a textarea.
 */
(function () {
  "use strict";

  var cleara = (window.cleara = window.cleara || { wsMessages: 0 });

  function socketElt(elt) {
    return elt && elt.closest ? elt.closest("[ws-connect]") : document.querySelector("[ws-connect]");
  }

  // With the in-memory channel layer, changes made by other processes (the worker, the
  // simulator) never reach this page's socket, so it always polls; with Redis it polls only
  // while its socket is down.
  window.clearaShouldPoll = function (elt) {
    if (document.body.dataset.liveLayer !== "redis") return true;
    var sock = socketElt(elt);
    return !sock || sock.dataset.wsState !== "open";
  };

  // Polls marked data-live-poll go out only while clearaShouldPoll says so; data-poll-load lets
  // the element's first request (its "load" trigger) through. A filter inside hx-trigger would
  // need eval, which the Content-Security-Policy forbids.
  document.addEventListener("htmx:confirm", function (evt) {
    var elt = evt.detail.elt;
    if (!elt || !elt.hasAttribute || !elt.hasAttribute("data-live-poll")) return;
    if (elt.hasAttribute("data-poll-load") && !elt.dataset.pollLoaded) {
      elt.dataset.pollLoaded = "1";
      return;
    }
    if (!window.clearaShouldPoll(elt)) evt.preventDefault();
  });

  function showState(state) {
    document.querySelectorAll("[data-live-indicator]").forEach(function (el) {
      el.dataset.state = state;
      el.textContent = state === "open" ? "Live" : document.body.dataset.liveLayer === "redis" ? "Reconnecting… (polling)" : "Polling";
      el.title = state === "open" ? "Changes appear as they happen" : "The live connection is down: the page refreshes itself every " + document.body.dataset.pollSeconds + " s";
    });
  }

  document.addEventListener("htmx:wsOpen", function (evt) {
    evt.target.dataset.wsState = "open";
    showState("open");
  });
  document.addEventListener("htmx:wsClose", function (evt) {
    evt.target.dataset.wsState = "closed";
    showState("closed");
  });
  document.addEventListener("htmx:wsError", function (evt) {
    evt.target.dataset.wsState = "closed";
    showState("closed");
  });
  // The dashboard's quick stats: polling stops while the socket is open (the list then arrives
  // as pushes), so they are refreshed here, a few seconds after a pushed change and every minute
  // (events arrive without changing any incident).
  var statsTimer = null;
  function refreshStats() {
    statsTimer = null;
    var stats = document.getElementById("dashboard-stats");
    if (!stats || !stats.getAttribute("hx-get") || !window.htmx) return;
    htmx.ajax("GET", stats.getAttribute("hx-get"), { target: "#dashboard-stats", swap: "outerHTML" });
  }
  function refreshStatsSoon(delay) {
    if (!statsTimer) statsTimer = setTimeout(refreshStats, delay);
  }
  document.addEventListener("htmx:wsAfterMessage", function () {
    cleara.wsMessages += 1;
    refreshStatsSoon(3000);
  });
  setInterval(function () {
    var stats = document.getElementById("dashboard-stats");
    if (stats && !window.clearaShouldPoll(stats) && !document.hidden) refreshStatsSoon(0);
  }, 60000);

  // "Custom..." in the dashboard's time range: wait for a date instead of asking the server
  // about a range with neither end (a 422 before anything could be typed).
  document.addEventListener("htmx:confirm", function (evt) {
    var form = evt.detail.elt;
    if (!form || form.id !== "incident-filters") return;
    var range = form.querySelector("[name=range]");
    if (range && range.value === "custom" && !form.querySelector("[name=since]").value && !form.querySelector("[name=until]").value) {
      evt.preventDefault();
      var since = form.querySelector("[name=since]");
      if (since && evt.detail.triggeringEvent && evt.detail.triggeringEvent.target === range) since.focus();
    }
  });
  // A pushed form does not replace one its viewer has started to fill in (a second viewer's
  // change would reset their choice under their finger); if they submit it, the server says
  // what changed meanwhile ("seen" field).
  function markDirty(evt) {
    var form = evt.target && evt.target.form;
    if (form && form.id) form.dataset.dirty = "1";
  }
  document.addEventListener("input", markDirty);
  document.addEventListener("change", markDirty);
  document.addEventListener("htmx:oobBeforeSwap", function (evt) {
    var target = evt.detail.target;
    if (target && target.dataset && target.dataset.dirty) evt.detail.shouldSwap = false;
  });

  // Pushes and polls carry fragments for parts a page may not show: a changed incident's row on
  // a dashboard filtered or paged past it, step 8's notes and controls on the other steps. htmx
  // swaps each by its target and reports a missing one as htmx:oobErrorNoTarget (an error in
  // the browser console); this extension (hx-ext="live-fragments", beside "ws") leaves them out
  // first. Over the socket every top-level element is swapped out of band; in an HTTP answer
  // only those marked hx-swap-oob are.
  function oobTarget(elt, always) {
    var spec = elt.getAttribute("hx-swap-oob");
    if (spec === null && !always) return null;
    var colon = spec ? spec.indexOf(":") : -1;
    if (colon >= 0) return spec.slice(colon + 1);
    return elt.id ? "#" + CSS.escape(elt.id) : null;
  }
  if (window.htmx) htmx.defineExtension("live-fragments", {
    transformResponse: function (text, xhr) {
      if (!text || text.indexOf("<") < 0) return text;
      var holder = document.createElement("template");
      holder.innerHTML = text;
      var dropped = 0;
      Array.from(holder.content.children).forEach(function (child) {
        var selector = oobTarget(child, !xhr);
        if (selector && !document.querySelector(selector)) { child.remove(); dropped += 1; }
      });
      return dropped ? holder.innerHTML : text;
    },
  });

  // Flash what a push or a poll just changed.
  document.addEventListener("htmx:oobAfterSwap", function (evt) {
    var el = evt.detail && evt.detail.target;
    if (el && el.classList) {
      el.classList.remove("flash");
      void el.offsetWidth;
      el.classList.add("flash");
    }
  });

  // The dashboard marks the row whose preview is open.
  function markSelected() {
    document.querySelectorAll(".incident-row.selected").forEach(function (row) { row.classList.remove("selected"); });
    var summary = document.querySelector("#incident-preview .summary");
    var row = summary && document.getElementById(summary.id.replace(/-summary$/, "-row"));
    if (row) row.classList.add("selected");
  }
  // Keep the current step's tab in view when the step bar scrolls sideways (phones).
  function showCurrentStep() {
    var current = document.querySelector(".steps [aria-current='page']");
    if (current && current.parentElement.scrollWidth > current.parentElement.clientWidth) {
      current.parentElement.scrollLeft = current.offsetLeft - current.parentElement.clientWidth / 2 + current.clientWidth / 2;
    }
  }
  // The dashboard's filters are folded on a phone only; browsers without ::details-content
  // (cleara.css) get them opened here on wider screens.
  function openFiltersOnWideScreens() {
    if (!window.matchMedia("(min-width: 721px)").matches) return;
    document.querySelectorAll("details.filter-panel").forEach(function (panel) { panel.open = true; });
  }
  document.addEventListener("DOMContentLoaded", function () { markSelected(); showCurrentStep(); openFiltersOnWideScreens(); });
  document.addEventListener("htmx:afterSettle", function () { markSelected(); showCurrentStep(); });
  document.addEventListener("htmx:oobAfterSwap", markSelected);

  // A request htmx does not swap (a 4xx other than 422, a 5xx, no network) says so, and what to do.
  function showRequestError(message) {
    var box = document.getElementById("request-error");
    if (!box) return;
    box.textContent = message;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 12000);
  }
  document.addEventListener("htmx:responseError", function (evt) {
    var status = evt.detail.xhr ? evt.detail.xhr.status : 0;
    var type = evt.detail.xhr ? evt.detail.xhr.getResponseHeader("Content-Type") || "" : "";
    if (status === 403 && type.indexOf("text/plain") === 0 && evt.detail.xhr.responseText) {
      showRequestError(evt.detail.xhr.responseText);  // a refusal that says why (cleara/errors.py)
    } else if (status === 403) {
      showRequestError("Cleara refused that (403). Your session or this page may be out of date: reload the page and try again.");
    } else if (status === 404) {
      showRequestError("That is not there any more (404). Reload the page to see the current state.");
    } else {
      showRequestError("The server failed to answer that (" + status + "). Try again in a moment; if it keeps failing, the server log says why.");
    }
  });
  function isPoller(elt) {
    return !!(elt && elt.getAttribute && /\bevery\b/.test(elt.getAttribute("hx-trigger") || ""));
  }
  document.addEventListener("htmx:sendError", function (evt) {
    // Polls fail quietly while the network is down; a click deserves an answer.
    if (isPoller(evt.detail.elt)) return;
    showRequestError("Cannot reach Cleara. Check your connection; the page will catch up once it is back.");
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var box = document.getElementById("request-error");
    if (box && !box.hidden && evt.detail.successful && !isPoller(evt.detail.elt)) box.hidden = true;
  });

  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-copy-link]");
    if (!button) return;
    var url = window.location.href;
    var done = function () {
      button.dataset.copied = url;
      button.textContent = "Link copied";
      setTimeout(function () { button.textContent = "Copy link"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(url).then(done, function () { fallbackCopy(url); done(); });
    } else {
      fallbackCopy(url);
      done();
    }
  });

  function fallbackCopy(text) {
    var input = document.createElement("textarea");
    input.value = text;
    input.setAttribute("readonly", "");
    input.style.position = "fixed";
    input.style.opacity = "0";
    document.body.appendChild(input);
    input.select();
    try { document.execCommand("copy"); } catch (e) { /* the URL is still in the address bar */ }
    input.remove();
  }

  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Enter" && (evt.ctrlKey || evt.metaKey) && evt.target.tagName === "TEXTAREA" && evt.target.form) {
      evt.preventDefault();
      evt.target.form.requestSubmit();
    }
    if (evt.key === "Escape") {
      var menu = document.querySelector("details.user-menu[open]");
      if (menu) { menu.removeAttribute("open"); menu.querySelector("summary").focus(); }
    }
  });
})();
