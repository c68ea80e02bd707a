"""LoRA adapters on the language model, with ``peft`` (the method of the Qwen3-VL
fine-tuning recipe vlmkit learned from).

A LoRA model trains the adapters, the rows of the token embedding that belong to vlmkit's
own tokens (location tokens and ``<image>``: new words a frozen table would leave at their
random start) and the projector; the vision encoder and the LM's pretrained weights stay
frozen. The settings live in the model's config (``lm_lora_*``), so a saved LoRA model
rebuilds its adapters before its weights load: checkpoints, resume and ``load_model`` work
unchanged. :func:`merge_lora` folds the adapters into the weights for export.
"""

from __future__ import annotations

import dataclasses

from peft import LoraConfig, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from vlmkit.model.config import LORA_ALPHA, LORA_TARGETS
from vlmkit.text.codecs import Codec
from vlmkit.text.tokenizer import IMAGE


def lora_config(rank: int, alpha: float, targets: str, token_ids: list[int]) -> LoraConfig:
    modules = [name.strip() for name in targets.split(",") if name.strip()]
    if rank < 1 or not modules:
        raise ValueError(f"LoRA needs a rank >= 1 and target modules; got rank={rank}, targets={targets!r}")
    return LoraConfig(r=rank, lora_alpha=alpha, target_modules=modules, lora_dropout=0.0, bias="none",
                      trainable_token_indices={"embed_tokens": token_ids})


def vlmkit_token_ids(tokenizer: PreTrainedTokenizerBase, codec: Codec) -> list[int]:
    """Ids of the tokens vlmkit adds to a language model's vocabulary (codec tokens, ``<image>``)."""
    return sorted(set(tokenizer.convert_tokens_to_ids([*codec.special_tokens(), IMAGE])))


def wrap_with_lora(lm: PreTrainedModel, rank: int, alpha: float, targets: str, token_ids: list[int]):
    """``lm`` as a peft model with adapters on ``targets`` (only adapters and ``token_ids``'
    embedding rows trainable)."""
    unknown = [m for m in lora_config(rank, alpha, targets, token_ids).target_modules
               if not any(name.rsplit(".", 1)[-1] == m for name, _ in lm.named_modules())]
    if unknown:
        raise ValueError(f"the language model has no modules named {sorted(unknown)} for LoRA; linear layers "
                         f"of a Llama block are q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj")
    return get_peft_model(lm, lora_config(rank, alpha, targets, token_ids))


def add_lora(model, rank: int = 16, alpha: float = LORA_ALPHA, targets: str = LORA_TARGETS) -> None:
    """Give ``model`` (a MiniVLM without adapters) LoRA adapters on its LM, freeze its vision
    encoder, and record the settings in ``model.config``."""
    if model.config.lm_lora_rank:
        raise ValueError(f"the model already has LoRA adapters (rank {model.config.lm_lora_rank})")
    model.lm = wrap_with_lora(model.lm, rank, alpha, targets, vlmkit_token_ids(model.tokenizer, model.codec))
    model.vision.requires_grad_(False)
    model.config = dataclasses.replace(model.config, lm_lora_rank=rank, lm_lora_alpha=float(alpha),
                                       lm_lora_targets=targets)


def merge_lora(model) -> None:
    """Fold ``model``'s adapters into the LM's weights (same outputs, plain LM, nothing frozen
    by LoRA any more); the config then records no adapters."""
    if not model.config.lm_lora_rank:
        raise ValueError("the model has no LoRA adapters to merge")
    model.lm = model.lm.merge_and_unload()
    model.requires_grad_(True)
    model.config = dataclasses.replace(model.config, lm_lora_rank=0, lm_lora_targets="")


def trainable_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
