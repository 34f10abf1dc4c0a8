// tollgate's one script: the checkout return page asks the API until Stripe's confirmation
// has arrived, then shows it. Without JavaScript the page refreshes itself instead.
(function () {
  "use strict";
  var box = document.getElementById("checkout-return");
  if (!box || box.getAttribute("data-confirmed") === "true") return;
  var id = box.getAttribute("data-session-id");
  var status = document.getElementById("return-status");
  var started = Date.now();
  var slowShown = false;

  function get(path) {
    return fetch(path, { credentials: "same-origin", headers: { accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .catch(function () { return null; });
  }

  function poll() {
    // Asking for the session makes tollgate fetch it from Stripe; only the subscription's
    // status, which comes from Stripe, decides what the member sees.
    get("/api/v1/checkout/sessions/" + encodeURIComponent(id))
      .then(function () { return get("/api/v1/subscription"); })
      .then(function (summary) {
        if (summary && summary.subscription_status === "paid") {
          window.location.reload();
          return;
        }
        var waited = Date.now() - started;
        if (waited > 60000 && !slowShown) {
          slowShown = true;
          status.textContent =
            "Still processing: Stripe has not confirmed your payment yet. You can leave this page; " +
            "your billing page shows the payment as soon as Stripe confirms it.";
          status.className = "status status-warn";
        }
        window.setTimeout(poll, waited > 60000 ? 10000 : 1500);
      });
  }
  window.setTimeout(poll, 1000);
})();
