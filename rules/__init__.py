"""The rules of the domain: plain async functions that take an actor and plain values.

No Starlette here and no ``Request``: the same rule serves a page, a CLI command and a test.
Every state change goes through ``rules.transition`` (the conditional update, its audit row
and its outbox mail, in one transaction).
"""
