"""The accelerate launch configs shipped in training/configs/ parse with accelerate's own loader and say
what the README promises (no GPU here: what runs on GPUs is checked by reading the files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from accelerate.commands.config.config_args import load_config_from_file

CONFIGS = Path(__file__).resolve().parents[1] / "training" / "configs"


@pytest.mark.parametrize(
    "name, kind, processes",
    [
        ("single_gpu", "NO", 1),
        ("ddp", "MULTI_GPU", 8),
        ("zero2", "DEEPSPEED", 8),
        ("zero3", "DEEPSPEED", 8),
        ("fsdp", "FSDP", 8),
    ],
)
def test_config_parses_with_accelerate(name, kind, processes):
    config = load_config_from_file(str(CONFIGS / f"{name}.yaml"))
    assert config.distributed_type.value == kind and config.num_processes == processes and not config.use_cpu
    if kind == "DEEPSPEED":
        ds_file = config.deepspeed_config["deepspeed_config_file"]
        ds = json.loads((CONFIGS.parents[1] / ds_file).read_text())
        assert ds["zero_optimization"]["stage"] == (2 if name == "zero2" else 3)
        assert ds["bf16"]["enabled"] == "auto" and ds["gradient_accumulation_steps"] == "auto"
        assert "offload_optimizer" not in ds["zero_optimization"]  # GEM's ZeRO-2: no offload
        if name == "zero3":
            assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True
    else:
        assert config.mixed_precision == "bf16"
    if kind == "FSDP":
        fsdp = config.fsdp_config
        assert fsdp["fsdp_state_dict_type"] == "FULL_STATE_DICT" and fsdp["fsdp_use_orig_params"] is True
        assert fsdp["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"


def test_readme_training_commands_use_only_real_options():
    """Every --option the README's Training section gives training.sft / training.make_data exists."""
    import re

    from training import make_data, sft

    readme = (CONFIGS.parents[1] / "README.md").read_text()
    section = readme.split("## Training", 1)[1].split("\n## ", 1)[0]
    commands = re.sub(r"\\\n\s*", " ", section)  # join continued lines
    known = {
        "training.sft": {o for a in sft.parser()._actions for o in a.option_strings},
        "training.make_data": {o for a in make_data.parser()._actions for o in a.option_strings},
    }
    checked = 0
    for line in commands.splitlines():
        for module, options in known.items():
            if f"-m {module} " in line:
                used = re.findall(r"(?<=\s)--[a-z][a-z0-9-]*", line.split(f"-m {module} ", 1)[1])
                assert set(used) <= options, (module, set(used) - options)
                checked += len(used)
    assert checked > 30
