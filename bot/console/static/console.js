// The console's glue to Telegram and htmx. No business logic: the server renders every
// page and decides every permission; this file only carries the credential, follows
// Telegram's theme and buttons, and draws the charts the server describes.
(function () {
  "use strict";
  var tg = window.Telegram && window.Telegram.WebApp;
  var initData = (tg && tg.initData) || "";
  var csrf = "";

  if (tg) {
    tg.ready();
    tg.expand();
    document.documentElement.classList.add("in-telegram");
    if (tg.colorScheme === "dark") document.documentElement.classList.add("dark");
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (initData) event.detail.headers["X-Telegram-Init-Data"] = initData;
    if (csrf) event.detail.headers["X-CSRF-Token"] = csrf;
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail.xhr;
    var token = xhr && xhr.getResponseHeader("X-CSRF-Token");
    if (token) csrf = token;
    var notice = document.getElementById("notice");
    if (!notice || !xhr) return;
    if (xhr.status === 401 || xhr.status === 403 || xhr.status === 429 || xhr.status >= 500) {
      notice.textContent = xhr.status === 401
        ? "Not signed in: open the console from the bot with /console."
        : xhr.status === 429
          ? "Too many requests: wait a moment."
          : (xhr.responseText || "Not allowed.").slice(0, 300);
      notice.hidden = false;
    } else if (xhr.status < 300) {
      notice.hidden = true;
    }
  });

  // A request the server refused for its input (400, 404, 409, 422) answers why as an HTML
  // fragment for the request's target: show it there like any answer (htmx drops 4xx
  // bodies by default). Only HTML: the server's templates escaped it; plain text is not.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    var refused = [400, 404, 409, 422].indexOf(xhr.status) >= 0;
    var html = (xhr.getResponseHeader("Content-Type") || "").indexOf("text/html") === 0;
    if (refused && html) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Ask before an action a button marks with data-confirm (htmx's hx-confirm needs eval-free
  // confirm(), which Telegram replaces with its own popup when it can).
  document.addEventListener("htmx:confirm", function (event) {
    var question = event.detail.elt.getAttribute("data-confirm");
    if (!question) return;
    event.preventDefault();
    var go = function (ok) { if (ok) event.detail.issueRequest(true); };
    if (tg && tg.showConfirm && tg.platform !== "unknown") tg.showConfirm(question, go);
    else go(window.confirm(question));
  });

  // Telegram's in-app browsers do not save a file a page links to: a link marked
  // data-download asks Telegram to download it (Bot API 8.0). Telegram fetches it without
  // the page's headers, so such a link carries its own credential (a signed URL).
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-download]");
    if (!link || !tg || !tg.downloadFile || !tg.isVersionAtLeast || !tg.isVersionAtLeast("8.0")) return;
    event.preventDefault();
    tg.downloadFile({ url: link.href, file_name: link.getAttribute("download") || "" });
  });

  function drawCharts(root) {
    if (!window.Chart) return;
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) return;
      canvas.dataset.drawn = "1";
      var spec = JSON.parse(canvas.dataset.chart);
      spec.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, spec.options || {});
      new window.Chart(canvas, spec);
    });
  }

  function followButtons(root) {
    if (!tg) return;
    var atHome = location.pathname === "/console/" || location.pathname === "/console";
    if (atHome) tg.BackButton.hide(); else tg.BackButton.show();
    var page = root.querySelector("[data-main-button]") || document.querySelector("#main [data-main-button]");
    tg.MainButton.offClick(submitMain);
    if (page) {
      tg.MainButton.setText(page.getAttribute("data-main-button"));
      tg.MainButton.onClick(submitMain);
      tg.MainButton.show();
    } else {
      tg.MainButton.hide();
    }
  }

  function submitMain() {
    var page = document.querySelector("#main [data-main-button]");
    var form = page && document.getElementById(page.getAttribute("data-main-button-form"));
    if (form) htmx.trigger(form, "submit");
  }

  if (tg) tg.BackButton.onClick(function () { history.back(); });

  document.addEventListener("htmx:load", function (event) {
    drawCharts(event.detail.elt);
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    drawCharts(event.detail.elt);
    followButtons(event.detail.elt);
  });
})();
