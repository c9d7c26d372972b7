"""The rules of the domain: plain async functions that take an actor and plain values.

No Starlette import and no ``Request``: the same rule serves a page, the CLI and a test.
Every state change goes through ``rules.transition.transition()`` with its audit row and mail.
"""
