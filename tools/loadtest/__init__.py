"""``xjdk loadtest``: an exam-window spike rehearsal against running web nodes.

1. Prepare (straight into the database and Redis, nothing through the pages): a throwaway
   period marked 【压测】 made current for the run, an institution, N physicians with one
   precomputed argon2 hash and the face encoding of obama.jpg computed once, general
   enrollments, papers (``rules.papers.generate_for_period``), attempts, and logged-in sessions
   written to the session store as a log-in writes them. The previous current period is
   named in the load-test period's name and made current again when the run ends.
2. Play a window with many simulated physicians per process (asyncio, ``HallClient`` and
   the protocol module): everyone connects within ``ramp`` seconds, passes the start check
   with real JPEG frames, answers at ``pace`` with think time, meets the random check (the
   server picks its moment between 20 % and 80 % of the attempt; the window is made to close
   soon after the run so that the moment falls inside it), hides the page now and then,
   drops and resumes (on another node when there are several), and hands in through the
   submit check. ``no_face`` inserts passing start and random checks before connecting, so
   the run measures the socket tier alone (it then skips the submit check, which the hall
   always asks for).
3. Measure the login throughput with a few real log-ins, optionally the baselines (a bare
   ``websockets`` echo server, the hall saturated, raw ``face_recognition``), reconcile every
   acknowledged answer against the database, and write the report.

The modules: ``prepare`` (the options and step 1, the period handed back, ``cleanup``),
``sim`` (step 2: the simulated physician and ``play``), ``measure`` (step 3: reconciliation,
log-ins, baselines, the server processes), ``report`` (what was measured and how it is shown)
and ``runner`` (``run``, ``save``, ``main``). The names used elsewhere are re-exported here.
"""

from __future__ import annotations

from tools.loadtest.measure import reconcile
from tools.loadtest.prepare import MARK, Options, cleanup
from tools.loadtest.runner import Fault, main, run, save

__all__ = ["MARK", "Fault", "Options", "cleanup", "main", "reconcile", "run", "save"]
