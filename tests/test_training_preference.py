"""DPO and KTO of the tiny GEM on the store's own exports of real records, with TRL's loss code.

The store is filled through its API (cases from ../shared/data/ecg, two readings each, ratings and A/B
choices), exported with ``annotations`` as the app does, and trained on with ``training.preference``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import types
import uuid
from pathlib import Path

import pytest
import torch

from gem_core.errors import GemError
from tests.conftest import REPO

RECORDS = ("cpsc2018/A0001", "cpsc2018/A0002", "cpsc2018/A0003", "cpsc2018/A0004")
GOOD = "Sinus rhythm with a normal axis and normal intervals."
POOR = "Atrial flutter with variable block."
pytestmark = pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")


def metric_scores(value: int) -> dict:
    from annotations.metrics import METRIC_NAMES

    return {m: value for m in METRIC_NAMES}


@pytest.fixture(scope="module")
def exports(shared_ecg_dir, tmp_path_factory):
    """A DPO and a KTO export of a store with 4 real cases: per case a good and a poor reading, rated
    5 and 1 by one cardiologist, who also picked the good one in an A/B comparison."""
    from annotations.store import Store
    from gem_core.ecg import load_ecg

    folder = tmp_path_factory.mktemp("prefs")
    store = Store(f"sqlite:///{folder / 'ratings.sqlite3'}")
    admin = store.create_rater("admin", "admin-password", role="admin")
    doc = store.create_rater("doc", "doctor-password", actor=admin)
    for rec in RECORDS:
        case = store.add_case(load_ecg(shared_ecg_dir / f"{rec}.hea"), source=rec)
        good = store.add_interpretation(case, "gem", GOOD)
        poor = store.add_interpretation(case, "baseline", POOR)
        store.submit_rating(doc, good, metric_scores(5), idempotency_key=str(uuid.uuid4()))
        store.submit_rating(doc, poor, metric_scores(1), idempotency_key=str(uuid.uuid4()))
        store.submit_preference(doc, good, poor, "a", idempotency_key=str(uuid.uuid4()))
    assert store.export(admin, "dpo", folder / "pairs.jsonl").rows == 4
    assert store.export(admin, "kto", folder / "labels.jsonl").rows == 8
    return folder


@pytest.fixture
def tiny(tiny_gem_dir):
    from gem_core.model import load_gem

    torch.manual_seed(0)
    return load_gem(tiny_gem_dir)


def dpo_trainer(gem, data, lr=1e-3, steps=6, batch=2, lora=False, precompute=False, out=None):
    from trl import DPOConfig

    from gem_core.model import apply_lora, set_trainable
    from gem_core.model.conversation import pad_id
    from training.preference import (
        AdapterDisabled,
        DpoCollator,
        GemDPOTrainer,
        TextAlignedGem,
        frozen_reference,
    )

    if lora:
        apply_lora(gem, r=4)
    else:
        set_trainable(gem)
    policy = TextAlignedGem(gem)
    ref = AdapterDisabled(policy) if lora else frozen_reference(policy)
    args = DPOConfig(
        output_dir=str(out or Path("/tmp") / f"dpo-{uuid.uuid4().hex}"),
        per_device_train_batch_size=batch,
        learning_rate=lr,
        max_steps=steps,
        beta=0.1,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        remove_unused_columns=False,
        gradient_checkpointing=False,
        precompute_ref_log_probs=precompute,
        seed=0,
        bf16=False,
    )
    return GemDPOTrainer(policy, ref, args, data, DpoCollator(pad_id(gem.processor.tokenizer)))


def pairs(exports, gem):
    from training.preference import PreferenceDataset

    return PreferenceDataset(exports / "pairs.jsonl", gem.processor, "dpo", progress=False)


def first_batch(trainer, n=2):
    return trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(n)]))


# ------------------------------------------------------------------ the loss is TRL's, on GEM's log-probs


class _Accel:
    device = torch.device("cpu")

    def gather(self, x):
        return x

    gather_for_metrics = gather


def trl_stub(**attrs):
    """The attributes TRL's ``_compute_loss`` reads, around a model that returns given log-probs."""
    from collections import defaultdict

    base = {"accelerator": _Accel(), "_metrics": {"train": defaultdict(list), "eval": defaultdict(list)}}
    base |= {"_total_train_tokens": 0, "_tp_size": 1, "aux_loss_enabled": False, "precompute_ref_logps": True}
    return types.SimpleNamespace(**base, **attrs)


def fused_output(per_sequence: torch.Tensor, width: int):
    """A ``FusedCausalLMOutput`` whose per-token log-probs sum to ``per_sequence`` (all on the first token)."""
    from trl.trainer.utils import FusedCausalLMOutput

    log_probs = torch.zeros(len(per_sequence), width - 1, dtype=per_sequence.dtype)
    log_probs[:, 0] = per_sequence
    zeros = torch.zeros_like(log_probs)
    return FusedCausalLMOutput(log_probs=log_probs, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool())


def test_dpo_loss_equals_trls_own_loss_on_the_same_logprobs(exports, tiny):
    """Our trainer's loss on a batch = TRL's ``DPOTrainer._compute_loss`` given the per-sequence log-probs
    that ``GemForCausalLM.answer_logprobs`` (gem_core, the previous issue) computes for policy and reference."""
    from trl import DPOTrainer

    trainer = dpo_trainer(tiny, pairs(exports, tiny), steps=2)
    with torch.no_grad():  # make the policy differ from its reference
        for p in tiny.mm_projector.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = first_batch(trainer)
    ours = trainer.compute_loss(trainer.model, batch).item()
    ours_margin = trainer._metrics["train"]["rewards/margins"][-1]

    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    kwargs = {k: batch[k] for k in ("input_ids", "attention_mask", "ecg_values", "pixel_values")}
    with torch.no_grad():
        policy = trainer.model(**kwargs, labels=labels, fused_lm_head=True).log_probs.sum(-1)
        reference = trainer.ref_model(**kwargs, labels=labels, fused_lm_head=True).log_probs.sum(-1)
        # the text-aligned log-probs are gem_core's per-sequence answer log-probs (previous issue)
        media = (batch["ecg_values"], batch["pixel_values"], batch["attention_mask"], labels)
        expected, counts = tiny.answer_logprobs(batch["input_ids"], *media)
    torch.testing.assert_close(policy, expected, rtol=0, atol=1e-3)
    assert counts.tolist() == batch["completion_mask"][:, 1:].sum(-1).tolist()
    ref_chosen, ref_rejected = reference.chunk(2)
    stub = trl_stub(
        model=types.SimpleNamespace(training=True),
        beta=0.1,
        loss_types=["sigmoid"],
        loss_weights=[1.0],
        ld_alpha=None,
        f_divergence_type="reverse_kl",
        use_weighting=False,
    )
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "completion_mask")}
    inputs |= {"ref_chosen_logps": ref_chosen, "ref_rejected_logps": ref_rejected}

    def model(**kwargs):
        return fused_output(policy, batch["input_ids"].shape[1])

    trls = DPOTrainer._compute_loss(stub, model, inputs, False).item()
    assert abs(ours - trls) < 1e-6 and abs(ours - math.log(2)) > 1e-3  # policy != reference here
    assert abs(ours_margin - stub._metrics["train"]["rewards/margins"][-1]) < 1e-6
    # and the formula itself: -log sigmoid(beta * ((pc - rc) - (pr - rr)))
    pc, pr = policy.chunk(2)
    by_hand = -torch.nn.functional.logsigmoid(0.1 * ((pc - ref_chosen) - (pr - ref_rejected))).mean().item()
    assert abs(ours - by_hand) < 1e-6


def test_kto_loss_equals_trls_own_loss_on_the_same_logprobs(exports, tiny):
    from trl import KTOConfig, KTOTrainer

    from gem_core.model import set_trainable
    from gem_core.model.conversation import pad_id
    from training.preference import (
        GemKTOTrainer,
        KtoCollator,
        PreferenceDataset,
        TextAlignedGem,
        frozen_reference,
    )

    set_trainable(tiny)
    data = PreferenceDataset(exports / "labels.jsonl", tiny.processor, "kto", progress=False)
    policy = TextAlignedGem(tiny)
    args = KTOConfig(
        output_dir="/tmp/kto-loss", per_device_train_batch_size=4, report_to=[], use_cpu=True, bf16=False
    )
    args.remove_unused_columns = False
    tok = tiny.processor.tokenizer
    trainer = GemKTOTrainer(policy, frozen_reference(policy), args, data, KtoCollator(tok, pad_id(tok)))
    with torch.no_grad():
        for p in tiny.mm_projector.parameters():
            p.add_(0.05 * torch.randn_like(p))
    items = [data[i] for i in (0, 1, 6, 7)]  # desirable and undesirable rows
    batch = trainer._prepare_inputs(trainer.data_collator(items))
    assert batch["label"].tolist().count(True) == 2
    ours = trainer.compute_loss(trainer.model, batch).item()

    def logps(model, prefix):
        labels = batch[f"{prefix}input_ids"].masked_fill(batch[f"{prefix}completion_mask"] == 0, -100)
        with torch.no_grad():
            return model(
                input_ids=batch[f"{prefix}input_ids"],
                attention_mask=batch[f"{prefix}attention_mask"],
                ecg_values=batch["ecg_values"],
                pixel_values=batch["pixel_values"],
                labels=labels,
                fused_lm_head=True,
            ).log_probs.sum(-1)

    width, kl_width = batch["input_ids"].shape[1], batch["KL_input_ids"].shape[1]
    calls = iter([fused_output(logps(policy, "KL_"), kl_width), fused_output(logps(policy, ""), width)])
    stub = trl_stub(
        model=types.SimpleNamespace(training=True),
        beta=0.1,
        loss_type="kto",
        desirable_weight=1.0,
        undesirable_weight=1.0,
        calculate_KL=True,
    )
    stub._compute_kl_logps = types.MethodType(KTOTrainer._compute_kl_logps, stub)
    ref = trainer.ref_model
    inputs = dict(batch) | {"ref_logps": logps(ref, ""), "ref_KL_logps": logps(ref, "KL_")}
    trls = KTOTrainer._compute_loss(stub, lambda **kw: next(calls), inputs, False).item()
    assert abs(ours - trls) < 1e-6 and abs(ours - 0.5) > 1e-4  # KTO's loss is 0.5 when policy = reference


# ------------------------------------------------------------------------------------------------ learning


@pytest.mark.slow
def test_dpo_starts_at_ln2_learns_the_preferences_and_keeps_the_reference(exports, tiny):
    from training.preference import pair_metrics

    trainer = dpo_trainer(tiny, pairs(exports, tiny), steps=6)
    reference = {k: v.clone() for k, v in trainer.ref_model.state_dict().items()}
    before = pair_metrics(trainer.model, trainer.ref_model, trainer.train_dataset, beta=0.1)
    assert before["margin"] == pytest.approx(0, abs=1e-4)
    trainer.train()
    logs = [e for e in trainer.state.log_history if "loss" in e]
    assert len(logs) == 6 and {"rewards/margins", "rewards/accuracies", "rewards/chosen"} <= set(logs[0])
    assert logs[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # step 0: policy = reference
    assert logs[0]["rewards/margins"] == pytest.approx(0, abs=1e-4)
    assert logs[-1]["loss"] < logs[0]["loss"] - 0.1
    after = pair_metrics(trainer.model, trainer.ref_model, trainer.train_dataset, beta=0.1)
    assert after["n"] == 4 and after["margin"] > 0 and after["accuracy"] >= 0.9
    assert all(torch.equal(v, reference[k]) for k, v in trainer.ref_model.state_dict().items())
    assert any(
        not torch.equal(a, b) for a, b in zip(tiny.state_dict().values(), reference.values(), strict=True)
    )


@pytest.mark.slow
def test_lora_dpo_with_the_adapter_disabled_base_as_reference(exports, tiny, tiny_gem_dir):
    from gem_core.model import load_gem
    from training.preference import pair_metrics

    full = dpo_trainer(load_gem(tiny_gem_dir), pairs(exports, tiny), steps=1)
    full_loss = full.compute_loss(full.model, first_batch(full)).item()
    trainer = dpo_trainer(tiny, pairs(exports, tiny), steps=4, lora=True, lr=5e-3)
    lora_loss = trainer.compute_loss(trainer.model, first_batch(trainer)).item()
    assert lora_loss == pytest.approx(full_loss, abs=1e-6) and lora_loss == pytest.approx(
        math.log(2), abs=1e-4
    )
    base = {k: v.clone() for k, v in tiny.language_model.state_dict().items() if "lora_" not in k}
    trainer.train()
    assert all(torch.equal(v, tiny.language_model.state_dict()[k]) for k, v in base.items())  # the reference
    after = pair_metrics(trainer.model, trainer.ref_model, trainer.train_dataset, beta=0.1)
    assert after["margin"] > 0


def test_precomputed_reference_gives_the_same_loss(exports, tiny):
    trainer = dpo_trainer(tiny, pairs(exports, tiny), steps=1, precompute=True)
    assert trainer.ref_model is None and "ref_chosen_logps" in trainer.train_dataset[0]
    batch = first_batch(trainer)
    assert trainer.compute_loss(trainer.model, batch).item() == pytest.approx(math.log(2), abs=1e-4)


@pytest.mark.slow
def test_kto_on_the_kto_export_runs_and_loss_falls(exports, tiny):
    from trl import KTOConfig

    from gem_core.model import set_trainable
    from gem_core.model.conversation import pad_id
    from training.preference import (
        GemKTOTrainer,
        KtoCollator,
        PreferenceDataset,
        TextAlignedGem,
        frozen_reference,
    )

    set_trainable(tiny)
    data = PreferenceDataset(exports / "labels.jsonl", tiny.processor, "kto", progress=False)
    assert len(data) == 8 and sorted(i["label"] for i in data.items) == [False] * 4 + [True] * 4
    policy = TextAlignedGem(tiny)
    args = KTOConfig(
        output_dir="/tmp/kto-run",
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        max_steps=6,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        remove_unused_columns=False,
        gradient_checkpointing=False,
        beta=0.1,
        bf16=False,
    )
    tok = tiny.processor.tokenizer
    trainer = GemKTOTrainer(policy, frozen_reference(policy), args, data, KtoCollator(tok, pad_id(tok)))
    trainer.train()
    logs = [e for e in trainer.state.log_history if "loss" in e]
    assert logs[0]["loss"] == pytest.approx(0.5, abs=1e-3)  # 1 - sigmoid(0) at step 0
    assert logs[-1]["loss"] < logs[0]["loss"] - 0.05
    assert "rewards/margins" in logs[-1] and logs[-1]["rewards/margins"] > 0


# --------------------------------------------------------------------------------------------- bad input


def rewrite(src: Path, dst: Path, change) -> Path:
    rows = [json.loads(x) for x in src.read_text().splitlines()]
    dst.write_text("".join(json.dumps(r) + "\n" for r in change(rows)))
    return dst


def test_bad_rows_are_skipped_and_counted_or_refused(exports, tiny, tmp_path):
    from training.preference import PreferenceDataset

    def broken(rows):
        rows[0]["ecg"] = str(tmp_path / "gone.npy")  # the ECG file is missing
        rows[1]["rejected"] = rows[1]["chosen"]  # chosen == rejected
        rows[2]["ecg"] = Path(rows[2]["ecg"]).name  # relative: resolved beside the export, where it is not
        return rows

    data = PreferenceDataset(rewrite(exports / "pairs.jsonl", tmp_path / "b.jsonl", broken), tiny.processor)
    assert len(data) == 1 and data.skips.by_reason() == {"ECG file missing": 2, "chosen == rejected": 1}
    assert data.summary().startswith("1 dpo rows used, 3 skipped (2 ECG file missing, 1 chosen == rejected")

    def old_version(rows):
        return [{k: v for k, v in r.items() if k not in ("version", "ecg")} for r in rows]

    with pytest.raises(GemError) as err:
        PreferenceDataset(
            rewrite(exports / "pairs.jsonl", tmp_path / "v1.jsonl", old_version), tiny.processor
        )
    assert "v1.jsonl:1: export rows of version 2 are expected" in str(err.value)
    assert "prompt, chosen, rejected, ecg, case" in str(err.value)
    with pytest.raises(
        GemError, match="a kto row of version 2 needs the fields .*missing: completion, label"
    ):
        PreferenceDataset(exports / "pairs.jsonl", tiny.processor, "kto")


def run_cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=900, check=False
    )


@pytest.mark.slow
def test_command_line_bad_input(exports, tiny_gem_dir, tmp_path):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("keep me")
    base = ["--model", str(tiny_gem_dir), "--data", str(exports / "pairs.jsonl")]
    res = run_cli("training.dpo", *base, "--out", str(tmp_path / "taken"))
    assert res.returncode == 2 and res.stderr.strip().splitlines()[-1].startswith("error: --out")
    assert (tmp_path / "taken" / "x").read_text() == "keep me"
    bad = rewrite(exports / "pairs.jsonl", tmp_path / "old.jsonl", lambda rows: [{"version": 9, **rows[0]}])
    bad.write_text(bad.read_text().replace('"version": 2', '"version": 9'))
    res = run_cli(
        "training.dpo", "--model", str(tiny_gem_dir), "--data", str(bad), "--out", str(tmp_path / "o")
    )
    last = res.stderr.strip().splitlines()[-1]
    assert res.returncode == 2 and "found 9" in last and "version, prompt, chosen, rejected" in last
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob("o.*"))
    res = run_cli("training.kto", "--help")
    assert res.returncode == 0 and "--lora-r" in res.stdout and "--beta" in res.stdout


# ----------------------------------------------------------------------------------------------- round trip


@pytest.mark.slow
def test_round_trip_store_export_dpo_app(exports, tiny_gem_dir, tmp_path):
    """ratings (store API) -> `annotations export` -> `training.dpo` -> the app's GEM backend streams text."""
    from app import handlers
    from app.main import make_context
    from gem_core.model.tiny import ECG_FILE
    from gem_core.settings import get_settings

    export = tmp_path / "cli-pairs.jsonl"
    res = run_cli(
        "annotations", "export", "--db", f"sqlite:///{exports / 'ratings.sqlite3'}", "--format", "dpo",
        "--out", str(export),
    )  # fmt: skip
    assert res.returncode == 0 and json.loads(res.stdout)["signals"] == 4, res.stderr
    out = tmp_path / "gem-dpo"
    res = run_cli(
        "training.dpo", "--model", str(tiny_gem_dir), "--data", str(export), "--out", str(out),
        "--lr", "1e-3", "--max-steps", "3", "--batch-size", "2",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    line = res.stdout.strip().splitlines()[-1]
    assert line.startswith("dpo: 4 dpo rows used, 0 skipped; 3 steps, loss 0.6931 -> ") and str(out) in line
    state = json.loads((out / "trainer_state.json").read_text())
    logged = [e for e in state["log_history"] if "loss" in e]
    assert len(logged) == 3 and all("rewards/margins" in e and "rewards/accuracies" in e for e in logged)
    config = json.loads((out / "training_config.json").read_text())
    assert (
        config["step"] == "training.dpo"
        and config["results"]["rows"] == 4
        and config["settings"]["beta"] == 0.1
    )

    # the app, as deployed with GEM_MODEL=<out>, through its own handlers
    settings = get_settings(
        data_dir=tmp_path / "app", model=str(out), ecg_tower=str(tiny_gem_dir / ECG_FILE), max_new_tokens=8
    )
    ctx = make_context(settings)
    session = handlers.load_sample(ctx, handlers.sample_choices(ctx)[0][1])
    params = handlers.generation_params(0, 1, 8, 0)
    texts = [s.interpretation.text for s in handlers.interpret(ctx, session, "gem", "Q?", params, "t1")]
    assert texts and texts[-1] and ctx.backends["gem"].label == f"GEM ({out})"
    # and `gem_core.interpret --backend gem --model <out>` on a real record
    res = run_cli(
        "gem_core.interpret", str(REPO.parent / "shared/data/ecg/cpsc2018/A0001.hea"), "--backend", "gem",
        "--model", str(out), "--max-new-tokens", "5",
    )  # fmt: skip
    assert res.returncode == 0 and res.stdout.strip(), res.stderr


def test_readme_dpo_commands_use_only_real_options():
    """Every --option the README's "DPO on your ratings" gives training.dpo/kto/pairs and the export exists."""
    import re

    from annotations.__main__ import _parser
    from training import pairs, preference

    readme = (REPO / "README.md").read_text()
    section = readme.split("### DPO on your ratings", 1)[1].split("\n## ", 1)[0]
    commands = re.sub(r"\\\n\s*", " ", section)  # join continued lines
    export = next(a for a in _parser()._actions if a.choices and "export" in a.choices).choices["export"]
    known = {
        "training.dpo": preference.parser("dpo"),
        "training.kto": preference.parser("kto"),
        "training.pairs": pairs.parser(),
        "annotations export": export,
    }
    checked = 0
    for line in commands.splitlines():
        for module, p in known.items():
            if f"-m {module} " in line:
                used = re.findall(r"(?<=\s)--[a-z][a-z0-9-]*", line.split(f"-m {module} ", 1)[1])
                assert set(used) <= {o for a in p._actions for o in a.option_strings}, (module, used)
                checked += len(used)
    assert checked > 25, checked
