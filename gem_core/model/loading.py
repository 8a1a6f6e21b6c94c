"""Load GEM from a LLaVA-format checkpoint (folder or Hugging Face id), and save one.

Checkpoint key layout (GEM / LLaVA):

- ``model.embed_tokens``, ``model.layers.*``, ``model.norm``, ``lm_head``: the language model;
- ``model.mm_projector.*``, ``model.ecg_projector.*``: the projectors;
- ``model.vision_tower.vision_tower.*`` (optional): a CLIP vision tower stored in the checkpoint,
  otherwise it comes from ``mm_vision_tower`` (or the ``vision_tower=`` argument);
- the ECG tower comes from the ECG-CoCa ``.pt`` named by ``mm_ecg_tower`` (or ``ecg_tower=``), unless
  the checkpoint stores it under ``model.ecg_tower.*``.

Every key is used or deliberately ignored (``IGNORED_KEYS``); a key the model needs but the checkpoint
lacks, or one nobody expects, is a ``GemError`` naming it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from gem_core.errors import GemError
from gem_core.model.config import GemConfig
from gem_core.model.ecg_tower import EcgTowerShape, EcgTransformer, coca_prefix, split_coca_state_dict
from gem_core.model.modeling import GemForCausalLM
from gem_core.model.processor import GemProcessor

log = logging.getLogger(__name__)

# Buffers that older checkpoints saved and current transformers recomputes.
IGNORED_KEYS = re.compile(r"(rotary_emb\.inv_freq|embeddings\.position_ids)$")
PREFIXES = {
    "mm_projector": "model.mm_projector.",
    "ecg_projector": "model.ecg_projector.",
    "vision_tower": "model.vision_tower.vision_tower.",
    "ecg_tower": "model.ecg_tower.ecg_tower.",
}
CLIP_INNER = "vision_model."  # LLaVA checkpoints: model.vision_tower.vision_tower.vision_model.*
CHECKPOINT_FILES = (
    "model.safetensors.index.json",
    "model.safetensors",
    "pytorch_model.bin.index.json",
    "pytorch_model.bin",
)
ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.bin", "*.model", "*.txt", "*.pt"]
DTYPES = {
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
}

Progress = Callable[[str], None]


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/"" -> cuda when available, else cpu."""
    if device in (None, ""):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as err:
        raise GemError(f"device {device!r} is not valid ({err}); use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GemError(f"device {device!r} asked for, but CUDA is not available here; use device='cpu'")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``None``/"" -> bfloat16 on cuda, float32 on cpu."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if not dtype:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    try:
        return DTYPES[str(dtype).lower()]
    except KeyError:
        raise GemError(f"dtype {dtype!r} is not one of bfloat16, float16, float32") from None


def model_folder(path_or_hub_id: str | Path, progress: Progress = log.info) -> Path:
    """A local folder, or a Hugging Face model id downloaded (cached) with ``snapshot_download``."""
    path = Path(os.path.expanduser(str(path_or_hub_id)))
    if path.is_dir():
        return path
    if (
        path.exists()
        or str(path_or_hub_id).startswith((".", "/", "~"))
        or str(path_or_hub_id).count("/") != 1
    ):
        raise GemError(f"model {str(path_or_hub_id)!r} is not a folder nor a Hugging Face id like LANSG/GEM")
    from huggingface_hub import snapshot_download

    progress(f"downloading {path_or_hub_id} from the Hugging Face Hub (cached after the first time)")
    try:
        return Path(snapshot_download(str(path_or_hub_id), allow_patterns=ALLOW_PATTERNS))
    except Exception as err:  # hub errors come in many types; all mean "could not get the files"
        raise GemError(
            f"could not download {path_or_hub_id!r} from the Hugging Face Hub ({type(err).__name__}: {err}); "
            "check the id and your connection, or pass a local folder"
        ) from None


def checkpoint_paths(folder: Path) -> list[Path]:
    """The weight files of a checkpoint folder: one file, or the shards an index names."""
    for name in CHECKPOINT_FILES:
        path = folder / name
        if not path.is_file():
            continue
        if name.endswith(".index.json"):
            shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
            missing = [s for s in shards if not (folder / s).is_file()]
            if missing:
                raise GemError(f"{path} names shard(s) {missing} that are not in {folder}; download them too")
            return [folder / s for s in shards]
        return [path]
    raise GemError(f"no weights in {folder}: expected one of {', '.join(CHECKPOINT_FILES)}")


def read_checkpoint(
    folder: Path,
    dtype: torch.dtype,
    device: torch.device | str = "cpu",
    keep: Callable[[str], bool] | None = None,
) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint on ``device``, floating-point ones cast to ``dtype``.

    Keys for which ``keep`` says False are listed with an empty meta tensor instead (not read).
    """
    from safetensors import safe_open

    state: dict[str, torch.Tensor] = {}
    skipped = torch.empty(0, device="meta")
    for path in checkpoint_paths(folder):
        if path.suffix == ".safetensors":
            with safe_open(path, framework="pt", device=str(device)) as f:
                part = {k: (f.get_tensor(k) if keep is None or keep(k) else skipped) for k in f.keys()}  # noqa: SIM118
        else:
            part = torch.load(path, map_location=str(device), weights_only=True, mmap=True)
            part = {k: (v if keep is None or keep(k) else skipped) for k, v in part.items()}
        for key, value in part.items():
            state[key] = (
                value.to(dtype) if value.is_floating_point() and value.device.type != "meta" else value
            )
    return state


def _part_of(key: str) -> str:
    return next((name for name, prefix in PREFIXES.items() if key.startswith(prefix)), "language_model")


def split_checkpoint(state: dict[str, torch.Tensor]) -> tuple[dict[str, dict[str, torch.Tensor]], list[str]]:
    """Route checkpoint keys to their module (``language_model`` gets the rest); list the ignored ones."""
    parts: dict[str, dict[str, torch.Tensor]] = {name: {} for name in (*PREFIXES, "language_model")}
    ignored = []
    for key, value in state.items():
        if IGNORED_KEYS.search(key):
            ignored.append(key)
            continue
        part = _part_of(key)
        parts[part][key.removeprefix(PREFIXES.get(part, ""))] = value
    return parts, ignored


def load_module_weights(
    module: nn.Module, weights: dict[str, torch.Tensor], what: str, prefix: str = ""
) -> None:
    """Load ``weights`` into ``module`` (tensors are assigned, not copied); every key must match."""
    expected = {k for k in module.state_dict() if not IGNORED_KEYS.search(k)}
    missing = sorted(expected - set(weights))
    tied = _tied_keys(module)
    missing = [k for k in missing if k not in tied]
    if missing:
        raise GemError(
            f"the checkpoint lacks {len(missing)} {what} weight(s), e.g. {prefix + missing[0]!r}; "
            "is the checkpoint complete and made for this architecture?"
        )
    unexpected = sorted(set(weights) - expected)
    if unexpected:
        raise GemError(
            f"the checkpoint has {what} weight(s) this model does not use, e.g. {prefix + unexpected[0]!r}"
        )
    try:
        module.load_state_dict(weights, strict=False, assign=True)
    except RuntimeError as err:
        raise GemError(f"{what} weights do not fit the model config: {err}") from None
    if tied and hasattr(module, "tie_weights"):
        module.tie_weights()


def _tied_keys(module: nn.Module) -> set[str]:
    config = getattr(module, "config", None)
    if config is not None and getattr(config, "tie_word_embeddings", False):
        return {"lm_head.weight"}
    return set()


def ecg_tower_path(config: GemConfig, folder: Path, ecg_tower: str | Path | None) -> Path:
    """The ECG-CoCa file: ``ecg_tower=`` if given, else ``mm_ecg_tower`` (as is, or beside the config)."""
    name = str(ecg_tower or config.mm_ecg_tower or "")
    candidates = [Path(os.path.expanduser(name))] if name else []
    if name and not ecg_tower:
        candidates += [folder / name, folder / Path(name).name]
    for path in candidates:
        if path.is_file():
            return path
    where = f"{name!r} (from the ecg_tower= argument)" if ecg_tower else f"{name!r} (config key mm_ecg_tower)"
    raise GemError(
        f"ECG tower file not found: {where if name else 'mm_ecg_tower is empty in config.json'}. Download "
        "ECG-CoCa's cpt_wfep_epoch_20.pt and pass ecg_tower=PATH to load_gem (or set GEM_ECG_TOWER=PATH, "
        "or --ecg-tower PATH on the command line)"
    )


def load_ecg_coca(path: Path, dtype: torch.dtype) -> EcgTransformer:
    """An ``EcgTransformer`` with the ECG-CoCa checkpoint's weights; dims read from the tensors."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a bad/unsafe pickle
        raise GemError(
            f"could not read the ECG tower checkpoint {path} ({type(err).__name__}: {err})"
        ) from None
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise GemError(
            f"{path} holds no state_dict; expected an ECG-CoCa checkpoint such as cpt_wfep_epoch_20.pt"
        )
    weights, _ignored = split_coca_state_dict(state)
    return ecg_tower_from_weights(weights, dtype, where=str(path), prefix=coca_prefix(state))


def ecg_tower_from_weights(
    weights: dict[str, torch.Tensor], dtype: torch.dtype, where: str, prefix: str = ""
) -> EcgTransformer:
    """``prefix``: the keys' prefix on disk, so an error names a key as the file spells it."""
    tower = EcgTransformer.from_shape(EcgTowerShape.from_state_dict(weights))
    load_module_weights(tower, {k: v.to(dtype) for k, v in weights.items()}, f"ECG tower ({where})", prefix)
    return tower.to(dtype)


def build_vision_tower(
    config: GemConfig, stored: dict[str, torch.Tensor], source: str, dtype: torch.dtype, progress: Progress
) -> nn.Module:
    """CLIP vision tower: from the checkpoint's own keys when there, else ``from_pretrained(source)``."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    if not stored:
        progress(f"loading the CLIP vision tower {source}")
        try:
            return CLIPVisionModel.from_pretrained(source, dtype=dtype)
        except OSError as err:
            raise GemError(
                f"could not load the vision tower {source!r} ({err}); pass vision_tower=PATH (GEM_VISION_TOWER) "
                "pointing to a local copy of openai/clip-vit-large-patch14-336"
            ) from None
    if config.mm_vision_config:
        vision_config = CLIPVisionConfig(**config.mm_vision_config)
    else:
        vision_config = CLIPVisionConfig.from_pretrained(source)
    from accelerate import init_empty_weights

    with init_empty_weights():
        tower = CLIPVisionModel(vision_config)
    if not any(k.startswith(CLIP_INNER) for k in tower.state_dict()):
        # LLaVA stores ``vision_model.*`` (CLIPVisionModel's layout before transformers 5 flattened it).
        stored = {k.removeprefix(CLIP_INNER): v for k, v in stored.items()}
    load_module_weights(tower, stored, "vision tower", prefix=PREFIXES["vision_tower"] + CLIP_INNER)
    return tower.to(dtype)


def build_language_model(
    config: GemConfig, weights: dict[str, torch.Tensor], dtype: torch.dtype
) -> nn.Module:
    from accelerate import init_empty_weights
    from transformers import AutoModelForCausalLM

    with init_empty_weights():
        lm = AutoModelForCausalLM.from_config(config.lm_config, dtype=dtype)
    load_module_weights(lm, weights, "language model")
    return lm.eval()


def check_4bit(device: torch.device) -> None:
    if device.type != "cuda":
        raise GemError("load_in_4bit needs a CUDA GPU (bitsandbytes); on CPU load in float32 or bfloat16")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise GemError("load_in_4bit needs the bitsandbytes package: pip install bitsandbytes") from None


def build_language_model_4bit(folder: Path, config: GemConfig, weights, device: torch.device) -> nn.Module:
    """The LM quantized to 4-bit NF4 by bitsandbytes (CUDA only) while transformers loads it.

    ``weights`` only names the checkpoint's LM keys (transformers reads the tensors itself).
    """
    check_4bit(device)
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    with torch.device("meta"):
        expected = AutoModelForCausalLM.from_config(config.lm_config).state_dict().keys()
    missing = sorted(set(expected) - set(weights) - _tied_keys_for(config))
    if missing:
        raise GemError(f"the checkpoint lacks {len(missing)} language model weight(s), e.g. {missing[0]!r}")
    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
        bnb_4bit_use_double_quant=True,
        bnb_4bit_quant_type="nf4",
    )
    return AutoModelForCausalLM.from_pretrained(
        folder,
        config=config.lm_config,
        quantization_config=quant,
        device_map={"": device},
        dtype=torch.bfloat16,
    ).eval()


def _tied_keys_for(config: GemConfig) -> set[str]:
    return {"lm_head.weight"} if config.text_config.get("tie_word_embeddings") else set()


def load_processor(folder: Path, config: GemConfig, vision_source: str) -> GemProcessor:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, config=config.lm_config)
    except (OSError, ValueError) as err:
        raise GemError(f"could not load the tokenizer from {folder} ({err})") from None
    image_source = folder if (folder / "preprocessor_config.json").is_file() else vision_source
    try:
        image_processor = clip_image_processor_class().from_pretrained(image_source)
    except OSError as err:
        raise GemError(f"could not load the CLIP image processor from {image_source!r} ({err})") from None
    return GemProcessor(
        tokenizer,
        image_processor,
        lead_order=config.ecg_lead_order,
        image_aspect_ratio=config.image_aspect_ratio,
    )


def clip_image_processor_class():
    """The PIL-based CLIP image processor (LLaVA's preprocessing; needs no torchvision)."""
    import transformers

    return getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor


def load_gem(
    path_or_hub_id: str | Path,
    ecg_tower: str | Path | None = None,
    vision_tower: str | None = None,
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    load_in_4bit: bool = False,
    progress: Progress | None = None,
) -> GemForCausalLM:
    """GEM (or any LLaVA-format GEM-like checkpoint) as a ``GemForCausalLM`` with ``.processor`` set.

    ``ecg_tower`` overrides ``mm_ecg_tower`` (the ECG-CoCa ``.pt``) unless the checkpoint stores its own
    ECG tower (``save_gem`` writes it), which then wins; ``vision_tower`` overrides
    ``mm_vision_tower`` when the checkpoint does not store the CLIP weights. ``dtype``/``device`` default
    to bfloat16 on CUDA and float32 on CPU.
    """
    progress = progress or log.info
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    if load_in_4bit:
        check_4bit(dev)
    folder = model_folder(path_or_hub_id, progress)
    config = GemConfig.from_file(folder / "config.json")
    progress(f"reading the checkpoint in {folder}")
    # In 4-bit, transformers reads the LM's tensors itself while quantizing: skip them here.
    keep = (lambda key: _part_of(key) != "language_model") if load_in_4bit else None
    parts, ignored = split_checkpoint(read_checkpoint(folder, dt, "cpu" if load_in_4bit else dev, keep))
    if ignored:
        log.info("ignored %d checkpoint key(s) on purpose, e.g. %s", len(ignored), ignored[0])

    if parts["ecg_tower"]:
        # A tower stored in the checkpoint is the one this model was saved (and maybe trained) with: it
        # wins over ecg_tower= / mm_ecg_tower, which name the original ECG-CoCa file.
        if ecg_tower:
            progress(f"using the ECG tower stored in {folder} (not {ecg_tower}, the original ECG-CoCa file)")
        tower = ecg_tower_from_weights(parts["ecg_tower"], dt, "the checkpoint", PREFIXES["ecg_tower"])
    else:
        pt = ecg_tower_path(config, folder, ecg_tower)
        progress(f"loading the ECG tower {pt}")
        tower = load_ecg_coca(pt, dt)
    vision_source = vision_tower or config.mm_vision_tower
    vision = build_vision_tower(config, parts["vision_tower"], vision_source, dt, progress)
    progress("building the language model" + (" in 4-bit" if load_in_4bit else ""))
    if load_in_4bit:
        lm = build_language_model_4bit(folder, config, parts["language_model"], dev)
    else:
        lm = build_language_model(config, parts["language_model"], dt)

    model = GemForCausalLM(config, lm, vision, tower)
    load_module_weights(model.mm_projector, parts["mm_projector"], "mm_projector", PREFIXES["mm_projector"])
    load_module_weights(
        model.ecg_projector, parts["ecg_projector"], "ecg_projector", PREFIXES["ecg_projector"]
    )
    for name in ("vision_tower", "ecg_tower", "mm_projector", "ecg_projector"):
        getattr(model, name).to(device=dev, dtype=dt)
    if not load_in_4bit:
        model.language_model.to(dev)
    model.processor = load_processor(folder, config, vision_source)
    model.eval()
    progress(f"GEM ready on {dev} ({str(dt).removeprefix('torch.')})")
    return model


def gem_state_dict(
    model: GemForCausalLM,
    include_vision: bool = True,
    include_ecg: bool = False,
    state: dict[str, torch.Tensor] | None = None,
    include_llm: bool = True,
) -> dict:
    """The model's weights under GEM's checkpoint key names (the inverse of ``split_checkpoint``).

    ``state``: the ``GemForCausalLM``'s own ``state_dict()`` (for example one DeepSpeed or FSDP gathered);
    read from the model by default. LoRA adapters are merged into the language model's weights.
    """
    from gem_core.model.trainable import merged_lm_state_dict

    full = model.state_dict() if state is None else state

    def part_state(part: str) -> dict[str, torch.Tensor]:
        return {k[len(part) + 1 :]: v for k, v in full.items() if k.startswith(part + ".")}

    out = dict(merged_lm_state_dict(model, part_state("language_model"))) if include_llm else {}
    parts = (
        ["mm_projector", "ecg_projector"] + ["vision_tower"] * include_vision + ["ecg_tower"] * include_ecg
    )
    for part in parts:
        for key, value in part_state(part).items():
            if part == "vision_tower" and not key.startswith(CLIP_INNER):
                key = CLIP_INNER + key  # keep LLaVA's on-disk names whatever the transformers version
            out[PREFIXES[part] + key] = value
    return {k: v.detach().contiguous() for k, v in out.items() if not IGNORED_KEYS.search(k)}


ADAPTER_DIR = "lora_adapter"  # beside a merged LoRA save: the adapter alone, in peft's format


def save_gem(
    model: GemForCausalLM,
    folder: str | Path,
    max_shard_size: int | str = "5GB",
    safe_serialization: bool = True,
    include_vision: bool = True,
    include_ecg: bool = True,
    state_dict: dict[str, torch.Tensor] | None = None,
    include_llm: bool = True,
) -> Path:
    """Write config.json, the weights (safetensors, sharded above ``max_shard_size``; or ``.bin``) and the
    processor files, in the layout ``load_gem`` reads; the model is not changed.

    The ECG tower is written under ``model.ecg_tower.ecg_tower.*`` (``include_ecg``), so a tower that
    trained reloads as trained; ``include_ecg=False`` writes GEM's published layout, where the tower stays
    in its ECG-CoCa ``.pt``. A ``peft`` LoRA language model is saved merged (plain Llama keys) and its
    adapter alone goes to ``lora_adapter/`` (``adapter_config.json`` + ``adapter_model.safetensors``).
    ``state_dict``: the model's own ``state_dict()`` gathered by DeepSpeed ZeRO-3 or FSDP.
    ``include_llm=False`` leaves the language model out (a QLoRA checkpoint: adapter and projectors only,
    which ``load_gem`` refuses as incomplete; ``training.sft`` merges it into the 16-bit base at the end).
    """
    import dataclasses

    from huggingface_hub import save_torch_state_dict

    from gem_core.model.trainable import is_lora, lora_state_dict

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = dataclasses.replace(model.config)  # a copy: saving never changes the model's config
    if include_vision and config.mm_vision_config is None:
        vision = model.vision_tower.config.to_dict()
        config.mm_vision_config = {
            k: v for k, v in vision.items() if k not in ("model_type", "transformers_version")
        }
    config.save(folder)
    state = gem_state_dict(
        model,
        include_vision=include_vision,
        include_ecg=include_ecg,
        state=state_dict,
        include_llm=include_llm,
    )
    if safe_serialization:
        save_torch_state_dict(state, folder, max_shard_size=max_shard_size)
    else:
        torch.save(state, folder / "pytorch_model.bin")
    if is_lora(model):
        from safetensors.torch import save_file

        lm_state = None
        if state_dict is not None:
            lm_state = {k.removeprefix("language_model."): v for k, v in state_dict.items()}
        adapter = folder / ADAPTER_DIR
        adapter.mkdir(exist_ok=True)
        model.language_model.peft_config[model.language_model.active_adapter].save_pretrained(adapter)
        weights = {k: v.detach().contiguous() for k, v in lora_state_dict(model, lm_state).items()}
        save_file(weights, adapter / "adapter_model.safetensors", metadata={"format": "pt"})
    if model.processor is not None:
        model.processor.tokenizer.save_pretrained(folder)
        model.processor.image_processor.save_pretrained(folder)
    return folder
