"""GEM's configuration: a LLaVA-format ``config.json`` (a causal-LM config plus ``mm_*`` keys).

GEM is published as a LLaVA checkpoint: ``config.json`` holds the Llama text config and, beside it, the
multimodal keys (``mm_vision_tower``, ``mm_ecg_tower``, ``mm_projector_type``, ...). ``GemConfig`` splits
the two and gives every multimodal key a typed field with GEM's value as the default.

>>> cfg = GemConfig.from_dict({"model_type": "llava_llama", "hidden_size": 64, "mm_hidden_size": 32})
>>> cfg.text_model_type, cfg.lm_config.hidden_size, cfg.ecg_lead_order[4]
('llama', 64, 'aVF')
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from gem_core.ecg import LEADS, canonical_lead
from gem_core.errors import GemError

IMAGE_TOKEN_INDEX = -200  # LLaVA's placeholder id for "<image>" in input_ids
IMAGE_TOKEN = "<image>"
IGNORE_INDEX = -100  # label value that the loss skips
# GEM was trained on MIMIC-IV-ECG files, whose lead order puts aVF before aVL.
GEM_LEAD_ORDER: tuple[str, ...] = ("I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6")
CLIP_L14_336 = "openai/clip-vit-large-patch14-336"


@dataclass
class GemConfig:
    """The multimodal part of a LLaVA/GEM ``config.json`` plus the text model's own config dict."""

    text_config: dict = field(default_factory=dict)
    text_model_type: str = "llama"
    mm_vision_tower: str = CLIP_L14_336
    mm_vision_select_layer: int = -2
    mm_vision_select_feature: str = "patch"  # "patch": drop CLS; "cls_patch": keep it
    mm_hidden_size: int = 1024
    mm_projector_type: str = "mlp2x_gelu"
    mm_ecg_tower: str = ""
    ecg_projector_type: str = "linear"
    image_aspect_ratio: str = "ori"
    # Our additions (absent from GEM's own config.json, where the defaults below apply):
    mm_vision_config: dict | None = None  # a CLIPVisionConfig dict, for towers stored in the checkpoint
    ecg_lead_order: tuple[str, ...] = GEM_LEAD_ORDER
    extra: dict = field(default_factory=dict)  # any other mm_*/LLaVA keys, kept for round trips

    @property
    def hidden_size(self) -> int:
        return int(self.text_config["hidden_size"])

    @property
    def lm_config(self):
        """The text model's ``transformers`` config (``LlamaConfig`` for GEM)."""
        from transformers import AutoConfig

        try:
            return AutoConfig.for_model(self.text_model_type, **self.text_config)
        except ValueError as err:
            raise GemError(
                f"the model config names a text model of type {self.text_model_type!r}, which transformers "
                f"does not know ({err})"
            ) from None

    @classmethod
    def from_dict(cls, raw: dict) -> GemConfig:
        raw = dict(raw)
        model_type = str(raw.pop("model_type", "llava_llama"))
        text_type = model_type.removeprefix("llava_") if model_type.startswith("llava_") else model_type
        if text_type == "llava":
            text_type = "llama"
        names = {f.name for f in fields(cls)} - {"text_config", "text_model_type", "extra"}
        mm = {k: raw.pop(k) for k in list(raw) if k in names}
        extra = {k: raw.pop(k) for k in list(raw) if k.startswith("mm_") or k in _LLAVA_ONLY_KEYS}
        if "ecg_lead_order" in mm:
            mm["ecg_lead_order"] = _check_lead_order(mm["ecg_lead_order"])
        raw.pop("architectures", None)
        return cls(text_config=raw, text_model_type=text_type, extra=extra, **mm)

    @classmethod
    def from_file(cls, path: str | Path) -> GemConfig:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise GemError(f"no config.json at {path}; point to a GEM/LLaVA checkpoint folder") from None
        except json.JSONDecodeError as err:
            raise GemError(f"{path} is not valid JSON ({err})") from None
        return cls.from_dict(raw)

    def to_dict(self) -> dict:
        """The on-disk LLaVA layout: text config keys and ``mm_*`` keys side by side."""
        out = dict(self.text_config)
        out["model_type"] = f"llava_{self.text_model_type}"
        out["architectures"] = [f"Llava{self.text_model_type.capitalize()}ForCausalLM"]
        mm = asdict(self)
        for key in ("text_config", "text_model_type", "extra"):
            mm.pop(key)
        if mm["mm_vision_config"] is None:
            mm.pop("mm_vision_config")
        mm["ecg_lead_order"] = list(mm["ecg_lead_order"])
        out.update(mm)
        out.update(self.extra)
        return out

    def save(self, folder: str | Path) -> None:
        Path(folder, "config.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")


# LLaVA keys that belong to neither the text model nor our typed fields.
_LLAVA_ONLY_KEYS = {
    "image_grid_pinpoints",
    "tokenizer_model_max_length",
    "tokenizer_padding_side",
    "tune_mm_mlp_adapter",
    "freeze_mm_mlp_adapter",
    "unfreeze_mm_vision_tower",
    "use_mm_proj",
    "ecg_tower",
    "vision_tower",
}


def _check_lead_order(order) -> tuple[str, ...]:
    canon = tuple(canonical_lead(str(name)) or str(name) for name in order)
    if sorted(canon) != sorted(LEADS):
        raise GemError(f"ecg_lead_order {list(order)} must name each of the 12 standard leads once")
    return canon
