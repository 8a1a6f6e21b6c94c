"""One settings object, read from ``GEM_*`` environment variables, with defaults that run offline."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from gem_core.errors import GemError


def _default_data_dir() -> Path:
    # Hugging Face Spaces mounts persistent storage at /data; elsewhere keep it beside the checkout.
    return Path("/data") if Path("/data").is_dir() else Path.cwd() / "data"


@dataclass(frozen=True)
class Settings:
    """Every knob of the project. Each field ``name`` is read from ``GEM_<NAME>``."""

    port: int = 7860
    host: str = "127.0.0.1"
    data_dir: Path = field(default_factory=_default_data_dir)
    db_url: str = ""  # empty: sqlite file under data_dir
    max_upload_mb: float = 50.0
    # what a record may expand to, checked from its header before anything is allocated (gem_core.limits)
    max_record_s: float = 3600.0  # longest record accepted (an hour; the model reads 10 s)
    max_samples: int = 2_000_000  # samples per channel (an hour at 500 Hz)
    max_channels: int = 64  # channels (WFDB signals, CSV columns, array rows)
    max_zip_members: int = 256  # entries in an uploaded .zip (or .npz)
    samples_dir: str = ""  # a folder of records for the gallery
    ptbxl_dir: str = ""  # a PTB-XL tree (ptbxl_database.csv + records500/)
    # GEM model (local backend)
    model: str = ""  # path or hub id, e.g. LANSG/GEM
    ecg_tower: str = ""  # path to cpt_wfep_epoch_20.pt
    vision_tower: str = ""  # overrides mm_vision_tower from the model config
    device: str = ""  # "" = cuda when available, else cpu
    dtype: str = ""  # "" = bfloat16 on cuda, float32 on cpu
    load_in_4bit: bool = False
    max_new_tokens: int = 1024
    image_layout: str = "12x1"
    # OpenAI-compatible backend
    openai_base_url: str = ""
    openai_model: str = "gem"
    openai_api_key: str = ""
    request_timeout_s: float = 120.0
    # access and privacy
    auth_file: str = ""
    signin_free_failures: int = 10  # failed sign-ins before a client or username backs off (app.signin)
    signin_client_lock_s: float = 900.0  # longest wait imposed on a client that keeps failing
    signin_user_lock_s: float = 30.0  # longest wait on a username (short: an attacker cannot lock it out)
    export_ttl_s: float = 3600.0  # exports (files with every rater's comments) are deleted after this
    trust_proxy: bool = False  # take the client address from X-Forwarded-For (always on Spaces)
    allow_anonymous_rating: bool = False
    anonymous_unused_s: float = 86400.0  # anonymous raters with no rating after this long are deleted
    store_patient_fields: bool = False
    # evaluation: the folder of runs (``python -m eval run --out``) the admin Evaluation view reads
    eval_dir: str = ""  # "" = <data_dir>/eval

    @property
    def eval_runs_dir(self) -> Path:
        return Path(self.eval_dir).expanduser() if self.eval_dir else Path(self.data_dir) / "eval"

    @property
    def database_url(self) -> str:
        return self.db_url or f"sqlite:///{(Path(self.data_dir) / 'gem_studio.sqlite3').as_posix()}"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides) -> Settings:
        """Build settings from ``GEM_*`` variables; a malformed value is a ``GemError`` naming it."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            key = "GEM_" + f.name.upper()
            if key not in env or f.name in overrides:
                continue
            raw = env[key].strip()
            kind = type(f.default) if f.default is not None and not callable(f.default) else str
            if f.name == "data_dir":
                kind = Path
            try:
                if kind is bool:
                    if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
                        raise ValueError(raw)
                    values[f.name] = raw.lower() in ("1", "true", "yes", "on")
                else:
                    values[f.name] = kind(raw)
            except ValueError:
                raise GemError(f"{key}={raw!r} is not a valid {kind.__name__}; fix or unset it") from None
        values.update(overrides)
        return cls(**values)


def get_settings(**overrides) -> Settings:
    """Current settings from the environment (re-read on every call; cheap, and tests can monkeypatch)."""
    return Settings.from_env(**overrides)
