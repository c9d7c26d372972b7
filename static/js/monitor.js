// The proctor's monitor: figures and rows pushed by the server (server-sent events).
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("monitor-config").textContent);
  var status = document.getElementById("live-status");
  // [[key, label], ...] in the order of the table headers: cells are filled in that order.
  var states = config.categories;
  var labels = {};
  states.forEach(function (pair) { labels[pair[0]] = pair[1]; });

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function fillGroups(id, groups) {
    var table = document.getElementById(id);
    if (!table) return;
    var body = table.tBodies[0];
    body.textContent = "";
    Object.keys(groups).forEach(function (name) {
      var tr = document.createElement("tr");
      cell(tr, name);
      states.forEach(function (pair) { cell(tr, String(groups[name][pair[0]])); });
      body.appendChild(tr);
    });
  }

  function render(data) {
    Object.keys(data.counts).forEach(function (key) {
      var el = document.querySelector('[data-count="' + key + '"]');
      if (el) el.textContent = String(data.counts[key]);
    });
    fillGroups("by-prefecture", data.by_prefecture);
    fillGroups("by-institution", data.by_institution);
    var body = document.getElementById("sessions");
    body.textContent = "";
    if (!data.rows.length) {
      var empty = document.createElement("tr");
      cell(empty, "没有符合条件的考生").colSpan = 8;
      body.appendChild(empty);
    }
    data.rows.forEach(function (r) {
      var tr = document.createElement("tr");
      if (r.flagged) tr.className = "flagged";
      var link = document.createElement("a");
      link.href = "/proctor/attempts/" + r.attempt_id;
      link.textContent = r.name;
      cell(tr, "").appendChild(link);
      cell(tr, r.institution);
      cell(tr, labels[r.category] + (r.stage ? "（" + (config.stages[r.stage] || r.stage) + "识别）" : ""));
      cell(tr, r.remaining === null ? "—" : Math.floor(r.remaining / 60) + " 分");
      cell(tr, r.heartbeat_age === null ? "—" : r.heartbeat_age + " 秒前");
      cell(tr, String(r.failed_checks));
      cell(tr, String(r.hidden_events));
      cell(tr, r.flagged ? r.flag_reason : "");
      body.appendChild(tr);
    });
    status.textContent = "实时 · 在线 " + data.live + " 人 · " + new Date().toLocaleTimeString("zh-CN");
  }

  var source = new EventSource(config.stream);
  source.onmessage = function (event) { render(JSON.parse(event.data)); };
  source.onerror = function () { status.textContent = "实时数据连接中断，正在重连…"; };
})();
