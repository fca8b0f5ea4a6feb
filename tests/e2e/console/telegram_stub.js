// Stands in for https://telegram.org/js/telegram-web-app.js in the browser tests: the
// Mini App API the console uses, with the initData the test signed, and a record of the
// back and main buttons (window.Telegram.WebApp.MainButton.text, .isVisible, .click()).
(function () {
  "use strict";
  function button() {
    var handlers = [];
    return {
      text: "", isVisible: false,
      setText: function (text) { this.text = text; return this; },
      show: function () { this.isVisible = true; return this; },
      hide: function () { this.isVisible = false; return this; },
      onClick: function (handler) { handlers.push(handler); return this; },
      offClick: function (handler) { handlers = handlers.filter(function (h) { return h !== handler; }); return this; },
      click: function () { handlers.slice().forEach(function (h) { h(); }); }
    };
  }
  var initData = __INIT_DATA__;
  var params = new URLSearchParams(initData);
  var theme = { bg_color: "#ffffff", text_color: "#000000", hint_color: "#707579",
    link_color: "#2481cc", button_color: "#2481cc", button_text_color: "#ffffff",
    secondary_bg_color: "#f1f1f4" };
  Object.keys(theme).forEach(function (key) {
    document.documentElement.style.setProperty("--tg-theme-" + key.replace(/_/g, "-"), theme[key]);
  });
  window.Telegram = { WebApp: {
    initData: initData,
    initDataUnsafe: { user: params.get("user") ? JSON.parse(params.get("user")) : undefined,
      auth_date: params.get("auth_date") },
    version: "8.0", platform: "android", colorScheme: "light", themeParams: theme,
    isExpanded: false,
    ready: function () { this.isReady = true; },
    expand: function () { this.isExpanded = true; },
    close: function () { this.isClosed = true; },
    showConfirm: function (message, callback) { this.lastConfirm = message; callback(true); },
    BackButton: button(),
    MainButton: button()
  } };
})();
