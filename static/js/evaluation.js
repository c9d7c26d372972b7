// 医师定期考核表: ticking an ethics veto item shows its consequence at once. Any ticked item
// selects 职业道德 不合格 and locks 合格, as the server records it; unticking them all unlocks.
(function () {
  "use strict";
  document.querySelectorAll("fieldset.ethics").forEach(function (set) {
    var vetoes = set.querySelectorAll('input[name="vetoes"]');
    var pass = set.querySelector('input[name="ethics"][value="pass"]');
    var fail = set.querySelector('input[name="ethics"][value="fail"]');
    var note = set.querySelector(".veto-note");
    if (!pass || !fail) return;

    function apply() {
      var vetoed = Array.prototype.some.call(vetoes, function (box) { return box.checked; });
      if (vetoed) fail.checked = true;
      pass.disabled = vetoed;
      if (note) note.hidden = !vetoed;
    }

    vetoes.forEach(function (box) { box.addEventListener("change", apply); });
    apply();
  });
})();
