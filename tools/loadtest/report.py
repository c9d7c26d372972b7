"""What a load-test run measured, and how it is shown: printed, as JSON, and as an HTML page
whose charts are inline SVG (no script, no CDN: the page opens from a file on a closed network).

``Recorder`` is what the simulated physicians write into (one per generator process, merged
at the end); ``sampler.Sampler`` reads the server side once a second; ``build`` turns both
into the report, ``summary`` and ``html`` show it.
"""

from __future__ import annotations

import html as html_lib
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

BUCKET = 5.0  # seconds per point of the latency charts


@dataclass
class Recorder:
    """Everything the clients saw; times are seconds since ``t0`` (wall clock, so records of
    several generator processes line up)."""

    t0: float
    connects: list[tuple[float, float, bool]] = field(default_factory=list)  # t, ms, again
    acks: list[tuple[float, float]] = field(default_factory=list)  # t, ms
    faces: list[tuple[float, str, float, str]] = field(default_factory=list)  # t, stage, ms, how
    errors: list[tuple[float, str]] = field(default_factory=list)  # t, kind
    intervals: list[tuple[float, float]] = field(default_factory=list)  # socket open → closed
    logins: list[tuple[float, float, bool]] = field(default_factory=list)  # t, ms, succeeded
    refused: Counter[int] = field(default_factory=Counter)  # attempt → entries refused (503)
    acked: dict[int, dict[int, int]] = field(default_factory=dict)  # attempt → item → seq
    sent: dict[int, dict[int, int]] = field(default_factory=dict)  # attempt → item → seq
    counts: Counter[str] = field(default_factory=Counter)

    def now(self) -> float:
        return time.time() - self.t0

    def error(self, kind: str) -> None:
        self.errors.append((self.now(), kind))

    def merge(self, other: Recorder) -> None:
        self.connects += other.connects
        self.acks += other.acks
        self.faces += other.faces
        self.errors += other.errors
        self.intervals += other.intervals
        self.logins += other.logins
        self.refused.update(other.refused)
        self.acked.update(other.acked)
        self.sent.update(other.sent)
        self.counts.update(other.counts)


# --- figures -------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def spread(values: list[float]) -> dict[str, Any]:
    return {
        "count": len(values),
        "p50": _r(percentile(values, 0.5)),
        "p95": _r(percentile(values, 0.95)),
        "p99": _r(percentile(values, 0.99)),
        "max": _r(max(values) if values else None),
    }


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def open_sessions(intervals: list[tuple[float, float]], end: float) -> list[tuple[float, int]]:
    """Sockets open at each whole second."""
    marks: Counter[int] = Counter()
    for opened, closed in intervals:
        first = math.ceil(opened)
        last = math.floor(min(closed, end))
        for second in range(first, last + 1):
            marks[second] += 1
    return [(float(s), marks.get(s, 0)) for s in range(0, math.floor(end) + 1)]


def by_bucket(points: list[tuple[float, float]]) -> list[dict[str, Any]]:
    buckets: dict[int, list[float]] = {}
    for t, ms in points:
        buckets.setdefault(int(t // BUCKET), []).append(ms)
    return [{"t": (b + 0.5) * BUCKET, **spread(values)} for b, values in sorted(buckets.items())]


def process_figures(
    samples: list[dict[str, Any]], before: float, peak_at: float
) -> dict[str, dict[str, Any]]:
    """Per process: CPU mean and max, RSS before the ramp, at the peak, and the largest."""
    figures: dict[str, dict[str, Any]] = {}
    labels = {label for s in samples for label in s["rss"]}
    for label in sorted(labels):
        cpu = [s["cpu"][label] for s in samples if label in s["cpu"]]
        rss = [(s["t"], s["rss"][label]) for s in samples if label in s["rss"]]
        base = [m for t, m in rss if t <= before] or [m for _, m in rss[:1]]
        near_peak = min(rss, key=lambda p: abs(p[0] - peak_at))[1] if rss else None
        figures[label] = {
            "cpu_mean_pct": _r(sum(cpu) / len(cpu) if cpu else None),
            "cpu_max_pct": _r(max(cpu) if cpu else None),
            "rss_before_mib": _r(base[-1] if base else None),
            "rss_at_peak_mib": _r(near_peak),
            "rss_max_mib": _r(max(m for _, m in rss) if rss else None),
        }
    return figures


def build(
    rec: Recorder,
    samples: list[dict[str, Any]],
    meta: dict[str, Any],
    reconciliation: dict[str, Any],
    extra: dict[str, Any],
) -> dict[str, Any]:
    end = max([rec.now(), *(s["t"] for s in samples)])
    sessions = open_sessions(rec.intervals, end)
    peak = max(sessions, key=lambda p: p[1]) if sessions else (0.0, 0)
    ramp = float(meta["options"]["ramp"])
    first = [ms for _, ms, again in rec.connects if not again]
    again = [ms for _, ms, again in rec.connects if again]
    acks = [ms for _, ms in rec.acks]
    steady = [ms for t, ms in rec.acks if t > ramp]
    face_ms = {
        stage: [ms for _, s, ms, how in rec.faces if s == stage and how != "busy"]
        for stage in ("start", "random", "submit")
    }
    errors = Counter(kind for _, kind in rec.errors)
    processes = process_figures(samples, before=0.0, peak_at=peak[0])
    web = [v for k, v in processes.items() if k.startswith("web")]
    grown = sum((v["rss_at_peak_mib"] or 0) - (v["rss_before_mib"] or 0) for v in web)
    played = max(end - 0.0, 1e-3)
    figures: dict[str, Any] = {
        "peak_sessions": peak[1],
        "peak_at_s": peak[0],
        "peak_live_in_redis": max((s.get("live", 0) for s in samples), default=0),
        "connections": spread(first),
        "failed_connections": sum(n for k, n in errors.items() if k.startswith("connect")),
        "reconnections": spread(again),
        "answers_acked": len(acks),
        "acks_per_s": round(len(acks) / played, 1),
        "ack_ms": spread(acks),
        "ack_ms_after_ramp": spread(steady),
        "face_ms": {stage: spread(v) for stage, v in face_ms.items()},
        "face_busy": sum(1 for *_, how in rec.faces if how == "busy"),
        "face_rate_backlogged": face_rate(rec, samples),
        "errors": dict(errors.most_common()),
        "error_count": sum(errors.values()),
        "kib_per_session": (
            round(grown * 1024 / peak[1], 1) if peak[1] and web and grown > 0 else None
        ),
        "counts": dict(rec.counts),
        "refused_entries": sum(rec.refused.values()),
        "most_refusals_of_one": max(rec.refused.values(), default=0),
    }
    if rec.logins:
        storm = [ms for _, ms, _ in rec.logins]
        span = max(t for t, _, _ in rec.logins) - min(t for t, _, _ in rec.logins)
        figures["login_storm"] = {
            **spread(storm),
            "per_s": round(len(storm) / max(span, 1e-3), 1),
            "failed": sum(1 for *_, ok in rec.logins if not ok),
        }
    return {
        "meta": meta,
        "figures": figures,
        "processes": processes,
        "reconciliation": reconciliation,
        **extra,
        "series": {
            "sessions": sessions,
            "live": [(s["t"], s.get("live")) for s in samples if "live" in s],
            "acks": by_bucket(rec.acks),
            "faces": by_bucket([(t, ms) for t, _, ms, how in rec.faces if how != "busy"]),
            "samples": samples,
            "errors": [(round(t, 2), kind) for t, kind in sorted(rec.errors)[:2000]],
        },
    }


def face_rate(rec: Recorder, samples: list[dict[str, Any]]) -> float | None:
    """Face checks answered per second over the seconds when jobs were waiting (the workers
    were the bottleneck); None when the queue never backed up."""
    busy = {
        math.floor(s["t"])
        for s in samples
        if s.get("face_waiting", 0) + s.get("face_in_progress", 0) > 0 and s.get("face_waiting")
    }
    if len(busy) < 3:
        return None
    done = sum(1 for t, _, _, how in rec.faces if how != "busy" and math.floor(t) in busy)
    return round(done / len(busy), 2)


# --- showing it ----------------------------------------------------------------------------


def _ms(spread_: dict[str, Any]) -> str:
    if not spread_.get("count"):
        return "—"
    return f"p50 {spread_['p50']} / p95 {spread_['p95']} / p99 {spread_['p99']} ms"


def summary(report: dict[str, Any]) -> str:
    f = report["figures"]
    o = report["meta"]["options"]
    rec = report["reconciliation"]
    lines = [
        f"压力测试：{o['physicians']} 名医师，{o['ramp']} 秒内进入，答题 {o['duration']} 秒，"
        f"约每 {o['pace']} 秒一题，{'跳过人脸识别' if o['no_face'] else '真实人脸照片'}，"
        f"{len(o['urls'])} 个 web 节点，{o['processes']} 个压测进程",
        f"  同时在线：峰值 {f['peak_sessions']}（第 {f['peak_at_s']:.0f} 秒），"
        f"Redis 中的在线数峰值 {f['peak_live_in_redis']}",
        f"  连接：{_ms(f['connections'])}；失败 {f['failed_connections']}；"
        f"重连 {f['reconnections']['count']} 次 {_ms(f['reconnections'])}",
        f"  答案确认：{f['answers_acked']} 条（{f['acks_per_s']}/秒），{_ms(f['ack_ms'])}；"
        f"进入阶段之后 {_ms(f['ack_ms_after_ramp'])}",
    ]
    lines.append(
        f"  入场被拒（503）：{f.get('refused_entries', 0)} 次，"
        f"同一医师最多 {f.get('most_refusals_of_one', 0)} 次"
    )
    if f.get("login_storm"):
        lg = f["login_storm"]
        lines.append(
            f"  登录高峰（每名医师真实登录）：{lg['count']} 次，{lg['per_s']} 次/秒，"
            f"{_ms(lg)}，失败 {lg['failed']}"
        )
    for stage, label in (("start", "开考"), ("random", "随机"), ("submit", "交卷")):
        lines.append(f"  {label}人脸识别往返：{_ms(f['face_ms'][stage])}")
    if f["face_busy"]:
        lines.append(f"  人脸识别繁忙（重试）：{f['face_busy']} 次")
    if f["face_rate_backlogged"]:
        lines.append(f"  队列积压时的人脸识别速率：{f['face_rate_backlogged']} 次/秒")
    if f["kib_per_session"]:
        lines.append(f"  web 进程每个会话的内存：{f['kib_per_session']} KiB")
    for label, p in report["processes"].items():
        lines.append(
            f"  {label}: CPU 平均 {p['cpu_mean_pct']}% 最高 {p['cpu_max_pct']}%，"
            f"内存 {p['rss_before_mib']} → {p['rss_at_peak_mib']} MiB（最高 {p['rss_max_mib']}）"
        )
    errors = "，".join(f"{k} {v}" for k, v in f["errors"].items()) or "无"
    lines.append(f"  错误：{errors}")
    counts = "，".join(f"{k} {v}" for k, v in sorted(f["counts"].items())) or "无"
    lines.append(f"  计数：{counts}")
    for name, block in report.get("baselines", {}).items():
        lines.append(f"  基准 {name}：{_baseline_text(block)}")
    if "logins" in report:
        lg = report["logins"]
        lines.append(
            f"  真实登录：{lg['count']} 次，并发 {lg['concurrency']}，"
            f"{lg['per_s']} 次/秒，{_ms(lg['ms'])}，失败 {lg['failed']}"
        )
    made = report["meta"].get("created")
    if made:
        lines.append(
            f"  本次创建：周期「{made['period']}」、机构「{made['institution']}」、"
            f"{made['physicians']} 名医师及其报名、{made['papers']} 份试卷、"
            f"{made['attempts']} 场测评、{made['sessions']} 个登录会话；均标记为压测，"
            "不计入任何统计、名单和结果，xjdk loadtest --cleanup 删除"
        )
    verdict = "通过" if rec.get("ok") else "失败"
    lines.append(
        f"  对账（数据库）：{verdict}；已确认的题 {rec.get('acked', 0)} 道，"
        f"丢失 {rec.get('lost', 0)}，重复 {rec.get('duplicates', 0)}，"
        f"序号不符 {rec.get('unexpected', 0)}"
    )
    return "\n".join(lines)


def _baseline_text(block: dict[str, Any]) -> str:
    parts = [f"{k} {v}" for k, v in block.items() if not isinstance(v, dict)]
    return "，".join(parts)


COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#57606a", "#bf3989")


def svg_lines(
    title: str,
    series: list[tuple[str, list[tuple[float, float | None]]]],
    unit: str,
    width: int = 760,
    height: int = 230,
) -> str:
    points = [(x, y) for _, pts in series for x, y in pts if y is not None]
    if not points:
        return f"<p>{html_lib.escape(title)}：无数据</p>"
    left, right, top, bottom = 56, 16, 28, 30
    x_max = max(x for x, _ in points) or 1.0
    y_max = max(y for _, y in points) * 1.1 or 1.0

    def sx(x: float) -> float:
        return left + (width - left - right) * x / x_max

    def sy(y: float) -> float:
        return height - bottom - (height - top - bottom) * y / y_max

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html_lib.escape(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="bold">'
        f"{html_lib.escape(title)}</text>",
    ]
    for i in range(5):
        value = y_max * i / 4
        y = sy(value)
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_tick(value)}</text>"
        )
    for i in range(6):
        x = x_max * i / 5
        out.append(
            f'<text x="{sx(x):.1f}" y="{height - 12}" font-size="10" text-anchor="middle">'
            f"{x:.0f}s</text>"
        )
    out.append(
        f'<text x="8" y="{top + 4}" font-size="10" fill="#555">{html_lib.escape(unit)}</text>'
    )
    for n, (name, pts) in enumerate(series):
        colour = COLOURS[n % len(COLOURS)]
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts if y is not None)
        if path:
            out.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="1.6" points="{path}"/>'
            )
        out.append(
            f'<text x="{width - right - 150}" y="{top + 14 * n + 4}" font-size="11" '
            f'fill="{colour}">■ {html_lib.escape(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def svg_bars(title: str, items: list[tuple[str, float]], width: int = 760) -> str:
    if not items:
        return f"<p>{html_lib.escape(title)}：无</p>"
    row, left = 20, 260
    height = 30 + row * len(items)
    top = max(v for _, v in items) or 1
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html_lib.escape(title)}">',
        f'<text x="4" y="16" font-size="13" font-weight="bold">{html_lib.escape(title)}</text>',
    ]
    for n, (label, value) in enumerate(items):
        y = 26 + n * row
        w = (width - left - 60) * value / top
        out.append(
            f'<text x="{left - 6}" y="{y + 13}" font-size="11" text-anchor="end">'
            f"{html_lib.escape(label)}</text>"
            f'<rect x="{left}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="#d1242f"/>'
            f'<text x="{left + w + 4:.1f}" y="{y + 13}" font-size="11">{value:g}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _tick(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def html(report: dict[str, Any]) -> str:
    s = report["series"]
    samples = s["samples"]
    labels = sorted({label for x in samples for label in x["rss"]})
    charts = [
        svg_lines(
            "同时在线会话 / sessions over time",
            [
                ("客户端打开的连接", [(t, float(n)) for t, n in s["sessions"]]),
                ("hall:live（服务器）", [(t, float(n)) for t, n in s["live"]]),
            ],
            "sessions",
        ),
        svg_lines(
            "答案确认延迟 / answer-ack latency",
            [(q, [(b["t"], b[q]) for b in s["acks"]]) for q in ("p50", "p95", "p99")],
            "ms",
        ),
        svg_lines(
            "每秒确认的答案 / answers acknowledged per second",
            [("acks/s", [(b["t"], b["count"] / BUCKET) for b in s["acks"]])],
            "per s",
        ),
        svg_lines(
            "人脸识别往返 / face-check turnaround",
            [(q, [(b["t"], b[q]) for b in s["faces"]]) for q in ("p50", "p95", "max")],
            "ms",
        ),
        svg_lines(
            "人脸识别队列 / face queue (face:jobs)",
            [
                ("waiting", [(x["t"], x.get("face_waiting")) for x in samples]),
                ("in progress", [(x["t"], x.get("face_in_progress")) for x in samples]),
            ],
            "jobs",
        ),
        svg_lines(
            "CPU（每个进程）/ CPU per process",
            [(label, [(x["t"], x["cpu"].get(label)) for x in samples]) for label in labels]
            + [("machine (of 100)", [(x["t"], x.get("machine_cpu")) for x in samples])],
            "% of one core",
        ),
        svg_lines(
            "内存（每个进程）/ RSS per process",
            [(label, [(x["t"], x["rss"].get(label)) for x in samples]) for label in labels],
            "MiB",
        ),
        svg_bars(
            "错误（按类型）/ errors by kind",
            [(k, float(v)) for k, v in report["figures"]["errors"].items()],
        ),
    ]
    rec = report["reconciliation"]
    verdict = "通过 / passed" if rec.get("ok") else "失败 / FAILED"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>考场压力测试报告 / exam hall load test</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5rem; max-width: 60rem; color: #1f2328 }}
pre {{ background: #f6f8fa; padding: .8rem; white-space: pre-wrap }}
svg {{ display: block; margin: 1rem 0; background: #fff; border: 1px solid #eee }}
.ok {{ color: #1a7f37 }} .bad {{ color: #d1242f }}
</style></head><body>
<h1>考场压力测试报告 / exam hall load test</h1>
<p>{html_lib.escape(report["meta"]["started"])} · {html_lib.escape(report["meta"]["command"])}</p>
<h2 class="{"ok" if rec.get("ok") else "bad"}">数据库对账 / reconciliation: {verdict}</h2>
<pre>{html_lib.escape(summary(report))}</pre>
{"".join(charts)}
</body></html>
"""
