// b2bpay console: the few things a page does without a round trip.
// No inline script anywhere (the CSP forbids it); this file only.
(function () {
  "use strict";
  // Select every task of the list.
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll('#tasks input[name="id"]').forEach(function (b) { b.checked = all.checked; });
    });
  }
  // Live counts of the inbox: poll /counts every 10 s.
  var counts = document.querySelectorAll("[data-count]");
  if (counts.length > 0) {
    var poll = function () {
      fetch("/counts", { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.status === 401) { window.location.assign("/login?why=expired"); return null; }
          return r.ok ? r.json() : null;
        })
        .then(function (data) {
          if (!data) { return; }
          counts.forEach(function (el) {
            var n = data[el.getAttribute("data-count")];
            if (n !== undefined && el.textContent !== n) { el.textContent = n; }
          });
        })
        .catch(function () {});
    };
    window.setInterval(poll, 10000);
  }
})();
