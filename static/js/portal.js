// The portal's few behaviours, bound from data attributes: the Content-Security-Policy allows
// no inline event handlers (onclick=…) and no eval, so pages say what they want here instead.
//   data-confirm="…"   on a button or link: ask before it acts; on a form: ask before it is sent
//   data-autosubmit    on a select: send its form when the choice changes
//   data-print         on a button: print the page
//   data-empties="#id" data-empty-text="…"   on an htmx element: before its request, empty the
//                      select #id to one blank option (a cascade whose parent changed)
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) { return; }
    var asking = target.closest("button[data-confirm], a[data-confirm], input[data-confirm]");
    if (asking && !window.confirm(asking.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
      return;
    }
    if (target.closest("[data-print]")) { window.print(); }
  }, true);

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.hasAttribute("data-confirm") &&
        !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var source = event.detail && event.detail.elt;
    var selector = source && source.getAttribute && source.getAttribute("data-empties");
    var select = selector ? document.querySelector(selector) : null;
    if (select) {
      select.replaceChildren(new Option(source.getAttribute("data-empty-text") || "", ""));
    }
  });
})();
