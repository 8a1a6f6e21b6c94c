"""GEM: a causal LM that reads an ECG twice, as a time series (ECG-CoCa) and as an image (CLIP).

The forward pass follows the data: tower features -> projectors -> splice into the text embeddings
at the single ``<image>`` token (ECG tokens first, then image tokens) -> language model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from gem_core.errors import GemError
from gem_core.model.config import IGNORE_INDEX, IMAGE_TOKEN_INDEX, GemConfig
from gem_core.model.ecg_tower import EcgTransformer

TEXT, ECG_TOKEN, IMAGE = 0, 1, 2  # values of ``MergedInputs.modality``


def build_projector(kind: str, in_features: int, out_features: int) -> nn.Module:
    """LLaVA's projectors: ``linear`` or ``mlp{N}x_gelu`` (N linear layers with GELU between).

    >>> build_projector("mlp2x_gelu", 8, 16)
    Sequential(
      (0): Linear(in_features=8, out_features=16, bias=True)
      (1): GELU(approximate='none')
      (2): Linear(in_features=16, out_features=16, bias=True)
    )
    """
    if kind == "linear":
        return nn.Linear(in_features, out_features)
    match = re.fullmatch(r"mlp(\d+)x_gelu", kind)
    if not match:
        raise GemError(f"unknown projector type {kind!r}; GEM uses 'linear' or 'mlp2x_gelu'")
    layers: list[nn.Module] = [nn.Linear(in_features, out_features)]
    for _ in range(int(match.group(1)) - 1):
        layers += [nn.GELU(), nn.Linear(out_features, out_features)]
    return nn.Sequential(*layers)


@dataclass
class MergedInputs:
    """Text embeddings with the ECG and image tokens spliced in at ``<image>``."""

    inputs_embeds: torch.Tensor  # (B, L', hidden)
    attention_mask: torch.Tensor  # (B, L')
    modality: torch.Tensor  # (B, L') TEXT / ECG_TOKEN / IMAGE per position
    labels: torch.Tensor | None = None  # (B, L') with IGNORE_INDEX on spliced positions


class GemForCausalLM(nn.Module):
    """GEM as one ``nn.Module``: ``language_model``, ``vision_tower``, ``ecg_tower`` and two projectors.

    ``processor`` (a ``GemProcessor``) is attached by ``load_gem``.
    """

    def __init__(
        self, config: GemConfig, language_model: nn.Module, vision_tower: nn.Module, ecg_tower: EcgTransformer
    ):
        super().__init__()
        self.config = config
        self.language_model = language_model
        self.vision_tower = vision_tower
        self.ecg_tower = ecg_tower
        self.mm_projector = build_projector(
            config.mm_projector_type, config.mm_hidden_size, config.hidden_size
        )
        self.ecg_projector = build_projector(
            config.ecg_projector_type, ecg_tower.width, config.mm_hidden_size
        )
        self.processor = None

    @property
    def device(self) -> torch.device:
        return self.mm_projector_weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.mm_projector_weight.dtype

    @property
    def mm_projector_weight(self) -> torch.Tensor:
        return next(self.mm_projector.parameters())

    # 1. features from the two towers
    def get_ecg_features(self, ecg_values: torch.Tensor) -> torch.Tensor:
        """(B, 12, 5000) mV in the config's lead order -> (B, 101, 768): every token of the last block."""
        return self.ecg_tower(ecg_values.to(self.ecg_tower.conv1.weight.device))

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, patches, mm_hidden): the ``mm_vision_select_layer`` hidden state."""
        tower_param = next(self.vision_tower.parameters())
        out = self.vision_tower(
            pixel_values.to(tower_param.device, tower_param.dtype), output_hidden_states=True
        )
        feats = out.hidden_states[self.config.mm_vision_select_layer]
        return feats[:, 1:] if self.config.mm_vision_select_feature == "patch" else feats

    # 2. projection into the language model's embedding space (the same mm_projector for both)
    def project_ecg(self, ecg_features: torch.Tensor) -> torch.Tensor:
        x = self.ecg_projector(ecg_features.to(self.dtype))
        return self.mm_projector(x)

    def project_image(self, image_features: torch.Tensor) -> torch.Tensor:
        return self.mm_projector(image_features.to(self.dtype))

    # 3. splice into the text
    def merge(
        self,
        input_ids: torch.Tensor,
        ecg_embeds: torch.Tensor,
        image_embeds: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
    ) -> MergedInputs:
        """Replace the one ``<image>`` (-200) of each row by [ECG tokens, image tokens].

        ``ecg_embeds``/``image_embeds`` may hold fewer rows than ``input_ids`` when the text rows are
        k copies of the media rows (DPO's chosen rows then rejected rows): text row ``b`` takes media row
        ``b % n_media``, so the towers run once for both.
        """
        embed = self.language_model.get_input_embeddings()
        n_media = ecg_embeds.shape[0]
        if n_media != image_embeds.shape[0] or len(input_ids) % n_media:
            raise GemError(
                f"{len(input_ids)} text rows cannot share {ecg_embeds.shape[0]} ECG and "
                f"{image_embeds.shape[0]} image rows; give one ECG and image per row (or per group of rows)"
            )
        input_ids = input_ids.to(embed.weight.device)
        attention_mask = (
            torch.ones_like(input_ids) if attention_mask is None else attention_mask.to(input_ids.device)
        )
        labels = None if labels is None else labels.to(input_ids.device)
        rows_embeds, rows_mask, rows_mod, rows_labels = [], [], [], []
        for b, ids in enumerate(input_ids):
            where = (ids == IMAGE_TOKEN_INDEX).nonzero().flatten()
            if len(where) != 1:
                raise GemError(f"each prompt needs exactly one <image> token; row {b} has {len(where)}")
            i = int(where[0])
            text = embed(ids.clamp(min=0))
            media = torch.cat([ecg_embeds[b % n_media], image_embeds[b % n_media]]).to(text.dtype)
            n_ecg, n_img = ecg_embeds.shape[1], image_embeds.shape[1]
            rows_embeds.append(torch.cat([text[:i], media, text[i + 1 :]]))
            mask = attention_mask[b]
            rows_mask.append(torch.cat([mask[:i], mask.new_ones(n_ecg + n_img), mask[i + 1 :]]))
            mod = torch.full((len(ids) - 1 + n_ecg + n_img,), TEXT, dtype=torch.long, device=ids.device)
            mod[i : i + n_ecg] = ECG_TOKEN
            mod[i + n_ecg : i + n_ecg + n_img] = IMAGE
            rows_mod.append(mod)
            if labels is not None:
                lab = labels[b]
                rows_labels.append(
                    torch.cat([lab[:i], lab.new_full((n_ecg + n_img,), IGNORE_INDEX), lab[i + 1 :]])
                )
        return MergedInputs(
            inputs_embeds=torch.stack(rows_embeds),
            attention_mask=torch.stack(rows_mask),
            modality=torch.stack(rows_mod),
            labels=torch.stack(rows_labels) if labels is not None else None,
        )

    def prepare_inputs(
        self, input_ids, ecg_values, pixel_values, attention_mask=None, labels=None
    ) -> MergedInputs:
        """Towers -> projectors -> splice: everything before the language model."""
        ecg_embeds = self.project_ecg(self.get_ecg_features(ecg_values))
        image_embeds = self.project_image(self.get_image_features(pixel_values))
        return self.merge(input_ids, ecg_embeds, image_embeds, attention_mask, labels)

    # 4. the language model
    def forward(self, input_ids, ecg_values, pixel_values, attention_mask=None, labels=None, **kwargs):
        merged = self.prepare_inputs(input_ids, ecg_values, pixel_values, attention_mask, labels)
        return self.language_model(
            inputs_embeds=merged.inputs_embeds,
            attention_mask=merged.attention_mask,
            labels=merged.labels,
            **kwargs,
        )

    def answer_logprobs(
        self, input_ids, ecg_values, pixel_values, attention_mask=None, labels=None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row sum of the log-probabilities of the learned tokens (``labels`` != -100), and their count.

        The labels are spliced like the inputs (media positions ignored), so each text label is scored
        by the logit of the position before it, after the ``<image>`` splice. ``ecg_values`` and
        ``pixel_values`` may have fewer rows than ``input_ids`` (see ``merge``): chosen and rejected
        answers of one ECG share one tower pass.
        """
        if labels is None:
            raise GemError("answer_logprobs needs labels (-100 on the prompt)")
        merged = self.prepare_inputs(input_ids, ecg_values, pixel_values, attention_mask, labels)
        logits = self.language_model(
            inputs_embeds=merged.inputs_embeds, attention_mask=merged.attention_mask
        ).logits
        return token_logprobs_sum(logits, merged.labels)

    # training switches (Trainer calls ``activation_checkpointing_enable`` when asked to)
    def activation_checkpointing_enable(
        self, activation_checkpointing_kwargs=None, every_n_layers: int = 1, offload: bool = False
    ) -> None:
        """Gradient (activation) checkpointing in the language model's decoder layers."""
        kwargs = activation_checkpointing_kwargs or {"use_reentrant": False}
        lm = self.language_model
        base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
        base.activation_checkpointing_enable(
            activation_checkpointing_kwargs=kwargs, every_n_layers=every_n_layers, offload=offload
        )

    gradient_checkpointing_enable = activation_checkpointing_enable

    @property
    def is_gradient_checkpointing(self) -> bool:
        lm = self.language_model
        base = lm.get_base_model() if hasattr(lm, "get_base_model") else lm
        return bool(getattr(base, "is_activation_checkpointing", False))

    @torch.inference_mode()
    def generate(
        self, input_ids, ecg_values, pixel_values, attention_mask=None, **generate_kwargs
    ) -> torch.Tensor:
        """New token ids only (the prompt is given as embeddings, so ``generate`` returns no prompt)."""
        merged = self.prepare_inputs(input_ids, ecg_values, pixel_values, attention_mask)
        return self.language_model.generate(
            inputs_embeds=merged.inputs_embeds, attention_mask=merged.attention_mask, **generate_kwargs
        )


def token_logprobs_sum(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(sum of log p(label) over learned positions, number of learned positions) per row.

    ``logits`` (B, L, V) and ``labels`` (B, L) are aligned position for position (spliced labels); the
    logit at position t scores the label at t + 1, as the language model's own loss does.
    """
    logits, labels = logits[:, :-1].float(), labels[:, 1:].to(logits.device)
    keep = labels != IGNORE_INDEX
    picked = torch.gather(logits.log_softmax(-1), 2, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * keep).sum(-1), keep.sum(-1)
