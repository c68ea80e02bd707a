"""The vision encoder: a Hugging Face ViT or SigLIP vision tower, pretrained or built from a config.

For a ViT trained from scratch the position table matters more than anything else:
Hugging Face initialises it with std 0.02, and then nothing learns *where* things are
(a box regressor stayed at Acc@0.5 0.02). A 2-D sin/cos pattern at unit scale, still
trainable, fixed it (0.86 in 200 steps); see ``docs/experiments/model_design.md#vit-positions``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import SiglipVisionConfig, SiglipVisionModel, ViTConfig, ViTModel

from vlmkit.model.config import VLMConfig
from vlmkit.model.published import published_config

# family -> (config class, model class, keyword arguments of the model)
_FAMILIES = {"vit": (ViTConfig, ViTModel, {"add_pooling_layer": False}),
             "siglip": (SiglipVisionConfig, SiglipVisionModel, {})}


def _hf_config(config_class, values: dict):
    values = {k: v for k, v in values.items() if k != "model_type"}
    if config_class is SiglipVisionConfig:
        values["vision_use_head"] = False  # the pooling head makes one vector; vlmkit reads the patch tokens
    return config_class(**values)


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """``(grid*grid, dim)`` sin/cos position codes: half the channels for x, half for y."""
    if dim % 4:
        raise ValueError(f"sin/cos positions need a hidden size divisible by 4, got {dim}")
    quarter = dim // 4
    freqs = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32),
                            indexing="ij")
    ang_x, ang_y = xs.reshape(-1, 1) * freqs, ys.reshape(-1, 1) * freqs
    return torch.cat([ang_x.sin(), ang_x.cos(), ang_y.sin(), ang_y.cos()], dim=1)


class VisionEncoder(nn.Module):
    """Image ``(B, 3, S, S)`` -> patch features ``(B, N, vit_hidden)`` (a ViT's CLS token is dropped;
    SigLIP has none)."""

    def __init__(self, config: VLMConfig):
        super().__init__()
        if config.vit_conv_stem and config.vit_pretrained:
            raise ValueError("vit_conv_stem applies to a ViT trained from scratch: a pretrained ViT reads RGB")
        config_class, model_class, kwargs = _FAMILIES[config.vit_family]
        self.has_cls = config.vit_family == "vit"
        if config.vit_hf_config is not None:
            self.vit = model_class(config_class.from_dict(config.vit_hf_config), **kwargs)
        elif config.vit_pretrained and config.random_init:
            self.vit = model_class(_hf_config(config_class, published_config(config.vit_pretrained)), **kwargs)
        elif config.vit_pretrained:
            extra = {"vision_use_head": False} if config.vit_family == "siglip" else {}
            self.vit = model_class.from_pretrained(config.vit_pretrained, **kwargs, **extra)
        elif config.vit_family != "vit":
            raise ValueError(f"a vision encoder built from the size fields is a ViT; vit_family={config.vit_family!r} "
                             f"needs vit_pretrained")
        else:
            self.vit = ViTModel(ViTConfig(
                image_size=config.vit_image_size, patch_size=config.vit_patch_size,
                hidden_size=config.vit_hidden, num_hidden_layers=config.vit_layers,
                num_attention_heads=config.vit_heads, intermediate_size=config.vit_mlp or 2 * config.vit_hidden,
                num_channels=config.vit_conv_stem or 3,
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            ), add_pooling_layer=False)
            if config.vit_sincos_positions:
                table = self.vit.embeddings.position_embeddings
                grid = config.vit_image_size // config.vit_patch_size
                with torch.no_grad():
                    table[0, 1:] = sincos_2d(grid, table.shape[-1])
        # A 3x3 conv in front sees edges inside each patch; the ViT's patchifying conv then
        # summarises them (the ViT reads vit_conv_stem channels instead of RGB).
        self.stem = None
        if config.vit_conv_stem:
            self.stem = nn.Sequential(nn.Conv2d(3, config.vit_conv_stem, 3, padding=1), nn.GELU())
        self.hidden_size = self.vit.config.hidden_size
        self.grid = self.vit.config.image_size // self.vit.config.patch_size
        if config.vit_freeze:
            self.requires_grad_(False)

    @property
    def image_size(self) -> int:
        return self.vit.config.image_size

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if self.stem is not None:
            pixel_values = self.stem(pixel_values)
        hidden = self.vit(pixel_values=pixel_values).last_hidden_state
        return hidden[:, 1:] if self.has_cls else hidden
