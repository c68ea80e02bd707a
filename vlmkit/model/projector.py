"""The modality projector: vision features -> language-model embeddings.

A two-layer MLP (as in LLaVA 1.5), or with ``layers=1`` one linear map (as in nanoVLM), or
with ``skip=True`` the MLP plus a linear map of its input: on the tiny model the MLP's GELU
drops the colour of the image tokens during grounding, and a linear path keeps it
(``benchmarks/feature_probe.py``, ``docs/experiments/binding.md#projector-skip``).
With ``pixel_shuffle = s > 1`` it first folds each ``s x s`` block of neighbouring patches
into one token (``s*s`` times the channels), so
the language model reads ``s*s`` times fewer image tokens; a ViT-B/16 at 224 px gives
196 tokens, 49 after a shuffle of 2.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn


class SkipMLP(nn.Module):
    """``mlp(x) + linear(x)``: the MLP's nonlinearity for what needs it, a linear path for the rest."""

    def __init__(self, inputs: int, width: int, outputs: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(inputs, width), nn.GELU(), nn.Linear(width, outputs))
        self.linear = nn.Linear(inputs, outputs, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x) + self.linear(x)


class FP32RMSNorm(nn.RMSNorm):
    """RMS norm computed in fp32 even under bf16 autocast (as Llama's), where the input comes
    out of a bf16 matrix product and the weight is fp32. The image tokens then join the fp32
    text embeddings in fp32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.float())


class Projector(nn.Module):
    def __init__(self, vision_hidden: int, lm_hidden: int, grid: int, pixel_shuffle: int = 1,
                 hidden: int | None = None, output_norm: bool = False, layers: int = 2, skip: bool = False):
        super().__init__()
        if grid % pixel_shuffle:
            raise ValueError(f"pixel shuffle factor {pixel_shuffle} must divide the patch grid {grid}")
        if layers not in (1, 2):
            raise ValueError(f"the projector has 1 (linear) or 2 (MLP) layers, not {layers}")
        if skip and layers != 2:
            raise ValueError("a skip connection adds a linear path to the MLP: it needs layers=2")
        self.grid, self.shuffle = grid, pixel_shuffle
        width = hidden or lm_hidden
        inputs = vision_hidden * pixel_shuffle**2
        if layers == 1:
            self.mlp = nn.Sequential(nn.Linear(inputs, lm_hidden))
        elif skip:
            self.mlp = nn.Sequential(SkipMLP(inputs, width, lm_hidden))
        else:
            self.mlp = nn.Sequential(nn.Linear(inputs, width), nn.GELU(), nn.Linear(width, lm_hidden))
        if output_norm:
            self.mlp.append(FP32RMSNorm(lm_hidden))

    @property
    def num_tokens(self) -> int:
        return (self.grid // self.shuffle) ** 2

    def fold(self, features: torch.Tensor) -> torch.Tensor:
        """Vision features ``(B, grid*grid, C)`` -> the MLP's input, one row per image token."""
        if self.shuffle == 1:
            return features
        return rearrange(features, "b (h s1 w s2) c -> b (h w) (s1 s2 c)",
                         h=self.grid // self.shuffle, s1=self.shuffle, s2=self.shuffle)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.fold(features))
