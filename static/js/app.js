/*
 * House script. Two behaviours only:
 *  (a) any element with data-confirm="message" asks confirm(message) before
 *      its form is submitted or the click goes through (links, buttons);
 *  (b) when htmx is loaded, every htmx request carries the CSRF token read
 *      from <meta name="csrf-token" content="...">, as the X-CSRFToken header.
 * Works (silently) without htmx and without the meta tag.
 */
(function () {
  "use strict";

  function closestConfirm(target) {
    return target && target.closest ? target.closest("[data-confirm]") : null;
  }

  // (a) Clicks on a[data-confirm], button[data-confirm], input[data-confirm]...
  document.addEventListener(
    "click",
    function (event) {
      var el = closestConfirm(event.target);
      if (!el || el.tagName === "FORM") {
        return;
      }
      if (!window.confirm(el.getAttribute("data-confirm"))) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  // ... and submissions of form[data-confirm] (Enter key, submit buttons
  // without their own data-confirm). A submit button that already asked
  // (data-confirm on the button itself) is not asked twice.
  document.addEventListener(
    "submit",
    function (event) {
      var form = event.target;
      if (!form || !form.hasAttribute || !form.hasAttribute("data-confirm")) {
        return;
      }
      var submitter = event.submitter;
      if (submitter && submitter.hasAttribute("data-confirm")) {
        return;
      }
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
        event.stopImmediatePropagation();
      }
    },
    true
  );

  // (b) CSRF header for htmx requests. The event is dispatched on the
  // document whether or not htmx is present, so no htmx global is needed.
  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    var token = meta ? meta.getAttribute("content") : "";
    if (token && event.detail && event.detail.headers) {
      event.detail.headers["X-CSRFToken"] = token;
    }
  });
})();
