"""``GemProcessor``: turns (ECG, question) into GEM's inputs, exactly as GEM saw them in training.

- text: the ``llava_v1`` conversation with ``"<image>\\n" + question`` as the user turn, tokenized the
  LLaVA way (split at ``<image>``, the placeholder becomes id -200);
- ECG: ``gem_core.ecg.to_model_input`` (500 Hz, 5000 samples, raw mV, NaN -> 0), rows put in the lead
  order the model config names (GEM: I, II, III, aVR, aVF, aVL, V1-V6);
- image: the rendered 12-lead image through the CLIP image processor (``image_aspect_ratio`` "ori":
  resize the short side, centre crop).
"""

from __future__ import annotations

import numpy as np
import torch

from gem_core.ecg import ECG, LEADS
from gem_core.errors import GemError
from gem_core.model.config import GEM_LEAD_ORDER, IMAGE_TOKEN, IMAGE_TOKEN_INDEX

LLAVA_V1_SYSTEM = (
    "A chat between a curious human and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the human's questions."
)


def llava_v1_prompt(question: str, system: str = LLAVA_V1_SYSTEM) -> str:
    """The ``llava_v1`` conversation up to the assistant's turn (roles USER/ASSISTANT, sep " ").

    >>> llava_v1_prompt("Q?", system="S.")
    'S. USER: <image>\\nQ? ASSISTANT:'
    """
    question = question.replace(IMAGE_TOKEN, "").strip()
    return f"{system} USER: {IMAGE_TOKEN}\n{question} ASSISTANT:"


def tokenize_with_image(tokenizer, prompt: str) -> list[int]:
    """LLaVA's ``tokenizer_image_token``: tokenize the pieces around ``<image>``, join them with -200.

    Each piece is tokenized as the tokenizer would a whole text (BOS included); BOS is kept only once.
    """
    pieces = [tokenizer(piece).input_ids for piece in prompt.split(IMAGE_TOKEN)]
    bos = tokenizer.bos_token_id
    ids: list[int] = []
    for n, piece in enumerate(pieces):
        if n > 0:
            ids.append(IMAGE_TOKEN_INDEX)
            if bos is not None and piece[:1] == [bos]:
                piece = piece[1:]
        ids.extend(piece)
    return ids


class GemProcessor:
    """Builds ``input_ids``, ``attention_mask``, ``ecg_values`` and ``pixel_values`` for ``GemForCausalLM``."""

    def __init__(
        self,
        tokenizer,
        image_processor,
        lead_order: tuple[str, ...] = GEM_LEAD_ORDER,
        image_aspect_ratio: str = "ori",
        image_layout: str = "12x1",
    ):
        if image_aspect_ratio not in ("ori", "pad"):
            raise GemError(f"image_aspect_ratio {image_aspect_ratio!r} is not supported; GEM uses 'ori'")
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.lead_order = tuple(lead_order)
        self.image_aspect_ratio = image_aspect_ratio
        self.image_layout = image_layout

    def ecg_values(self, ecg: ECG, window: str = "first") -> tuple[np.ndarray, dict]:
        """(12, 5000) float32 mV with rows in ``lead_order``, and ``to_model_input``'s report."""
        from gem_core.ecg import to_model_input

        signal, report = to_model_input(ecg, window=window)
        signal = np.nan_to_num(np.asarray(signal, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        rows = [LEADS.index(name) for name in self.lead_order]
        return signal[rows], dict(report, lead_order=list(self.lead_order))

    def render(self, ecg: ECG):
        """The 12-lead image GEM reads (``gem_core.render.ecg_image``)."""
        from gem_core.render import ecg_image

        return ecg_image(ecg, layout=self.image_layout)

    def pixel_values(self, image) -> torch.Tensor:
        image = image.convert("RGB")
        if self.image_aspect_ratio == "pad":
            image = _expand_to_square(image, tuple(int(255 * m) for m in self.image_processor.image_mean))
        return self.image_processor(images=image, return_tensors="pt")["pixel_values"]

    def __call__(self, ecg: ECG, question: str, image=None, window: str = "first") -> dict:
        """Model inputs for one (ECG, question); ``image`` defaults to the rendered ECG.

        Returns a dict of batched tensors plus ``"prompt"`` (str) and ``"report"`` (the ECG report).
        """
        prompt = llava_v1_prompt(question)
        ids = torch.tensor([tokenize_with_image(self.tokenizer, prompt)])
        signal, report = self.ecg_values(ecg, window=window)
        return {
            "input_ids": ids,
            "attention_mask": torch.ones_like(ids),
            "ecg_values": torch.from_numpy(signal)[None],
            "pixel_values": self.pixel_values(self.render(ecg) if image is None else image),
            "prompt": prompt,
            "report": report,
        }


def _expand_to_square(image, background):
    from PIL import Image

    w, h = image.size
    side = max(w, h)
    out = Image.new(image.mode, (side, side), background)
    out.paste(image, ((side - w) // 2, (side - h) // 2))
    return out
