"""GEM, the model: LLaVA-format checkpoints with a CLIP image tower and an ECG-CoCa time-series tower.

>>> from gem_core.model import load_gem  # doctest: +SKIP
>>> model = load_gem("LANSG/GEM", ecg_tower="cpt_wfep_epoch_20.pt")  # doctest: +SKIP
>>> inputs = model.processor(ecg, "Interpret this ECG.")  # doctest: +SKIP
"""

from gem_core.model.config import GEM_LEAD_ORDER, IMAGE_TOKEN_INDEX, GemConfig
from gem_core.model.ecg_tower import EcgTransformer
from gem_core.model.loading import load_gem, save_gem
from gem_core.model.modeling import GemForCausalLM, MergedInputs
from gem_core.model.processor import GemProcessor, llava_v1_prompt

__all__ = [
    "GEM_LEAD_ORDER",
    "IMAGE_TOKEN_INDEX",
    "EcgTransformer",
    "GemConfig",
    "GemForCausalLM",
    "GemProcessor",
    "MergedInputs",
    "llava_v1_prompt",
    "load_gem",
    "save_gem",
]
