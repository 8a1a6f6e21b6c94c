"""GEM, the model: LLaVA-format checkpoints with a CLIP image tower and an ECG-CoCa time-series tower.

>>> from gem_core.model import load_gem  # doctest: +SKIP
>>> model = load_gem("LANSG/GEM", ecg_tower="cpt_wfep_epoch_20.pt")  # doctest: +SKIP
>>> inputs = model.processor(ecg, "Interpret this ECG.")  # doctest: +SKIP

Training side (shared by SFT and preference training): ``build_example``/``pad_collate``
(``conversation``: llava_v1 examples with GEM's label mask), ``set_trainable``/``apply_lora``
(``trainable``: freeze policy, LoRA), ``GemForCausalLM.answer_logprobs`` and ``token_logprobs_sum``
(per-sequence log-probs of the answer tokens), ``GemForCausalLM.activation_checkpointing_enable``, and
``save_gem`` (writes the ECG tower; LoRA saved merged plus the adapter).
"""

from gem_core.model.config import GEM_LEAD_ORDER, IGNORE_INDEX, IMAGE_TOKEN_INDEX, GemConfig
from gem_core.model.conversation import build_example, conversation_prompt, pad_collate, pad_id
from gem_core.model.ecg_tower import EcgTransformer
from gem_core.model.loading import load_gem, save_gem
from gem_core.model.modeling import GemForCausalLM, MergedInputs, token_logprobs_sum
from gem_core.model.processor import GemProcessor, llava_v1_prompt
from gem_core.model.trainable import apply_lora, merged_lm_state_dict, set_trainable, trainable_counts

__all__ = [
    "GEM_LEAD_ORDER",
    "IGNORE_INDEX",
    "IMAGE_TOKEN_INDEX",
    "EcgTransformer",
    "GemConfig",
    "GemForCausalLM",
    "GemProcessor",
    "MergedInputs",
    "apply_lora",
    "build_example",
    "conversation_prompt",
    "llava_v1_prompt",
    "load_gem",
    "merged_lm_state_dict",
    "pad_collate",
    "pad_id",
    "save_gem",
    "set_trainable",
    "token_logprobs_sum",
    "trainable_counts",
]
