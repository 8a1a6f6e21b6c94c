"""The model side of training, on the tiny GEM: llava_v1 examples and label masks, padding, answer
log-probs, the freeze policy, LoRA, gradient checkpointing, and ``save_gem`` round trips."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from gem_core.ecg import ECG
from gem_core.errors import GemError
from gem_core.model import (
    IGNORE_INDEX,
    IMAGE_TOKEN_INDEX,
    apply_lora,
    build_example,
    load_gem,
    pad_collate,
    pad_id,
    save_gem,
    set_trainable,
    token_logprobs_sum,
)
from gem_core.model.loading import ADAPTER_DIR
from gem_core.model.processor import LLAVA_V1_SYSTEM, llava_v1_prompt, tokenize_with_image
from gem_core.model.tiny import ECG_FILE, build_tiny

TWO_ROUNDS = [
    {"from": "human", "value": "What is the rhythm?\n<image>"},
    {"from": "gpt", "value": "Sinus rhythm."},
    {"from": "human", "value": "Axis?"},
    {"from": "gpt", "value": "Normal axis."},
]


@pytest.fixture(scope="module")
def model():
    return build_tiny(seed=0)


@pytest.fixture(scope="module")
def tok(model):
    return model.processor.tokenizer


@pytest.fixture(scope="module")
def media(model):
    """ECG values and pixel values for one record (numpy sines; no physiology needed here)."""
    rng = np.random.default_rng(0)
    t = np.arange(5000) / 500.0
    signal = 0.8 * np.sin(2 * np.pi * 1.2 * t) * rng.uniform(0.2, 1.0, (12, 1)) + rng.normal(
        0, 0.05, (12, 5000)
    )
    ecg = ECG.from_array(signal, fs=500, record_id="sines")
    values, _ = model.processor.ecg_values(ecg)
    pixels = model.processor.pixel_values(Image.new("RGB", (64, 48), "white"))[0]
    return torch.from_numpy(values), pixels


def example(tok, media, conversations=TWO_ROUNDS):
    ex = build_example(tok, conversations)
    return {**ex, "ecg_values": media[0], "pixel_values": media[1]}


def plain(tok, text):
    return tok(text, add_special_tokens=False).input_ids


# --- llava_v1 examples --------------------------------------------------------------------------------


def test_two_round_label_mask_written_out_by_hand(tok):
    """Masked: BOS, the system prompt, each USER turn up to and including 'ASSISTANT:'. Learned: each
    answer from the space after 'ASSISTANT:' through its '</s>'. (LLaVA's preprocess_v1: round split on
    '</s>', instruction length = tokens of the round up to ' ASSISTANT: ' minus BOS and the trailing space.)"""
    bos, eos = tok.bos_token_id, tok.eos_token_id
    masked_1a = [bos, *plain(tok, LLAVA_V1_SYSTEM + " USER: ")]
    masked_1b = plain(tok, "\nWhat is the rhythm? ASSISTANT:")
    learned_1 = [*plain(tok, " Sinus rhythm."), eos]
    masked_2 = plain(tok, "USER: Axis? ASSISTANT:")
    learned_2 = [*plain(tok, " Normal axis."), eos]
    ids = masked_1a + [IMAGE_TOKEN_INDEX] + masked_1b + learned_1 + masked_2 + learned_2
    labels = (
        [IGNORE_INDEX] * (len(masked_1a) + 1 + len(masked_1b))
        + learned_1
        + [IGNORE_INDEX] * len(masked_2)
        + learned_2
    )
    ex = build_example(tok, TWO_ROUNDS)
    assert ex["input_ids"].tolist() == ids
    assert ex["labels"].tolist() == labels
    # the ids are the ones inference tokenizes for the same text (tokenize_with_image on the whole prompt)
    full = (
        llava_v1_prompt("What is the rhythm?") + " Sinus rhythm.</s>USER: Axis? ASSISTANT: Normal axis.</s>"
    )
    assert ex["input_ids"].tolist() == tokenize_with_image(tok, full)
    learned = [t for t in ex["labels"].tolist() if t != IGNORE_INDEX]
    assert tok.decode(learned) == " Sinus rhythm.</s> Normal axis.</s>"
    assert ex["labels"][0] == IGNORE_INDEX and learned.count(eos) == 2


def test_image_moves_to_the_first_turn_and_other_turns_lose_it(tok):
    a = build_example(tok, [{"from": "human", "value": "Q <image>"}, {"from": "gpt", "value": "A."}])
    b = build_example(tok, [{"from": "human", "value": "<image>\nQ"}, {"from": "gpt", "value": "A."}])
    assert torch.equal(a["input_ids"], b["input_ids"]) and (a["input_ids"] == IMAGE_TOKEN_INDEX).sum() == 1
    c = build_example(
        tok,
        [
            {"from": "human", "value": "Q"},
            {"from": "gpt", "value": "A."},
            {"from": "human", "value": "<image> again?"},
            {"from": "gpt", "value": "Yes."},
        ],
    )
    assert (c["input_ids"] == IMAGE_TOKEN_INDEX).sum() == 1


@pytest.mark.parametrize(
    "conversations, message",
    [
        ([{"from": "human", "value": "<image>\nQ"}], "no assistant"),
        ([], "empty"),
        ([{"from": "gpt", "value": "A"}, {"from": "human", "value": "Q"}], "alternate"),
        ([{"from": "human", "value": "Q"}, {"from": "robot", "value": "A"}], "turn 1"),
        ([{"from": "human", "value": "Q"}, {"from": "gpt", "value": 3}], "turn 1"),
    ],
)
def test_bad_conversations_are_refused_with_a_reason(tok, conversations, message):
    with pytest.raises(GemError, match=message):
        build_example(tok, conversations)


def test_max_length_cuts_like_model_max_length(tok):
    full = build_example(tok, TWO_ROUNDS)
    cut = build_example(tok, TWO_ROUNDS, max_length=len(full["input_ids"]) - 5)
    assert torch.equal(cut["input_ids"], full["input_ids"][:-5]) and torch.equal(
        cut["labels"], full["labels"][:-5]
    )
    with pytest.raises(GemError, match="<image>"):
        build_example(tok, TWO_ROUNDS, max_length=10)
    at = int((full["input_ids"] == IMAGE_TOKEN_INDEX).nonzero()) + 3
    with pytest.raises(GemError, match="no answer token"):
        build_example(tok, TWO_ROUNDS, max_length=at)


# --- batches and log-probs ------------------------------------------------------------------------------


def test_padding_collate_and_padded_rows_compute_as_alone(model, tok, media):
    short = example(tok, media, TWO_ROUNDS[:2])
    long = example(tok, media)
    assert tok.pad_token_id is None and pad_id(tok) == tok.eos_token_id
    batch = pad_collate([short, long], pad_id(tok))
    n = len(short["input_ids"])
    assert batch["input_ids"].shape == (2, len(long["input_ids"]))
    assert (batch["input_ids"][0, n:] == tok.eos_token_id).all() and (
        batch["labels"][0, n:] == IGNORE_INDEX
    ).all()
    assert batch["attention_mask"][0].tolist() == [1] * n + [0] * (len(long["input_ids"]) - n)
    assert batch["ecg_values"].shape == (2, 12, 5000) and batch["pixel_values"].shape == (2, 3, 28, 28)
    with torch.no_grad():
        together = model(**batch).logits
        alone = model(**pad_collate([short], pad_id(tok))).logits
    width = alone.shape[1]
    assert torch.allclose(together[0, :width], alone[0], atol=1e-5)
    with pytest.raises(GemError, match="empty"):
        pad_collate([], 0)


def test_answer_logprobs_score_each_answer_token_after_the_splice(model, tok, media):
    batch = pad_collate([example(tok, media), example(tok, media, TWO_ROUNDS[:2])], pad_id(tok))
    with torch.no_grad():
        logps, counts = model.answer_logprobs(**batch)
        logits = model(**batch).logits
    # by hand: text token j (after <image> at i) sits at merged position j - 1 + n_media when j > i
    n_media = logits.shape[1] - batch["input_ids"].shape[1] + 1
    for row in range(2):
        ids, labels = batch["input_ids"][row], batch["labels"][row]
        i = int((ids == IMAGE_TOKEN_INDEX).nonzero())
        total, count = 0.0, 0
        for j in range(len(ids)):
            if labels[j] == IGNORE_INDEX:
                continue
            pos = j - 1 + n_media  # merged position of token j
            total += float(logits[row, pos - 1].log_softmax(-1)[labels[j]])
            count += 1
        assert j > i and count == int(counts[row]) == int((labels != IGNORE_INDEX).sum())
        assert abs(float(logps[row]) - total) < 1e-4
    # the model's own loss is the mean negative log-prob of those tokens
    loss = model(**pad_collate([example(tok, media)], pad_id(tok))).loss
    assert torch.allclose(-logps[0] / counts[0], loss, atol=1e-5)


def test_chosen_and_rejected_share_one_tower_pass(model, tok, media):
    chosen = example(tok, media, [TWO_ROUNDS[0], {"from": "gpt", "value": "Sinus rhythm at 72 bpm."}])
    rejected = example(tok, media, [TWO_ROUNDS[0], {"from": "gpt", "value": "Atrial fibrillation."}])
    batch = pad_collate([chosen, rejected], pad_id(tok))
    calls = []
    handle = model.ecg_tower.register_forward_hook(lambda mod, args, out: calls.append(out.shape[0]))
    try:
        with torch.no_grad():
            both = model.answer_logprobs(**batch)
            shared = model.answer_logprobs(
                **{**batch, "ecg_values": batch["ecg_values"][:1], "pixel_values": batch["pixel_values"][:1]}
            )
    finally:
        handle.remove()
    assert calls == [2, 1]  # the second call ran the tower on one row for both answers
    assert torch.allclose(both[0], shared[0], atol=1e-5) and torch.equal(both[1], shared[1])
    assert both[0][0] != both[0][1]
    with pytest.raises(GemError, match="share"):
        model.answer_logprobs(
            **{**batch, "ecg_values": torch.zeros(3, 12, 5000), "pixel_values": torch.zeros(3, 3, 28, 28)}
        )


def test_token_logprobs_sum_ignores_masked_positions():
    logits = torch.log(torch.tensor([[[0.5, 0.5], [0.25, 0.75], [0.9, 0.1]]]))
    labels = torch.tensor([[IGNORE_INDEX, 1, IGNORE_INDEX]])
    total, count = token_logprobs_sum(logits, labels)
    assert int(count) == 1 and abs(float(total) - np.log(0.5)) < 1e-6


# --- what trains ----------------------------------------------------------------------------------------


def grads_by_part(model) -> dict[str, bool]:
    return {
        part: any(p.grad is not None and p.grad.abs().sum() > 0 for p in getattr(model, part).parameters())
        for part in ("language_model", "mm_projector", "ecg_projector", "ecg_tower", "vision_tower")
    }


def test_freeze_policy_default_is_gems_recipe(tok, media):
    model = build_tiny(seed=0).train()
    counts = set_trainable(model)
    assert counts["ecg_tower"] == 0 and counts["vision_tower"] == 0
    assert counts["language_model"] == sum(p.numel() for p in model.language_model.parameters())
    model(**pad_collate([example(tok, media)], pad_id(tok))).loss.backward()
    assert grads_by_part(model) == {
        "language_model": True,
        "mm_projector": True,
        "ecg_projector": True,
        "ecg_tower": False,
        "vision_tower": False,
    }
    assert set_trainable(model, llm=False)["language_model"] == 0
    assert all(v > 0 for v in set_trainable(model, ecg_tower=True, vision_tower=True).values())


def test_lora_trains_only_adapters_and_projectors(tok, media):
    model = apply_lora(build_tiny(seed=0), r=4).train()
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or "projector" in n for n in names)
    assert any("lora_A" in n for n in names) and any("mm_projector" in n for n in names)
    model(**pad_collate([example(tok, media)], pad_id(tok))).loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == set(names)
    with pytest.raises(GemError, match="not in the language model"):
        apply_lora(build_tiny(seed=0), r=4, target_modules=["qkv"])
    with pytest.raises(GemError, match="rank"):
        apply_lora(build_tiny(seed=0), r=0)


def test_gradient_checkpointing_recomputes_and_gives_the_same_gradients(tok, media):
    batch = pad_collate([example(tok, media)], pad_id(tok))
    grads = []
    for checkpointing in (False, True):
        model = build_tiny(seed=0).train()
        set_trainable(model)
        if checkpointing:
            model.activation_checkpointing_enable()
        calls = []
        layer = model.language_model.model.layers[0]
        handle = layer.self_attn.register_forward_pre_hook(lambda *a, calls=calls: calls.append(1))
        model(**batch).loss.backward()
        handle.remove()
        assert model.is_gradient_checkpointing == checkpointing
        assert len(calls) == (2 if checkpointing else 1)  # recomputed in the backward pass
        grads.append(model.mm_projector[0].weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


# --- saving ---------------------------------------------------------------------------------------------


def one_step(model, batch, lr=1e-2):
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    model(**batch).loss.backward()
    opt.step()
    opt.zero_grad()
    return model.eval()


def test_save_round_trip_after_training_every_part(tmp_path, tok, media):
    model = build_tiny(seed=0)
    set_trainable(model, ecg_tower=True, vision_tower=True)
    batch = pad_collate([example(tok, media)], pad_id(tok))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config_before = json.dumps(model.config.to_dict(), sort_keys=True)
    model.config.mm_vision_config = None  # as a checkpoint whose tower came from mm_vision_tower
    one_step(model, batch)
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed == {"language_model", "mm_projector", "ecg_projector", "ecg_tower", "vision_tower"}
    folder = save_gem(model, tmp_path / "trained")
    assert model.config.mm_vision_config is None  # saving did not change the model's config
    model.config.mm_vision_config = json.loads(config_before)["mm_vision_config"]
    keys = set(load_file(folder / "model.safetensors"))
    assert "model.ecg_tower.ecg_tower.conv1.weight" in keys
    assert not (folder / ECG_FILE).exists()  # no .pt needed: the trained tower is in the checkpoint
    again = load_gem(folder)
    with torch.no_grad():
        assert torch.allclose(again(**batch).logits, model(**batch).logits, atol=1e-5)
    # an ecg_tower= argument (the original ECG-CoCa file) does not replace the trained tower
    original = tmp_path / "original.pt"
    from gem_core.model.tiny import coca_checkpoint

    torch.save(coca_checkpoint(build_tiny(seed=0).ecg_tower), original)
    messages = []
    again = load_gem(folder, ecg_tower=original, progress=messages.append)
    with torch.no_grad():
        assert torch.allclose(again(**batch).logits, model(**batch).logits, atol=1e-5)
    assert any("stored" in m for m in messages)


def test_lora_save_is_merged_and_loads_with_equal_logits(tmp_path, tok, media):
    model = apply_lora(build_tiny(seed=0), r=4)
    batch = pad_collate([example(tok, media)], pad_id(tok))
    for _ in range(2):
        one_step(model, batch, lr=5e-2)
    b = next(p for n, p in model.named_parameters() if "lora_B" in n)
    assert b.abs().sum() > 0  # the adapters moved away from their zero start
    folder = save_gem(model, tmp_path / "lora")
    keys = set(load_file(folder / "model.safetensors"))
    assert not any(k.startswith("base_model") or "lora_" in k or "base_layer" in k for k in keys)
    assert (folder / ADAPTER_DIR / "adapter_config.json").is_file()
    adapter_keys = set(load_file(folder / ADAPTER_DIR / "adapter_model.safetensors"))
    assert adapter_keys and all("lora_" in k for k in adapter_keys)
    merged = load_gem(folder)
    with torch.no_grad():
        adapter_logits = model(**batch).logits
        merged_logits = merged(**batch).logits
        base_logits = build_tiny(seed=0)(**batch).logits
    assert torch.allclose(merged_logits, adapter_logits, atol=1e-4)
    assert not torch.allclose(base_logits, adapter_logits, atol=1e-4)  # the LoRA training did something
    assert type(merged.language_model).__name__ == "LlamaForCausalLM"
