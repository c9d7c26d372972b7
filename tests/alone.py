"""``pytest --alone``: every test as if it were run by itself. The module's fixtures (its
database, app, workers and servers) are torn down after each test and built again for the
next, so a test that leans on data or state another test of its module left behind fails.
The session's fixtures (the embedded Redis, the migrated template) stay: each module's app
flushes Redis and copies the template anyway. Slower than a normal run; the normal run's
random order (pytest-randomly) catches most of the same mistakes."""

from __future__ import annotations

import pytest
from _pytest.runner import runtestprotocol


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--alone",
        action="store_true",
        help="tear the module's fixtures down after every test (each test as if run alone)",
    )


_ELSEWHERE = pytest.StashKey["pytest.Item | None"]()


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("alone"):
        return
    firsts: dict[str, pytest.Item] = {}
    for item in items:
        firsts.setdefault(_module(item), item)
    for item in items:
        # The first test of another module: "up next" for pytest's teardown, which then
        # ends every fixture of the module but no broader one.
        other = next((first for name, first in firsts.items() if name != _module(item)), None)
        item.stash[_ELSEWHERE] = other


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool | None:
    if not item.config.getoption("alone"):
        return None
    if nextitem is not None and _module(nextitem) == _module(item):
        nextitem = item.stash.get(_ELSEWHERE, None)
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    runtestprotocol(item, nextitem=nextitem, log=True)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
