"""Face checks: the wire between web processes and face workers (jobs), the analysis the
workers run (analysis), the live challenge (challenge), the client the web side calls
(client) and the worker processes (worker). Nothing here imports Starlette or the ORM
except the client, which records checks."""
