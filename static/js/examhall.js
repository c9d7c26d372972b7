// The exam hall page (examhall/protocol.py is the protocol; examhall/client.py the reference
// client). The server decides everything: time, questions, checks, score. The page shows
// what it is told, keeps every answer until the server acknowledges it (in memory and in
// sessionStorage, so a reload or a reconnect resends it with the same seq), and films a
// face check: the server's challenge (actions chosen at random) is shown large, counted
// down, and filmed as a burst of webcam frames sent as one binary message.
(function () {
  "use strict";
  var P = JSON.parse(document.getElementById("protocol").textContent);
  var T = P.types;
  var ST = P.state;
  var C = P.codes;
  var HEARTBEAT_MS = 10000;
  var RESEND_MS = 5000; // an answer unacknowledged this long is sent again (same seq)
  var SHOT_TIMEOUT_MS = 60000;
  var COUNTDOWN = 3; // "3, 2, 1" before filming starts
  var BUSY_RESEND_MS = 3000; // a busy verifier: the same burst is sent again after this
  var FRAME_WIDTH = 640; // frames are taken at most this wide
  // Small drawings of the actions (no user data: fixed markup).
  var HEAD = '<circle cx="28" cy="24" r="15" fill="#fde7d2" stroke="#1f2933" stroke-width="2"/>';
  var DRAWINGS = {
    turn_left: '<svg viewBox="0 0 56 56" aria-hidden="true">' + HEAD +
      '<circle cx="21" cy="21" r="1.8"/><circle cx="29" cy="21" r="1.8"/>' +
      '<path d="M19 27 l-3 3 h4" fill="none" stroke="#1f2933" stroke-width="1.6"/>' +
      '<path d="M42 49 H14 M14 49 l7 -5 M14 49 l7 5" fill="none" stroke="#0969da" stroke-width="3" stroke-linecap="round"/></svg>',
    turn_right: '<svg viewBox="0 0 56 56" aria-hidden="true">' + HEAD +
      '<circle cx="27" cy="21" r="1.8"/><circle cx="35" cy="21" r="1.8"/>' +
      '<path d="M37 27 l3 3 h-4" fill="none" stroke="#1f2933" stroke-width="1.6"/>' +
      '<path d="M14 49 H42 M42 49 l-7 -5 M42 49 l-7 5" fill="none" stroke="#0969da" stroke-width="3" stroke-linecap="round"/></svg>',
    open_mouth: '<svg viewBox="0 0 56 56" aria-hidden="true">' + HEAD +
      '<circle cx="23" cy="19" r="1.8"/><circle cx="33" cy="19" r="1.8"/>' +
      '<ellipse cx="28" cy="30" rx="5" ry="6.5" fill="#7a1f1f" stroke="#1f2933" stroke-width="1.4"/>' +
      '<path d="M20 48 h16" stroke="#0969da" stroke-width="3" stroke-linecap="round"/></svg>'
  };
  // While the clock runs the server sends the time at least every 30 s; this much silence
  // means a dead connection (a phone that slept, a network that vanished without a close).
  var SILENCE_MS = 75000;
  var RUNNING = [ST.testing, ST.checking, ST.finishing]; // the clock runs

  function $(id) { return document.getElementById(id); }
  var el = {
    clock: $("hall-clock"), save: $("hall-save"), submit: $("hall-submit"),
    notice: $("hall-notice"), noticeText: $("hall-notice-text"), noticeClose: $("hall-notice-close"),
    message: $("hall-message"), intro: $("hall-intro"), opens: $("hall-opens"),
    opensClock: $("hall-opens-clock"), check: $("hall-check"), checkTitle: $("check-title"),
    checkMessage: $("check-message"), checkResult: $("check-result"), checkTries: $("check-tries"),
    shoot: $("check-shoot"), video: $("camera-video"), cameraStatus: $("camera-status"),
    steps: $("check-steps"), cue: $("camera-cue"), progress: $("camera-progress"),
    progressBar: $("camera-progress-bar"), noPhoto: $("hall-no-photo"),
    cameraRetry: $("camera-retry"), cameraHelp: $("camera-help"), exam: $("hall-exam"),
    question: $("hall-question"), nav: $("hall-nav"), final: $("hall-final"),
    closed: $("hall-closed"), closedTitle: $("closed-title"), closedMessage: $("closed-message")
  };

  // --- what the page knows -------------------------------------------------------------
  var attempt = null;
  var state = "";
  var remaining = null; // seconds, as the server last said
  var remainingAt = 0; // when it said so (Date.now())
  var opensIn = 0;
  var opensAt = 0;
  var items = []; // the paper, in order
  var answers = {}; // item id -> {choice, seq, acked, sentAt, error, rejected}
  var current = 0; // index of the question shown
  var pending = null; // the face check waited for (a stage)
  var triesLeft = null;
  var verifying = false;
  var shotTimer = null;
  var challenge = null; // what the pending check asks this try: {id, actions, frames, seconds}
  var filming = false;
  var lastBurst = null; // sent last: sent again as it is when the verifier was busy
  var hasPhoto = true;
  var submitting = false;
  var finished = false; // the result is shown
  var closedForGood = false; // a final bye: no reconnect

  var ws = null;
  var connected = false; // the welcome arrived on the current socket
  var everConnected = false;
  var retries = 0;
  var reconnectTimer = null;
  var heardAt = 0; // when the server last sent anything

  var stream = null;
  var cameraReady = false;
  var canvas = document.createElement("canvas");

  // --- small helpers -------------------------------------------------------------------
  function clockText(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s);
  }

  function node(tag, className, text) {
    var e = document.createElement(tag);
    if (className) { e.className = className; }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }

  function show(e, visible) { e.hidden = !visible; }

  function say(text) {
    el.message.textContent = text || "";
    show(el.message, !!text);
  }

  function isOpen() { return ws !== null && ws.readyState === 1 && connected; }

  function send(kind, fields) {
    if (!ws || ws.readyState !== 1) { return false; }
    var message = { type: kind };
    for (var k in fields) { if (Object.prototype.hasOwnProperty.call(fields, k)) { message[k] = fields[k]; } }
    ws.send(JSON.stringify(message));
    return true;
  }

  // --- answers kept until acknowledged ---------------------------------------------------
  function storageKey() { return "examhall:" + attempt; }

  function persist() {
    if (attempt === null) { return; }
    var keep = {};
    for (var id in answers) {
      var a = answers[id];
      keep[id] = { choice: a.choice, seq: a.seq, acked: a.acked };
    }
    try { window.sessionStorage.setItem(storageKey(), JSON.stringify(keep)); } catch (e) { /* private mode */ }
  }

  function restore() {
    try {
      var raw = window.sessionStorage.getItem(storageKey());
      return raw ? JSON.parse(raw) || {} : {};
    } catch (e) {
      return {};
    }
  }

  function forget() {
    try { window.sessionStorage.removeItem(storageKey()); } catch (e) { /* private mode */ }
  }

  function unacked() {
    var out = [];
    for (var id in answers) {
      if (!answers[id].acked && !answers[id].rejected) { out.push(id); }
    }
    return out;
  }

  function sendAnswer(id) {
    var a = answers[id];
    if (send(T.answer, { item: Number(id), choice: a.choice, seq: a.seq })) {
      a.sentAt = Date.now();
    }
  }

  // Sends what is due: answers never sent on this socket, and (``stale``) those waiting
  // for an acknowledgement too long. Answers wait while the server would refuse them.
  function flush(stale) {
    if (!isOpen() || state !== ST.testing) { return; }
    var now = Date.now();
    unacked().forEach(function (id) {
      var a = answers[id];
      if (!a.sentAt || (stale && now - a.sentAt > RESEND_MS)) { sendAnswer(id); }
    });
  }

  function choose(id, choice) {
    var before = answers[id];
    answers[id] = {
      choice: choice, seq: (before ? before.seq : 0) + 1, acked: false, sentAt: 0, error: ""
    };
    persist();
    flush(false);
    renderStatus();
  }

  function answered(item) {
    var a = answers[item.id];
    return !!a && a.choice.length > 0;
  }

  // --- the camera ----------------------------------------------------------------------
  function cameraProblem(text) {
    cameraReady = false;
    el.cameraStatus.textContent = text;
    show(el.cameraStatus, true);
    show(el.cameraRetry, true);
    el.cameraHelp.open = true;
    renderCheck();
  }

  function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      cameraProblem("当前浏览器无法使用摄像头。请使用 360 极速浏览器或 Chrome 浏览器，并通过 https 地址打开本页面。");
      return;
    }
    el.cameraStatus.textContent = "正在打开摄像头，请在浏览器提示时选择“允许”…";
    show(el.cameraStatus, true);
    show(el.cameraRetry, false);
    navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } }
    }).then(function (s) {
      stopCamera();
      stream = s;
      el.video.srcObject = s;
      var played = el.video.play();
      if (played && played.catch) { played.catch(function () { /* autoplay: muted, plays anyway */ }); }
      s.getVideoTracks().forEach(function (track) {
        track.onended = function () { cameraProblem("摄像头已断开，请检查摄像头后点击【重新打开摄像头】。"); };
      });
      cameraReady = true;
      show(el.cameraStatus, false);
      show(el.cameraRetry, false);
      renderCheck();
    }).catch(function (err) {
      var name = err && err.name;
      if (name === "NotAllowedError" || name === "PermissionDeniedError" || name === "SecurityError") {
        cameraProblem("摄像头权限被拒绝，无法进行人脸识别。请按下方说明允许本页面使用摄像头，然后点击【重新打开摄像头】。");
      } else if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError") {
        cameraProblem("未检测到摄像头。请使用带前置摄像头的手机，或为电脑连接摄像头后重试。");
      } else if (name === "NotReadableError" || name === "TrackStartError" || name === "AbortError") {
        cameraProblem("摄像头正被其他应用占用，请关闭其他使用摄像头的应用后重试。");
      } else {
        cameraProblem("无法打开摄像头（" + (name || "未知错误") + "），请按下方说明检查后重试。");
      }
    });
  }

  function stopCamera() {
    if (stream) {
      stream.getTracks().forEach(function (track) { track.onended = null; track.stop(); });
      stream = null;
    }
    cameraReady = false;
  }

  // --- a live check: count down, film the burst, send it -------------------------------
  function cue(text, count) {
    el.cue.textContent = text || "";
    el.cue.className = "camera-cue" + (count ? " count" : "");
    show(el.cue, !!text);
  }

  function renderSteps(now) {
    var list = el.steps;
    while (list.firstChild) { list.removeChild(list.firstChild); }
    var actions = challenge && pending !== null ? challenge.actions : [];
    actions.forEach(function (action, i) {
      var li = node("li", "check-step" + (i === now ? " now" : (now > i ? " done" : "")));
      var drawing = DRAWINGS[action.code];
      if (drawing) {
        var svg = new DOMParser().parseFromString(
          drawing.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" '), "image/svg+xml");
        li.appendChild(document.importNode(svg.documentElement, true));
      }
      var text = node("span", "check-step-text");
      text.appendChild(node("span", "check-step-label",
        (actions.length > 1 ? (i + 1) + ". " : "") + action.label));
      text.appendChild(node("span", "check-step-hint", action.hint));
      li.appendChild(text);
      list.appendChild(li);
    });
    show(list, actions.length > 0);
  }

  function startCheck() {
    if (!isOpen() || !pending || verifying || filming || !challenge) { return; }
    if (!cameraReady || !el.video.videoWidth) {
      el.checkResult.textContent = "摄像头画面尚未就绪，请稍候再试。";
      return;
    }
    var asked = challenge;
    filming = true;
    el.checkResult.className = "check-result";
    el.checkResult.textContent = "请正对屏幕，倒数结束后按提示依次完成动作。";
    renderCheck();
    var left = COUNTDOWN;
    (function tick() {
      if (!filming || challenge !== asked) { stopFilming(); return; }
      if (left <= 0) { film(asked); return; }
      cue(String(left), true);
      left -= 1;
      setTimeout(tick, 1000);
    }());
  }

  function stopFilming() {
    filming = false;
    cue("");
    show(el.progress, false);
    renderSteps(-1);
    renderCheck();
  }

  // One frame as JPEG bytes; a frame the same as one taken before (the camera had no new
  // picture yet) is taken again a moment later: a live camera never repeats itself, and the
  // server refuses a burst that does.
  function grab(taken, tries, done) {
    var width = Math.min(FRAME_WIDTH, el.video.videoWidth);
    var height = Math.round(el.video.videoHeight * width / el.video.videoWidth);
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").drawImage(el.video, 0, 0, width, height);
    canvas.toBlob(function (blob) {
      if (!blob) { done(null, null); return; }
      bytesOf(blob, function (bytes) {
        var repeated = taken.some(function (earlier) { return same(earlier, bytes); });
        if (repeated && tries > 0) {
          setTimeout(function () { grab(taken, tries - 1, done); }, 40);
        } else {
          done(blob, bytes);
        }
      });
    }, "image/jpeg", 0.85);
  }

  function bytesOf(blob, then) {
    if (blob.arrayBuffer) {
      blob.arrayBuffer().then(function (b) { then(new Uint8Array(b)); }, function () { then(null); });
      return;
    }
    var reader = new FileReader();
    reader.onload = function () { then(new Uint8Array(reader.result)); };
    reader.onerror = function () { then(null); };
    reader.readAsArrayBuffer(blob);
  }

  function same(a, b) {
    if (!a || !b || a.length !== b.length) { return false; }
    for (var i = 0; i < a.length; i++) { if (a[i] !== b[i]) { return false; } }
    return true;
  }

  function film(asked) {
    var frames = [];
    var total = asked.frames;
    var interval = asked.seconds * 1000 / total;
    var perStep = total / asked.actions.length;
    var taken = [];
    show(el.progress, true);
    (function take(k) {
      if (!filming || challenge !== asked || !isOpen()) {
        stopFilming();
        el.checkResult.textContent = "验证已中断，请待连接恢复后重新开始。";
        return;
      }
      if (k >= total) { sendBurst(asked, frames); return; }
      var now = Math.min(asked.actions.length - 1, Math.floor(k / perStep));
      cue(asked.actions[now].label);
      renderSteps(now);
      el.progressBar.style.width = Math.round(100 * k / total) + "%";
      var began = Date.now();
      grab(taken, 4, function (blob, bytes) {
        if (blob) { frames.push(blob); taken.push(bytes); }
        setTimeout(function () { take(k + 1); }, Math.max(0, interval - (Date.now() - began)));
      });
    }(0));
  }

  function sendBurst(asked, frames) {
    filming = false;
    cue("");
    show(el.progress, false);
    renderSteps(-1);
    if (!frames.length || !isOpen()) {
      el.checkResult.textContent = frames.length ? "连接已断开，请待重连后重新验证。" : "拍摄失败，请重试。";
      renderCheck();
      return;
    }
    var header = new TextEncoder().encode(JSON.stringify({
      challenge: asked.id, sizes: frames.map(function (f) { return f.size; })
    }));
    var length = new Uint8Array([header.length >> 8, header.length & 255]);
    lastBurst = new Blob([P.burst_magic, length, header].concat(frames));
    transmit(lastBurst);
  }

  function transmit(burst) {
    verifying = true;
    el.checkResult.className = "check-result";
    el.checkResult.textContent = "识别中…";
    renderCheck();
    ws.send(burst); // one binary message: the whole burst
    clearTimeout(shotTimer);
    shotTimer = setTimeout(function () {
      if (verifying) {
        verifying = false;
        el.checkResult.textContent = "识别超时，请重新验证。";
        renderCheck();
      }
    }, SHOT_TIMEOUT_MS);
  }

  // --- rendering -----------------------------------------------------------------------
  function running() { return RUNNING.indexOf(state) >= 0; }

  function secondsLeft() {
    if (remaining === null) { return null; }
    if (!running()) { return remaining; }
    return Math.max(0, remaining - (Date.now() - remainingAt) / 1000);
  }

  function renderClock() {
    var left = secondsLeft();
    show(el.clock, left !== null && running() && !finished);
    if (left !== null) {
      el.clock.textContent = "剩余 " + clockText(left);
      el.clock.classList.toggle("low", left < 300);
    }
    var waitingRoom = state === ST.waiting && opensAt > Date.now();
    show(el.opens, waitingRoom && !finished);
    if (waitingRoom) { el.opensClock.textContent = clockText((opensAt - Date.now()) / 1000); }
  }

  function renderStatus() {
    var text;
    var kind = "";
    var open = unacked().length;
    if (finished) {
      text = "试卷已提交";
    } else if (closedForGood) {
      text = "考场连接已关闭";
      kind = "error";
    } else if (!isOpen()) {
      text = everConnected ? "连接已断开，正在重连…" : "正在连接…";
      kind = "error";
    } else if (open && state === ST.testing) {
      text = "保存中…";
      kind = "busy";
    } else if (open && state === ST.checking) {
      text = "保存中…（答题已暂停，验证通过后自动保存）";
      kind = "busy";
    } else if (open) {
      text = open + " 题答案未能保存（答题已锁定）";
      kind = "error";
    } else {
      text = "已保存";
      kind = "ok";
    }
    el.save.textContent = text;
    el.save.className = "hall-save" + (kind ? " " + kind : "");
    el.submit.hidden = items.length === 0 || finished || closedForGood;
    el.submit.disabled = !isOpen() || state !== ST.testing || submitting;
    renderNav();
    renderItemStatus();
  }

  function renderCheck() {
    var exam = items.length > 0;
    var visible = !finished && !closedForGood && (pending !== null || !exam);
    show(el.check, visible);
    el.check.classList.toggle("overlay", exam && pending !== null);
    var titles = {};
    titles[P.stages.start] = "开考前人脸识别";
    titles[P.stages.random] = "随机人脸识别";
    titles[P.stages.submit] = "交卷前人脸识别";
    el.checkTitle.textContent = titles[pending] || "人脸识别";
    show(el.checkTries, pending !== null && triesLeft !== null);
    el.checkTries.textContent = triesLeft === null ? "" : "剩余验证次数：" + triesLeft;
    el.shoot.hidden = pending === null;
    el.shoot.disabled = !cameraReady || !isOpen() || verifying || filming || triesLeft === 0 ||
      !hasPhoto || !challenge;
    el.shoot.textContent = filming ? "正在拍摄…" : (verifying ? "识别中…" : "开始验证");
    show(el.noPhoto, !hasPhoto && !finished && !closedForGood);
  }

  function renderNav() {
    var buttons = el.nav.children;
    for (var i = 0; i < buttons.length; i++) {
      var item = items[i];
      var a = answers[item.id];
      var unsaved = !!a && !a.acked;
      var done = answered(item);
      var b = buttons[i];
      b.className = unsaved ? "unsaved" : (done ? "answered" : "");
      if (i === current) { b.setAttribute("aria-current", "step"); } else { b.removeAttribute("aria-current"); }
      b.setAttribute("aria-label", "第 " + item.position + " 题（" +
        (unsaved ? "未保存" : (done ? "已作答" : "未作答")) + "）");
    }
  }

  function buildNav() {
    while (el.nav.firstChild) { el.nav.removeChild(el.nav.firstChild); }
    items.forEach(function (item, i) {
      var b = node("button", "", item.position);
      b.type = "button";
      b.addEventListener("click", function () { go(i); });
      el.nav.appendChild(b);
    });
  }

  function go(i) {
    if (i < 0 || i >= items.length) { return; }
    current = i;
    renderQuestion();
    renderNav();
    el.question.scrollIntoView({ block: "start" });
  }

  function renderItemStatus() {
    var status = $("item-status");
    var item = items[current];
    if (!status || !item) { return; }
    var a = answers[item.id];
    var text = "";
    var kind = "";
    if (a && a.error) {
      text = a.error;
      kind = "error";
    } else if (a && a.acked) {
      text = "已保存";
      kind = "ok";
    } else if (a) {
      text = isOpen() ? "保存中…" : "未保存（连接恢复后自动保存）";
      kind = "busy";
    }
    status.textContent = text;
    status.className = "item-status" + (kind ? " " + kind : "");
    var locked = state !== ST.testing;
    var inputs = el.question.querySelectorAll("input");
    for (var i = 0; i < inputs.length; i++) { inputs[i].disabled = locked; }
    var hint = $("item-locked");
    if (hint) {
      var why = "";
      if (state === ST.checking) { why = "答题已暂停，请先完成随机人脸识别。"; }
      else if (state === ST.finishing) { why = "答题已锁定，请完成交卷前人脸识别。"; }
      hint.textContent = why;
      show(hint, !!why);
    }
  }

  function renderQuestion() {
    var q = el.question;
    while (q.firstChild) { q.removeChild(q.firstChild); }
    var item = items[current];
    if (!item) { return; }
    var multiple = item.type === "multiple";
    var letters = item.type !== "judge";
    var head = node("p", "item-head muted small",
      "第 " + item.position + " 题 / 共 " + items.length + " 题 · " + (P.question_types[item.type] || item.type));
    q.appendChild(head);
    q.appendChild(node("p", "item-stem", item.stem));
    var fieldset = node("fieldset", "item-options");
    fieldset.appendChild(node("legend", "visually-hidden", multiple ? "请选择全部正确答案" : "请选择一个答案"));
    var chosen = answers[item.id] ? answers[item.id].choice : [];
    item.options.forEach(function (option, n) {
      var label = node("label", "item-option");
      var input = document.createElement("input");
      input.type = multiple ? "checkbox" : "radio";
      input.name = "item-" + item.id;
      input.value = option.id;
      input.checked = chosen.indexOf(option.id) >= 0;
      input.addEventListener("change", function () { picked(item); });
      label.appendChild(input);
      if (letters) { label.appendChild(node("span", "item-letter", String.fromCharCode(65 + n) + ".")); }
      label.appendChild(node("span", "item-text", option.text));
      fieldset.appendChild(label);
    });
    q.appendChild(fieldset);
    if (multiple) { q.appendChild(node("p", "hint", "多选题：请选择全部正确答案。")); }
    var locked = node("p", "item-locked");
    locked.id = "item-locked";
    locked.hidden = true;
    q.appendChild(locked);
    var status = node("p", "item-status");
    status.id = "item-status";
    status.setAttribute("role", "status");
    q.appendChild(status);
    var moves = node("div", "item-moves");
    var prev = node("button", "", "上一题");
    prev.type = "button";
    prev.disabled = current === 0;
    prev.addEventListener("click", function () { go(current - 1); });
    var next = node("button", "primary", current === items.length - 1 ? "已是最后一题" : "下一题");
    next.type = "button";
    next.disabled = current === items.length - 1;
    next.addEventListener("click", function () { go(current + 1); });
    moves.appendChild(prev);
    moves.appendChild(next);
    q.appendChild(moves);
    renderItemStatus();
  }

  function picked(item) {
    var inputs = el.question.querySelectorAll('input[name="item-' + item.id + '"]');
    var choice = [];
    for (var i = 0; i < inputs.length; i++) { if (inputs[i].checked) { choice.push(inputs[i].value); } }
    choose(String(item.id), choice);
  }

  function render() {
    var exam = items.length > 0 && !finished && !closedForGood;
    show(el.intro, items.length === 0 && !finished && !closedForGood);
    show(el.exam, exam);
    renderCheck();
    renderClock();
    renderStatus();
  }

  function finalScreen(message) {
    finished = true;
    show(el.final, true);
    show(el.closed, false);
    el.submit.hidden = true;
    say("");
    $("final-score").textContent = message.score;
    var outcome = $("final-outcome");
    outcome.textContent = message.passed ? "合格" : "不合格";
    outcome.className = "outcome " + (message.passed ? "outcome-qualified" : "outcome-unqualified");
    $("final-pass").textContent = "合格分数线：" + message.pass_mark + " 分";
    forget();
    stopCamera();
    render();
  }

  function closedScreen(message) {
    closedForGood = true;
    if (finished) { return; }
    el.closedTitle.textContent = message.code === C.taken_over ? "考场已在其他页面打开" : "考场已关闭";
    el.closedMessage.textContent = message.message || "";
    show(el.closed, true);
    say("");
    stopCamera();
    render();
  }

  // --- messages from the server ----------------------------------------------------------
  function onWelcome(m) {
    connected = true;
    everConnected = true;
    retries = 0;
    say(""); // whatever was said about the connection is over
    attempt = m.attempt;
    $("rule-duration").textContent = Math.round(m.duration / 60);
    $("rule-count").textContent = m.question_count;
    $("rule-pass").textContent = m.pass_mark;
    // Merge what this page kept (memory, then sessionStorage) with what the server stored:
    // the newer seq wins; a newer one of ours is resent with the same seq.
    var kept = restore();
    Object.keys(kept).forEach(function (id) {
      var k = kept[id];
      if (!answers[id] || answers[id].seq < k.seq) {
        answers[id] = { choice: k.choice || [], seq: k.seq, acked: !!k.acked, sentAt: 0, error: "" };
      }
    });
    var stored = m.answers || {};
    Object.keys(stored).forEach(function (id) {
      if (!answers[id] || answers[id].seq <= stored[id].seq) {
        answers[id] = { choice: stored[id].choice, seq: stored[id].seq, acked: true, sentAt: 0, error: "" };
      }
    });
    Object.keys(answers).forEach(function (id) {
      var a = answers[id];
      a.sentAt = 0;
      var s = stored[id];
      if (!s || s.seq < a.seq) { a.acked = false; a.rejected = false; }
    });
    persist();
    state = m.state;
    remaining = m.remaining;
    remainingAt = Date.now();
    opensIn = m.opens_in || 0;
    opensAt = Date.now() + opensIn * 1000;
    pending = m.check || null;
    triesLeft = m.tries_left;
    verifying = false;
    filming = false;
    submitting = false;
    hasPhoto = m.photo !== false;
    flush(false);
    render();
  }

  function onPaper(m) {
    var shown = items[current] ? items[current].id : null;
    items = m.items.slice().sort(function (a, b) { return a.position - b.position; });
    items.forEach(function (item, i) {
      if (item.id === shown) { current = i; }
    });
    if (current >= items.length) { current = 0; }
    buildNav();
    renderQuestion();
    render();
  }

  function onAck(m) {
    var a = answers[m.item];
    if (a && a.seq <= m.seq) {
      a.acked = true;
      a.error = "";
      persist();
    }
    renderStatus();
  }

  function onCheck(m) {
    pending = m.stage;
    triesLeft = m.tries_left;
    verifying = false;
    challenge = m.challenge || null;
    renderSteps(-1);
    el.checkMessage.textContent = m.message;
    var text = "";
    if (!hasPhoto) { text = el.noPhoto.textContent; }
    else if (triesLeft === 0) { text = "验证未通过次数已达上限，请等待监考人员处理。"; }
    else if (challenge) { text = "准备好后点击【开始验证】，倒数 3 秒后请按上方提示依次完成动作。"; }
    el.checkResult.textContent = text;
    el.checkResult.className = "check-result" + (triesLeft === 0 || !hasPhoto ? " error" : "");
    if (!cameraReady && !stream) { startCamera(); }
    render();
    if (items.length === 0) { el.check.scrollIntoView({ block: "start" }); }
  }

  function onCheckResult(m) {
    verifying = false;
    clearTimeout(shotTimer);
    triesLeft = m.tries_left;
    if (!m.passed && m.reason === P.reasons.busy && lastBurst && pending !== null) {
      var again = lastBurst; // the verifier was busy: the same burst, a little later
      el.checkResult.className = "check-result";
      el.checkResult.textContent = m.message;
      verifying = true;
      renderCheck();
      setTimeout(function () {
        if (lastBurst === again && isOpen() && pending !== null) { transmit(again); }
        else { verifying = false; renderCheck(); }
      }, BUSY_RESEND_MS);
      return;
    }
    lastBurst = null;
    if (m.challenge) { challenge = m.challenge; }
    if (m.reason === P.reasons.no_reference) { hasPhoto = false; }
    if (m.passed) {
      challenge = null;
      pending = null;
      el.checkResult.className = "check-result ok";
      el.checkResult.textContent = "验证通过";
      el.checkMessage.textContent = "验证通过。";
    } else {
      el.checkResult.className = "check-result error";
      var text = m.message || "验证未通过，请重试";
      if (m.tries_left === 0 && text.indexOf("监考") < 0) { text += "。请等待监考人员处理。"; }
      el.checkResult.textContent = text;
    }
    render();
  }

  function onState(m) {
    var was = state;
    state = m.state;
    if (typeof m.remaining === "number") {
      remaining = m.remaining;
      remainingAt = Date.now();
    }
    if (m.message) { say(m.message); }
    if (state === ST.testing) {
      pending = null; // a random check passed or was approved
      submitting = false;
      if (was !== ST.testing) {
        unacked().forEach(function (id) { answers[id].sentAt = 0; });
        flush(false);
      }
    } else if (state === ST.waiting && pending === null) {
      el.checkMessage.textContent = "开考前人脸识别已通过，请保持本页面打开。";
    }
    if (state !== ST.finishing) { submitting = false; }
    render();
  }

  function onError(m) {
    if (m.item !== undefined && m.item !== null) {
      var a = answers[m.item];
      if (!a || (m.seq !== undefined && m.seq !== a.seq)) { return; } // about an older change
      if (m.code === C.paused || m.code === C.locked || m.code === C.not_started) {
        a.sentAt = 0; // kept unsent; resent when answering may go on
        a.error = "未保存：" + m.message;
      } else if (m.code === C.busy) {
        a.sentAt = Date.now() - RESEND_MS + 2000; // resent in about two seconds
        a.error = m.message;
      } else {
        a.rejected = true; // the server will never take it: not resent
        a.error = m.message;
      }
      persist();
      renderStatus();
      return;
    }
    if (m.code === C.too_fast) { return; } // whatever was refused is resent by the timer
    if (pending !== null && (m.code === C.busy || m.code === C.no_check || m.code === C.stale ||
        m.refused === "frame")) {
      verifying = false;
      if (m.code === C.no_check) { pending = null; }
      if (m.code === C.stale && m.challenge) { challenge = m.challenge; renderSteps(-1); }
      el.checkResult.textContent = m.message;
      render();
      return;
    }
    if (m.code === C.paused || m.code === C.locked) { submitting = false; }
    say(m.message);
    renderStatus();
  }

  function onNotice(m) {
    el.noticeText.textContent = m.text;
    show(el.notice, true);
  }

  function onBye(m) {
    if (P.final_byes.indexOf(m.code) >= 0) {
      if (m.code === C.done && finished) { closedForGood = true; render(); return; }
      closedScreen(m);
    } else {
      say(m.message);
    }
  }

  var handlers = {};
  handlers[T.welcome] = onWelcome;
  handlers[T.paper] = onPaper;
  handlers[T.ack] = onAck;
  handlers[T.check] = onCheck;
  handlers[T.check_result] = onCheckResult;
  handlers[T.state] = onState;
  handlers[T.result] = finalScreen;
  handlers[T.error] = onError;
  handlers[T.notice] = onNotice;
  handlers[T.bye] = onBye;

  // --- the connection --------------------------------------------------------------------
  function connect() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (closedForGood || finished) { return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + window.location.host + P.path);
    ws = socket;
    socket.onopen = function () {
      if (ws === socket) { send(T.hello, { v: P.version }); }
    };
    socket.onmessage = function (event) {
      if (ws !== socket || typeof event.data !== "string") { return; }
      heardAt = Date.now();
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      var handle = handlers[message.type];
      if (handle) { handle(message); }
    };
    socket.onclose = function () {
      if (ws === socket) { lost(); }
    };
  }

  function lost() {
    ws = null;
    connected = false;
    verifying = false;
    filming = false;
    lastBurst = null;
    submitting = false;
    if (!closedForGood && !finished) { reconnectLater(); }
    render();
  }

  function checkAlive() {
    if (isOpen() && running() && Date.now() - heardAt > SILENCE_MS) {
      var dead = ws;
      lost(); // the old socket's events are ignored from now on
      try { dead.close(); } catch (e) { /* already gone */ }
    }
  }

  function reconnectNow() {
    if (!ws && reconnectTimer) { connect(); }
  }

  function reconnectLater() {
    if (reconnectTimer) { return; }
    var delay = Math.min(10000, 1000 * Math.pow(2, retries));
    retries += 1;
    if (retries > 4 && !everConnected) {
      say("无法连接考场。若长时间无法连接，请检查网络，或返回首页重新登录后再进入。");
    }
    reconnectTimer = setTimeout(connect, delay);
  }

  // --- the page's own controls -------------------------------------------------------------
  el.shoot.addEventListener("click", startCheck);
  el.cameraRetry.addEventListener("click", startCamera);
  el.noticeClose.addEventListener("click", function () { show(el.notice, false); });

  el.submit.addEventListener("click", function () {
    if (!isOpen() || state !== ST.testing || submitting) { return; }
    var open = 0;
    items.forEach(function (item) { if (!answered(item)) { open += 1; } });
    var text = open
      ? "您还有 " + open + " 题未作答，确定要交卷吗？"
      : "全部 " + items.length + " 题均已作答，确定要交卷吗？";
    text += "\n交卷前需完成人脸识别，验证通过后试卷提交，提交后不能再修改答案。";
    if (!window.confirm(text)) { return; }
    flush(false); // answers not yet sent go first: the server handles messages in order
    submitting = true;
    send(T.submit, {});
    render();
  });

  document.addEventListener("visibilitychange", function () {
    if (isOpen()) { send(T.visibility, { hidden: document.hidden }); }
    if (!document.hidden) { reconnectNow(); }
    if (!document.hidden && stream && el.video.paused) {
      var played = el.video.play();
      if (played && played.catch) { played.catch(function () { /* shown again later */ }); }
    }
  });

  window.addEventListener("online", reconnectNow);

  window.addEventListener("beforeunload", function (event) {
    if (!finished && !closedForGood && running()) {
      event.preventDefault();
      event.returnValue = "考试正在进行，确定要离开吗？";
      return event.returnValue;
    }
    return undefined;
  });

  setInterval(function () { if (isOpen()) { send(T.heartbeat, {}); } }, HEARTBEAT_MS);
  setInterval(function () {
    renderClock();
    checkAlive();
    flush(true);
  }, 1000);

  startCamera();
  connect();
  render();
}());
