/*
 * Inactivity warning (issue 14, item 4). The server ends a session SESSION_IDLE_MINUTES after
 * its last request; this script, loaded by base.html for signed-in users only, reads the
 * values from the #session-timeout element's data- attributes and:
 *  - shows the modal « Votre session va expirer… » data-warning-seconds before the end, the
 *    « Rester connecté » button focused; the button POSTs to data-keepalive-url (CSRF token
 *    from the meta tag), which pushes the server's expiry, and the countdown restarts;
 *  - when the time is up, sends the browser to data-expired-url (the login page with
 *    « Votre session a expiré… »);
 *  - restarts the countdown after an htmx request that pushed the expiry too (the server
 *    pushes it at most every data-touch-seconds).
 */
(function () {
  "use strict";

  var dialog = document.getElementById("session-timeout");
  if (!dialog || !window.bootstrap) {
    return;
  }
  // The server pushes the expiry to sessionMs after a request at most every touchMs
  // (pdp/session_idle.py); the page mirrors that to know when the session ends.
  var sessionMs = parseInt(dialog.dataset.sessionSeconds, 10) * 1000;
  var touchMs = parseInt(dialog.dataset.touchSeconds, 10) * 1000;
  var warningMs = parseInt(dialog.dataset.warningSeconds, 10) * 1000;
  var leftMs = parseInt(dialog.dataset.idleSeconds, 10) * 1000;
  if (!(sessionMs > 0) || !(leftMs >= 0)) {
    return;
  }
  var lastPush = Date.now() - (sessionMs - leftMs);
  var modal = window.bootstrap.Modal.getOrCreateInstance(dialog);
  var button = dialog.querySelector("[data-session-keepalive]");
  var warningTimer = null;
  var expiryTimer = null;

  function expire() {
    var next = window.location.pathname + window.location.search;
    window.location.assign(dialog.dataset.expiredUrl + "?next=" + encodeURIComponent(next));
  }

  function restart() {
    var remaining = Math.max(lastPush + sessionMs - Date.now(), 0);
    window.clearTimeout(warningTimer);
    window.clearTimeout(expiryTimer);
    warningTimer = window.setTimeout(function () {
      modal.show();
    }, Math.max(remaining - warningMs, 0));
    expiryTimer = window.setTimeout(expire, remaining);
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  dialog.addEventListener("shown.bs.modal", function () {
    // Bootstrap sets role="dialog" when it shows a modal: this one is an alert dialog.
    dialog.setAttribute("role", "alertdialog");
    button.focus();
  });

  button.addEventListener("click", function () {
    button.disabled = true;
    fetch(dialog.dataset.keepaliveUrl, {
      method: "POST",
      credentials: "same-origin",
      redirect: "manual",
      headers: { "X-CSRFToken": csrfToken() },
    })
      .then(function (response) {
        if (response.status === 204) {
          lastPush = Date.now();
          modal.hide();
          restart();
        } else {
          expire();
        }
      })
      .catch(expire)
      .finally(function () {
        button.disabled = false;
      });
  });

  // An htmx request is activity too: the server pushed the expiry if its last push is old.
  document.addEventListener("htmx:afterRequest", function () {
    if (Date.now() - lastPush >= touchMs) {
      lastPush = Date.now();
    }
    restart();
  });
  restart();
})();
