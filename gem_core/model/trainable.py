"""What trains in GEM: an explicit freeze policy, LoRA through ``peft``, and LoRA-aware weights for saving.

Public functions:

- ``set_trainable(model, llm=True, projectors=True, ecg_tower=False, vision_tower=False)``: GEM's recipe
  by default (LLM and both projectors trained; ECG-CoCa and CLIP frozen); returns trainable counts;
- ``apply_lora(model, r, alpha=None, dropout=0.05, target_modules=None)``: wraps the language model in a
  ``peft`` LoRA model (only LoRA matrices train in it) and keeps the projectors trainable;
- ``is_lora(model)``, ``trainable_counts(model)``;
- ``merged_lm_state_dict(model, state=None)``: the language model's weights with LoRA merged in
  (``W + scale * B @ A``), under the plain model's key names, without changing the model;
- ``lora_state_dict(model, state=None)``: the adapter's weights in ``peft``'s on-disk key format.

>>> from gem_core.model.tiny import build_tiny
>>> model = build_tiny()
>>> counts = set_trainable(model)
>>> counts["ecg_tower"], counts["vision_tower"], counts["mm_projector"] > 0
(0, 0, True)
"""

from __future__ import annotations

import torch

from gem_core.errors import GemError

PARTS = ("language_model", "mm_projector", "ecg_projector", "ecg_tower", "vision_tower")
# LLaVA's LoRA recipe targets every linear layer of the language model.
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
PEFT_PREFIX = "base_model.model."


def trainable_counts(model) -> dict[str, int]:
    """Trainable parameter count per part (``language_model``, projectors, towers)."""
    return {
        part: sum(p.numel() for p in getattr(model, part).parameters() if p.requires_grad) for part in PARTS
    }


def set_trainable(
    model, llm: bool = True, projectors: bool = True, ecg_tower: bool = False, vision_tower: bool = False
) -> dict[str, int]:
    """Set ``requires_grad`` part by part (GEM's full fine-tune by default) and return ``trainable_counts``.

    Under LoRA (``apply_lora``) ``llm=True`` leaves the language model as ``peft`` set it (LoRA
    matrices only), ``llm=False`` freezes the adapters too.
    """
    wanted = {
        "mm_projector": projectors,
        "ecg_projector": projectors,
        "ecg_tower": ecg_tower,
        "vision_tower": vision_tower,
    }
    for part, flag in wanted.items():
        getattr(model, part).requires_grad_(flag)
    if is_lora(model):
        for name, param in model.language_model.named_parameters():
            param.requires_grad_(llm and "lora_" in name)
    else:
        model.language_model.requires_grad_(llm)
    return trainable_counts(model)


def is_lora(model) -> bool:
    return hasattr(model.language_model, "peft_config")


def apply_lora(
    model,
    r: int = 16,
    alpha: int | None = None,
    dropout: float = 0.05,
    target_modules: list[str] | tuple[str, ...] | None = None,
    ecg_tower: bool = False,
    vision_tower: bool = False,
):
    """LoRA on the language model (``peft``); projectors stay trainable, towers frozen unless asked.

    ``alpha`` defaults to ``2 * r``. Returns the model (changed in place).
    """
    from peft import LoraConfig, get_peft_model

    if r < 1:
        raise GemError(f"LoRA rank r must be at least 1, got {r}")
    if is_lora(model):
        raise GemError("the language model already has LoRA adapters")
    targets = list(target_modules or LORA_TARGETS)
    present = {name.rsplit(".", 1)[-1] for name, _ in model.language_model.named_modules()}
    unknown = [t for t in targets if t not in present]
    if unknown:
        raise GemError(
            f"LoRA target module(s) {unknown} are not in the language model; it has e.g. {sorted(present)[:8]}"
        )
    config = LoraConfig(
        r=r,
        lora_alpha=alpha if alpha is not None else 2 * r,
        lora_dropout=dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model.language_model = get_peft_model(model.language_model, config)
    set_trainable(model, llm=True, projectors=True, ecg_tower=ecg_tower, vision_tower=vision_tower)
    return model


def _lora_layers(model) -> dict[str, object]:
    """LoRA layers of the language model by their name in the plain (unwrapped) model."""
    from peft.tuners.lora import LoraLayer

    out = {}
    for name, module in model.language_model.named_modules():
        if isinstance(module, LoraLayer):
            out[name.removeprefix(PEFT_PREFIX)] = module
    return out


def merged_lm_state_dict(model, state: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The language model's weights under plain key names, LoRA merged in; the model is not changed.

    ``state`` is the language model's own ``state_dict()`` (or one gathered by DeepSpeed/FSDP, same keys);
    by default it is read from the model.
    """
    lm = model.language_model
    state = dict(lm.state_dict() if state is None else state)
    if not is_lora(model):
        return state
    adapter = lm.active_adapter if isinstance(lm.active_adapter, str) else lm.active_adapter[0]
    layers = _lora_layers(model)
    out: dict[str, torch.Tensor] = {}
    pending: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        key = key.removeprefix(PEFT_PREFIX)
        if ".lora_" in key:
            module, rest = key.split(".lora_", 1)
            kind = rest.split(".", 1)[0]  # A / B / magnitude_vector / embedding_A ...
            if kind not in ("A", "B") or f".{adapter}." not in key:
                raise GemError(
                    f"cannot merge LoRA weight {key!r}: only plain LoRA on linear layers is supported"
                )
            pending.setdefault(module, {})[kind] = value
            continue
        out[key.replace(".base_layer.", ".")] = value
    for module, ab in pending.items():
        weight_key = f"{module}.weight"
        scale = layers[module].scaling[adapter]
        base = out[weight_key]
        delta = (ab["B"].float() @ ab["A"].float()) * scale
        if getattr(layers[module], "fan_in_fan_out", False):
            delta = delta.T
        out[weight_key] = (base.float() + delta.to(base.device)).to(base.dtype)
    return out


def lora_state_dict(model, state: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """The LoRA adapter's weights in ``peft``'s saved format (``adapter_model.safetensors`` keys)."""
    from peft import get_peft_model_state_dict

    if not is_lora(model):
        raise GemError("the model has no LoRA adapters")
    return get_peft_model_state_dict(model.language_model, state_dict=state)
