// The lesson page's heartbeat (portal/training.py, core/study.py). While the page is visible
// it reports every few seconds; the server alone decides how much time that earns. Hidden
// pages stay silent, so time spent elsewhere is never counted.
(function () {
  "use strict";
  var root = document.getElementById("study");
  if (!root) { return; }
  var every = Number(root.dataset.every || 30) * 1000;
  var timer = null;
  var stopped = false;
  var sent = 0;  // heartbeats sent; a reply older than one already shown is ignored
  var shown = 0;
  var clock = document.getElementById("study-clock");
  var bar = document.getElementById("study-progress");
  var state = document.getElementById("study-state");
  var checkin = document.getElementById("study-checkin");
  var code = document.getElementById("study-code");
  var checkinError = document.getElementById("study-checkin-error");

  function duration(seconds) {
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + "小时" + pad(m) + "分" : m + "分" + pad(s) + "秒";
  }

  function say(text) { state.textContent = text; }

  function stop(text) {
    stopped = true;
    if (timer) { clearInterval(timer); timer = null; }
    if (text) { say(text); }
  }

  function post(url, fields, keepalive) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      keepalive: !!keepalive,
      headers: { "X-CSRF-Token": root.dataset.csrf },
      body: new URLSearchParams(fields)
    });
  }

  function show(data) {
    var paused = document.visibilityState !== "visible";
    if (typeof data.seconds === "number") {
      clock.textContent = duration(data.seconds);
      bar.value = Math.min(data.seconds, Number(root.dataset.limit));
    }
    if (data.state === "checkin") {
      code.textContent = data.code;
      checkin.hidden = false;
      say(data.message);
    } else if (data.state === "complete") {
      checkin.hidden = true;
      stop(data.message);
    } else if (data.state === "other_tab") {
      stop(data.message);
    } else if (data.state === "error") {
      stop(data.message || "记录学习时长失败，请刷新页面");
    } else {
      checkin.hidden = true;
      say(paused ? "页面已切换到后台，暂停计时" : data.message || "正在计时");
    }
  }

  function beat(pause) {
    if (stopped) { return; }
    var fields = { token: root.dataset.token };
    var n = ++sent;
    if (pause) { fields.pause = "1"; }
    post(root.dataset.beat, fields, pause).then(function (response) {
      if (response.redirected) {  // the session ended: the log-in page answered
        return { state: "error", message: "登录已失效，请重新登录后继续学习" };
      }
      return response.json().catch(function () {
        return { state: "error", message: "记录学习时长失败（" + response.status + "），请刷新页面" };
      });
    }).then(function (data) {
      if (n < shown) { return; }
      shown = n;
      show(data);
    }, function () {
      say("网络连接异常，暂未计时，恢复后自动继续");
    });
  }

  function start() {
    if (stopped || timer) { return; }
    beat(false);
    timer = setInterval(function () { beat(false); }, every);
  }

  function pause() {
    if (timer) { clearInterval(timer); timer = null; }
    if (!stopped) {
      beat(true);
      say("页面已切换到后台，暂停计时");
    }
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { start(); } else { pause(); }
  });
  window.addEventListener("pagehide", pause);

  checkin.addEventListener("submit", function (event) {
    event.preventDefault();
    var typed = checkin.elements.code.value;
    post(root.dataset.checkin, { code: typed }, false).then(function (response) {
      return response.json().then(function (data) { return [response.ok, data]; });
    }).then(function (result) {
      if (result[0]) {
        checkin.hidden = true;
        checkin.elements.code.value = "";
        checkinError.hidden = true;
        say(result[1].message);
      } else {
        checkinError.textContent = result[1].message;
        checkinError.hidden = false;
      }
    }, function () {
      checkinError.textContent = "网络连接异常，请重试";
      checkinError.hidden = false;
    });
  });

  if (Number(root.dataset.seconds) >= Number(root.dataset.limit)) {
    stopped = true;
  } else if (document.visibilityState === "visible") {
    start();
  }
})();
