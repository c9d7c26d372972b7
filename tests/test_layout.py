"""The layout's arrows (README, Layout), read from every application module's imports, those
inside functions included: front ends (portal, examhall) → rules → models and core; web/ is
plumbing on core and models; core is infrastructure that knows no front end, rule or tool;
the workers know no web; nothing of the platform depends on tools/ (only cli.py runs them).

``KNOWN`` lists what today's code still does against these arrows, each with the part of
issue 15 that removes it: the list only shrinks. A test fails when an import breaks an arrow
and is not listed, and when a listed import is gone (so the list cannot go stale).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from core.settings import ROOT

PACKAGES = ("core", "models", "rules", "web", "portal", "examhall", "face", "workers", "tools")
MODULES = ("asgi", "cli")  # top-level modules beside the packages
OURS = frozenset(PACKAGES + MODULES)

# Which of our packages each part may import (itself always). cli.py and tools/ may import
# anything; asgi.py anything but them.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "models": frozenset(),
    "core": frozenset({"models", "face.jobs"}),  # face.jobs: the face wire (stream names)
    "rules": frozenset({"core", "models"}),
    "web": frozenset({"core", "models"}),
    "face": frozenset({"core", "models"}),
    "workers": frozenset({"core", "models"}),
    "portal": frozenset({"rules", "web", "core", "models", "face"}),
    "examhall": frozenset({"rules", "web", "core", "models", "face"}),
    "asgi": OURS - {"tools", "cli"},
    "cli": OURS,
    "tools": OURS,
}
# Third-party packages a part must not import: rules take an actor and plain values, never a
# request; the workers and the face worker run without any web framework.
NEVER: dict[str, frozenset[str]] = {
    "core": frozenset({"starlette", "uvicorn"}),
    "rules": frozenset({"starlette", "uvicorn"}),
    "workers": frozenset({"starlette", "uvicorn"}),
    "face.worker": frozenset({"starlette", "uvicorn"}),
}
# Portal pages do not import each other: what several pages share is a rule (rules/) or web
# plumbing (web/). These portal modules are parts of pages that others may use.
PORTAL_PARTS = frozenset(
    {
        "portal.account",  # requires_info, the guard of pages that need complete info
        "portal.acting",  # actor(request): who acts, for the rules
        "portal.menus",
        "portal.exports",  # the audited .xlsx export
        "portal.audit_text",  # how the audit log reads an entry
        "portal.guide",  # the home page's 温馨提示
        "portal.physician_list",  # 考核信息查看, also under the home page's routes
        "portal.registration",  # the registration form's fields, also in 个人资料 and 更换照片
    }
)

# core/ is infrastructure; nothing else lives there.
CORE = frozenset(
    {
        "core", "core.settings", "core.db", "core.redis", "core.passwords", "core.mail",
        "core.errors", "core.idcard", "core.numbers", "core.bootstrap", "core.metrics",
        "core.logs", "core.backup", "core.presence", "core.signals", "core.clock", "core.gcpolicy",
    }
)  # fmt: skip
KNOWN_IN_CORE: dict[str, str] = {}

# No application module over about 500 lines (STYLE.md: modules stay small).
MAX_LINES = 500
KNOWN_LONG: dict[str, str] = {}

# (importer, imported): known breaks of the arrows, each with the change that removes it.
KNOWN: dict[tuple[str, str], str] = {}


def modules() -> Iterator[tuple[str, Path]]:
    for name in MODULES:
        yield name, ROOT / f"{name}.py"
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every module ``name`` imports, as a dotted name, with the line; ``from a import b``
    names ``a.b`` when that is a module of ours."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    seen: set[tuple[str, int]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        found: list[str] = []
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.append(full if is_module(full) else base)
        for target in found:
            if (target, node.lineno) not in seen:
                seen.add((target, node.lineno))
                yield target, node.lineno


def part(dotted: str) -> str:
    return dotted.split(".")[0]


def within(dotted: str, allowed: frozenset[str]) -> bool:
    return any(dotted == a or dotted.startswith(a + ".") or part(dotted) == a for a in allowed)


def breaks() -> Iterator[tuple[str, str, str]]:
    """(importer, imported, why) for every import against the arrows."""
    for name, path in modules():
        mine = part(name)
        for target, line in imports(name, path):
            top = part(target)
            where = f"{path.relative_to(ROOT)}:{line}"
            if top not in OURS:
                for key in (name, mine):
                    if top in NEVER.get(key, ()):
                        yield name, target, f"{where}: {key} never imports {top}"
                continue
            if top == mine:
                if mine == "portal" and target not in PORTAL_PARTS and target != name:
                    yield name, target, f"{where}: a portal page imports another page"
                continue
            if top == "tools" and mine not in ("cli", "tools"):
                yield name, target, f"{where}: only cli.py imports tools/"
            elif not within(target, MAY_IMPORT[mine]):
                yield name, target, f"{where}: {mine} may import {sorted(MAY_IMPORT[mine])}"


def test_imports_follow_the_arrows() -> None:
    unknown = [why for name, target, why in breaks() if (name, target) not in KNOWN]
    assert not unknown, "\n".join(unknown)


def test_known_exceptions_still_exist() -> None:
    """A part that removed an exception also removes it from ``KNOWN``."""
    found = {(name, target) for name, target, _ in breaks()}
    gone = sorted(f"{a} -> {b} ({KNOWN[a, b]})" for a, b in KNOWN if (a, b) not in found)
    assert not gone, "no longer imported, remove from KNOWN:\n" + "\n".join(gone)


def test_the_reader_sees_every_import() -> None:
    """The checks see imports inside functions and relative imports too."""
    seen = {(name, target) for name in ("cli",) for target, _ in imports(name, ROOT / "cli.py")}
    assert ("cli", "tools.loadtest") in seen  # imported inside cmd_loadtest
    assert ("cli", "tools.demo.seed") in seen
    assert within("face.jobs", MAY_IMPORT["core"])
    assert not within("face.worker", MAY_IMPORT["core"])


def test_core_is_infrastructure_only() -> None:
    found = {name for name, _ in modules() if part(name) == "core"}
    assert not found - CORE - set(KNOWN_IN_CORE), "core/ holds infrastructure only (CORE)"
    gone = set(KNOWN_IN_CORE) - found
    assert not gone, f"no longer in core/, remove from KNOWN_IN_CORE: {sorted(gone)}"


def test_modules_stay_small() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in modules()}
    long = {name for name, size in sizes.items() if size > MAX_LINES}
    assert not long - set(KNOWN_LONG), {n: sizes[n] for n in sorted(long - set(KNOWN_LONG))}
    shorter = set(KNOWN_LONG) - long
    assert not shorter, f"now at most {MAX_LINES} lines, remove from KNOWN_LONG: {sorted(shorter)}"
