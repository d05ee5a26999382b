// The doctor's dashboard: fetch the list of offers every 10 s so new requests appear by themselves.
(function () {
  "use strict";
  var box = document.getElementById("offers");
  if (!box || !window.fetch) return;
  var src = box.getAttribute("data-src");
  var title = document.title;
  function refresh() {
    if (document.hidden) return;
    fetch(src, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (r) { if (!r.ok || r.redirected) throw new Error("stale session"); return r.text(); })
      .then(function (html) {
        box.innerHTML = html;
        var list = document.getElementById("offers-list");
        var n = list ? parseInt(list.getAttribute("data-count"), 10) : 0;
        document.title = n > 0 ? "(" + n + ") " + title : title;
      })
      .catch(function () { /* keep the last list; the next round tries again */ });
  }
  setInterval(refresh, 10000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
})();
