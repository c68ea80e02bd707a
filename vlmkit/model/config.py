"""``VLMConfig``: every size and choice of a MiniVLM, in one dataclass (nanoVLM style).

Fields are prefixed by the part they configure: ``vit_*`` vision encoder, ``mp_*``
modality projector, ``lm_*`` language model, ``codec_*`` coordinate language. Derived
sizes (MLP widths) are ``None`` by default and computed when the model is built, so a
smaller ``vit_hidden`` never leaves a stale ``vit_mlp`` behind.

With ``vit_pretrained`` / ``lm_pretrained`` set, those parts come from Hugging Face
checkpoints and the size fields of that part are ignored; with ``random_init`` as well,
they are built offline from the published architecture with random weights
(:mod:`vlmkit.model.published`): only ever when asked for. With ``lm_gguf``, the language
model and its tokenizer come from that local GGUF file instead (dequantised to fp32), and
``random_init`` then applies to the vision encoder alone. Once a model is built, the
Hugging Face configs of both parts are stored in ``vit_hf_config`` / ``lm_hf_config``,
so a saved MiniVLM reloads offline, without asking the Hub again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from vlmkit.core.fields import type_problems

# LoRA's defaults, one source for the Trainer, the recipes and add_lora
LORA_ALPHA = 32.0
LORA_TARGETS = "q_proj,k_proj,v_proj,o_proj"
VIT_FAMILIES = ("vit", "siglip")  # ViTModel (drops its CLS token) or SiglipVisionModel (no CLS)


@dataclass
class VLMConfig:
    """The defaults are the tiny model, the one the notebooks train offline; :func:`full_config`
    overrides them for the pretrained parts."""

    # build the pretrained parts' published architectures with random weights (offline; for
    # cost measurements and tests, never a silent stand-in for the download)
    random_init: bool = False

    vit_pretrained: str | None = None
    vit_family: str = "vit"
    vit_image_size: int = 64
    vit_patch_size: int = 8
    vit_hidden: int = 128
    vit_layers: int = 2  # 4 cost a tenth more a step and grounded no better (docs/experiments/model_design.md#vit-layers)
    vit_heads: int = 4
    vit_mlp: int | None = None  # default 2 * vit_hidden
    # fill the position table with a 2-D sin/cos pattern (docs/experiments/model_design.md#vit-positions)
    vit_sincos_positions: bool = True
    vit_conv_stem: int = 32  # >0: a 3x3 conv with this many channels before the patch embedding
    vit_freeze: bool = False
    vit_hf_config: dict | None = None

    mp_pixel_shuffle: int = 2  # >1 merges s*s neighbouring vision tokens into one
    mp_layers: int = 2  # 2: an MLP; 1: one linear map
    mp_hidden: int | None = None  # the MLP's width; default lm hidden size
    mp_skip: bool = True  # add a linear map of the input to the MLP's output (docs/experiments/binding.md#projector-skip)
    # RMS-normalise the image tokens: a tiny LM trained from scratch has text embeddings far
    # smaller than the projector's output, which then swamps the words (benchmarks/binding_probe.py)
    mp_output_norm: bool = True

    lm_pretrained: str | None = None
    # a local GGUF file (llama.cpp's format) holding the LM and its tokenizer, read instead of
    # downloading lm_pretrained, which then only names the model the file holds (model card);
    # a saved model reloads from its own weights, without the file
    lm_gguf: str | None = None
    lm_hidden: int = 192
    lm_layers: int = 2
    # 16 heads of 12: with 8, seed 0 never bound colour words in fp32 or fp16, with 4 some seeds never
    # bound them (docs/experiments/binding.md#seeds-1-and-4-to-the-end-16-heads-became-the-default)
    lm_heads: int = 16
    lm_mlp: int | None = None  # default 3 * lm_hidden
    lm_max_positions: int = 256
    lm_hf_config: dict | None = None
    # LoRA adapters on the LM (peft), set by vlmkit.model.lora.add_lora; recorded here so a saved
    # model rebuilds them before its weights load. 0: none.
    lm_lora_rank: int = 0
    lm_lora_alpha: float = LORA_ALPHA
    lm_lora_targets: str = ""  # comma-separated module names, e.g. "q_proj,v_proj"

    # Sequence layout. After the prompt, each image token can read the question (the LM is
    # causal) and the answer reads the image tokens: binding a word to an object then needs no
    # extra step to carry the word to the answer position (docs/experiments/binding.md#binding-probe).
    image_after_prompt: bool = True

    # Hugging Face attention kernel of both transformers ("eager", "sdpa", ...; None: the
    # library's default); "eager" because torch's fused attention has a slow CPU backward at
    # these sizes under bf16 autocast (docs/experiments/model_design.md#eager-attention)
    attn_implementation: str | None = "eager"

    codec_format: str = "loc"
    codec_bins: int = 64
    # a regression head beside the token answer (vlmkit.model.box_head): boxes as numbers, not text
    box_head: bool = False
    # >0: a location token's target is a Gaussian over neighbouring bins (std in bins), not
    # one bin, so a guess one bin off is rewarded over one far off (docs/experiments/model_design.md#soft-location-targets)
    codec_label_sigma: float = 2.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict, complete: bool = False) -> "VLMConfig":
        """A validated config from ``data``. ``complete=True`` (a saved checkpoint's config)
        also requires every field: a missing ``codec_bins`` must not fall back to a default
        that decodes every box at the wrong scale. The exception are fields added after
        checkpoints were first saved (:data:`ADDED_FIELDS`): a checkpoint without one predates
        it, and the value it gets is the one that builds the model it was saved from."""
        if not isinstance(data, dict):
            raise TypeError(f"a config is a JSON object, not {type(data).__name__}")
        if complete:
            data = {**ADDED_FIELDS, **data}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"fields this vlmkit does not know: {unknown}")
        missing = sorted(known - set(data))
        if complete and missing:
            raise ValueError(f"missing fields {missing}")
        config = cls(**data)
        config.validate()
        return config

    def validate(self) -> None:
        """Raise ``ValueError`` naming every field of the wrong type or out of range."""
        from vlmkit.text.codecs import FORMATS

        problems = type_problems(type(self), {f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        if not problems:
            sizes = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                     if f.name.split("_", 1)[1] in _POSITIVE and getattr(self, f.name) is not None}
            problems += [f"{name}={value} must be at least 1" for name, value in sizes.items() if value < 1]
            if self.vit_conv_stem < 0:
                problems.append(f"vit_conv_stem={self.vit_conv_stem} must be 0 (none) or more")
            if self.vit_family not in VIT_FAMILIES:
                problems.append(f"vit_family={self.vit_family!r} is not one of {VIT_FAMILIES}")
            if self.lm_lora_rank < 0 or (self.lm_lora_rank and not self.lm_lora_targets.strip()):
                problems.append(f"lm_lora_rank={self.lm_lora_rank} needs to be 0 (no LoRA), or positive with "
                                f"lm_lora_targets naming modules")
            if self.random_init and not (self.vit_pretrained or self.lm_pretrained):
                problems.append("random_init builds the published architecture of vit_pretrained/lm_pretrained; "
                                "neither is set")
            if self.lm_gguf is not None and not self.lm_gguf.endswith(".gguf"):
                problems.append(f"lm_gguf={self.lm_gguf!r} must name a .gguf file (llama.cpp's format)")
            if self.codec_format not in FORMATS:
                problems.append(f"codec_format={self.codec_format!r} is not one of {FORMATS}")
            if self.codec_bins < 2:
                problems.append(f"codec_bins={self.codec_bins} must be at least 2")
            if not self.codec_label_sigma >= 0:
                problems.append(f"codec_label_sigma={self.codec_label_sigma} must be 0 (plain targets) or more")
        if problems:
            raise ValueError("; ".join(problems))


# Fields added after the first saved checkpoints, with the value that reproduces a model saved
# before each existed (a ViT encoder, pretrained weights where named, no LoRA, no box head).
ADDED_FIELDS = {"random_init": False, "vit_family": "vit", "lm_lora_rank": 0, "lm_lora_alpha": LORA_ALPHA,
                "lm_lora_targets": "", "box_head": False, "lm_gguf": None}

# the size fields (after their part prefix) that must be positive
_POSITIVE = {"image_size", "patch_size", "hidden", "layers", "heads", "mlp", "pixel_shuffle", "max_positions"}


def tiny_config(**overrides) -> VLMConfig:
    """The offline CPU model (:class:`VLMConfig`'s defaults), with ``overrides``."""
    return VLMConfig(**overrides)


FULL_VISION = {"siglip": "google/siglip-base-patch16-224", "vit": "google/vit-base-patch16-224"}


def full_config(vision: str = "siglip", random_init: bool = False, **overrides) -> VLMConfig:
    """Pretrained parts from the Hub: a ViT-B/16 vision encoder and SmolLM2-135M, 1000 location bins.

    ``vision``: ``"siglip"`` (default: SigLIP's B/16, trained on image-text pairs, as in
    nanoVLM and PaliGemma) or ``"vit"`` (the ImageNet classifier's B/16 the source tutorial
    used); same size, same 49 image tokens (``docs/gpu.md#the-vision-encoder``). ``random_init``:
    the same architectures with random weights, built offline (:mod:`vlmkit.model.published`).
    ``lm_gguf=path`` (a keyword override): the language model and tokenizer from a local GGUF
    file; name the model it holds with ``lm_pretrained`` (``docs/gpu.md#the-real-smollm2-offline``)."""
    if vision not in FULL_VISION:
        raise ValueError(f"vision={vision!r}: choose one of {sorted(FULL_VISION)}")
    base = VLMConfig(random_init=random_init, vit_pretrained=FULL_VISION[vision], vit_family=vision,
                     vit_image_size=224, vit_patch_size=16, vit_conv_stem=0, mp_pixel_shuffle=2,
                     lm_pretrained="HuggingFaceTB/SmolLM2-135M", lm_max_positions=2048, codec_bins=1000,
                     # the pretrained LM reads the image first, as it was built; the tiny model's
                     # choices for a from-scratch LM do not apply
                     image_after_prompt=False, mp_output_norm=False, mp_skip=False, attn_implementation=None)
    return dataclasses.replace(base, **overrides)

