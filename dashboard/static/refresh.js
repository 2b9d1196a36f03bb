// Refreshes the page's content every 30 seconds while the tab is
// visible and the "refresh" box is ticked (the choice is remembered).
// Without JavaScript the pages work the same, without refreshing.
(function () {
  "use strict";
  var box = document.getElementById("autorefresh");
  if (!box) {
    return;
  }
  var show = function () {
    // For style sheets and tests: whether the page refreshes itself.
    document.body.dataset.refresh = box.checked ? "on" : "off";
  };
  box.checked = window.localStorage.getItem("otagit-refresh") !== "off";
  show();
  box.addEventListener("change", function () {
    window.localStorage.setItem("otagit-refresh", box.checked ? "on" : "off");
    show();
  });
  window.setInterval(function () {
    if (!box.checked || document.hidden) {
      return;
    }
    fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (res) { return res.ok ? res.text() : null; })
      .then(function (html) {
        if (!html) {
          return;
        }
        var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
        var cur = document.querySelector("main");
        if (next && cur) {
          cur.replaceWith(next);
        }
      })
      .catch(function () { /* keep the page as it is until the next try */ });
  }, 30000);
})();
