"""What a run starts from: its options, the plain data that crosses into the generator
processes (``Seat``, ``Plan``), and the preparation straight into the database and Redis (a
throwaway period made current for the run, its institution, physicians, enrollments, papers,
attempts and logged-in sessions); the test window's timing, handing the current period back,
and ``cleanup`` of every load-test row.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from core.settings import Settings
from face import samples

MARK = "【压测】"
PASSWORD = "Loadtest2026"
PREVIOUS = re.compile(r"原当前周期 #(\d+)")


@dataclass
class Options:
    """The knobs; the defaults suit a 2-core machine running ``make run`` (≈ 7 minutes)."""

    physicians: int = 200
    ramp: float = 60.0
    duration: float = 240.0
    pace: float = 20.0
    urls: list[str] = field(default_factory=lambda: ["http://127.0.0.1:8000"])
    no_face: bool = False
    processes: int = 1
    questions: int = 100
    reconnect_share: float = 0.1
    hidden_share: float = 0.2
    revise_share: float = 0.1
    logins: int = 20
    login_storm: bool = False
    login_concurrency: int = 4
    baselines: bool = False
    baseline_clients: int = 200
    baseline_seconds: float = 15.0
    report: str = ""
    pids: list[int] = field(default_factory=list)
    seed: int = 0


@dataclass
class Seat:
    """What one simulated physician needs (it crosses process boundaries: plain data)."""

    physician_id: int
    attempt_id: int
    username: str
    cookie: str


@dataclass
class Plan:
    urls: list[str]
    t0: float
    ramp: float
    duration: float
    pace: float
    face: bool
    reconnect_share: float
    hidden_share: float
    revise_share: float
    seed: int
    login_storm: bool = False  # every physician logs in for real (argon2) before entering


@dataclass
class Prepared:
    period_id: int
    previous_current: int | None
    seats: list[Seat]
    spare: list[Seat]  # for the saturation baseline, checks already passed
    timings: dict[str, float]
    created: dict[str, Any] = field(default_factory=dict)  # what the run left in the platform


async def prepare(settings: Settings, redis: Any, options: Options) -> Prepared:
    """Everything the run needs, inserted in bulk; see the package docstring (step 1)."""
    from core.passwords import Hasher
    from models.enums import FaceReason, FaceStage
    from models.exam import Attempt, FaceCheck, Paper, Question
    from rules.papers import generate_for_period
    from tools.demo.catalogue import load_demo_questions
    from web.sessions import SessionStore

    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not await Question.exists():
        print(f"题库为空：载入演示题库 {await load_demo_questions()} 题。", flush=True)
    previous = await _previous_current()
    hasher = Hasher(settings)
    password_hash = await asyncio.to_thread(hasher.hash_sync, PASSWORD)
    hasher.close()
    encoding, photo_hash = await asyncio.to_thread(reference, settings)
    total = options.physicians + (options.baseline_clients if options.baselines else 0)
    period = await _period(options, previous)
    institution = await _institution()
    people = await _physicians(institution, total, password_hash, encoding, photo_hash)
    await _enroll(period, institution.id, people)
    timings["insert_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    await generate_for_period(period)
    timings["papers_s"] = time.perf_counter() - mark
    papers = dict(await Paper.filter(period_id=period.id).values_list("physician_id", "id"))
    await Attempt.bulk_create([Attempt(paper_id=papers[pid]) for pid, _ in people], 500)
    attempts = dict(await Attempt.filter(paper__period_id=period.id).values_list("paper_id", "id"))
    store = SessionStore(redis, settings.session_idle_seconds)
    cookies = await _sessions(store, people, institution)
    seats = [Seat(pid, attempts[papers[pid]], username, cookies[pid]) for pid, username in people]
    chosen, spare = seats[: options.physicians], seats[options.physicians :]
    waived = spare if not options.no_face else seats
    await FaceCheck.bulk_create(
        [
            FaceCheck(
                physician_id=s.physician_id,
                attempt_id=s.attempt_id,
                stage=stage,
                passed=True,
                reason=FaceReason.OK,
                worker="loadtest",
            )
            for s in waived
            for stage in (FaceStage.START, FaceStage.RANDOM)
        ],
        500,
    )
    await _make_current(period.id)
    timings["prepare_s"] = time.perf_counter() - started
    created = {
        "period": period.name,
        "institution": institution.name,
        "physicians": len(people),
        "papers": len(papers),
        "attempts": len(attempts),
        "sessions": len(cookies),
        "face_checks_waived": 2 * len(waived),
    }
    return Prepared(period.id, previous, chosen, spare, timings, created)


async def _previous_current() -> int | None:
    """The period that is current outside load tests (a crashed run's period names it)."""
    from models.period import Period

    current = await Period.filter(is_current=True).first()
    if current is None:
        return None
    if current.name.startswith(MARK):
        found = PREVIOUS.search(current.name)
        return int(found.group(1)) or None if found else None
    return current.id


def period_name(previous: int | None, now: datetime) -> str:
    """The throwaway period's name: its Beijing time, and the period to give back."""
    from web.endpoint import local_time

    return f"{MARK}考场压力测试 {local_time(now, '%m-%d %H:%M')}（原当前周期 #{previous or 0}）"


async def _period(options: Options, previous: int | None) -> Any:
    from models.enums import Phase
    from models.period import Period, PhaseWindow

    now = datetime.now(UTC)
    period = await Period.create(
        name=period_name(previous, now),
        question_count=options.questions,
        duration_minutes=60,
        rehearsal=True,  # out of every real list and figure
    )
    day = timedelta(days=1)
    spans = {
        Phase.REGISTRATION: (now - 60 * day, now - 30 * day),
        Phase.SIMPLIFIED_REVIEW: (now - 50 * day, now - 20 * day),
        Phase.TRAINING: (now - 60 * day, now - 10 * day),
        Phase.TEST: (now - timedelta(minutes=5), now + day),  # narrowed by open_window
        Phase.EVALUATION: (now + day, now + 30 * day),
        Phase.RESULTS: (now + 40 * day, now + 200 * day),
    }
    await PhaseWindow.bulk_create(
        [
            PhaseWindow(period_id=period.id, phase=ph, starts_at=a, ends_at=b)
            for ph, (a, b) in spans.items()
        ]
    )
    return period


async def open_window(period_id: int, plan: Plan) -> datetime:
    """The test window closes a little after the run, so the hall draws every random check
    inside it: a physician whose clock starts at s ≤ R + d meets it by s + 0.8 (W - s),
    before handing in at R + D - D/20 or later, when the window lasts W = R + D + D/10
    (and the start check delayed s by d < 0.35 D)."""
    from models.enums import Phase
    from models.period import PhaseWindow

    ends = datetime.fromtimestamp(plan.t0 + plan.ramp + plan.duration + tail(plan), UTC)
    await PhaseWindow.filter(period_id=period_id, phase=Phase.TEST).update(ends_at=ends)
    return ends


def tail(plan: Plan) -> float:
    """The last stretch of the run in which physicians hand in (and the window's margin)."""
    return min(30.0, plan.duration / 10)


async def _institution() -> Any:
    from models.enums import OrgKind
    from models.org import County, Organisation, Prefecture

    name = f"{MARK}考场压力测试医院"
    found = await Organisation.get_or_none(name=name, kind=OrgKind.INSTITUTION)
    if found:
        if not found.rehearsal:  # made before the flag existed
            await Organisation.filter(id=found.id).update(rehearsal=True)
        return found
    prefecture = await Prefecture.get(code="650100")
    county = await County.filter(prefecture_id=prefecture.id).order_by("code").first()
    assert county is not None
    return await Organisation.create(
        kind=OrgKind.INSTITUTION,
        rehearsal=True,
        name=name,
        prefecture_id=prefecture.id,
        county_id=county.id,
        org_type="综合医院",
    )


async def _physicians(
    institution: Any, count: int, password_hash: str, encoding: bytes, photo_hash: str
) -> list[tuple[int, str]]:
    """``count`` approved physicians of the load-test institution: (physician id, username)."""
    from core.idcard import make_id_number, parse_id_number
    from models.enums import RegistrationStatus, Role
    from models.org import Account
    from models.physician import Physician

    taken = set(await Account.filter(username__startswith="65").values_list("username", flat=True))
    numbers: list[str] = []
    for n in itertools.count():
        if len(numbers) == count:
            break
        birth = date(1970, 1, 1) + timedelta(days=n // 100)
        number = make_id_number("650102", birth, 900 + n % 100)
        if number not in taken:
            numbers.append(number)
    await Account.bulk_create(
        [
            Account(
                username=number,
                role=Role.PHYSICIAN,
                password_hash=password_hash,
                display_name=f"压测医师{i:05d}",
                email=f"lt{number}@loadtest.invalid",
            )
            for i, number in enumerate(numbers)
        ],
        500,
    )
    accounts = await _ids(Account, "username", numbers)
    people = []
    for i, number in enumerate(numbers):
        parsed = parse_id_number(number)
        people.append(
            Physician(
                account_id=accounts[number],
                rehearsal=True,
                name=f"压测医师{i:05d}",
                id_number=number,
                sex=parsed.sex,
                birth_date=parsed.birth_date,
                prefecture_id=institution.prefecture_id,
                county_id=institution.county_id,
                institution_id=institution.id,
                practice_category="临床",
                practice_scope="内科专业",
                licence_number=f"LT{i:08d}",
                email=f"lt{number}@loadtest.invalid",
                mobile="13900000000",
                face_encoding=encoding,
                photo_hash=photo_hash,
                registration_status=RegistrationStatus.APPROVED,
            )
        )
    await Physician.bulk_create(people, 500)
    ids = await _ids(Physician, "id_number", numbers)
    return [(ids[n], n) for n in numbers]


async def _ids(model: Any, key: str, values: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for i in range(0, len(values), 500):
        rows = await model.filter(**{f"{key}__in": values[i : i + 500]}).values_list(key, "id")
        found.update(dict(rows))
    return found


async def _enroll(period: Any, institution_id: int, people: list[tuple[int, str]]) -> None:
    from models.enums import EnrollmentStatus, Procedure
    from models.period import Enrollment

    await Enrollment.bulk_create(
        [
            Enrollment(
                period_id=period.id,
                physician_id=pid,
                institution_id=institution_id,
                procedure=Procedure.GENERAL,
                status=EnrollmentStatus.SUBMITTED,
            )
            for pid, _ in people
        ],
        500,
    )


async def _sessions(store: Any, people: list[tuple[int, str]], institution: Any) -> dict[int, str]:
    """A logged-in session per physician, written as ``portal.auth`` writes a log-in."""
    from models.enums import Role
    from models.org import Account
    from web.endpoint import CurrentUser
    from web.sessions import COOKIE, Session

    accounts = await _ids(Account, "username", [u for _, u in people])
    cookies: dict[int, str] = {}

    async def one(pid: int, username: str, n: int) -> None:
        session = Session(secrets.token_urlsafe(32), {}, is_new=True)
        user = CurrentUser(
            account_id=accounts[username],
            username=username,
            role=Role.PHYSICIAN,
            display_name=f"压测医师{n:05d}",
            organisation_id=institution.id,
            prefecture_id=institution.prefecture_id,
            physician_id=pid,
        )
        session.login(user.session_values())
        await store.save(session)
        cookies[pid] = f"{COOKIE}={session.id}"

    for i in range(0, len(people), 200):
        await asyncio.gather(
            *(one(pid, u, i + n) for n, (pid, u) in enumerate(people[i : i + 200]))
        )
    return cookies


def reference(settings: Settings) -> tuple[bytes, str]:
    """The encoding and face hash of the registered photo every simulated physician shares:
    the clip's frontal frame, whose live bursts the simulated pages send (face/samples.py)."""
    from face.analysis import analyse_photo
    from face.jobs import Thresholds

    outcome = analyse_photo(samples.registration_photo(), Thresholds.from_settings(settings))
    assert outcome.passed, outcome
    return outcome.encoding, outcome.photo_hash


async def _make_current(period_id: int | None) -> None:
    """Exactly one current period."""
    from models.period import Period

    async with in_transaction():
        await Period.filter(is_current=True).update(is_current=False)
        if period_id:
            await Period.filter(id=period_id).update(is_current=True)


async def restore_current(previous: int | None) -> None:
    from models.period import Period

    current = await Period.filter(is_current=True).first()
    if current is not None and current.name.startswith(MARK):
        await _make_current(previous)


async def cleanup(redis: Any) -> dict[str, int]:
    """Remove every load-test row (periods, institution, physicians, accounts, their audit
    entries and sessions, live-state keys) and make the previous period current again."""
    from models.exam import Attempt
    from models.ops import AuditLog
    from models.org import Account, Organisation
    from models.period import Period
    from models.physician import Physician
    from web.sessions import SessionStore

    await restore_current(await _previous_current())
    periods = await Period.filter(name__startswith=MARK).values_list("id", flat=True)
    attempts = await Attempt.filter(paper__period_id__in=list(periods)).values_list("id", flat=True)
    orgs = await Organisation.filter(name__startswith=MARK).values_list("id", flat=True)
    rows = await Physician.filter(institution_id__in=list(orgs)).values("account_id")
    accounts = [int(r["account_id"]) for r in rows]
    store = SessionStore(redis, 60)
    for account_id in accounts:
        await store.end_all(account_id)
    for i in range(0, len(attempts), 500):
        chunk = attempts[i : i + 500]
        await redis.delete(*[f"hall:s:{a}" for a in chunk])
        await redis.zrem("hall:live", *[str(a) for a in chunk])
    async with in_transaction():
        await Period.filter(id__in=list(periods)).delete()  # papers, attempts, answers…
        for i in range(0, len(accounts), 500):
            ids = accounts[i : i + 500]
            await AuditLog.filter(actor_id__in=ids).delete()
            await Account.filter(id__in=ids).delete()  # and their physicians
        await Organisation.filter(id__in=list(orgs)).delete()
    return {"periods": len(periods), "physicians": len(accounts), "attempts": len(attempts)}
