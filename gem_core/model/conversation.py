"""Training examples in GEM's ``llava_v1`` format: token ids, masked labels and a padding collate.

Public functions (shared by SFT and the preference trainers):

- ``conversation_prompt(conversations)``: the ``llava_v1`` text of a multi-turn conversation and the
  character spans the model learns (each answer with its ``</s>``);
- ``build_example(tokenizer, conversations, max_length=None)``: ``input_ids`` (with ``<image>`` = -200)
  and ``labels`` masked token for token as LLaVA's ``preprocess_v1`` (BOS, the system prompt and each
  round's instruction up to and including ``ASSISTANT:`` are -100; each answer and its ``</s>`` are
  learned);
- ``pad_collate(examples, pad_token_id)``: right-pads ``input_ids``/``labels``/``attention_mask`` and
  stacks ``ecg_values``/``pixel_values`` into one batch for ``GemForCausalLM``;
- ``pad_id(tokenizer)``: the id used for padding (the tokenizer's pad token, else EOS; never attended).

Conversation turns are ``{"from": "human"|"gpt", "value": str}`` as in GEM's ECG-Grounding JSON.

>>> conversation_prompt([{"from": "human", "value": "Q"}, {"from": "gpt", "value": "A"}], system="S.")
('S. USER: <image>\\nQ ASSISTANT: A</s>', [(29, 35)])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gem_core.errors import GemError
from gem_core.model.config import IGNORE_INDEX, IMAGE_TOKEN, IMAGE_TOKEN_INDEX
from gem_core.model.processor import LLAVA_V1_SYSTEM

ROLES = {"human": "USER", "gpt": "ASSISTANT"}
SEP, SEP2 = " ", "</s>"  # llava_v1: after a user turn, after an assistant turn


def conversation_prompt(
    conversations: Sequence[dict], system: str = LLAVA_V1_SYSTEM
) -> tuple[str, list[tuple[int, int]]]:
    """The ``llava_v1`` prompt of a whole conversation and the (start, end) character spans learned.

    As LLaVA's ``preprocess_multimodal``, ``<image>`` moves to the start of the first human turn (and is
    removed elsewhere). A span starts at the space after ``ASSISTANT:`` (LLaVA's instruction length
    drops the trailing-space token, so the answer's first token is learned with its space) and ends after
    ``</s>``. Turns must alternate human, gpt, human, gpt, ...; a conversation without an assistant
    turn is a ``GemError`` (nothing to learn).
    """
    if not conversations:
        raise GemError("the conversation is empty")
    text = system + SEP
    spans: list[tuple[int, int]] = []
    for n, turn in enumerate(conversations):
        if (
            not isinstance(turn, dict)
            or turn.get("from") not in ROLES
            or not isinstance(turn.get("value"), str)
        ):
            raise GemError(f"turn {n} is not {{'from': 'human'|'gpt', 'value': str}}: {str(turn)[:80]}")
        expected = "human" if n % 2 == 0 else "gpt"
        if turn["from"] != expected:
            raise GemError(f"turn {n} is from {turn['from']!r}; turns must alternate human, gpt, human, ...")
        value = turn["value"].replace(IMAGE_TOKEN, "").strip()
        if n == 0:
            value = f"{IMAGE_TOKEN}\n{value}"
        if expected == "human":
            text += f"USER: {value}{SEP}"
        else:
            text += "ASSISTANT:"
            start = len(text)
            text += f" {value}{SEP2}"
            spans.append((start, len(text)))
    if not spans:
        raise GemError("the conversation has no assistant ('gpt') turn: nothing to learn")
    if len(conversations) % 2:  # a trailing human turn has no answer: LLaVA's loop leaves it masked
        text = text.rstrip(SEP)
    return text, spans


def _tokens_with_offsets(tokenizer, prompt: str) -> tuple[list[int], list[int]]:
    """Ids of ``prompt`` tokenized the LLaVA way (pieces around ``<image>``, -200 between, one BOS), and the
    character offset in ``prompt`` where each token starts (-1 for BOS and ``<image>``)."""
    if not getattr(tokenizer, "is_fast", False):
        raise GemError("training needs a fast tokenizer (offsets); load the tokenizer with use_fast=True")
    ids: list[int] = []
    starts: list[int] = []
    bos = tokenizer.bos_token_id
    at = 0
    for n, piece in enumerate(prompt.split(IMAGE_TOKEN)):
        if n > 0:
            ids.append(IMAGE_TOKEN_INDEX)
            starts.append(-1)
            at += len(IMAGE_TOKEN)
        enc = tokenizer(piece, return_offsets_mapping=True)
        for token, (s, _e) in zip(enc.input_ids, enc.offset_mapping, strict=True):
            if token == bos and (n > 0 or ids):
                continue  # BOS kept once, at the very start
            ids.append(token)
            starts.append(-1 if token == bos else at + s)
        at += len(piece)
    return ids, starts


def build_example(
    tokenizer,
    conversations: Sequence[dict],
    max_length: int | None = None,
    system: str = LLAVA_V1_SYSTEM,
) -> dict[str, torch.Tensor]:
    """``input_ids`` and ``labels`` (1-D long tensors) of one conversation, masked as GEM trained.

    A token is learned when it starts inside an answer span (``conversation_prompt``); BOS, ``<image>``
    and every instruction token are ``IGNORE_INDEX``. ``max_length`` cuts both (LLaVA's
    ``model_max_length`` truncation; ``<image>`` counts as one token). A conversation whose answers
    are all cut away is a ``GemError``.
    """
    prompt, spans = conversation_prompt(conversations, system)
    ids, starts = _tokens_with_offsets(tokenizer, prompt)
    labels = [
        token if s >= 0 and any(a <= s < b for a, b in spans) else IGNORE_INDEX
        for token, s in zip(ids, starts, strict=True)
    ]
    if max_length is not None:
        ids, labels = ids[:max_length], labels[:max_length]
        if IMAGE_TOKEN_INDEX not in ids:
            raise GemError(f"max_length {max_length} cuts the <image> token away; raise model_max_length")
    if all(label == IGNORE_INDEX for label in labels):
        raise GemError("no answer token is left to learn (answers empty or cut by max_length)")
    return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}


def pad_id(tokenizer) -> int:
    """Padding id: the tokenizer's pad token, else EOS (GEM's Llama tokenizer and the tiny one have no pad
    token); padded positions have attention 0 and label -100, so the id itself is never read."""
    for token_id in (tokenizer.pad_token_id, tokenizer.eos_token_id, 0):
        if token_id is not None:
            return int(token_id)
    return 0


def pad_collate(examples: Sequence[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """One batch from examples holding ``input_ids`` and ``labels`` (1-D), optionally ``ecg_values``
    (12, 5000) and ``pixel_values`` (3, H, W) or (1, 3, H, W). Right padding; other keys are dropped."""
    if not examples:
        raise GemError("cannot collate an empty list of examples")
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        ids[row, :n] = torch.as_tensor(example["input_ids"])
        labels[row, :n] = torch.as_tensor(example["labels"])
        mask[row, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    for key, dims in (("ecg_values", 2), ("pixel_values", 3)):
        if key in examples[0]:
            values = [torch.as_tensor(e[key]) for e in examples]
            batch[key] = torch.stack([v.reshape(v.shape[-dims:]) for v in values])
    return batch
