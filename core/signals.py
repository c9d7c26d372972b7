"""A flag that SIGINT and SIGTERM raise, for the foreground loops of our processes."""

from __future__ import annotations

import signal


class StopFlag:
    def __init__(self) -> None:
        self.raised = False
        signal.signal(signal.SIGINT, self._raise)
        signal.signal(signal.SIGTERM, self._raise)

    def _raise(self, *_: object) -> None:
        self.raised = True

    def __call__(self) -> bool:
        return self.raised
