"""training.sft on the tiny GEM and real records: overfitting, LoRA, resume after a crash, DDP over gloo,
and the trained folder served by the app's own GEM backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from gem_core.errors import GemError
from gem_core.model import load_gem
from gem_core.model.tiny import ECG_FILE
from tests.grounding_records import grounding_records, write_records
from training.data import SftDataset, read_records
from training.sft import SftConfig, dataset_loss, last_checkpoint, main, train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def one_thread():
    """The tiny model runs faster on one thread, and CI's two cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data_file(shared_ecg_dir, tmp_path_factory):
    return write_records(
        grounding_records(shared_ecg_dir, 8), tmp_path_factory.mktemp("sft-data") / "train.json"
    )


def config(tiny_gem_dir, data_file, shared_ecg_dir, out, **kw) -> SftConfig:
    base = dict(
        model=str(tiny_gem_dir),
        ecg_tower=str(tiny_gem_dir / ECG_FILE),
        data=str(data_file),
        ecg_root=str(shared_ecg_dir),
        out=str(out),
        batch_size=8,
        logging_steps=1,
        num_workers=0,
        progress=False,
        cache_media=True,
        gradient_checkpointing=False,
        save_steps=1000,
        shuffle=False,
    )
    return SftConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def overfit(one_thread, tiny_gem_dir, data_file, shared_ecg_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("sft") / "out"
    cfg = config(tiny_gem_dir, data_file, shared_ecg_dir, out, lr=1e-2, max_steps=100, shuffle=True)
    return train(cfg), cfg


def answer_start(item) -> int:
    return int((item["labels"] != -100).nonzero()[0])


def test_sft_overfits_eight_records(overfit, data_file, shared_ecg_dir):
    result, cfg = overfit
    assert result.steps == 100 and result.used == 8 and result.skipped == []
    assert result.losses[-1] <= 0.2 * result.losses[0], result.losses[::10]  # fell by at least 80%
    model = result.model
    dataset = SftDataset(read_records(data_file), model.processor, shared_ecg_dir, progress=False)
    assert dataset_loss(model, dataset) < 0.2 * result.losses[0]
    reproduced = 0
    for i in range(len(dataset)):
        item = dataset[i]
        start = answer_start(item)
        new = model.generate(
            input_ids=item["input_ids"][None, :start],
            ecg_values=item["ecg_values"][None],
            pixel_values=item["pixel_values"][None],
            max_new_tokens=20,
            do_sample=False,
        )
        reproduced += new[0].tolist() == item["input_ids"][start : start + 20].tolist()
    assert reproduced == 8  # every record's answer, first 20 tokens, from its own ECG
    # the saved folder is the same model
    again = load_gem(cfg.out)
    batch = {k: v[None] for k, v in dataset[0].items()}
    with torch.no_grad():
        assert torch.allclose(again(**batch).logits, model(**batch).logits, atol=1e-5)
    run = json.loads((Path(cfg.out) / "training_config.json").read_text())
    assert run["status"] == "finished" and run["records_used"] == 8 and run["steps"] == 100
    assert run["config"]["lr"] == 1e-2 and len(run["data_sha256"]) == 64 and run["commit"]
    assert run["final_loss"] == result.losses[-1]
    assert "model.ecg_tower.ecg_tower.conv1.weight" in load_file(Path(cfg.out) / "model.safetensors")


def test_trained_folder_is_served_by_the_apps_gem_backend(overfit, tmp_path, shared_ecg_dir, data_file):
    """GEM_MODEL=<out> GEM_ECG_TOWER=<tower> python app.py: the app's own load/interpret handlers."""
    from app import handlers, present
    from app.main import make_context
    from gem_core.prompts import DEFAULT_QUESTION
    from gem_core.settings import get_settings

    result, cfg = overfit
    record = read_records(data_file)[0]
    ctx = make_context(
        get_settings(data_dir=tmp_path, auth_file="", model=cfg.out, ecg_tower=cfg.ecg_tower, device="cpu")
    )
    assert "gem" in [name for _, name in present.backend_choices(ctx)]
    files = sorted(
        str(p) for p in (shared_ecg_dir / record["ecg"]).parent.glob(Path(record["ecg"]).name + ".*")
    )
    session = handlers.load_upload(ctx, files)
    params = handlers.generation_params(0, 1, 20, None)
    texts = [s.interpretation.text for s in handlers.interpret(ctx, session, "gem", DEFAULT_QUESTION, params)]
    assert len(texts) > 2  # streamed
    answer = record["conversations"][1]["value"]
    # the trained answer for this record, word for word (20 greedy tokens of it)
    assert len(texts[-1].strip()) >= 20 and answer.startswith(texts[-1].strip()), (texts[-1], answer)
    assert session.interpretation.is_gem and session.interpretation.backend == "gem"


def test_lora_trains_adapters_and_projectors_and_merges_exactly(
    one_thread, tiny_gem_dir, data_file, shared_ecg_dir, tmp_path
):
    from transformers import TrainerCallback

    class Grads(TrainerCallback):
        names: set[str] = set()

        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            self.names |= {n for n, p in model.named_parameters() if p.grad is not None}

    grads = Grads()
    cfg = config(tiny_gem_dir, data_file, shared_ecg_dir, tmp_path / "lora", lora_r=4, lr=5e-3, max_steps=4)
    result = train(cfg, callbacks=[grads])
    assert grads.names and all(("lora_" in n) or ("projector" in n) for n in grads.names)
    assert any("lora_B" in n for n in grads.names) and any("ecg_projector" in n for n in grads.names)
    merged = load_gem(cfg.out)
    assert type(merged.language_model).__name__ == "LlamaForCausalLM"
    dataset = SftDataset(read_records(data_file)[:2], merged.processor, shared_ecg_dir, progress=False)
    batch = {k: v[None] for k, v in dataset[1].items()}
    with torch.no_grad():
        adapter = result.model(**batch).logits
        assert torch.allclose(merged(**batch).logits, adapter, atol=1e-4)
        assert not torch.allclose(load_gem(tiny_gem_dir)(**batch).logits, adapter, atol=1e-3)
    assert (Path(cfg.out) / "lora_adapter" / "adapter_config.json").is_file()
    # QLoRA's final step (the adapter and projectors merged into a reloaded 16-bit base; 4-bit needs
    # CUDA) gives the same model from the same files
    from gem_core.model import save_gem
    from training.sft import merge_qlora

    save_gem(result.model, tmp_path / "qlora-like", include_llm=False)  # what a QLoRA checkpoint holds
    assert not any(
        k.startswith("model.layers") for k in load_file(tmp_path / "qlora-like" / "model.safetensors")
    )
    with pytest.raises(GemError, match="lacks"):
        load_gem(tmp_path / "qlora-like", ecg_tower=tiny_gem_dir / ECG_FILE)  # incomplete until merged
    import dataclasses

    merge_qlora(
        dataclasses.replace(cfg, out=str(tmp_path / "qlora-like")), tmp_path / "qlora-like", dtype="float32"
    )
    with torch.no_grad():
        remerged = load_gem(tmp_path / "qlora-like")(**batch).logits
    assert torch.allclose(remerged, adapter, atol=1e-4)


def test_crash_leaves_a_loadable_checkpoint_and_resume_matches_an_unbroken_run(
    one_thread, tiny_gem_dir, data_file, shared_ecg_dir, tmp_path
):
    from transformers import TrainerCallback

    class OutOfMemoryAt5(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 4:  # the fifth step
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")

    common = dict(lr=5e-3, max_steps=6, save_steps=2, batch_size=4)
    unbroken = train(config(tiny_gem_dir, data_file, shared_ecg_dir, tmp_path / "unbroken", **common))
    out = tmp_path / "broken"
    with pytest.raises(
        GemError, match=r"ran out of memory at step 4; the last complete checkpoint is .*checkpoint-4"
    ):
        train(config(tiny_gem_dir, data_file, shared_ecg_dir, out, **common), callbacks=[OutOfMemoryAt5()])
    assert not (out / "model.safetensors").exists()  # no half-finished final model
    assert json.loads((out / "training_config.json").read_text())["status"] == "stopped: ran out of memory"
    # the checkpoint is a GEM folder, identical to the unbroken run's at the same step
    dataset = SftDataset(
        read_records(data_file)[:1], unbroken.model.processor, shared_ecg_dir, progress=False
    )
    batch = {k: v[None] for k, v in dataset[0].items()}
    with torch.no_grad():
        at4 = load_gem(out / "checkpoint-4")(**batch).logits
        assert torch.allclose(
            at4, load_gem(tmp_path / "unbroken" / "checkpoint-4")(**batch).logits, atol=1e-6
        )
    # a checkpoint whose save was cut short is passed over
    (out / "checkpoint-9").mkdir()
    (out / "checkpoint-9" / "config.json").write_text("{}")
    assert last_checkpoint(out) == out / "checkpoint-4"
    resumed = train(config(tiny_gem_dir, data_file, shared_ecg_dir, out, resume="auto", **common))
    assert resumed.steps == 6 and len(resumed.losses) == 2  # steps 5 and 6 only
    assert resumed.losses == pytest.approx(unbroken.losses[4:], rel=1e-5)
    with torch.no_grad():
        assert torch.allclose(load_gem(out)(**batch).logits, unbroken.model(**batch).logits, atol=1e-5)
    with pytest.raises(GemError, match="not a complete checkpoint"):
        train(
            config(tiny_gem_dir, data_file, shared_ecg_dir, out, resume=str(out / "checkpoint-9"), **common)
        )


def run_cli(args, env=None, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=env, timeout=timeout)


@pytest.mark.slow
def test_ddp_over_gloo_matches_one_process_with_the_same_global_batch(
    tiny_gem_dir, data_file, shared_ecg_dir, tmp_path
):
    common = [
        "-m", "training.sft", "--model", str(tiny_gem_dir), "--ecg-tower", str(tiny_gem_dir / ECG_FILE),
        "--data", str(data_file), "--ecg-root", str(shared_ecg_dir), "--max-steps", "3", "--lr", "5e-3",
        "--no-shuffle", "--logging-steps", "1", "--num-workers", "0", "--quiet", "--save-steps", "1000",
    ]  # fmt: skip
    one = run_cli([sys.executable, *common, "--out", str(tmp_path / "one"), "--batch-size", "4"])
    assert one.returncode == 0, one.stderr[-3000:]
    # accelerate's --cpu launcher runs ONE process unless MPI is installed (mpirun); --multi_gpu on a host
    # without CUDA starts two torchrun processes that join over gloo: DDP on CPU.
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]  # fmt: skip
    two = run_cli([*launch, *common, "--out", str(tmp_path / "two"), "--batch-size", "2"])
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("sft: 8 records used") == 1  # one summary line, from rank 0
    run_one = json.loads((tmp_path / "one" / "training_config.json").read_text())
    run_two = json.loads((tmp_path / "two" / "training_config.json").read_text())
    assert run_two["world_size"] == 2 and run_one["world_size"] == 1
    hashes = run_two["rank_weight_hashes"]
    assert len(hashes) == 2 and hashes[0] == hashes[1]  # both ranks end with identical weights
    assert run_two["losses"] == pytest.approx(run_one["losses"], rel=1e-4)
    assert len(run_one["losses"]) == 3 and run_one["losses"][2] < run_one["losses"][0]
    a = load_file(tmp_path / "one" / "model.safetensors")
    b = load_file(tmp_path / "two" / "model.safetensors")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


def test_cli_help_and_bad_input(tiny_gem_dir, data_file, shared_ecg_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "--lora-r" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["--model", str(tiny_gem_dir)])
    err = capsys.readouterr().err.strip()
    assert exc.value.code == 2 and err.startswith("error:") and "--data" in err and len(err.splitlines()) == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a"}\n{"id": \n')
    base = ["--model", str(tiny_gem_dir), "--ecg-root", str(shared_ecg_dir), "--out", str(tmp_path / "o")]
    assert main([*base, "--data", str(bad)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {bad}:2: not valid JSON (Expecting value, column 8)"
    assert not (tmp_path / "o").exists()  # nothing written for bad input
    empty = write_records(
        [{**r, "ecg": "nowhere/X"} for r in read_records(data_file)], tmp_path / "gone.json"
    )
    assert main([*base, "--data", str(empty), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "no usable record" in err and "8 skipped (8 ECG file missing" in err
    assert main([*base, "--data", str(data_file), "--lora-r", "-1"]) == 2
    assert "--lora-r" in capsys.readouterr().err
    assert main([*base, "--data", str(data_file), "--qlora"]) == 2
    assert "give --lora-r too" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([*base, "--data", str(data_file), "--qlora", "--lora-r", "4", "--quiet"]) == 2
        assert "needs a CUDA GPU" in capsys.readouterr().err


def test_interrupted_run_names_the_checkpoint_to_resume_from(
    one_thread, tiny_gem_dir, data_file, shared_ecg_dir, tmp_path
):
    from transformers import TrainerCallback

    class CtrlCAt3(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            if state.global_step == 2:
                raise KeyboardInterrupt

    out = tmp_path / "run"
    cfg = config(
        tiny_gem_dir, data_file, shared_ecg_dir, out, lr=5e-3, max_steps=4, save_steps=2, batch_size=4
    )
    with pytest.raises(
        GemError, match=r"was interrupted at step 2; the last complete checkpoint is .*checkpoint-2"
    ):
        train(cfg, callbacks=[CtrlCAt3()])
    assert not (out / "config.json").exists()  # no final model
    at2 = load_gem(out / "checkpoint-2")  # the checkpoint loads, with the two steps' training in it
    base = load_gem(tiny_gem_dir)
    moved = (at2.mm_projector[0].weight - base.mm_projector[0].weight).abs().max()
    assert 0 < float(moved) < 1 and torch.isfinite(at2.mm_projector[0].weight).all()
    assert json.loads((out / "training_config.json").read_text())["status"] == "stopped: was interrupted"
