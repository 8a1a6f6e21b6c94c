"""A complete tiny GEM, written in GEM's exact on-disk format, for tests and benchmarks.

Random weights, a few thousand parameters per part, built offline: a small byte-level BPE tokenizer
trained here, a 2-layer Llama, a 2-layer CLIP vision tower stored in the checkpoint (28 px images,
4 patches), and a 2-layer ECG-CoCa tower (width 128, kernel 50: 101 tokens, like GEM's) in its own
``.pt`` with ``module.ecg.*`` keys plus the pooler/projection/text keys a real one carries.

>>> import tempfile
>>> folder = make_tiny(tempfile.mkdtemp())
>>> sorted(p.name for p in folder.iterdir())[:3]
['config.json', 'ecg_coca_tiny.pt', 'model.safetensors']
"""

from __future__ import annotations

from pathlib import Path

import torch

from gem_core.model.config import GEM_LEAD_ORDER, GemConfig
from gem_core.model.ecg_tower import EcgTransformer
from gem_core.model.loading import clip_image_processor_class, gem_state_dict, save_gem
from gem_core.model.modeling import GemForCausalLM
from gem_core.model.processor import LLAVA_V1_SYSTEM, GemProcessor
from gem_core.prompts import DEFAULT_QUESTION

ECG_FILE = "ecg_coca_tiny.pt"
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<image>"]
# A little ECG prose so the tokenizer learns useful merges; any text would do.
CORPUS = [
    LLAVA_V1_SYSTEM,
    DEFAULT_QUESTION,
    "USER: ASSISTANT: <image>",
    "Sinus rhythm at 72 bpm. PR interval 160 ms, QRS duration 92 ms, QTc 420 ms. Normal axis.",
    "ST elevation in leads II, III and aVF with reciprocal ST depression in I and aVL.",
    "T wave inversion in V1-V3. Left ventricular hypertrophy by voltage criteria in V5 and V6.",
    "Atrial fibrillation with an irregular ventricular response; no P waves are seen in lead II.",
    "Diagnosis: inferior myocardial infarction. The evidence is the ST segment in aVR and aVL.",
]


def tiny_tokenizer():
    """A byte-level BPE tokenizer (vocab ~300) trained on ``CORPUS``, as a ``PreTrainedTokenizerFast``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A $B", special_tokens=[("<s>", tok.token_to_id("<s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        additional_special_tokens=["<image>"],
    )


def tiny_config(vocab_size: int, lead_order=GEM_LEAD_ORDER) -> GemConfig:
    text = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "tie_word_embeddings": False,
        "rms_norm_eps": 1e-5,
    }
    vision = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 28,
        "patch_size": 14,
        "projection_dim": 32,
    }
    return GemConfig(
        text_config=text,
        mm_vision_tower="tiny-clip (stored in this checkpoint)",
        mm_hidden_size=32,
        mm_projector_type="mlp2x_gelu",
        mm_ecg_tower=ECG_FILE,
        mm_vision_config=vision,
        ecg_lead_order=tuple(lead_order),
    )


def build_tiny(seed: int = 0, lead_order=GEM_LEAD_ORDER) -> GemForCausalLM:
    """The tiny GEM in memory (random weights, deterministic for a seed), with its processor."""
    from transformers import AutoModelForCausalLM, CLIPVisionConfig, CLIPVisionModel

    tokenizer = tiny_tokenizer()
    config = tiny_config(len(tokenizer), lead_order)
    torch.manual_seed(seed)
    lm = AutoModelForCausalLM.from_config(config.lm_config, dtype=torch.float32).eval()
    with torch.no_grad():
        # Zero rows pin those tokens' logits at 0, below the largest random logit: the tiny model never
        # emits EOS (tests rely on max_new_tokens and on the stop signal) and only emits tokens that
        # start a word (" the", " ST", ...), so a streamer has text to flush at every step.
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        for token_id, token in enumerate(vocab):
            if not token.startswith("\u0120") or len(token) < 2:
                lm.lm_head.weight[token_id] = 0.0
    vision = CLIPVisionModel(CLIPVisionConfig(**config.mm_vision_config)).eval()
    ecg = EcgTransformer(width=128, layers=2, heads=2, patch_size=50, n_tokens=101).eval()
    model = GemForCausalLM(config, lm, vision, ecg).eval()
    image_processor = clip_image_processor_class()(
        size={"shortest_edge": 28},
        crop_size={"height": 28, "width": 28},
        image_mean=[0.48145466, 0.4578275, 0.40821073],
        image_std=[0.26862954, 0.26130258, 0.27577711],
    )
    model.processor = GemProcessor(tokenizer, image_processor, lead_order=config.ecg_lead_order)
    return model


def coca_checkpoint(tower: EcgTransformer, seed: int = 0) -> dict:
    """An ECG-CoCa-style checkpoint dict: the tower under ``module.ecg.`` plus weights GEM ignores."""
    g = torch.Generator().manual_seed(seed)
    width = tower.width
    state = {f"module.ecg.{k}": v.clone() for k, v in tower.state_dict().items()}
    state.update(
        {
            "module.ecg.ln_post.weight": torch.ones(width),
            "module.ecg.ln_post.bias": torch.zeros(width),
            "module.ecg.proj": torch.randn(width, 32, generator=g),
            "module.ecg.attn_pool.query": torch.randn(8, width, generator=g),
            "module.text.token_embedding.weight": torch.randn(16, 32, generator=g),
            "module.logit_scale": torch.tensor(4.6),
        }
    )
    return {"epoch": 20, "name": "tiny-ecg-coca", "state_dict": state}


def make_tiny(
    outdir: str | Path,
    seed: int = 0,
    max_shard_size: int | str = "5GB",
    safe_serialization: bool = True,
    lead_order=GEM_LEAD_ORDER,
) -> Path:
    """Write a complete tiny GEM to ``outdir`` (config.json, weights, tokenizer, image processor, ECG .pt)."""
    model = build_tiny(seed, lead_order)
    folder = save_gem(
        model, outdir, max_shard_size=max_shard_size, safe_serialization=safe_serialization, include_ecg=False
    )
    torch.save(coca_checkpoint(model.ecg_tower, seed), folder / ECG_FILE)
    return folder


__all__ = ["build_tiny", "coca_checkpoint", "gem_state_dict", "make_tiny", "tiny_tokenizer"]
