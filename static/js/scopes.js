// 执业范围 pickers: the scopes are grouped by 执业类别, and once a category is chosen only its
// group is offered (全科医学专业 exists under 临床, 口腔 and 中医). A scope select names its
// category select in data-category (an id, or a field name of the same form).
(function () {
  "use strict";
  document.querySelectorAll("select[data-category]").forEach(function (scope) {
    var key = scope.getAttribute("data-category");
    var category = document.getElementById(key) || (scope.form && scope.form.elements[key]);
    if (!category) return;

    function apply() {
      var chosen = category.value;
      scope.querySelectorAll("optgroup").forEach(function (group) {
        var off = Boolean(chosen) && group.label !== chosen;
        group.disabled = off;
        group.hidden = off;
      });
      var selected = scope.options[scope.selectedIndex];
      if (selected && selected.parentNode.disabled) {
        var blank = scope.querySelector('option[value=""]');
        var first = scope.querySelector("optgroup:not([disabled]) option");
        (blank || first || selected).selected = true;
      }
    }

    category.addEventListener("change", apply);
    apply();
  });
})();
