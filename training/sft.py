"""Supervised fine-tuning of GEM: full (GEM's recipe) or LoRA / QLoRA, on transformers' ``Trainer``.

    python -m training.sft --model DIR|HUB_ID [--ecg-tower FILE] --data FILE.json --ecg-root DIR \\
        [--image-root DIR] --out DIR [--lora-r R] [--lr LR] [--max-steps N] [--batch-size B] [--epochs E]

Launch on several GPUs with ``accelerate launch --config_file training/configs/<setup>.yaml -m
training.sft ...`` (one GPU, DDP, DeepSpeed ZeRO-2/3, FSDP).

Public API: ``SftConfig`` (plain values, GEM's recipe as defaults), ``train(config, callbacks=())`` ->
``SftResult``, ``GemCheckpointMixin`` and ``gem_trainer_class()`` (a ``Trainer`` whose checkpoints are
``load_gem`` folders; the mixin fits TRL's trainers too), ``load_model``, ``load_checkpoint_weights``,
``last_checkpoint``, ``merge_qlora``, ``dataset_loss``, ``weights_hash``, ``write_run_config``, ``git_commit``,
``training_arguments`` and ``main(argv)``.

What GEM trained (DESIGN.md): the language model and both projectors, ECG-CoCa and CLIP frozen; 1 epoch,
lr 2e-5, cosine, warmup 3%, weight decay 0, bf16, gradient checkpointing, ``model_max_length`` 4096.
Every checkpoint (``out/checkpoint-N``) and the final ``out`` are folders ``load_gem`` reads (the ECG
tower included), so ``GEM_MODEL=out python app.py`` serves the result; a LoRA run saves the merged model
and its adapter in ``out/lora_adapter``.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gem_core.errors import GemError
from gem_core.provenance import project_commit
from training.data import MAX_LENGTH, GemCollator, SftDataset, read_records

log = logging.getLogger(__name__)
RUN_CONFIG = "training_config.json"


@dataclass
class SftConfig:
    """Everything a run depends on; written next to the output as ``training_config.json``."""

    model: str
    data: str
    ecg_root: str
    out: str
    ecg_tower: str | None = None
    vision_tower: str | None = None
    image_root: str | None = None
    # optimisation (GEM's recipe)
    lr: float = 2e-5
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4  # per device; GEM: 16 per GPU x 8 GPUs x 2 accumulation = 256
    grad_accum: int = 1
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    scheduler: str = "cosine"
    max_length: int = MAX_LENGTH
    bf16: bool | None = None  # None: on when the GPU supports it
    gradient_checkpointing: bool = True
    seed: int = 42
    shuffle: bool = True
    # what trains
    lora_r: int = 0  # 0: full fine-tune
    lora_alpha: int | None = None  # default 2 * r
    lora_dropout: float = 0.05
    lora_targets: list[str] | None = None
    qlora: bool = False  # 4-bit NF4 base under LoRA (CUDA + bitsandbytes)
    train_llm: bool = True
    train_ecg_tower: bool = False
    train_vision_tower: bool = False
    # bookkeeping
    save_steps: int = 500
    save_total_limit: int | None = 2
    logging_steps: int = 10
    resume: str | None = None  # "auto": the last complete checkpoint in out; or a checkpoint folder
    num_workers: int = 2
    cache_media: bool = False  # keep signals and images in memory after the first epoch (small sets)
    progress: bool = True

    def check(self) -> None:
        if self.lr <= 0 or self.batch_size < 1 or self.grad_accum < 1 or self.epochs <= 0:
            raise GemError("lr, epochs, batch size and gradient accumulation must be positive")
        if self.lora_r < 0:
            raise GemError(f"--lora-r must be 0 (full fine-tune) or a positive rank, got {self.lora_r}")
        if self.qlora and not self.lora_r:
            raise GemError("--qlora trains LoRA adapters on a 4-bit base: give --lora-r too")
        if self.max_steps == 0 or self.max_steps < -1:
            raise GemError(f"--max-steps must be positive (or -1 for whole epochs), got {self.max_steps}")
        if not 0 <= self.warmup_ratio < 1:
            raise GemError(f"--warmup-ratio must be in [0, 1), got {self.warmup_ratio}")


@dataclass
class SftResult:
    out: Path
    steps: int
    losses: list[float] = field(default_factory=list)  # training loss at each logging step
    used: int = 0
    skipped: list[dict] = field(default_factory=list)
    rank_weight_hashes: list[str] = field(default_factory=list)
    model: object = field(default=None, repr=False)  # the trained GemForCausalLM, in memory

    @property
    def final_loss(self) -> float | None:
        return self.losses[-1] if self.losses else None

    def summary(self) -> str:
        loss = f"loss {self.losses[0]:.4f} -> {self.losses[-1]:.4f}" if self.losses else "no loss logged"
        skipped = f"{len(self.skipped)} skipped" + (
            f" ({', '.join(s['id'] + ': ' + s['reason'].split(':', 1)[0] for s in self.skipped[:5])}"
            + (" ..." if len(self.skipped) > 5 else "")
            + ")"
            if self.skipped
            else ""
        )
        return f"sft: {self.used} records used, {skipped}; {self.steps} steps, {loss}; model in {self.out}"


# --- model -----------------------------------------------------------------------------------------------


def load_model(config: SftConfig, progress=log.info):
    """GEM with the freeze policy of ``config`` (and LoRA / QLoRA adapters when asked)."""
    from gem_core.model import apply_lora, load_gem, set_trainable

    cuda = torch.cuda.is_available()
    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    # Full fine-tune: fp32 weights with bf16 autocast, or bf16 weights under DeepSpeed (which keeps the
    # fp32 master copy in its optimizer, as GEM's LLaVA training did); LoRA: the frozen base in bf16.
    dtype = "bfloat16" if cuda and (config.lora_r or deepspeed) else "float32"
    model = load_gem(
        config.model,
        ecg_tower=config.ecg_tower,
        vision_tower=config.vision_tower,
        dtype=dtype,
        device="cpu" if not config.qlora else None,
        load_in_4bit=config.qlora,
        progress=progress,
    )
    if config.qlora:
        from peft import prepare_model_for_kbit_training

        model.language_model = prepare_model_for_kbit_training(
            model.language_model, use_gradient_checkpointing=config.gradient_checkpointing
        )
    if config.lora_r:
        apply_lora(
            model,
            r=config.lora_r,
            alpha=config.lora_alpha,
            dropout=config.lora_dropout,
            target_modules=config.lora_targets,
        )
    counts = set_trainable(
        model,
        llm=config.train_llm,
        projectors=True,
        ecg_tower=config.train_ecg_tower,
        vision_tower=config.train_vision_tower,
    )
    progress("trainable parameters: " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return model.train()


def weights_hash(model) -> str:
    """sha256 of the trainable weights: equal on every rank when data-parallel replicas are in sync."""
    h = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        if param.requires_grad:
            h.update(name.encode())
            h.update(param.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()


# --- checkpoints -----------------------------------------------------------------------------------------


def last_checkpoint(out: str | Path) -> Path | None:
    """The newest complete ``checkpoint-N`` in ``out`` (complete: its ``trainer_state.json`` was written,
    which the Trainer does last); an interrupted save is passed over."""
    out = Path(out)
    if not out.is_dir():
        return None
    found = []
    for path in out.glob("checkpoint-*"):
        step = path.name.removeprefix("checkpoint-")
        if step.isdigit() and (path / "trainer_state.json").is_file() and (path / "config.json").is_file():
            found.append((int(step), path))
    return max(found)[1] if found else None


def load_checkpoint_weights(model, folder: Path) -> None:
    """Put a ``GemTrainer`` checkpoint's weights into ``model`` (plain, or LoRA: adapter + projectors)."""
    from safetensors.torch import load_file

    from gem_core.model.loading import ADAPTER_DIR, read_checkpoint, split_checkpoint
    from gem_core.model.trainable import is_lora

    dtype = next(p for p in model.mm_projector.parameters()).dtype
    parts, _ = split_checkpoint(read_checkpoint(folder, dtype))
    for part in ("mm_projector", "ecg_projector", "ecg_tower"):
        if parts[part]:
            getattr(model, part).load_state_dict(parts[part])
    if parts["vision_tower"]:
        vision = {
            (k if k in model.vision_tower.state_dict() else k.removeprefix("vision_model.")): v
            for k, v in parts["vision_tower"].items()
        }
        model.vision_tower.load_state_dict(vision)
    if is_lora(model):
        from peft import set_peft_model_state_dict

        adapter = load_file(folder / ADAPTER_DIR / "adapter_model.safetensors")
        result = set_peft_model_state_dict(model.language_model, adapter)
        if getattr(result, "unexpected_keys", None):
            raise GemError(
                f"{folder}: adapter keys the model does not have, e.g. {result.unexpected_keys[0]}"
            )
    else:
        model.language_model.load_state_dict(parts["language_model"], strict=False)


def is_quantized(model) -> bool:
    return bool(getattr(getattr(model.language_model, "config", None), "quantization_config", None)) or bool(
        getattr(model.language_model, "is_loaded_in_4bit", False)
    )


def merge_qlora(config: SftConfig, out: Path, progress=log.info, dtype: str = "bfloat16") -> None:
    """Write ``out`` as a full GEM folder: the 16-bit base (reloaded on CPU) with the trained QLoRA adapter
    (``out/lora_adapter``) and projectors (``out/model.safetensors``) merged in."""
    from gem_core.model import apply_lora, load_gem, save_gem

    progress(f"merging the QLoRA adapter into the {dtype} base on the CPU")
    base = load_gem(
        config.model,
        ecg_tower=config.ecg_tower,
        vision_tower=config.vision_tower,
        dtype=dtype,
        device="cpu",
    )
    apply_lora(
        base, r=config.lora_r, alpha=config.lora_alpha, dropout=0.0, target_modules=config.lora_targets
    )
    load_checkpoint_weights(base, out)
    save_gem(base, out)


class GemCheckpointMixin:
    """Put before any transformers ``Trainer`` (or a TRL trainer built on it) in the bases: every save is a
    GEM checkpoint (``save_gem``: a ``load_gem`` folder, LoRA merged plus ``lora_adapter/``), and resuming
    reads one back. ``class GemDPOTrainer(GemCheckpointMixin, DPOTrainer): ...``"""

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        from gem_core.model import save_gem

        output_dir = output_dir or self.args.output_dir
        if not self.args.should_save:
            return
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        # a 4-bit base cannot be merged in place: QLoRA checkpoints hold the adapter and projectors
        save_gem(model, output_dir, state_dict=state_dict, include_llm=not is_quantized(model))
        torch.save(self.args, os.path.join(output_dir, "training_args.bin"))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model=None) -> None:
        target = self.accelerator.unwrap_model(model or self.model, keep_torch_compile=False)
        load_checkpoint_weights(target, Path(resume_from_checkpoint))


@functools.cache
def gem_trainer_class():
    """``GemTrainer``: transformers' ``Trainer`` with ``GemCheckpointMixin`` (built on first use: importing
    the Trainer is slow)."""
    from transformers import Trainer

    return type("GemTrainer", (GemCheckpointMixin, Trainer), {"__doc__": GemCheckpointMixin.__doc__})


def loss_log():
    """A ``TrainerCallback`` whose ``losses`` list keeps every logged training loss."""
    from transformers import TrainerCallback

    class LossLog(TrainerCallback):
        def __init__(self):
            self.losses: list[float] = []

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                self.losses.append(float(logs["loss"]))

    return LossLog()


# --- the run ---------------------------------------------------------------------------------------------


def git_commit() -> str:
    state = project_commit()
    if state["commit"] is None:
        return "unknown (not a git checkout)"
    return state["commit"] + ("+uncommitted changes" if state["dirty"] else "")


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_run_config(out: Path, config, extra: dict) -> None:
    """``training_config.json`` in ``out``: what ran, with which data and settings, at which commit."""
    import peft
    import transformers

    payload = {
        "step": "sft",
        "config": dataclasses.asdict(config),
        "data_sha256": file_sha256(config.data),
        "commit": git_commit(),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
        **extra,
    }
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (RUN_CONFIG + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    tmp.replace(out / RUN_CONFIG)


def training_arguments(config: SftConfig, world_size: int = 1):
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    bf16 = config.bf16 if config.bf16 is not None else (cuda and torch.cuda.is_bf16_supported())
    if bf16 and not cuda:
        raise GemError("--bf16 needs a GPU here; on CPU training runs in float32")
    return TrainingArguments(
        output_dir=config.out,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        lr_scheduler_type=config.scheduler,
        warmup_steps=config.warmup_ratio,  # a float < 1 is a ratio of the total steps
        weight_decay=config.weight_decay,
        bf16=bf16,
        activation_checkpointing=config.gradient_checkpointing,
        logging_steps=config.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=config.save_steps,
        save_total_limit=config.save_total_limit,
        seed=config.seed,
        data_seed=config.seed,
        train_sampling_strategy="random" if config.shuffle else "sequential",
        dataloader_num_workers=config.num_workers,
        remove_unused_columns=False,
        report_to="none",
        disable_tqdm=not config.progress,
        use_cpu=not cuda,
        ddp_find_unused_parameters=False,
    )


def train(config: SftConfig, callbacks=(), progress=None) -> SftResult:
    """Run SFT; returns where the model is and what happened. ``GemError`` for bad input, and for a run
    that stops (out of memory, interrupted) after saying which checkpoint to resume from."""
    config.check()
    say = progress or log.info
    out = Path(config.out)
    records = read_records(config.data)
    if config.resume == "auto":
        resume = last_checkpoint(out)
        if resume is None:
            say(f"no complete checkpoint in {out}: starting from the beginning")
    elif config.resume:
        resume = Path(config.resume)
        if not (resume / "trainer_state.json").is_file():
            raise GemError(f"--resume {resume} is not a complete checkpoint (no trainer_state.json)")
    else:
        resume = None
    model = load_model(config, say)
    tokenizer = model.processor.tokenizer
    dataset = SftDataset(
        records,
        model.processor,
        config.ecg_root,
        config.image_root,
        config.max_length,
        config.progress,
        cache_media=config.cache_media,
    )
    say(f"data: {dataset.summary()}")
    if len(dataset) == 0:
        raise GemError(f"no usable record in {config.data}: {dataset.skips.summary()}")
    from gem_core.model import pad_id

    args = training_arguments(config)
    GemTrainer = gem_trainer_class()
    losses = loss_log()
    trainer = GemTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        data_collator=GemCollator(pad_id(tokenizer)),
        callbacks=[losses, *callbacks],
    )
    started = time.time()
    run_info = {
        "status": "running",
        "records_used": len(dataset),
        "skipped": dataset.skips.to_list(),
        "images_rendered": len(dataset.rendered),
        "resumed_from": str(resume) if resume else None,
        "world_size": args.world_size,
    }
    if args.should_save:
        write_run_config(out, config, run_info)
    try:
        trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    except (torch.OutOfMemoryError, KeyboardInterrupt, MemoryError) as err:
        what = "ran out of memory" if not isinstance(err, KeyboardInterrupt) else "was interrupted"
        ckpt = last_checkpoint(out)
        where = (
            f"the last complete checkpoint is {ckpt} (load_gem reads it); continue with --resume auto"
            if ckpt
            else "no checkpoint was written yet (lower --save-steps to keep more of a long run)"
        )
        if args.should_save:
            write_run_config(out, config, {**run_info, "status": f"stopped: {what}", "losses": losses.losses})
        hint = " Lower --batch-size, raise --grad-accum or use --lora-r." if "memory" in what else ""
        raise GemError(f"training {what} at step {trainer.state.global_step}; {where}.{hint}") from None
    trainer.save_model(str(out))
    if config.qlora and args.should_save:
        merge_qlora(config, out, say)
    hashes = [weights_hash(model)]
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        gathered = [None] * torch.distributed.get_world_size()
        torch.distributed.all_gather_object(gathered, hashes[0])
        hashes = gathered
    result = SftResult(
        out=out,
        steps=trainer.state.global_step,
        losses=losses.losses,
        used=len(dataset),
        skipped=dataset.skips.to_list(),
        rank_weight_hashes=hashes,
        model=model.eval(),
    )
    if args.should_save:
        write_run_config(
            out,
            config,
            {
                **run_info,
                "status": "finished",
                "steps": result.steps,
                "losses": result.losses,
                "final_loss": result.final_loss,
                "seconds": round(time.time() - started, 1),
                "rank_weight_hashes": hashes,
            },
        )
    return result


@torch.no_grad()
def dataset_loss(model, dataset, batch_size: int = 4) -> float:
    """Mean next-token loss over every learned token of ``dataset`` (the model is left in eval mode)."""
    from gem_core.model import pad_id

    model.eval()
    collate = GemCollator(pad_id(model.processor.tokenizer))
    total, count = 0.0, 0
    for start in range(0, len(dataset), batch_size):
        batch = collate([dataset[i] for i in range(start, min(len(dataset), start + batch_size))])
        logps, n = model.answer_logprobs(**batch)
        total -= float(logps.sum())
        count += int(n.sum())
    return total / max(count, 1)


# --- command line ----------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    from training.cli import Parser

    p = Parser(
        prog="python -m training.sft",
        description="Fine-tune GEM on ECG-Grounding records (full, or LoRA with --lora-r).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    d = SftConfig(model="", data="", ecg_root="", out="")
    p.add_argument("--model", required=True, help="GEM checkpoint folder or Hugging Face id (LANSG/GEM)")
    p.add_argument(
        "--ecg-tower", help="ECG-CoCa .pt (cpt_wfep_epoch_20.pt); default: the config's mm_ecg_tower"
    )
    p.add_argument("--vision-tower", help="CLIP tower folder or id when not stored in the checkpoint")
    p.add_argument("--data", required=True, help="ECG-Grounding JSON list or JSONL")
    p.add_argument("--ecg-root", required=True, help="folder the records' 'ecg' paths are relative to")
    p.add_argument(
        "--image-root", help="folder the records' 'image' paths are relative to (missing: rendered)"
    )
    p.add_argument("--out", required=True, help="output folder (a GEM checkpoint load_gem and the app read)")
    p.add_argument("--lora-r", type=int, default=d.lora_r, help="LoRA rank; 0 = full fine-tune")
    p.add_argument("--lora-alpha", type=int, help="LoRA alpha (default 2 x r)")
    p.add_argument("--lora-dropout", type=float, default=d.lora_dropout)
    p.add_argument("--lora-targets", nargs="+", help="module names (default: every linear layer of the LLM)")
    p.add_argument("--qlora", action="store_true", help="4-bit NF4 base under LoRA (CUDA + bitsandbytes)")
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--epochs", type=float, default=d.epochs)
    p.add_argument(
        "--max-steps", type=int, default=d.max_steps, help="stop after N optimizer steps (-1: epochs)"
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="per device")
    p.add_argument("--grad-accum", type=int, default=d.grad_accum)
    p.add_argument("--warmup-ratio", type=float, default=d.warmup_ratio)
    p.add_argument("--weight-decay", type=float, default=d.weight_decay)
    p.add_argument("--max-length", type=int, default=d.max_length, help="model_max_length (text tokens)")
    p.add_argument(
        "--bf16", action=argparse.BooleanOptionalAction, default=None, help="default: on a bf16 GPU"
    )
    p.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--train-ecg-tower", action="store_true", help="also train ECG-CoCa (GEM: frozen)")
    p.add_argument("--train-vision-tower", action="store_true", help="also train CLIP (GEM: frozen)")
    p.add_argument("--freeze-llm", action="store_true", help="train the projectors only")
    p.add_argument("--no-shuffle", action="store_true", help="records in file order")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--save-steps", type=int, default=d.save_steps)
    p.add_argument("--save-total-limit", type=int, default=d.save_total_limit)
    p.add_argument("--logging-steps", type=int, default=d.logging_steps)
    p.add_argument("--num-workers", type=int, default=d.num_workers, help="DataLoader workers")
    p.add_argument(
        "--cache-media", action="store_true", help="keep signals and images in memory (small sets)"
    )
    p.add_argument(
        "--resume", nargs="?", const="auto", help="continue from the last checkpoint in --out (or PATH)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> SftConfig:
    return SftConfig(
        model=args.model,
        data=args.data,
        ecg_root=args.ecg_root,
        out=args.out,
        ecg_tower=args.ecg_tower,
        vision_tower=args.vision_tower,
        image_root=args.image_root,
        lr=args.lr,
        epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        grad_accum=args.grad_accum,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        max_length=args.max_length,
        bf16=args.bf16,
        gradient_checkpointing=args.gradient_checkpointing,
        seed=args.seed,
        shuffle=not args.no_shuffle,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_targets=args.lora_targets,
        qlora=args.qlora,
        train_llm=not args.freeze_llm,
        train_ecg_tower=args.train_ecg_tower,
        train_vision_tower=args.train_vision_tower,
        save_steps=args.save_steps,
        save_total_limit=args.save_total_limit,
        logging_steps=args.logging_steps,
        resume=args.resume,
        num_workers=args.num_workers,
        cache_media=args.cache_media,
        progress=not args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    from training.cli import end_distributed

    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        result = train(config_from_args(args), progress=lambda m: print(m, file=sys.stderr))
    except GemError as err:
        end_distributed(wait=False)
        print(f"error: {err}", file=sys.stderr)
        return 2
    end_distributed()
    if int(os.environ.get("RANK", "0")) == 0:
        print(result.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
