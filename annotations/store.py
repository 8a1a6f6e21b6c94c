"""The ratings store's service API: what the app, the CLI and the evaluation code call.

Every method that reads or writes someone's ratings takes the acting rater (``actor``, a ``RaterView``
from ``authenticate``) and checks the role in the database: a rater reads and changes only their own
ratings; only admins create raters, import and assign campaigns, export and summarise. Every write
takes a client idempotency key (unique in the database), so a retried submit returns the original
instead of writing twice.

>>> store = Store("sqlite://")
>>> admin = store.create_rater("ada", "correct horse", role="admin")
>>> admin.role, len(admin.pseudonym)
('admin', 10)
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import hmac
import io
import json
import random
import re
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from annotations import db
from annotations.exports import ExportResult
from annotations.exports import export as write_export
from annotations.metrics import METRIC_NAMES, validate_scores
from annotations.models import (
    CAMPAIGN_KINDS,
    CHOICES,
    KEY_LENGTH,
    ROLES,
    Assignment,
    Campaign,
    CampaignItem,
    Case,
    Interpretation,
    Preference,
    Rater,
    Rating,
    RatingVersion,
    utcnow,
)
from annotations.signal_codec import ecg_from_bytes, signal_bytes
from annotations.summary import summarize
from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.prompts import DEFAULT_QUESTION
from gem_core.settings import Settings, get_settings

WRITE_ATTEMPTS = 8  # a write that loses a race (unique key taken, database busy) is re-run this often
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}  # ~16 MiB, ~50 ms per hash
USERNAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MIN_PASSWORD = 8
MAX_KEPT_MS = 120_000  # samples of longer records (Holter) are not copied into the store; the source is kept
# Metadata keys that describe the recording, not the patient; anything else needs store_patient_fields.
SAFE_METADATA_KEYS = frozenset(
    {
        "source",
        "source_format",
        "source_file",
        "units",
        "fs_original",
        "len_original",
        "original_leads",
        "derived_leads",
        "dropped_channels",
        "nan_count",
        "resampled",
        "cropped",
        "padded",
        "heart_rate_bpm",
        "dataset",
        "labels",
        "label_system",
        "warnings",
    }
)


class AccessDenied(GemError, PermissionError):
    """The acting rater may not do this (another rater's rating, or an admin-only action)."""


@dataclass(frozen=True)
class RaterView:
    id: int
    pseudonym: str
    username: str
    display_name: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_guest(self) -> bool:
        """An anonymous rater (``GEM_ALLOW_ANONYMOUS_RATING``): never given campaign work."""
        return self.username.startswith(GUEST_PREFIX)


GUEST_PREFIX = "anon-"  # usernames of anonymous raters (one per browser, see app.auth)

# Whoever runs the CLI on the database file holds the data anyway: the CLI acts as this administrator.
LOCAL_ADMIN = RaterView(
    id=0, pseudonym="local", username="local", display_name="local operator", role="admin"
)


@dataclass(frozen=True)
class RatingView:
    id: int
    rater_id: int
    interpretation_id: int
    scores: dict[str, int]
    comment: str
    seconds: float | None
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class PreferenceView:
    id: int
    rater_id: int
    case_id: int
    interpretation_a_id: int
    interpretation_b_id: int
    choice: str
    rationale: str
    seconds: float | None
    created_at: datetime


@dataclass(frozen=True)
class CampaignView:
    id: int
    name: str
    guidelines_md: str
    kind: str
    k_raters: int
    blind_names: dict[str, str]
    n_items: int


@dataclass(frozen=True)
class ItemView:
    """One campaign item as a rater sees it: blind model names, in this rater's own order."""

    assignment_id: int
    campaign_id: int
    item_id: int
    case_id: int
    index: int  # 1-based position in this rater's queue
    total: int
    guidelines_md: str
    interpretations: list[dict] = field(default_factory=list)  # {id, label, question, text}


# ----------------------------------------------------------------------------------------------------------
# passwords (hashlib.scrypt: memory-hard, in the standard library)


def hash_password(password: str) -> str:
    """``scrypt$n$r$p$salt$hash`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return kind == "scrypt" and hmac.compare_digest(got, expected)


# ----------------------------------------------------------------------------------------------------------
# the accounts file (GEM_AUTH_FILE): CSV, one reader for the app's login and ``Store.sync_auth_file``

AUTH_FIELDS = ("username", "password_hash", "role", "display_name")
_AUTH_HOWTO = "make lines with `python -m annotations add-user FILE USERNAME [--role admin]`"


@dataclass(frozen=True)
class AuthAccount:
    """One line of a GEM_AUTH_FILE."""

    username: str
    password_hash: str  # scrypt$n$r$p$salt$hash (``hash_password``); never a plain password
    role: str = "rater"
    display_name: str = ""


def read_auth_file(path: str | Path) -> dict[str, AuthAccount]:
    """The accounts of a GEM_AUTH_FILE, by username.

    CSV with the header ``username,password_hash,role,display_name`` (``role`` rater|admin, default
    rater; ``display_name`` optional); blank lines and lines starting with ``#`` are skipped. Write it
    with ``python -m annotations add-user FILE USERNAME [--role admin]`` (``add_auth_user``), or put a
    hash from ``python -m annotations hash-password`` in the ``password_hash`` column. Plain passwords,
    unknown roles, bad usernames and repeated usernames are a ``GemError`` naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise GemError(f"GEM_AUTH_FILE {path} does not exist; {_AUTH_HOWTO}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise GemError(f"GEM_AUTH_FILE {path} cannot be read ({err})") from None
    numbered = [(n, line) for n, line in enumerate(text.splitlines(), start=1)]
    numbered = [(n, line) for n, line in numbered if line.strip() and not line.lstrip().startswith("#")]
    if not numbered:
        return {}
    header_n, header_line = numbered[0]
    header = [h.strip() for h in next(csv.reader([header_line]))]
    if header[:2] != list(AUTH_FIELDS[:2]) or not set(header) <= set(AUTH_FIELDS):
        raise GemError(
            f"GEM_AUTH_FILE {path} line {header_n}: the first line must be the header "
            f"{','.join(AUTH_FIELDS)} (a CSV file; {_AUTH_HOWTO})"
        )
    accounts: dict[str, AuthAccount] = {}
    for n, line in numbered[1:]:
        row = dict(zip(header, (v.strip() for v in next(csv.reader([line]))), strict=False))
        where = f"GEM_AUTH_FILE {path} line {n}"
        username, hashed = row.get("username", ""), row.get("password_hash", "")
        role = row.get("role") or "rater"
        if not USERNAME_RE.match(username):
            raise GemError(f"{where}: username must be 1-64 letters, digits or . _ @ -")
        if not hashed.startswith("scrypt$") or hashed.count("$") != 5:
            raise GemError(
                f"{where}: password_hash must be a scrypt hash, not a password ({_AUTH_HOWTO}, or a hash "
                "with `python -m annotations hash-password`)"
            )
        if role not in ROLES:
            raise GemError(f"{where}: role must be one of {', '.join(ROLES)}; got {role!r}")
        if username in accounts:
            raise GemError(f"{where}: {username} is listed twice")
        accounts[username] = AuthAccount(username, hashed, role, row.get("display_name") or username)
    return accounts


def add_auth_user(
    path: str | Path, username: str, password: str, role: str = "rater", display_name: str = ""
) -> None:
    """Add (or replace) one account in a GEM_AUTH_FILE, storing only the scrypt hash of the password."""
    path = Path(path)
    if not USERNAME_RE.match(username or ""):
        raise GemError("username must be 1-64 letters, digits or . _ @ -")
    if len(password) < MIN_PASSWORD:
        raise GemError(f"password must be at least {MIN_PASSWORD} characters")
    if role not in ROLES:
        raise GemError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    accounts = read_auth_file(path) if path.is_file() else {}
    accounts[username] = AuthAccount(username, hash_password(password), role, display_name or username)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(AUTH_FIELDS)
    for a in accounts.values():
        writer.writerow([a.username, a.password_hash, a.role, a.display_name])
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(out.getvalue(), encoding="utf-8")
    tmp.replace(path)  # never a half-written accounts file


# ----------------------------------------------------------------------------------------------------------
# helpers


def _jsonable(value):
    """Plain JSON types for numpy scalars/arrays, paths and anything else (as text)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _check_key(key) -> str:
    if not isinstance(key, str) or not key.strip():
        raise GemError("every write needs a client idempotency key (a non-empty string, e.g. a UUID)")
    if len(key) > KEY_LENGTH:
        raise GemError(f"idempotency key is longer than {KEY_LENGTH} characters; use a UUID")
    return key


def _check_seconds(seconds) -> float | None:
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds < 7 * 86_400:
        raise GemError(f"seconds spent must be a number between 0 and a week; got {seconds!r}")
    return float(seconds)


def _auto_key(kind: str, *parts) -> str:
    return f"{kind}:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:48]


def _rater_view(r: Rater) -> RaterView:
    return RaterView(r.id, r.pseudonym, r.username, r.display_name, r.role)


def _rating_view(
    r: Rating | RatingVersion, rater_id: int, interpretation_id: int, updated_at=None
) -> RatingView:
    return RatingView(
        id=r.rating_id if isinstance(r, RatingVersion) else r.id,
        rater_id=rater_id,
        interpretation_id=interpretation_id,
        scores=r.scores(),
        comment=r.comment,
        seconds=r.seconds,
        version=r.version,
        created_at=r.created_at,
        updated_at=updated_at or getattr(r, "updated_at", r.created_at),
    )


def _preference_view(p: Preference) -> PreferenceView:
    return PreferenceView(
        p.id,
        p.rater_id,
        p.case_id,
        p.interpretation_a_id,
        p.interpretation_b_id,
        p.choice,
        p.rationale,
        p.seconds,
        p.created_at,
    )


def case_metadata(ecg: ECG, settings: Settings) -> dict:
    """What the store keeps about a recording: technical fields; patient fields only when allowed."""
    meta = {"fs": ecg.fs, "n_samples": ecg.n_samples, "duration_ms": ecg.duration_ms}
    for source in (ecg.report, ecg.metadata):
        meta.update({k: v for k, v in source.items() if k in SAFE_METADATA_KEYS})
    if settings.store_patient_fields:
        meta["patient"] = dict(ecg.metadata)
    return _jsonable(meta)


def blind_label(index: int) -> str:
    """``Model A`` ... ``Model Z``, then ``Model AA`` ...

    >>> blind_label(0), blind_label(25), blind_label(26)
    ('Model A', 'Model Z', 'Model AA')
    """
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return f"Model {letters}"


def order_key(campaign_id: int, pseudonym: str, item_id: int) -> int:
    """A rater's deterministic pseudo-random position for an item (seeded by rater and campaign)."""
    digest = hashlib.sha256(f"{campaign_id}:{pseudonym}:{item_id}".encode()).hexdigest()
    return int(digest[:7], 16)  # 28 bits: fits a 32-bit INTEGER column


def _is_busy(err: OperationalError) -> bool:
    text = str(err.orig).lower()
    return "locked" in text or "busy" in text or "deadlock" in text or "could not serialize" in text


# Statements of the rating hot path, built once (SQLAlchemy then reuses their compiled form).
_VERSION_BY_KEY = (
    select(RatingVersion.__table__, Rating.rater_id, Rating.interpretation_id)
    .join(Rating, Rating.id == RatingVersion.rating_id)
    .where(RatingVersion.idempotency_key == bindparam("key"))
)
_CURRENT_RATING = select(Rating.id, Rating.version, Rating.created_at).where(
    Rating.rater_id == bindparam("rater"), Rating.interpretation_id == bindparam("interp")
)
_RATER_BY_ID = select(Rater.id, Rater.pseudonym, Rater.username, Rater.display_name, Rater.role).where(
    Rater.id == bindparam("rid")
)
_INTERPRETATION_EXISTS = select(Interpretation.id).where(Interpretation.id == bindparam("interp"))
_UPDATE_RATING = (
    update(Rating.__table__)
    .where(Rating.__table__.c.id == bindparam("rid"))
    .values({c: bindparam(c) for c in ("version", "updated_at", "comment", "seconds", *METRIC_NAMES)})
)


# ----------------------------------------------------------------------------------------------------------


class Store:
    """The ratings store on ``url`` (default: ``GEM_DB_URL`` or a SQLite file under ``GEM_DATA_DIR``).

    The schema is brought to the newest migration on open (``migrate=False`` to skip).
    """

    def __init__(self, url: str | None = None, settings: Settings | None = None, migrate: bool = True):
        self.settings = settings or get_settings()
        self.url = db.resolve_url(url, self.settings)
        self.engine = db.make_engine(self.url)
        if migrate:
            try:
                db.upgrade(self.engine)
            except DBAPIError as err:  # unreachable server, wrong password, a file that is not a database
                raise GemError(f"cannot open the ratings database {self.url!r}: {err.orig}") from None
        self._read = sessionmaker(bind=self.engine, expire_on_commit=False)
        self._write_factory = sessionmaker(bind=db.writer(self.engine), expire_on_commit=False)
        self._write_lock = db.write_lock(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- sessions ------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """A session in one transaction, committed on success and rolled back on any error.

        Write sessions take the database's write lock at ``BEGIN`` on SQLite.
        """
        factory = self._write_factory if write else self._read
        with factory() as s, s.begin():
            yield s

    def _write(self, fn: Callable[[Session], object]):
        """Run ``fn(session)`` in a write transaction, re-running it when it loses a race.

        A concurrent writer may take a unique key first (``IntegrityError``; the re-run then finds the
        row and returns it) or hold the lock past the busy timeout (``OperationalError``).
        """
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self._write_lock, self.session(write=True) as s:
                    return fn(s)
            except IntegrityError:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
            except OperationalError as err:
                if not _is_busy(err) or attempt == WRITE_ATTEMPTS - 1:
                    raise GemError(
                        f"the ratings database is busy or unavailable ({err.orig}); try again"
                    ) from None
            time.sleep(min(0.5, 0.01 * 2**attempt) * (0.5 + random.random()))  # jittered backoff
        raise AssertionError("unreachable")

    # -- roles ---------------------------------------------------------------------------------------------

    def _actor(self, s: Session, actor: RaterView | None) -> RaterView:
        """The actor as the database knows it now (role changes take effect at once)."""
        if actor is None:
            raise AccessDenied("sign in first: this needs a rater account")
        if actor == LOCAL_ADMIN:
            return actor
        row = s.execute(_RATER_BY_ID, {"rid": actor.id}).first()
        if row is None or row.pseudonym != actor.pseudonym:
            raise AccessDenied("unknown rater; sign in again")
        return RaterView(*row)

    def _admin(self, s: Session, actor: RaterView | None, what: str) -> RaterView:
        who = self._actor(s, actor)
        if not who.is_admin:
            raise AccessDenied(f"only administrators may {what}; ask an admin")
        return who

    def local_admin(self) -> RaterView:
        """The administrator the CLI acts as (whoever can open the database file)."""
        return LOCAL_ADMIN

    # -- raters --------------------------------------------------------------------------------------------

    def create_rater(
        self,
        username: str,
        password: str,
        *,
        role: str = "rater",
        display_name: str = "",
        actor: RaterView | None = None,
        idempotency_key: str | None = None,
    ) -> RaterView:
        """A new account. The very first account needs no actor; after that only admins create them."""
        if not isinstance(username, str) or not USERNAME_RE.match(username):
            raise GemError("username must be 1-64 letters, digits or . _ @ -")
        if not isinstance(password, str) or len(password) < MIN_PASSWORD:
            raise GemError(f"password must be at least {MIN_PASSWORD} characters")
        if role not in ROLES:
            raise GemError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
        key = _check_key(idempotency_key) if idempotency_key is not None else None
        hashed = hash_password(password)  # slow on purpose: outside the write lock

        def write(s: Session) -> RaterView:
            if key is not None:
                done = s.scalar(select(Rater).where(Rater.idempotency_key == key))
                if done is not None:
                    return _rater_view(done)
            if actor is None and s.scalar(select(func.count(Rater.id))):
                raise AccessDenied("only administrators may create accounts; ask an admin")
            if actor is not None:
                self._admin(s, actor, "create accounts")
            if s.scalar(select(Rater.id).where(Rater.username == username)) is not None:
                raise GemError(f"username {username!r} is taken; choose another")
            row = Rater(
                pseudonym="R-" + secrets.token_hex(4),
                username=username,
                display_name=display_name or username,
                role=role,
                password_hash=hashed,
                idempotency_key=key,
            )
            s.add(row)
            s.flush()
            return _rater_view(row)

        return self._write(write)

    def authenticate(self, username: str, password: str) -> RaterView:
        """The rater with these credentials; one ``GemError`` for unknown user and wrong password alike."""
        with self.session() as s:
            row = s.scalar(select(Rater).where(Rater.username == str(username)))
        stored = row.password_hash if row is not None else hash_password("timing-equaliser")
        if not verify_password(str(password), stored) or row is None:
            raise GemError("unknown username or wrong password")
        return _rater_view(row)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Store:
        """The deployment's store (``GEM_DB_URL`` or the SQLite file under ``GEM_DATA_DIR``)."""
        return cls(settings=settings or get_settings())

    def get_rater(self, username: str) -> RaterView | None:
        with self.session() as s:
            row = s.scalar(select(Rater).where(Rater.username == str(username)))
            return None if row is None else _rater_view(row)

    def verify_password(self, username: str, password: str) -> bool:
        """True when the credentials are right (the ``auth=`` check of a login form)."""
        try:
            self.authenticate(username, password)
        except GemError:
            return False
        return True

    def ensure_rater(self, username: str, display_name: str = "") -> RaterView:
        """The rater account for an externally signed-in user (e.g. ``hf:alice``), created on first use.

        Such accounts have the rater role and no usable password (they sign in elsewhere).
        """
        if not isinstance(username, str) or not 1 <= len(username) <= 64:
            raise GemError("username must be 1-64 characters")

        def write(s: Session) -> RaterView:
            row = s.scalar(select(Rater).where(Rater.username == username))
            if row is None:
                row = Rater(
                    pseudonym="R-" + secrets.token_hex(4),
                    username=username,
                    display_name=display_name or username,
                    role="rater",
                    password_hash="!external",  # never matches: verify_password needs the scrypt format
                )
                s.add(row)
                s.flush()
            return _rater_view(row)

        return self._write(write)

    def purge_guests(self, actor: RaterView, unused_for_s: float) -> int:
        """Delete anonymous raters created more than ``unused_for_s`` ago with no rating or choice.

        Returns how many were deleted (admins only; the app runs it as the local operator).
        """
        from datetime import timedelta

        def write(s: Session) -> int:
            self._admin(s, actor, "purge anonymous raters")
            cutoff = utcnow() - timedelta(seconds=unused_for_s)
            used = select(Rating.rater_id).union(select(Preference.rater_id), select(Assignment.rater_id))
            stale = select(Rater.id).where(
                Rater.username.startswith(GUEST_PREFIX), Rater.created_at < cutoff, Rater.id.not_in(used)
            )
            ids = list(s.scalars(stale))
            if ids:
                s.execute(delete(Rater).where(Rater.id.in_(ids)))
            return len(ids)

        return self._write(write)

    def sync_auth_file(self, path: str | Path) -> int:
        """Create or update the accounts of a GEM_AUTH_FILE (``read_auth_file``); returns how many changed.

        Role, password hash and display name follow the file; accounts not in the file are left alone.
        """
        accounts = list(read_auth_file(path).values())

        def write(s: Session) -> int:
            changed = 0
            for a in accounts:
                row = s.scalar(select(Rater).where(Rater.username == a.username))
                if row is None:
                    s.add(
                        Rater(
                            pseudonym="R-" + secrets.token_hex(4),
                            username=a.username,
                            display_name=a.display_name,
                            role=a.role,
                            password_hash=a.password_hash,
                        )
                    )
                elif (row.role, row.password_hash, row.display_name) != (
                    a.role,
                    a.password_hash,
                    a.display_name,
                ):
                    row.role, row.password_hash, row.display_name = a.role, a.password_hash, a.display_name
                else:
                    continue
                changed += 1
            return changed

        return self._write(write)

    def raters(self, actor: RaterView) -> list[RaterView]:
        with self.session() as s:
            self._admin(s, actor, "list accounts")
            return [_rater_view(r) for r in s.scalars(select(Rater).order_by(Rater.id))]

    # -- cases and interpretations -------------------------------------------------------------------------

    def add_case(self, ecg: ECG, source: str = "", keep_signal: bool = True) -> int:
        """Store a recording (once per content hash) and return its case id.

        Only de-identified metadata is kept (see ``SAFE_METADATA_KEYS``) unless the deployment sets
        ``GEM_STORE_PATIENT_FIELDS``; the samples of records up to 2 minutes are kept (compressed) so
        exports can re-render them.
        """
        if not isinstance(ecg, ECG):
            raise GemError("add_case needs an ECG (load it with gem_core.ecg.load_ecg)")
        row = self._case_row(ecg, source, keep_signal)
        return self._write(lambda s: self._ensure_case(s, row))

    def _case_row(self, ecg: ECG, source: str, keep_signal: bool) -> dict:
        return {
            "content_hash": ecg.content_hash,
            "source": str(source)[:512],
            "record_id": str(ecg.record_id)[:128],
            "fs": ecg.fs,
            "n_samples": ecg.n_samples,
            "meta": case_metadata(ecg, self.settings),
            "signal_npz": signal_bytes(ecg) if keep_signal and ecg.duration_ms <= MAX_KEPT_MS else None,
        }

    @staticmethod
    def _ensure_case(s: Session, row: dict) -> int:
        found = s.scalar(select(Case.id).where(Case.content_hash == row["content_hash"]))
        if found is not None:
            return found
        case = Case(**row)
        s.add(case)
        s.flush()
        return case.id

    def add_interpretation(
        self,
        case_id: int,
        model: str,
        text: str,
        *,
        model_version: str = "",
        question: str = DEFAULT_QUESTION,
        params: dict | None = None,
        grounding: dict | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        """Store one model output for a case; the same output stored twice keeps one row."""
        row = self._interpretation_row(
            case_id, model, text, model_version, question, params, grounding, idempotency_key
        )

        def write(s: Session) -> int:
            if s.get(Case, case_id) is None:
                raise GemError(f"case {case_id} does not exist; add the ECG first (add_case)")
            return self._ensure_interpretation(s, row)

        return self._write(write)

    @staticmethod
    def _interpretation_row(case_id, model, text, model_version, question, params, grounding, key) -> dict:
        if not isinstance(text, str) or not text.strip():
            raise GemError("an interpretation needs non-empty text")
        if not isinstance(model, str) or not model.strip():
            raise GemError("an interpretation needs the model (backend) name")
        params = _jsonable(params or {})
        key = (
            _check_key(key)
            if key is not None
            else _auto_key("interp", case_id, model, model_version, question, params, text)
        )
        return {
            "case_id": case_id,
            "model": model[:128],
            "model_version": str(model_version)[:128],
            "question": question,
            "params": params,
            "text": text,
            "grounding": _jsonable(grounding) if grounding is not None else None,
            "idempotency_key": key,
        }

    @staticmethod
    def _ensure_interpretation(s: Session, row: dict) -> int:
        found = s.scalar(
            select(Interpretation.id).where(Interpretation.idempotency_key == row["idempotency_key"])
        )
        if found is not None:
            return found
        interp = Interpretation(**row)
        s.add(interp)
        s.flush()
        return interp.id

    def interpretation(self, interpretation_id: int) -> dict:
        with self.session() as s:
            row = s.get(Interpretation, interpretation_id)
            if row is None:
                raise GemError(f"interpretation {interpretation_id} does not exist")
            return self._interpretation_dict(row)

    def case_interpretations(self, case_id: int) -> list[dict]:
        """Every stored interpretation of a case, oldest first: other backends, earlier samples and
        imported (campaign) texts of the same recording."""
        with self.session() as s:
            rows = s.scalars(
                select(Interpretation).where(Interpretation.case_id == case_id).order_by(Interpretation.id)
            ).all()
            return [self._interpretation_dict(row) for row in rows]

    @staticmethod
    def _interpretation_dict(row) -> dict:
        return {
            "id": row.id,
            "case_id": row.case_id,
            "model": row.model,
            "model_version": row.model_version,
            "question": row.question,
            "params": row.params,
            "text": row.text,
            "grounding": row.grounding,
            "created_at": row.created_at,
        }

    def case_ecg(self, case_id: int) -> ECG:
        """The stored recording of a case (``GemError`` when it was stored without its samples)."""
        with self.session() as s:
            case = s.get(Case, case_id)
            if case is None:
                raise GemError(f"case {case_id} does not exist")
            if case.signal_npz is None:
                raise GemError(
                    f"case {case_id} was stored without its samples; reload it from {case.source!r}"
                )
            return ecg_from_bytes(case.signal_npz, case.record_id)

    # -- ratings -------------------------------------------------------------------------------------------

    def submit_rating(
        self,
        actor: RaterView,
        interpretation_id: int,
        scores: dict,
        comment: str = "",
        seconds: float | None = None,
        *,
        idempotency_key: str,
        assignment_id: int | None = None,
    ) -> RatingView:
        """Create or edit the actor's rating of an interpretation; earlier versions are kept.

        Retrying with the same ``idempotency_key`` returns what the first call stored and writes
        nothing; reusing a key for different content is a ``GemError``.
        """
        key = _check_key(idempotency_key)
        scores = validate_scores(scores)
        comment = "" if comment is None else str(comment)
        seconds = _check_seconds(seconds)

        def write(s: Session) -> RatingView:
            # Core statements rather than ORM objects: this is the hot path (see bench/store.py).
            who = self._actor(s, actor)
            conn = s.connection()
            done = conn.execute(_VERSION_BY_KEY, {"key": key}).first()
            if done is not None:
                return self._replay(who, done._mapping, interpretation_id, scores, comment)
            if who == LOCAL_ADMIN:
                raise AccessDenied("the local operator cannot rate; sign in as a rater")
            now = utcnow()
            current = conn.execute(_CURRENT_RATING, {"rater": who.id, "interp": interpretation_id}).first()
            values = {"comment": comment, "seconds": seconds, **scores}
            if current is None:
                if conn.execute(_INTERPRETATION_EXISTS, {"interp": interpretation_id}).first() is None:
                    raise GemError(f"interpretation {interpretation_id} does not exist")
                version, created = 1, now
                row = {"rater_id": who.id, "interpretation_id": interpretation_id, "created_at": now}
                row |= {"updated_at": now, "idempotency_key": key, "version": 1, **values}
                rating_id = conn.execute(insert(Rating.__table__), row).inserted_primary_key[0]
            else:
                rating_id, version, created = current.id, current.version + 1, current.created_at
                conn.execute(
                    _UPDATE_RATING, {"rid": rating_id, "version": version, "updated_at": now, **values}
                )
            conn.execute(
                insert(RatingVersion.__table__),
                {
                    "rating_id": rating_id,
                    "version": version,
                    "created_at": now,
                    "idempotency_key": key,
                    **values,
                },
            )
            if assignment_id is not None:
                self._complete_if_rated(s, who, assignment_id, interpretation_id)
            return RatingView(
                rating_id, who.id, interpretation_id, scores, comment, seconds, version, created, now
            )

        return self._write(write)

    @staticmethod
    def _replay(who: RaterView, done, interpretation_id, scores, comment) -> RatingView:
        same = (
            done["rater_id"] == who.id
            and done["interpretation_id"] == interpretation_id
            and {m: done[m] for m in METRIC_NAMES} == scores
            and done["comment"] == comment
        )
        if not same:
            raise GemError("this idempotency key was already used for a different submission; use a new key")
        return RatingView(
            id=done["rating_id"],
            rater_id=done["rater_id"],
            interpretation_id=done["interpretation_id"],
            scores={m: done[m] for m in METRIC_NAMES},
            comment=done["comment"],
            seconds=done["seconds"],
            version=done["version"],
            created_at=done["created_at"],
            updated_at=done["created_at"],
        )

    def get_rating(self, actor: RaterView, rating_id: int) -> RatingView:
        """A rating by id: its own rater and admins only."""
        with self.session() as s:
            who = self._actor(s, actor)
            rating = s.get(Rating, rating_id)
            if rating is None:
                raise GemError(f"rating {rating_id} does not exist")
            if rating.rater_id != who.id and not who.is_admin:
                raise AccessDenied("you can only read your own ratings")
            return _rating_view(rating, rating.rater_id, rating.interpretation_id)

    def my_rating(self, actor: RaterView, interpretation_id: int) -> RatingView | None:
        """The actor's current rating of an interpretation, or None (to pre-fill the form)."""
        with self.session() as s:
            who = self._actor(s, actor)
            rating = s.scalar(
                select(Rating).where(Rating.rater_id == who.id, Rating.interpretation_id == interpretation_id)
            )
            return None if rating is None else _rating_view(rating, who.id, interpretation_id)

    def my_ratings(self, actor: RaterView) -> list[RatingView]:
        with self.session() as s:
            who = self._actor(s, actor)
            rows = s.scalars(select(Rating).where(Rating.rater_id == who.id).order_by(Rating.id))
            return [_rating_view(r, r.rater_id, r.interpretation_id) for r in rows]

    def rating_history(self, actor: RaterView, rating_id: int) -> list[RatingView]:
        """Every version of a rating, oldest first (own rater and admins only)."""
        current = self.get_rating(actor, rating_id)
        with self.session() as s:
            rows = s.scalars(
                select(RatingVersion)
                .where(RatingVersion.rating_id == rating_id)
                .order_by(RatingVersion.version)
            )
            return [
                _rating_view(v, current.rater_id, current.interpretation_id, updated_at=v.created_at)
                for v in rows
            ]

    # -- preferences ---------------------------------------------------------------------------------------

    def submit_preference(
        self,
        actor: RaterView,
        interpretation_a_id: int,
        interpretation_b_id: int,
        choice: str,
        rationale: str = "",
        seconds: float | None = None,
        *,
        idempotency_key: str,
        assignment_id: int | None = None,
    ) -> PreferenceView:
        """Record which of two interpretations of one case (A and B as shown) the rater prefers."""
        key = _check_key(idempotency_key)
        if choice not in CHOICES:
            raise GemError(f"choice must be one of {', '.join(CHOICES)}; got {choice!r}")
        if interpretation_a_id == interpretation_b_id:
            raise GemError("a preference compares two different interpretations")
        rationale = "" if rationale is None else str(rationale)
        seconds = _check_seconds(seconds)

        def write(s: Session) -> PreferenceView:
            who = self._actor(s, actor)
            done = s.scalar(select(Preference).where(Preference.idempotency_key == key))
            if done is not None:
                shown = (done.rater_id, done.interpretation_a_id, done.interpretation_b_id, done.choice)
                if shown != (who.id, interpretation_a_id, interpretation_b_id, choice):
                    raise GemError(
                        "this idempotency key was already used for a different submission; use a new key"
                    )
                return _preference_view(done)
            if who == LOCAL_ADMIN:
                raise AccessDenied("the local operator cannot give preferences; sign in as a rater")
            a, b = s.get(Interpretation, interpretation_a_id), s.get(Interpretation, interpretation_b_id)
            if a is None or b is None:
                raise GemError("both interpretations must exist")
            if a.case_id != b.case_id:
                raise GemError("a preference compares two interpretations of the same ECG")
            pref = Preference(
                rater_id=who.id,
                case_id=a.case_id,
                interpretation_a_id=a.id,
                interpretation_b_id=b.id,
                choice=choice,
                rationale=rationale,
                seconds=seconds,
                idempotency_key=key,
            )
            s.add(pref)
            if assignment_id is not None:
                assignment = self._own_assignment(s, who, assignment_id)
                item = s.get(CampaignItem, assignment.item_id)
                if not {a.id, b.id} <= set(item.interpretation_ids):
                    raise GemError("these interpretations are not part of that campaign item")
                assignment.status, assignment.updated_at = "done", utcnow()
            s.flush()
            return _preference_view(pref)

        return self._write(write)

    # -- campaigns -----------------------------------------------------------------------------------------

    def import_campaign(
        self,
        actor: RaterView,
        source: str | Path | Iterable[str],
        name: str,
        *,
        guidelines_md: str = "",
        kind: str = "rate",
        k_raters: int = 2,
        idempotency_key: str | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CampaignView:
        """Create a campaign from JSONL lines ``{case: path or sample id, interpretations: [{model, text}]}``.

        ``source`` is a file path or an iterable of lines; relative case paths are resolved against the
        file's folder. Cases load with ``gem_core.ecg.load_ecg`` (paths) or ``gem_core.samples`` (ids).
        Every line is checked and every ECG loaded before anything is written; one transaction writes
        it all. Importing the same file under the same name again returns the existing campaign.
        """
        from annotations.campaigns import parse_campaign_lines

        with self.session() as s:
            self._admin(s, actor, "import campaigns")
        if not isinstance(name, str) or not name.strip() or len(name) > 128:
            raise GemError("a campaign needs a name of 1-128 characters")
        if kind not in CAMPAIGN_KINDS:
            raise GemError(f"campaign kind must be one of {', '.join(CAMPAIGN_KINDS)}; got {kind!r}")
        if isinstance(k_raters, bool) or not isinstance(k_raters, int) or k_raters < 1:
            raise GemError(f"k raters per item must be a whole number >= 1; got {k_raters!r}")
        items, text = parse_campaign_lines(source, kind=kind, progress=progress)
        key = _check_key(idempotency_key) if idempotency_key else _auto_key("campaign", name, kind, text)
        models = list(dict.fromkeys(interp["model"] for item in items for interp in item["interpretations"]))
        blind = {model: blind_label(i) for i, model in enumerate(models)}
        case_rows = [self._case_row(item["ecg"], item["source"], True) for item in items]

        def write(s: Session) -> CampaignView:
            self._admin(s, actor, "import campaigns")
            done = s.scalar(select(Campaign).where(Campaign.idempotency_key == key))
            if done is not None:
                return self._campaign_view(s, done)
            if s.scalar(select(Campaign.id).where(Campaign.name == name)) is not None:
                raise GemError(f"a different campaign is already called {name!r}; choose another name")
            campaign = Campaign(
                name=name,
                guidelines_md=guidelines_md or "",
                kind=kind,
                k_raters=k_raters,
                blind_names=blind,
                idempotency_key=key,
            )
            s.add(campaign)
            s.flush()
            for position, (item, case_row) in enumerate(zip(items, case_rows, strict=True), start=1):
                case_id = self._ensure_case(s, case_row)
                ids = [
                    self._ensure_interpretation(
                        s,
                        self._interpretation_row(
                            case_id,
                            it["model"],
                            it["text"],
                            it.get("model_version", ""),
                            it.get("question") or item.get("question") or DEFAULT_QUESTION,
                            it.get("params"),
                            it.get("grounding"),
                            None,
                        ),
                    )
                    for it in item["interpretations"]
                ]
                s.add(
                    CampaignItem(
                        campaign_id=campaign.id, case_id=case_id, position=position, interpretation_ids=ids
                    )
                )
            s.flush()
            return self._campaign_view(s, campaign)

        return self._write(write)

    @staticmethod
    def _campaign_view(s: Session, c: Campaign) -> CampaignView:
        n = s.scalar(select(func.count(CampaignItem.id)).where(CampaignItem.campaign_id == c.id))
        return CampaignView(c.id, c.name, c.guidelines_md, c.kind, c.k_raters, dict(c.blind_names), n)

    def campaign(self, name_or_id: str | int) -> CampaignView:
        with self.session() as s:
            return self._campaign_view(s, self._find_campaign(s, name_or_id))

    def campaigns(self) -> list[CampaignView]:
        with self.session() as s:
            return [self._campaign_view(s, c) for c in s.scalars(select(Campaign).order_by(Campaign.id))]

    @staticmethod
    def _find_campaign(s: Session, name_or_id: str | int) -> Campaign:
        if isinstance(name_or_id, int):
            found = s.get(Campaign, name_or_id)
        else:
            found = s.scalar(select(Campaign).where(Campaign.name == str(name_or_id)))
        if found is None:
            raise GemError(f"no campaign {name_or_id!r}; see `python -m annotations campaigns`")
        return found

    def assign(self, actor: RaterView, campaign: str | int, raters: list[RaterView] | None = None) -> int:
        """Give each item to ``k_raters`` raters (the least loaded first); returns how many were added.

        Without ``raters``, every account with the rater role takes part. Running it again (for new
        raters or a larger k) only tops items up; existing assignments and their status stay.
        """

        def write(s: Session) -> int:
            self._admin(s, actor, "assign campaigns")
            camp = self._find_campaign(s, campaign)
            if raters is None:
                named = select(Rater).where(Rater.role == "rater", ~Rater.username.startswith(GUEST_PREFIX))
                pool = list(s.scalars(named.order_by(Rater.id)))
            else:
                pool = [s.get(Rater, r.id) for r in raters]
                if any(r is None for r in pool):
                    raise GemError("one of the raters to assign does not exist")
                if any(r.username.startswith(GUEST_PREFIX) for r in pool):
                    raise GemError("anonymous raters are never assigned campaign work; choose named raters")
            if len(pool) < camp.k_raters:
                raise GemError(
                    f"campaign {camp.name!r} needs {camp.k_raters} raters per item but only {len(pool)} are available; "
                    "create more rater accounts or lower k"
                )
            existing = s.execute(
                select(Assignment.item_id, Assignment.rater_id).where(Assignment.campaign_id == camp.id)
            ).all()
            load = {r.id: 0 for r in pool}
            have: dict[int, set[int]] = {}
            for item_id, rater_id in existing:
                have.setdefault(item_id, set()).add(rater_id)
                if rater_id in load:
                    load[rater_id] += 1
            added = 0
            items = s.scalars(
                select(CampaignItem)
                .where(CampaignItem.campaign_id == camp.id)
                .order_by(CampaignItem.position)
            )
            for item in items:
                taken = have.get(item.id, set())
                free = [r for r in pool if r.id not in taken]
                free.sort(key=lambda r: (load[r.id], order_key(camp.id, r.pseudonym, -item.id)))
                for r in free[: max(0, camp.k_raters - len(taken))]:
                    s.add(
                        Assignment(
                            campaign_id=camp.id,
                            item_id=item.id,
                            rater_id=r.id,
                            order_index=order_key(camp.id, r.pseudonym, item.id),
                            status="pending",
                        )
                    )
                    load[r.id] += 1
                    added += 1
            s.flush()
            return added

        return self._write(write)

    def next_item(self, actor: RaterView, campaign: str | int) -> ItemView | None:
        """The rater's next unfinished item (in their own order), marked in progress; None when done."""

        def write(s: Session) -> ItemView | None:
            who = self._actor(s, actor)
            camp = self._find_campaign(s, campaign)
            mine = select(Assignment).where(Assignment.campaign_id == camp.id, Assignment.rater_id == who.id)
            total = s.scalar(select(func.count()).select_from(mine.subquery()))
            queue = list(s.scalars(mine.order_by(Assignment.order_index, Assignment.item_id)))
            for index, assignment in enumerate(queue, start=1):
                if assignment.status in ("pending", "in_progress"):
                    if assignment.status == "pending":
                        assignment.status, assignment.updated_at = "in_progress", utcnow()
                    return self._item_view(s, camp, who, assignment, index, total)
            return None

        return self._write(write)

    @staticmethod
    def _item_view(
        s: Session, camp: Campaign, who: RaterView, assignment: Assignment, index: int, total: int
    ) -> ItemView:
        item = s.get(CampaignItem, assignment.item_id)
        interps = {
            i.id: i
            for i in s.scalars(select(Interpretation).where(Interpretation.id.in_(item.interpretation_ids)))
        }
        shown = list(item.interpretation_ids)
        random.Random(f"{camp.id}:{who.pseudonym}:{item.id}").shuffle(shown)  # per-rater order on screen
        return ItemView(
            assignment_id=assignment.id,
            campaign_id=camp.id,
            item_id=item.id,
            case_id=item.case_id,
            index=index,
            total=total,
            guidelines_md=camp.guidelines_md,
            interpretations=[
                {
                    "id": i,
                    "label": camp.blind_names.get(interps[i].model, "Model ?"),
                    "question": interps[i].question,
                    "text": interps[i].text,
                }
                for i in shown
            ],
        )

    def _own_assignment(self, s: Session, who: RaterView, assignment_id: int) -> Assignment:
        assignment = s.get(Assignment, assignment_id)
        if assignment is None:
            raise GemError(f"assignment {assignment_id} does not exist")
        if assignment.rater_id != who.id:
            raise AccessDenied("that campaign item is assigned to another rater")
        return assignment

    def _complete_if_rated(
        self, s: Session, who: RaterView, assignment_id: int, interpretation_id: int
    ) -> None:
        assignment = self._own_assignment(s, who, assignment_id)
        item = s.get(CampaignItem, assignment.item_id)
        if interpretation_id not in item.interpretation_ids:
            raise GemError("that interpretation is not part of this campaign item")
        s.flush()
        rated = set(
            s.scalars(
                select(Rating.interpretation_id).where(
                    Rating.rater_id == who.id, Rating.interpretation_id.in_(item.interpretation_ids)
                )
            )
        )
        if rated >= set(item.interpretation_ids):
            assignment.status, assignment.updated_at = "done", utcnow()

    def skip_item(self, actor: RaterView, assignment_id: int) -> None:
        def write(s: Session) -> None:
            assignment = self._own_assignment(s, self._actor(s, actor), assignment_id)
            if assignment.status != "done":
                assignment.status, assignment.updated_at = "skipped", utcnow()

        self._write(write)

    def progress(self, actor: RaterView, campaign: str | int) -> dict:
        """Counts of assignments by status: the actor's own, or (admins) per rater pseudonym."""
        with self.session() as s:
            who = self._actor(s, actor)
            camp = self._find_campaign(s, campaign)
            q = (
                select(Rater.pseudonym, Assignment.status, func.count())
                .join(Rater, Rater.id == Assignment.rater_id)
                .where(Assignment.campaign_id == camp.id)
                .group_by(Rater.pseudonym, Assignment.status)
            )
            if not who.is_admin:
                q = q.where(Assignment.rater_id == who.id)
            per_rater: dict[str, dict[str, int]] = {}
            for pseudonym, status, n in s.execute(q):
                per_rater.setdefault(pseudonym, {"pending": 0, "in_progress": 0, "done": 0, "skipped": 0})[
                    status
                ] = n
            totals = {
                k: sum(v[k] for v in per_rater.values())
                for k in ("pending", "in_progress", "done", "skipped")
            }
            return {
                "campaign": camp.name,
                "items": self._campaign_view(s, camp).n_items,
                "total": totals,
                "raters": per_rater,
            }

    # -- exports and summaries (admins only) ---------------------------------------------------------------

    def export(self, actor: RaterView, fmt: str, out: str | Path, **options) -> ExportResult:
        """Write ratings as ``dpo``/``kto``/``csv``/``hf`` to ``out`` (see ``annotations.exports.export``)."""
        options.setdefault("image_layout", self.settings.image_layout)  # as the model sees ECGs here
        with self.session() as s:
            self._admin(s, actor, "export ratings")
            return write_export(s, fmt, Path(out), **options)

    def summary(self, actor: RaterView, campaign: str | int | None = None, **options) -> dict:
        """Per model and metric mean (SD), n, bootstrap 95% CI; per-rater counts; Krippendorff's alpha."""
        with self.session() as s:
            self._admin(s, actor, "see summaries")
            return summarize(s, campaign=campaign, **options)

    def counts(self) -> dict[str, int]:
        """Row counts per table (for health checks and tests; no personal data)."""
        tables = {"raters": Rater, "cases": Case, "interpretations": Interpretation, "ratings": Rating}
        tables |= {"rating_versions": RatingVersion, "preferences": Preference, "campaigns": Campaign}
        tables |= {"assignments": Assignment}
        with self.session() as s:
            return {name: s.scalar(select(func.count()).select_from(model)) for name, model in tables.items()}


__all__ = [
    "LOCAL_ADMIN",
    "METRIC_NAMES",
    "AccessDenied",
    "CampaignView",
    "ExportResult",
    "ItemView",
    "PreferenceView",
    "RaterView",
    "RatingView",
    "Store",
]
