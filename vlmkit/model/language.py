"""The causal language model: a Hugging Face ``AutoModelForCausalLM``, pretrained (from the
Hub, or from a local GGUF file with ``lm_gguf``), built from its published architecture with
random weights (``random_init``), or built from the size fields (a Llama-style decoder with
tied embeddings for the tiny profile)."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (AutoConfig, AutoModelForCausalLM, GgufConfig, LlamaConfig, PreTrainedModel,
                          PreTrainedTokenizerBase)

from vlmkit.model.config import VLMConfig
from vlmkit.model.published import published_config
from vlmkit.text.tokenizer import check_gguf


def build_language_model(config: VLMConfig, tokenizer: PreTrainedTokenizerBase) -> PreTrainedModel:
    """Build (or load) the LM and make its vocabulary match ``tokenizer``. ``config`` is only
    read: :class:`vlmkit.model.MiniVLM` records the LM's Hugging Face config in its own copy."""
    if config.lm_hf_config is not None:
        hf = dict(config.lm_hf_config)
        lm = AutoModelForCausalLM.from_config(AutoConfig.for_model(hf.pop("model_type"), **hf))
    elif config.lm_gguf:
        lm = load_gguf_language_model(config.lm_gguf)
    elif config.lm_pretrained and config.random_init:
        hf = published_config(config.lm_pretrained)
        lm = AutoModelForCausalLM.from_config(AutoConfig.for_model(hf.pop("model_type"), **hf))
    elif config.lm_pretrained:
        lm = AutoModelForCausalLM.from_pretrained(config.lm_pretrained)
    else:
        lm = AutoModelForCausalLM.from_config(LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=config.lm_hidden, num_hidden_layers=config.lm_layers,
            num_attention_heads=config.lm_heads, num_key_value_heads=config.lm_heads,
            intermediate_size=config.lm_mlp or 3 * config.lm_hidden, max_position_embeddings=config.lm_max_positions,
            tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        ))
    if lm.get_input_embeddings().num_embeddings != len(tokenizer):
        lm.resize_token_embeddings(len(tokenizer))
    return lm


def load_gguf_language_model(path: str | Path) -> PreTrainedModel:
    """The LM in a GGUF file as a plain fp32 model: every weight dequantised at load (transformers
    would otherwise keep quantised blocks where it has kernels for them), so it trains, saves and
    reloads like any other."""
    path = check_gguf(path)
    return AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=str(path), dtype=torch.float32,
                                                quantization_config=GgufConfig(dequantize=True))
