"""The ECG-CoCa time-series encoder GEM uses: a 1-D vision transformer over the 12-lead signal.

Parameter names follow open_clip's ``VisionTransformer`` so the ECG-CoCa checkpoint
(``cpt_wfep_epoch_20.pt``, keys ``module.ecg.*``) loads without renaming: ``conv1``,
``class_embedding``, ``positional_embedding``, ``ln_pre``, ``transformer.resblocks.{i}.ln_1/attn/ln_2/
mlp.c_fc/mlp.c_proj``. GEM uses the last block's output (class token + patches, before ``ln_post``).

>>> import torch
>>> tower = EcgTransformer(width=64, layers=1, heads=1, patch_size=50, n_tokens=101)
>>> tower(torch.zeros(1, 12, 5000)).shape
torch.Size([1, 101, 64])
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch import nn

from gem_core.errors import GemError

# ECG-CoCa weights GEM does not use: the pooled/projected heads after the last block.
IGNORED_ECG_KEYS = re.compile(r"^(ln_post\.|proj$|attn_pool\.|attn_pool_contrastive\.|ln_post_contrastive\.)")
HEAD_WIDTH = 64  # open_clip: heads = width // 64


@dataclass(frozen=True)
class EcgTowerShape:
    """Dimensions of an ECG tower, as read off its tensors."""

    width: int
    layers: int
    heads: int
    mlp_width: int
    patch_size: int
    n_tokens: int  # patches + class token
    in_channels: int = 12

    @classmethod
    def from_state_dict(cls, sd: dict[str, torch.Tensor]) -> EcgTowerShape:
        for key in ("conv1.weight", "positional_embedding", "transformer.resblocks.0.mlp.c_fc.weight"):
            if key not in sd:
                raise GemError(f"the ECG tower checkpoint has no {key!r}; is it an ECG-CoCa checkpoint?")
        width, in_channels, patch = sd["conv1.weight"].shape
        blocks = {int(m.group(1)) for k in sd if (m := re.match(r"transformer\.resblocks\.(\d+)\.", k))}
        return cls(
            width=int(width),
            layers=max(blocks) + 1,
            heads=max(1, int(width) // HEAD_WIDTH),
            mlp_width=int(sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0]),
            patch_size=int(patch),
            n_tokens=int(sd["positional_embedding"].shape[0]),
            in_channels=int(in_channels),
        )


class ResidualAttentionBlock(nn.Module):
    """Pre-norm transformer block, open_clip layout (``attn`` is ``nn.MultiheadAttention``)."""

    def __init__(self, width: int, heads: int, mlp_width: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, mlp_width)),
                    ("gelu", nn.GELU()),
                    ("c_proj", nn.Linear(mlp_width, width)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width: int, layers: int, heads: int, mlp_width: int):
        super().__init__()
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads, mlp_width) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x


class EcgTransformer(nn.Module):
    """ECG-CoCa's ECG encoder up to its last residual block: (B, 12, samples) mV -> (B, tokens, width)."""

    def __init__(
        self,
        width: int = 768,
        layers: int = 12,
        heads: int = 12,
        patch_size: int = 50,
        n_tokens: int = 101,
        mlp_width: int | None = None,
        in_channels: int = 12,
    ):
        super().__init__()
        self.width, self.patch_size, self.n_tokens = width, patch_size, n_tokens
        self.conv1 = nn.Conv1d(in_channels, width, kernel_size=patch_size, stride=patch_size, bias=False)
        scale = width**-0.5
        self.class_embedding = nn.Parameter(scale * torch.randn(width))
        self.positional_embedding = nn.Parameter(scale * torch.randn(n_tokens, width))
        self.ln_pre = nn.LayerNorm(width)
        self.transformer = Transformer(width, layers, heads, mlp_width or 4 * width)

    @classmethod
    def from_shape(cls, shape: EcgTowerShape) -> EcgTransformer:
        return cls(
            width=shape.width,
            layers=shape.layers,
            heads=shape.heads,
            patch_size=shape.patch_size,
            n_tokens=shape.n_tokens,
            mlp_width=shape.mlp_width,
            in_channels=shape.in_channels,
        )

    @property
    def n_samples(self) -> int:
        """Signal length the positional embedding was trained for (5000 for GEM)."""
        return (self.n_tokens - 1) * self.patch_size

    def forward(self, signal: torch.Tensor) -> torch.Tensor:
        x = self.conv1(signal.to(self.conv1.weight.dtype))  # (B, width, patches)
        x = x.transpose(1, 2)  # (B, patches, width)
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding.to(x.dtype)
        return self.transformer(self.ln_pre(x))


def coca_prefix(sd: dict[str, torch.Tensor]) -> str:
    """The prefix of the ECG tower's keys in an ECG-CoCa ``state_dict``: ``module.ecg.`` (DDP) or ``ecg.``."""
    prefix = next((p for p in ("module.ecg.", "ecg.") if any(k.startswith(p) for k in sd)), None)
    if prefix is None:
        raise GemError("the ECG tower checkpoint has no 'module.ecg.*' keys; is it an ECG-CoCa checkpoint?")
    return prefix


def split_coca_state_dict(sd: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The ECG tower's weights from an ECG-CoCa ``state_dict``, and the keys deliberately left out.

    Keys carry ``module.ecg.`` (DDP) or ``ecg.``; keys of the text tower/decoder and the ECG pooler and
    projection (``ln_post``, ``proj``, ``attn_pool``) are ignored by name.
    """
    prefix = coca_prefix(sd)
    tower, ignored = {}, []
    for key, value in sd.items():
        name = key[len(prefix) :] if key.startswith(prefix) else None
        if name is None or IGNORED_ECG_KEYS.match(name):
            ignored.append(key)
        else:
            tower[name] = value
    return tower, ignored
