// Live updates for the Runs page. Every page works without this script;
// it only saves reloading. It polls the JSON behind the page (main#live's
// data-poll) every two seconds and, when what it shows changed, fetches
// the page's HTML again and swaps in the elements marked data-live. No
// text from the store is ever turned into HTML here: the server rendered
// (and escaped) it, and the swap moves parsed nodes.
(function () {
  "use strict";
  var main = document.getElementById("live");
  if (!main || !window.fetch || !window.DOMParser) {
    return;
  }
  var poll = main.getAttribute("data-poll");
  var page = main.getAttribute("data-page") || location.pathname + location.search;
  var every = 2000;

  function fingerprint(data) {
    if (Array.isArray(data.runs)) {
      return data.total + ";" + data.runs.map(function (row) {
        return row.id + ":" + (row.error !== undefined ? "x" : row.version);
      }).join(",");
    }
    return String(data.version);
  }

  function swap(html) {
    var fresh = new DOMParser().parseFromString(html, "text/html");
    var open = {};
    document.querySelectorAll("details[id]").forEach(function (d) {
      open[d.id] = d.open;
    });
    document.querySelectorAll("[data-live]").forEach(function (el) {
      var next = el.id && fresh.getElementById(el.id);
      if (next) {
        el.replaceWith(document.importNode(next, true));
      }
    });
    document.querySelectorAll("details[id]").forEach(function (d) {
      if (open[d.id] !== undefined) {
        d.open = open[d.id];
      }
    });
    var freshMain = fresh.getElementById("live");
    if (freshMain) {
      main.setAttribute("data-fingerprint", freshMain.getAttribute("data-fingerprint"));
    }
  }

  function tick() {
    if (document.hidden) {
      setTimeout(tick, every);
      return;
    }
    fetch(poll, { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (fingerprint(data) === main.getAttribute("data-fingerprint")) {
          return null;
        }
        return fetch(page).then(function (response) {
          return response.ok ? response.text().then(swap) : null;
        });
      })
      .catch(function () {})
      .then(function () {
        main.setAttribute("data-polled", String(Date.now()));
        setTimeout(tick, every);
      });
  }

  setTimeout(tick, every);
})();
