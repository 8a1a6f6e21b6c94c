"""Preference training (DPO, KTO) of GEM with TRL's own loss code, adapted at the model/collator boundary.

TRL's ``DPOTrainer``/``KTOTrainer`` compute their losses from per-token log-probs the model returns when
called as ``model(input_ids=..., attention_mask=..., labels=..., fused_lm_head=True)``, one value per text
position ``t`` for the token at ``t + 1``. GEM replaces its one ``<image>`` token by 677 ECG and image
embeddings, so its logits no longer line up with ``input_ids``. ``TextAlignedGem`` answers that call:
it runs GEM (towers, projectors, splice, language model) and maps each text token's log-prob back to the
token's place in ``input_ids``. The trainers here are TRL's classes, whose ``_compute_loss``, ``log``
and metrics (``rewards/chosen``, ``rewards/rejected``, ``rewards/margins``, ``rewards/accuracies``)
run unchanged; only their set-up is replaced (TRL's prepares text datasets and patches an HF causal
LM's head, neither of which fits GEM).

- ``PreferenceDataset``: rows of ``python -m annotations export --format dpo|kto`` (or
  ``training.pairs``), schema-checked (``annotations.exports.check_row``); a row whose ECG file is
  missing, or whose chosen equals its rejected answer, is skipped and counted.
- ``DpoCollator``/``KtoCollator``: GEM's llava_v1 examples (``gem_core.model.build_example``) padded by
  ``pad_collate``; a DPO batch is [chosen rows; rejected rows] sharing one ECG/image per pair (one tower
  pass for both); a KTO batch adds TRL's mismatched KL rows (completions rotated by one).
- ``GemDPOTrainer``/``GemKTOTrainer``: TRL's trainers on GEM; the reference is a frozen copy, or under
  LoRA the same model with its adapters disabled (``AdapterDisabled``).
"""

from __future__ import annotations

import contextlib
import copy
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from trl import DPOTrainer, KTOTrainer

from annotations.exports import check_row
from gem_core.errors import GemError
from gem_core.model.config import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from gem_core.model.conversation import build_example, pad_collate
from training.data import MAX_LENGTH, SkipLog, read_records

# --------------------------------------------------------------------------------------------- the model


class TextAlignedGem(nn.Module):
    """GEM answering TRL's ``fused_lm_head=True`` call with log-probs aligned to ``input_ids``.

    ``forward(input_ids, attention_mask, ecg_values, pixel_values, labels, fused_lm_head=True)`` returns
    TRL's ``FusedCausalLMOutput`` whose ``log_probs[:, t]`` is log p(``labels[:, t + 1]``) (0 where that
    label is -100), and ``entropy``, ``mean_logits``, ``is_top1`` at the same places, as TRL's fused head
    gives for a text-only model. ``ecg_values``/``pixel_values`` may have fewer rows than ``input_ids``
    (chosen and rejected rows of one pair share them; see ``GemForCausalLM.merge``).
    """

    def __init__(self, gem):
        super().__init__()
        self.gem = gem
        self.config = gem.config

    def forward(
        self,
        input_ids,
        ecg_values,
        pixel_values,
        attention_mask=None,
        labels=None,
        fused_lm_head: bool = False,
        use_cache=None,
        **kwargs,
    ):
        if not fused_lm_head:
            return self.gem(input_ids, ecg_values, pixel_values, attention_mask=attention_mask, labels=labels)
        from trl.trainer.utils import FusedCausalLMOutput

        if labels is None:
            raise GemError("the fused log-prob call needs labels (-100 outside the completion)")
        merged = self.gem.prepare_inputs(input_ids, ecg_values, pixel_values, attention_mask, labels)
        logits = self.gem.language_model(
            inputs_embeds=merged.inputs_embeds, attention_mask=merged.attention_mask
        ).logits
        logits, target = logits[:, :-1].float(), merged.labels[:, 1:]  # position p scores the label at p + 1
        logp = logits.log_softmax(-1)
        # where each text token t >= 1 sits after the splice, minus one: the position whose logits score it
        n_media = merged.inputs_embeds.shape[1] - input_ids.shape[1] + 1
        at = (input_ids == IMAGE_TOKEN_INDEX).int().argmax(1, keepdim=True)
        t = torch.arange(1, input_ids.shape[1], device=logits.device).expand(len(input_ids), -1)
        src = (t + (t > at.to(t.device)) * (n_media - 1) - 1).unsqueeze(-1)
        text_labels = labels[:, 1:].to(logits.device)
        keep = text_labels != IGNORE_INDEX

        def pick(x):  # (B, L'-1, ...) -> (B, L-1) at the text positions, 0 where the label is ignored
            return torch.gather(x, 1, src).squeeze(-1) * keep

        token_logp = torch.gather(logp, 2, target.clamp(min=0).unsqueeze(-1))  # (B, L'-1, 1)
        log_probs = pick(token_logp)
        with torch.no_grad():
            entropy = pick(-(logp.exp() * logp).sum(-1, keepdim=True))
            mean_logits = pick(logits.mean(-1, keepdim=True))
            is_top1 = pick((logits.argmax(-1) == target).unsqueeze(-1)).bool()
        loss = -log_probs.sum() / keep.sum().clamp(min=1)
        return FusedCausalLMOutput(
            loss=loss, log_probs=log_probs, entropy=entropy, mean_logits=mean_logits, is_top1=is_top1
        )

    # what transformers' Trainer and TRL ask of a model
    @property
    def is_gradient_checkpointing(self) -> bool:
        return self.gem.is_gradient_checkpointing

    def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs=None, **kwargs):
        self.gem.activation_checkpointing_enable(gradient_checkpointing_kwargs, **kwargs)

    def gradient_checkpointing_disable(self):
        lm = self.gem.language_model
        base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
        base.gradient_checkpointing_disable()


class AdapterDisabled:
    """The reference under LoRA: the policy itself with its adapters switched off (no second copy)."""

    def __init__(self, policy: TextAlignedGem):
        self.policy = policy

    def __call__(self, **kwargs):
        with self.policy.gem.language_model.disable_adapter():
            return self.policy(**kwargs)


class FrozenReference(TextAlignedGem):
    """A frozen copy of the policy's GEM as the reference (no gradients, dropout off).

    It runs in the policy's train/eval mode: with dropout off the modes compute the same function, but
    not the same kernels (``nn.MultiheadAttention`` in the ECG tower takes a fused path in eval mode that
    differs in the last bits), and at step 0 the policy must equal its reference exactly.
    """

    def __init__(self, policy: TextAlignedGem):
        from trl.trainer.utils import disable_dropout_in_model

        gem = copy.deepcopy(policy.gem)
        gem.requires_grad_(False)
        disable_dropout_in_model(gem)
        super().__init__(gem)
        self._policy = [policy]  # a list: not registered as a submodule (its weights are not ours)

    def forward(self, *args, **kwargs):
        self.gem.train(self._policy[0].training)
        return super().forward(*args, **kwargs)


def frozen_reference(policy: TextAlignedGem) -> FrozenReference:
    return FrozenReference(policy)


# ------------------------------------------------------------------------------------------------ the data


@dataclass
class Media:
    ecg_values: torch.Tensor  # (12, 5000), the model's lead order
    pixel_values: torch.Tensor  # (3, H, W)


def _resolve(path: str, base: Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else base / p


class PreferenceDataset(torch.utils.data.Dataset):
    """Export rows (``kind`` "dpo" or "kto") as tokenized GEM examples with their ECG and image.

    Every row is checked once up front (its ECG read); signals and images are read again per item, so
    memory does not grow with the export.

    Paths in rows are absolute or relative to the export file's folder. A row of another export version
    is a ``GemError`` naming the expected fields (the whole file is refused: its rows mean something
    else); a row whose ECG is missing or unreadable, or whose chosen and rejected answers are the same,
    is skipped and counted in ``skips``.
    """

    def __init__(
        self, path, processor, kind: str = "dpo", max_length: int = MAX_LENGTH, progress: bool = True
    ):
        from tqdm.auto import tqdm

        from gem_core.ecg import load_ecg

        if kind not in ("dpo", "kto"):
            raise GemError(f"kind must be dpo or kto, not {kind!r}")
        path = Path(path)
        self.kind, self.processor, self.skips = kind, processor, SkipLog()
        self.items: list[dict] = []
        base = path.parent
        rows = read_records(path)
        if not rows:
            raise GemError(f"{path} has no rows; export some preferences first")
        for n, row in enumerate(tqdm(rows, desc=f"reading {kind} rows", disable=not progress), start=1):
            where = f"{path}:{n}"
            check_row(row, kind, where)
            rid = f"{path.name}:{n}"
            question = _content(row["prompt"], where, "prompt")
            if kind == "dpo":
                answers = {s: _content(row[s], where, s) for s in ("chosen", "rejected")}
                if answers["chosen"].strip() == answers["rejected"].strip():
                    self.skips.add(rid, "chosen == rejected: the pair teaches nothing")
                    continue
            else:
                answers = {"completion": _content(row["completion"], where, "completion")}
            if not row["ecg"]:
                self.skips.add(rid, "ECG file missing: the row names no ecg (the store kept no samples)")
                continue
            ecg_file = _resolve(row["ecg"], base)
            if not ecg_file.is_file():
                self.skips.add(rid, f"ECG file missing: {ecg_file}")
                continue
            try:
                load_ecg(ecg_file)  # read once here: a bad file is skipped now, not found mid-training
            except GemError as err:
                self.skips.add(rid, f"ECG file unreadable: {ecg_file} ({err})")
                continue
            image_file = None
            if row.get("images"):
                image_file = _resolve(row["images"][0], base)
                if not image_file.is_file():
                    image_file = None  # drawn from the signal, as for a row without an image
            try:
                examples = {
                    side: build_example(
                        processor.tokenizer,
                        [{"from": "human", "value": question}, {"from": "gpt", "value": text}],
                        max_length=max_length,
                    )
                    for side, text in answers.items()
                }
            except GemError as err:
                self.skips.add(rid, f"conversation: {err}")
                continue
            item = {
                "id": rid,
                "question": question,
                "ecg_file": ecg_file,
                "image_file": image_file,
                **examples,
            }
            if kind == "kto":
                item["label"] = bool(row["label"])
                item["answer"] = answers["completion"]
            self.items.append(item)
        if not self.items:
            raise GemError(f"no usable rows in {path}: {self.skips.summary()}")
        if kind == "kto" and len({i["label"] for i in self.items}) < 2:
            raise GemError(
                f"{path}: KTO needs both desirable and undesirable rows; all are {self.items[0]['label']}"
            )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        """The tokenized row with its ``media`` (ECG and image tensors), read from disk now."""
        item = self.items[index]
        return item | {"media": self.media(item)}

    def media(self, item: dict) -> Media:
        from PIL import Image, UnidentifiedImageError

        from gem_core.ecg import load_ecg

        try:
            ecg = load_ecg(item["ecg_file"])
        except GemError as err:  # the file changed after the check: stop rather than train on zeros
            raise GemError(f"row {item['id']} became unusable during training: {err}") from None
        signal, _ = self.processor.ecg_values(ecg)
        image = None
        if item["image_file"] is not None:
            try:
                with Image.open(item["image_file"]) as img:
                    image = img.convert("RGB")
            except (OSError, UnidentifiedImageError):
                image = None  # drawn from the signal below
        pixels = self.processor.pixel_values(image if image is not None else self.processor.render(ecg))[0]
        return Media(torch.from_numpy(signal), pixels)

    def summary(self) -> str:
        return f"{len(self)} {self.kind} rows used, {self.skips.summary()}"


def _content(messages, where: str, key: str) -> str:
    if isinstance(messages, str):
        return messages
    if (
        isinstance(messages, list)
        and messages
        and isinstance(messages[-1], dict)
        and isinstance(messages[-1].get("content"), str)
    ):
        return messages[-1]["content"]
    raise GemError(f"{where}: {key} must be a string or a list of {{role, content}} messages")


class DpoCollator:
    """[chosen rows; rejected rows] as TRL's DPO loss reads them, plus one ECG and image per pair."""

    def __init__(self, pad_token_id: int):
        self.pad_token_id = int(pad_token_id)

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        batch = pad_collate([i["chosen"] for i in items] + [i["rejected"] for i in items], self.pad_token_id)
        out = {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "completion_mask": (batch["labels"] != IGNORE_INDEX).long(),
            "ecg_values": torch.stack([i["media"].ecg_values for i in items]),
            "pixel_values": torch.stack([i["media"].pixel_values for i in items]),
        }
        if "ref_chosen_logps" in items[0]:
            out["ref_chosen_logps"] = torch.tensor([i["ref_chosen_logps"] for i in items])
            out["ref_rejected_logps"] = torch.tensor([i["ref_rejected_logps"] for i in items])
        return out


class KtoCollator:
    """Completions with their labels, and TRL's KL rows: each prompt with the previous row's completion."""

    def __init__(self, tokenizer, pad_token_id: int, max_length: int = MAX_LENGTH):
        self.tokenizer, self.pad_token_id, self.max_length = tokenizer, int(pad_token_id), max_length

    def __call__(self, items: list[dict]) -> dict[str, torch.Tensor]:
        batch = pad_collate([i["completion"] for i in items], self.pad_token_id)
        answers = [i["answer"] for i in items]
        answers = answers[-1:] + answers[:-1]  # (x_1, y_n), (x_2, y_1), ...: TRL's rotation
        kl = pad_collate(
            [
                build_example(
                    self.tokenizer,
                    [{"from": "human", "value": i["question"]}, {"from": "gpt", "value": a}],
                    max_length=self.max_length,
                )
                for i, a in zip(items, answers, strict=True)
            ],
            self.pad_token_id,
        )
        out = {
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "completion_mask": (batch["labels"] != IGNORE_INDEX).long(),
            "KL_input_ids": kl["input_ids"],
            "KL_attention_mask": kl["attention_mask"],
            "KL_completion_mask": (kl["labels"] != IGNORE_INDEX).long(),
            "label": torch.tensor([i["label"] for i in items]),
            "ecg_values": torch.stack([i["media"].ecg_values for i in items]),
            "pixel_values": torch.stack([i["media"].pixel_values for i in items]),
        }
        if "ref_logps" in items[0]:
            out["ref_logps"] = torch.tensor([i["ref_logps"] for i in items])
            out["ref_KL_logps"] = torch.tensor([i["ref_KL_logps"] for i in items])
        return out


# ---------------------------------------------------------------------------------------------- trainers


def _common_setup(trainer, ref_model) -> None:
    """What TRL's ``__init__`` sets and its loss/log code reads, for a model that is not an HF causal LM."""
    from trl.trainer.utils import disable_dropout_in_model

    trainer.beta = trainer.args.beta
    trainer.precompute_ref_logps = False
    trainer.aux_loss_enabled = False
    trainer.router_aux_loss_coef = 0.0
    trainer._metrics = {"train": defaultdict(list), "eval": defaultdict(list)}
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    trainer.maybe_activation_offload_context = contextlib.nullcontext()
    trainer.ref_model = ref_model
    if trainer.args.disable_dropout:
        disable_dropout_in_model(trainer.model)
        if isinstance(ref_model, nn.Module):
            disable_dropout_in_model(ref_model)
    if isinstance(ref_model, nn.Module):
        # as TRL prepares its reference: on the device, under the policy's autocast (mixed precision)
        trainer.ref_model = trainer.accelerator.prepare_model(ref_model, evaluation_mode=True)


def _trainer_init(trainer, model, ref_model, args, dataset, collator, callbacks):
    from transformers import Trainer

    if args.n_gpu > 1:
        raise GemError(
            "several GPUs in one process: launch with `accelerate launch` (DDP), one GPU per process"
        )
    Trainer.__init__(
        trainer, model=model, args=args, data_collator=collator, train_dataset=dataset, callbacks=callbacks
    )
    _common_setup(trainer, ref_model)


def _reference_logps(trainer, batch: dict, keys: tuple[str, ...]) -> list[torch.Tensor]:
    """Summed reference log-probs of ``input_ids`` (and ``KL_input_ids``) for one collated batch."""
    out = []
    inputs = trainer._prepare_inputs(batch)
    for prefix in keys:
        labels = inputs[f"{prefix}input_ids"].masked_fill(inputs[f"{prefix}completion_mask"] == 0, -100)
        with torch.no_grad():
            res = trainer.ref_model(
                input_ids=inputs[f"{prefix}input_ids"],
                attention_mask=inputs[f"{prefix}attention_mask"],
                ecg_values=inputs["ecg_values"],
                pixel_values=inputs["pixel_values"],
                labels=labels,
                fused_lm_head=True,
            )
        out.append(res.log_probs.sum(-1).float().cpu())
    return out


class GemDPOTrainer(DPOTrainer):
    """TRL's ``DPOTrainer`` (its ``_compute_loss`` and ``log`` unchanged) on ``TextAlignedGem``."""

    def __init__(self, model: TextAlignedGem, ref_model, args, train_dataset, data_collator, callbacks=None):
        _trainer_init(self, model, ref_model, args, train_dataset, data_collator, callbacks)
        self.loss_types = list(args.loss_type)
        self.loss_weights = args.loss_weights or [1.0] * len(self.loss_types)
        self.ld_alpha = args.ld_alpha
        self.f_divergence_type = args.f_divergence_type
        self.f_alpha_divergence_coef = args.f_alpha_divergence_coef
        self.label_smoothing = args.label_smoothing
        self.use_weighting = args.use_weighting
        self._is_vision_dataset = False
        if args.precompute_ref_log_probs:
            self.precompute_reference()

    def precompute_reference(self) -> None:
        """Reference log-probs of every pair, once, stored with the rows; then the reference is dropped."""
        loader = torch.utils.data.DataLoader(
            self.train_dataset,
            batch_size=self.args.per_device_train_batch_size,
            collate_fn=self.data_collator,
        )
        at = 0
        for batch in loader:
            (logps,) = _reference_logps(self, batch, ("",))
            chosen, rejected = logps.chunk(2)
            for c, r in zip(chosen.tolist(), rejected.tolist(), strict=True):
                self.train_dataset.items[at] |= {"ref_chosen_logps": c, "ref_rejected_logps": r}
                at += 1
        self.precompute_ref_logps = True
        self.ref_model = None


class GemKTOTrainer(KTOTrainer):
    """TRL's ``KTOTrainer`` (its ``_compute_loss``, KL estimate and ``log`` unchanged) on ``TextAlignedGem``."""

    def __init__(self, model: TextAlignedGem, ref_model, args, train_dataset, data_collator, callbacks=None):
        if args.per_device_train_batch_size < 2:
            raise GemError("KTO's KL estimate needs a batch size of at least 2 (--batch-size)")
        _trainer_init(self, model, ref_model, args, train_dataset, data_collator, callbacks)
        self.loss_type = args.loss_type
        self.desirable_weight = args.desirable_weight
        self.undesirable_weight = args.undesirable_weight
        self.calculate_KL = args.loss_type == "kto"


def pair_metrics(
    policy: TextAlignedGem, reference, dataset: PreferenceDataset, beta: float, batch_size: int = 4
):
    """Mean reward margin and preference accuracy (chosen reward > rejected reward) over ``dataset``, with
    TRL's reward definition ``beta * (log pi - log pi_ref)``."""
    collate = DpoCollator(_pad(policy))
    margins = []
    device = next(policy.parameters()).device
    was_training = policy.training
    policy.eval()
    try:
        for start in range(0, len(dataset), batch_size):
            batch = collate([dataset[i] for i in range(start, min(len(dataset), start + batch_size))])
            batch = {k: v.to(device) for k, v in batch.items()}
            labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
            kwargs = {k: batch[k] for k in ("input_ids", "attention_mask", "ecg_values", "pixel_values")}
            with torch.no_grad():
                pol = policy(**kwargs, labels=labels, fused_lm_head=True).log_probs.sum(-1)
                ref = reference(**kwargs, labels=labels, fused_lm_head=True).log_probs.sum(-1)
            chosen, rejected = (beta * (pol - ref)).chunk(2)
            margins += (chosen - rejected).tolist()
    finally:
        policy.train(was_training)
    margins = np.array(margins)
    return {"margin": float(margins.mean()), "accuracy": float((margins > 0).mean()), "n": len(margins)}


def _pad(policy: TextAlignedGem) -> int:
    from gem_core.model.conversation import pad_id

    return pad_id(policy.gem.processor.tokenizer)


# ------------------------------------------------------------------------------------------ command line

KINDS = {"dpo": "pairs (chosen, rejected)", "kto": "labelled answers (desirable or not)"}


def parser(kind: str):
    from training.cli import Parser

    p = Parser(
        prog=f"python -m training.{kind}",
        description=f"{kind.upper()} of GEM on `python -m annotations export --format {kind}` rows "
        f"({KINDS[kind]}); writes a model folder the app serves (GEM_MODEL=OUT).",
    )
    p.add_argument(
        "--model", required=True, help="GEM checkpoint folder or hub id (the policy and its reference)"
    )
    p.add_argument(
        "--ecg-tower", help="ECG-CoCa cpt_wfep_epoch_20.pt, when the checkpoint does not store its tower"
    )
    p.add_argument("--data", required=True, help=f"the {kind} export (JSONL)")
    p.add_argument("--out", required=True, help="output model folder (must not exist or be empty)")
    p.add_argument("--beta", type=float, default=0.1, help="KL strength beta (default 0.1)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-6 full, 5e-5 LoRA)")
    p.add_argument(
        "--max-steps", type=int, default=-1, help="optimizer steps (default: --epochs over the data)"
    )
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--lora-r", type=int, default=0, help="LoRA rank; 0 = full fine-tune (LLM and projectors)")
    p.add_argument("--batch-size", type=int, default=2, help="pairs (DPO) or rows (KTO, >= 2) per step")
    p.add_argument("--precompute-ref", action="store_true", help="reference log-probs once, before training")
    p.add_argument("--gradient-checkpointing", action="store_true", help="trade compute for memory")
    p.add_argument("--seed", type=int, default=0)
    return p


def parse_args(kind: str, argv: list[str] | None):
    return parser(kind).parse_args(argv)


def _empty_or_missing(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GemError(
            f"--out {out} exists and is not an empty folder; choose another (nothing is overwritten)"
        )
    if not out.parent.is_dir():
        raise GemError(f"folder {out.parent} does not exist; create it or choose another --out")


def train(kind: str, args) -> dict:
    """Load GEM, read the export, train with TRL's loss, save the model; returns the summary figures."""
    import shutil

    from trl import DPOConfig, KTOConfig

    from gem_core.model import apply_lora, load_gem, save_gem, set_trainable
    from gem_core.model.conversation import pad_id
    from training.runinfo import write_config

    out = Path(args.out)
    _empty_or_missing(out)
    if args.batch_size < 1 or args.beta <= 0:
        raise GemError("--batch-size must be >= 1 and --beta > 0")
    gem = load_gem(args.model, ecg_tower=args.ecg_tower)
    if args.lora_r:
        apply_lora(gem, r=args.lora_r)
    else:
        set_trainable(gem)  # GEM's recipe: language model and projectors; both towers frozen
    data = PreferenceDataset(args.data, gem.processor, kind)
    policy = TextAlignedGem(gem)
    reference = AdapterDisabled(policy) if args.lora_r else frozen_reference(policy)
    cuda = torch.cuda.is_available()
    common = {
        "output_dir": str(out.with_name(out.name + ".trainer")),
        "per_device_train_batch_size": args.batch_size,
        "learning_rate": args.lr if args.lr is not None else (5e-5 if args.lora_r else 1e-6),
        "max_steps": args.max_steps,
        "num_train_epochs": args.epochs,
        "beta": args.beta,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
        "use_cpu": not cuda,
        "bf16": cuda and gem.dtype == torch.bfloat16,
        "remove_unused_columns": False,
        "gradient_checkpointing": args.gradient_checkpointing,
        "lr_scheduler_type": "cosine",
        "warmup_steps": 0.1,  # a ratio of the total steps
        "seed": args.seed,
        "precompute_ref_log_probs": False,
    }
    collator_pad = pad_id(gem.processor.tokenizer)
    if kind == "dpo":
        config = DPOConfig(**common)
        trainer = GemDPOTrainer(policy, reference, config, data, DpoCollator(collator_pad))
        if args.precompute_ref:
            trainer.precompute_reference()
    else:
        config = KTOConfig(**common)
        trainer = GemKTOTrainer(
            policy, reference, config, data, KtoCollator(gem.processor.tokenizer, collator_pad)
        )
    partial = out.with_name(out.name + ".partial")
    is_main = trainer.accelerator.is_main_process  # under DDP, rank 0 alone writes and cleans up
    if is_main:
        shutil.rmtree(partial, ignore_errors=True)
    try:
        trainer.train()
        gem.eval()
        logs = [e for e in trainer.state.log_history if "loss" in e]
        results = {
            "rows": len(data),
            "skipped": data.skips.to_list(),
            "steps": trainer.state.global_step,
            "first_loss": logs[0]["loss"] if logs else None,
            "final_loss": logs[-1]["loss"] if logs else None,
            "rewards/margins": logs[-1].get("rewards/margins") if logs else None,
            "rewards/accuracies": logs[-1].get("rewards/accuracies") if logs else None,
        }
        if not is_main:
            return results | {"out": str(out), "data": data}
        save_gem(gem, partial)
        trainer.state.save_to_json(str(partial / "trainer_state.json"))
        write_config(
            partial / "training_config.json",
            f"training.{kind}",
            vars(args) | {"trainer": {k: v for k, v in common.items() if k != "output_dir"}},
            results,
        )
        if out.exists():
            out.rmdir()  # empty (checked above)
        partial.replace(out)
    finally:
        if is_main:
            shutil.rmtree(partial, ignore_errors=True)
            shutil.rmtree(common["output_dir"], ignore_errors=True)
    return results | {"out": str(out), "data": data}


def summary_line(kind: str, results: dict) -> str:
    def num(x):
        return "-" if x is None else f"{x:.4g}"

    data = results["data"]
    line = f"{kind}: {data.summary()}; {results['steps']} steps, loss {num(results['first_loss'])} -> "
    line += f"{num(results['final_loss'])}"
    if results.get("rewards/margins") is not None:
        line += f", rewards/margins {num(results['rewards/margins'])}"
    if results.get("rewards/accuracies") is not None:
        line += f", rewards/accuracies {num(results['rewards/accuracies'])}"
    return line + f"; model saved to {results['out']}"


def main(kind: str, argv: list[str] | None = None) -> int:
    import sys

    from training.cli import end_distributed

    args = parse_args(kind, argv)
    try:
        results = train(kind, args)
    except GemError as err:
        end_distributed(wait=False)
        print(f"error: {err}", file=sys.stderr)
        return 2
    end_distributed()
    print(summary_line(kind, results))
    return 0
