"""GEM's grounded instruction data: records, signals, images and tokens, for every trainer.

Public API (SFT uses it; the preference trainers reuse ``read_records``, ``MediaLoader``, ``SkipLog``
and ``GemCollator``):

- ``read_records(path)``: ECG-Grounding records from a JSON list or JSONL file (a malformed line is a
  ``GemError`` naming file and line);
- ``read_signal(path, lead_order)``: the signal exactly as GEM trains, ``wfdb.rdsamp``, NaN/inf -> 0,
  (12, 5000) float32 (zero-padded or cut, no resampling or normalisation), rows in the model's lead
  order;
- ``MediaLoader(processor, ecg_root, image_root)``: ``ecg_values(record)`` and ``pixel_values(record)``
  (the record's image through ``GemProcessor``'s CLIP processing, or one rendered from the signal by
  ``gem_core.render`` when the record has none); ``check(record)`` reads the header and signal once;
- ``SkipLog``: skipped record ids with their reasons, counted (``summary()``, ``by_reason()``);
- ``SftDataset(records, processor, ecg_root, image_root=None, max_length=4096, cache_media=False)``:
  checks every record
  up front (ECG file present and readable, conversation with an answer, tokens within ``max_length``),
  skips and logs the bad ones, and yields ``{"input_ids", "labels", "ecg_values", "pixel_values"}``
  with GEM's ``llava_v1`` label mask (``gem_core.model.build_example``);
- ``GemCollator(pad_token_id)``: right-padding collate (``gem_core.model.pad_collate``).

A record: ``{"id", "image" (relative to --image-root), "ecg" (WFDB path without extension, relative to
--ecg-root), "conversations": [{"from": "human"|"gpt", "value"}, ...], ...}``; other keys
(``machine_measurements``, ``report``) are kept in ``record`` untouched.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gem_core.ecg import LEADS, canonical_lead
from gem_core.errors import GemError
from gem_core.model.conversation import build_example, pad_collate

log = logging.getLogger(__name__)

MODEL_FS = 500  # GEM's signals: 500 Hz, 10 s
MODEL_SAMPLES = 5000
MAX_LENGTH = 4096  # GEM's model_max_length


class SkipRecord(GemError):
    """A record that cannot be trained on; the message is the reason the summary lists."""


# --- records --------------------------------------------------------------------------------------------


def read_records(path: str | Path) -> list[dict]:
    """Records from ``path``: a JSON list (GEM's ECG-Grounding files) or JSON Lines (one object a line).

    Blank lines in JSONL are allowed; anything else that is not one JSON object is a ``GemError`` with
    ``file:line``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GemError(f"data file {path} not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GemError(f"cannot read data file {path} ({err})") from None
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as err:
            raise GemError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from None
        where = [f"{path}: item {n}" for n in range(len(records))]
    else:
        records, where = [], []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise GemError(f"{path}:{n}: not valid JSON ({err.msg}, column {err.colno})") from None
            where.append(f"{path}:{n}")
    for record, at in zip(records, where, strict=True):
        if not isinstance(record, dict):
            raise GemError(f"{at}: a record must be a JSON object, got {type(record).__name__}")
    return records


def record_id(record: dict, index: int) -> str:
    return str(record.get("id", f"#{index}"))


@dataclass
class SkipLog:
    """Records left out and why (one reason each)."""

    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add(self, rid: str, reason: str) -> None:
        log.warning("skipping record %s: %s", rid, reason)
        self.skipped.append((rid, reason))

    def __len__(self) -> int:
        return len(self.skipped)

    def by_reason(self) -> dict[str, int]:
        """Counts per kind of reason (the text before the first ':' of each reason)."""
        return dict(Counter(reason.split(":", 1)[0] for _, reason in self.skipped))

    def summary(self, limit: int = 10) -> str:
        if not self.skipped:
            return "0 skipped"
        kinds = ", ".join(f"{n} {kind}" for kind, n in self.by_reason().items())
        ids = ", ".join(rid for rid, _ in self.skipped[:limit]) + (
            " ..." if len(self.skipped) > limit else ""
        )
        return f"{len(self.skipped)} skipped ({kinds}: {ids})"

    def to_list(self) -> list[dict]:
        return [{"id": rid, "reason": reason} for rid, reason in self.skipped]


# --- signals and images ---------------------------------------------------------------------------------


def read_signal(path: str | Path, lead_order: Iterable[str]) -> np.ndarray:
    """(12, 5000) float32 mV as GEM trains: ``wfdb.rdsamp``, NaN/inf -> 0, zero-pad or cut; rows in
    ``lead_order`` (matched by lead name, any spelling). ``SkipRecord`` says why a file cannot be used.

    Not resampled (as GEM): a record not at 500 Hz is refused rather than read at the wrong speed.
    """
    import wfdb

    path = Path(path)
    if not path.with_suffix(".hea").is_file() and not Path(f"{path}.hea").is_file():
        raise SkipRecord(f"ECG file missing: {path}.hea not found")
    try:
        signal, fields = wfdb.rdsamp(str(path))
    except Exception as err:  # wfdb raises many types (ValueError, OSError, struct errors...) for bad files
        raise SkipRecord(f"ECG file unreadable: {path} ({type(err).__name__}: {err})") from None
    if round(float(fields["fs"])) != MODEL_FS:
        raise SkipRecord(
            f"sampling rate: {path} is {fields['fs']:g} Hz; GEM trains on 500 Hz without resampling"
        )
    names = [canonical_lead(str(n)) for n in fields["sig_name"]]
    rows = []
    for lead in lead_order:
        if lead not in names:
            raise SkipRecord(f"leads: {path} has no lead {lead} (channels {fields['sig_name']})")
        rows.append(names.index(lead))
    signal = np.asarray(signal, dtype=np.float64)[:, rows].T
    units = [str(fields["units"][i]).lower() for i in rows]
    scale = np.array([1e-3 if u in ("uv", "µv", "μv") else 1.0 for u in units])[:, None]
    signal = np.nan_to_num(signal * scale, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)
    out = np.zeros((len(rows), MODEL_SAMPLES), dtype=np.float32)
    n = min(MODEL_SAMPLES, signal.shape[1])
    out[:, :n] = signal[:, :n]
    return out


class MediaLoader:
    """The ECG and image inputs of a record, through the model's own ``GemProcessor``."""

    def __init__(self, processor, ecg_root: str | Path, image_root: str | Path | None = None):
        self.processor = processor
        self.ecg_root = Path(ecg_root)
        self.image_root = Path(image_root) if image_root else None
        if not self.ecg_root.is_dir():
            raise GemError(f"--ecg-root {self.ecg_root} is not a folder")
        if self.image_root is not None and not self.image_root.is_dir():
            raise GemError(f"--image-root {self.image_root} is not a folder")

    def ecg_path(self, record: dict) -> Path:
        rel = record.get("ecg")
        if not isinstance(rel, str) or not rel:
            raise SkipRecord("no ecg: the record has no 'ecg' path")
        return self.ecg_root / rel.removesuffix(".hea").removesuffix(".dat")

    def signal(self, record: dict) -> np.ndarray:
        """(12, 5000) in the model's lead order."""
        return read_signal(self.ecg_path(record), self.processor.lead_order)

    def ecg_values(self, record: dict, signal: np.ndarray | None = None) -> torch.Tensor:
        return torch.from_numpy(self.signal(record) if signal is None else signal)

    def image_path(self, record: dict) -> Path | None:
        rel = record.get("image")
        if not rel or self.image_root is None:
            return None
        path = self.image_root / rel
        return path if path.is_file() else None

    def image(self, record: dict, signal: np.ndarray | None = None):
        """The record's image, or the ECG rendered by ``gem_core.render`` (the app's renderer)."""
        from PIL import Image, UnidentifiedImageError

        path = self.image_path(record)
        if path is not None:
            try:
                with Image.open(path) as img:
                    return img.convert("RGB")
            except (OSError, UnidentifiedImageError) as err:
                raise SkipRecord(f"image unreadable: {path} ({err})") from None
        from gem_core.ecg import ECG

        signal = self.signal(record) if signal is None else signal
        canonical = signal[[list(self.processor.lead_order).index(lead) for lead in LEADS]]
        return self.processor.render(
            ECG(signal=canonical, fs=MODEL_FS, record_id=str(record.get("id", "ecg")))
        )

    def pixel_values(self, record: dict, signal: np.ndarray | None = None) -> torch.Tensor:
        """(3, H, W) after the CLIP processing ``GemProcessor`` applies at inference."""
        return self.processor.pixel_values(self.image(record, signal))[0]

    def check(self, record: dict) -> None:
        """Read the signal once (``SkipRecord`` if missing/unreadable) and check a named image opens."""
        self.signal(record)
        rel = record.get("image")
        if rel and self.image_root is not None and self.image_path(record) is not None:
            from PIL import Image, UnidentifiedImageError

            try:
                with Image.open(self.image_root / rel) as img:
                    img.verify()
            except (OSError, UnidentifiedImageError) as err:
                raise SkipRecord(f"image unreadable: {self.image_root / rel} ({err})") from None


# --- the SFT dataset ------------------------------------------------------------------------------------


class SftDataset(torch.utils.data.Dataset):
    """Checked ECG-Grounding records as ``GemForCausalLM`` training examples.

    Every record is checked once when the dataset is built (with a progress bar): those that cannot be
    trained on are left out and listed in ``skips`` with the reason; ``rendered`` lists ids whose image
    is drawn from the signal. Tokenized examples are kept; signals and images are read per item.
    """

    def __init__(
        self,
        records: list[dict],
        processor,
        ecg_root: str | Path,
        image_root: str | Path | None = None,
        max_length: int = MAX_LENGTH,
        progress: bool = True,
        cache_media: bool = False,
    ):
        from tqdm.auto import tqdm

        self.cache_media = cache_media  # keep each record's ECG and pixel values after the first read
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.media = MediaLoader(processor, ecg_root, image_root)
        self.skips = SkipLog()
        self.rendered: list[str] = []
        self.records: list[dict] = []
        self.examples: list[dict[str, torch.Tensor]] = []
        self.ids: list[str] = []
        seen: set[str] = set()
        for index, record in enumerate(tqdm(records, desc="checking records", disable=not progress)):
            rid = record_id(record, index)
            try:
                if rid in seen:
                    raise SkipRecord(f"duplicate id: {rid} appears more than once")
                conversations = record.get("conversations")
                if not isinstance(conversations, list):
                    raise SkipRecord("no conversations: 'conversations' is missing or not a list")
                try:
                    example = build_example(processor.tokenizer, conversations, max_length=max_length)
                except GemError as err:
                    raise SkipRecord(f"conversation: {err}") from None
                self.media.check(record)
            except SkipRecord as err:
                self.skips.add(rid, str(err))
                continue
            seen.add(rid)
            if self.media.image_path(record) is None:
                self.rendered.append(rid)
            self.records.append(record)
            self.examples.append(example)
            self.ids.append(rid)

    def __len__(self) -> int:
        return len(self.records)

    def media_values(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(ecg_values (12, 5000), pixel_values (3, H, W)) of record ``index``."""
        if index in self._cache:
            return self._cache[index]
        record = self.records[index]
        try:
            signal = self.media.signal(record)
            pixels = self.media.pixel_values(record, signal)
        except SkipRecord as err:  # the file changed after the check: stop rather than train on zeros
            raise GemError(f"record {self.ids[index]} became unusable during training: {err}") from None
        values = (torch.from_numpy(signal), pixels)
        if self.cache_media:
            self._cache[index] = values
        return values

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        ecg_values, pixel_values = self.media_values(index)
        return {**self.examples[index], "ecg_values": ecg_values, "pixel_values": pixel_values}

    def summary(self) -> str:
        rendered = f"; {len(self.rendered)} image(s) rendered from the signal" if self.rendered else ""
        return f"{len(self)} records used, {self.skips.summary()}{rendered}"


class GemCollator:
    """Right-pads a list of examples into one batch (``gem_core.model.pad_collate``); picklable for
    DataLoader workers."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = int(pad_token_id)

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor]:
        return pad_collate(examples, self.pad_token_id)
