"""Benchmark: a DPO step against an SFT step on the same batches (tiny GEM, real records, CPU).

Each step is forward + backward + AdamW on the same pairs:

- SFT: the chosen answers through ``GemForCausalLM`` with labels (the language model's own loss);
- DPO: chosen and rejected rows (one tower pass each pair) through ``TextAlignedGem`` plus the frozen
  reference, loss by TRL's ``DPOTrainer._compute_loss`` (``GemDPOTrainer.compute_loss``);
- DPO with the reference log-probs precomputed once (``precompute_reference``; its one-off cost is
  printed separately).

The three are interleaved step by step (machine load hits all alike); printed: median ms per step and
the ratios DPO/SFT. Target (the issue's): with a precomputed reference the DPO step approaches SFT's
(the towers run once per pair in all three; the policy still reads chosen and rejected).

    python bench/train_dpo.py [--steps 10] [--batch-size 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

SHARED_ECG = REPO.parent / "shared" / "data" / "ecg"
RECORDS = ("cpsc2018/A0001", "cpsc2018/A0002", "cpsc2018/A0003", "cpsc2018/A0004")


def export(folder: Path) -> Path:
    """A DPO export of a store holding 4 real cases with a preferred and a rejected reading each."""
    from annotations.metrics import METRIC_NAMES
    from annotations.store import Store
    from gem_core.ecg import load_ecg

    store = Store(f"sqlite:///{folder / 'bench.sqlite3'}")
    admin = store.create_rater("admin", "admin-password", role="admin")
    doc = store.create_rater("doc", "doctor-password", actor=admin)
    for rec in RECORDS:
        case = store.add_case(load_ecg(SHARED_ECG / f"{rec}.hea"))
        good = store.add_interpretation(case, "gem", "Sinus rhythm with a normal axis and normal intervals.")
        poor = store.add_interpretation(case, "baseline", "Atrial flutter with variable block.")
        store.submit_rating(doc, good, dict.fromkeys(METRIC_NAMES, 5), idempotency_key=str(uuid.uuid4()))
        store.submit_preference(doc, good, poor, "a", idempotency_key=str(uuid.uuid4()))
    store.export(admin, "dpo", folder / "pairs.jsonl", images=False)
    return folder / "pairs.jsonl"


def dpo_trainer(gem, data, batch_size: int, folder: Path, precompute: bool):
    from trl import DPOConfig

    from gem_core.model import set_trainable
    from gem_core.model.conversation import pad_id
    from training.preference import DpoCollator, GemDPOTrainer, TextAlignedGem, frozen_reference

    set_trainable(gem)
    policy = TextAlignedGem(gem)
    args = DPOConfig(
        output_dir=str(folder / f"run-{uuid.uuid4().hex}"),
        per_device_train_batch_size=batch_size,
        report_to=[],
        use_cpu=True,
        bf16=False,
        remove_unused_columns=False,
        gradient_checkpointing=False,
        save_strategy="no",
    )
    trainer = GemDPOTrainer(
        policy, frozen_reference(policy), args, data, DpoCollator(pad_id(gem.processor.tokenizer))
    )
    started = time.perf_counter()
    if precompute:
        trainer.precompute_reference()
    return trainer, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=2)
    args = parser.parse_args()
    if not SHARED_ECG.is_dir():
        print(f"real records not found at {SHARED_ECG}", file=sys.stderr)
        return 1
    from gem_core.model import load_gem
    from gem_core.model.tiny import make_tiny
    from training.preference import PreferenceDataset

    torch.manual_seed(0)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tiny = make_tiny(folder / "tiny")
        data_file = export(folder)
        models = {name: load_gem(tiny) for name in ("sft", "dpo", "dpo_pre")}
        runs = {}
        for name in ("dpo", "dpo_pre"):
            data = PreferenceDataset(data_file, models[name].processor, "dpo", progress=False)
            runs[name], once = dpo_trainer(models[name], data, args.batch_size, folder, name == "dpo_pre")
            if name == "dpo_pre":
                precompute_s = once
        sft = models["sft"]
        sft.train()
        sft_opt = torch.optim.AdamW([p for p in sft.parameters() if p.requires_grad], lr=1e-5)
        opts = {
            n: torch.optim.AdamW([p for p in t.model.parameters() if p.requires_grad], lr=1e-5)
            for n, t in runs.items()
        }
        batches = {
            n: [
                t.data_collator(
                    [t.train_dataset[i % len(t.train_dataset)] for i in range(s, s + args.batch_size)]
                )
                for s in range(0, 4, args.batch_size)
            ]
            for n, t in runs.items()
        }

        def sft_step(batch):
            n = len(batch["input_ids"]) // 2  # the chosen rows
            labels = batch["input_ids"][:n].masked_fill(batch["completion_mask"][:n] == 0, -100)
            loss = sft(
                batch["input_ids"][:n],
                batch["ecg_values"],
                batch["pixel_values"],
                batch["attention_mask"][:n],
                labels,
            ).loss
            loss.backward()
            sft_opt.step()
            sft_opt.zero_grad()

        def dpo_step(name, batch):
            trainer = runs[name]
            trainer.model.train()
            loss = trainer.compute_loss(trainer.model, trainer._prepare_inputs(batch))
            loss.backward()
            opts[name].step()
            opts[name].zero_grad()

        times: dict[str, list[float]] = {"sft": [], "dpo": [], "dpo_pre": []}
        for step in range(args.steps + 1):  # step 0 warms up and is not counted
            k = step % len(batches["dpo"])
            for name in ("sft", "dpo", "dpo_pre"):
                start = time.perf_counter()
                if name == "sft":
                    sft_step(batches["dpo"][k])
                else:
                    dpo_step(name, batches[name][k])
                if step:
                    times[name].append(time.perf_counter() - start)
    med = {n: statistics.median(v) * 1000 for n, v in times.items()}
    print(
        f"tiny GEM, {args.batch_size} pairs per step, {args.steps} steps, {torch.get_num_threads()} threads"
    )
    print(f"SFT step (chosen only)           {med['sft']:8.1f} ms")
    print(
        f"DPO step (policy 2x + reference) {med['dpo']:8.1f} ms   ratio DPO/SFT {med['dpo'] / med['sft']:.2f}x"
    )
    print(
        f"DPO step, precomputed reference  {med['dpo_pre']:8.1f} ms   ratio DPO/SFT {med['dpo_pre'] / med['sft']:.2f}x"
        f"   (precompute once: {precompute_s * 1000:.0f} ms for 4 pairs)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
