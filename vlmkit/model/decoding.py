"""A lean decode loop for Llama-family language models, with a preallocated KV cache.

Why not ``generate`` alone: for the tiny model each Hugging Face decoding step costs more in
bookkeeping (growing cache objects, a fresh 4-D mask, the processor machinery) than in
arithmetic (docs/experiments/generation_speed.md). Here the prompt is prefilled by the model's own
forward (exactly Hugging Face's computation), its keys and values are copied into buffers
sized for the whole answer, and each new token runs the decoder layers' own modules
(norms, projections, rotary embedding, MLP) against those buffers: the same function of the
same weights, with no per-step allocation beyond the token's own activations. Greedy
answers equal ``generate``'s (``tests/model/test_model.py``). Language models of other families
go through ``generate``.
"""

from __future__ import annotations

import inspect

import torch
from transformers import DynamicCache, LogitsProcessorList, PreTrainedModel
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb


def supports_lean_decoding(lm: PreTrainedModel) -> bool:
    """True for the decoder layouts this loop knows (Llama and its relatives, e.g. SmolLM2)."""
    base = _base(lm)
    return base.config.model_type == "llama" and not getattr(base.config, "attention_bias", False)


def _base(lm):
    return lm.get_base_model() if hasattr(lm, "get_base_model") else lm  # a peft (LoRA) model's inner LM


@torch.inference_mode()  # not no_grad: no version counters or view tracking on the many small tensors
def lean_decode(lm: PreTrainedModel, embeds: torch.Tensor, attention_mask: torch.Tensor, max_new_tokens: int,
                eos_token_id: int, pad_token_id: int, logits_processor: LogitsProcessorList | None = None,
                do_sample: bool = False, temperature: float = 1.0, top_k: int | None = None,
                min_new_tokens: int = 0) -> torch.Tensor:
    """New token ids ``(B, <= max_new_tokens)`` after left-padded prompt ``embeds``; rows that
    finish early are padded with ``pad_token_id`` after their eos, and decoding stops when
    every row has finished."""
    base = _base(lm)
    decoder, config = base.model, base.config
    batch, prompt = attention_mask.shape
    total = prompt + max_new_tokens
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache(config=config)
    # the cache argument was renamed (past_key_values -> cache) in transformers 5.2x
    cache_argument = "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"
    out = base(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=positions, use_cache=True,
               logits_to_keep=1, **{cache_argument: cache})
    keys, values = [], []
    for layer in cache.layers:  # (B, kv heads, prompt, head dim) -> buffers for the whole answer
        k = layer.keys.new_empty(*layer.keys.shape[:2], total, layer.keys.shape[-1])
        v = torch.empty_like(k)
        k[:, :, :prompt], v[:, :, :prompt] = layer.keys, layer.values
        keys.append(k), values.append(v)
    attend = torch.zeros(batch, 1, 1, total, dtype=torch.bool, device=embeds.device)
    attend[:, 0, 0, :prompt] = attention_mask.bool()
    position = positions[:, -1:] + 1
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    generated = torch.full((batch, max_new_tokens), pad_token_id, dtype=torch.long, device=embeds.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=embeds.device)
    logits = out.logits[:, -1].float()
    embed_tokens = base.get_input_embeddings()
    # every answer position's rotary angles at once: one product per angle, as step by step
    cos_all, sin_all = decoder.rotary_emb(embeds[:, :1], position + torch.arange(max_new_tokens, device=embeds.device))
    scale = head_dim ** -0.5
    step = -1  # max_new_tokens=0: an empty answer
    for step in range(max_new_tokens):
        if step < min_new_tokens:
            logits[:, eos_token_id] = float("-inf")
        if logits_processor:
            logits = logits_processor(generated[:, :step], logits)
        token = _choose(logits, do_sample, temperature, top_k).masked_fill_(finished, pad_token_id)
        generated[:, step] = token
        finished |= token == eos_token_id
        if finished.all() or step == max_new_tokens - 1:
            break
        at = prompt + step
        attend[:, 0, 0, at] = True
        blocked = ~attend[..., :at + 1]  # padding of the prompt: the same for every layer
        # one position a row, so no length axis: activations (batch, features), heads (batch,
        # heads, head dim); the same products and norms, without a transpose and reshape each
        hidden = embed_tokens(token)
        cos, sin = cos_all[:, step], sin_all[:, step]
        for layer, k_buf, v_buf in zip(decoder.layers, keys, values):
            attn, x = layer.self_attn, layer.input_layernorm(hidden)
            q = attn.q_proj(x).view(batch, heads, head_dim)
            k = attn.k_proj(x).view(batch, kv_heads, head_dim)
            q, k = apply_rotary_pos_emb(q, k, cos, sin)
            k_buf[:, :, at], v_buf[:, :, at] = k, attn.v_proj(x).view(batch, kv_heads, head_dim)
            # one query against the cache, written out: for a single query torch's fused CPU
            # attention costs more in its call than these three small products in arithmetic
            q = q.view(batch, kv_heads, heads // kv_heads, head_dim)  # query heads grouped by their kv head
            scores = (q @ k_buf[:, :, :at + 1].transpose(-1, -2)).mul_(scale)
            scores = scores.masked_fill_(blocked, float("-inf")).softmax(-1)
            context = (scores.to(v_buf.dtype) @ v_buf[:, :, :at + 1]).view(batch, heads * head_dim)
            hidden = hidden + attn.o_proj(context)
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        logits = base.lm_head(decoder.norm(hidden)).float()
    return generated[:, :step + 1]


def _choose(logits: torch.Tensor, do_sample: bool, temperature: float, top_k: int | None) -> torch.Tensor:
    if not do_sample:
        return logits.argmax(-1)
    logits = logits / temperature
    if top_k:
        floor = logits.topk(min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < floor, float("-inf"))
    return torch.multinomial(logits.softmax(-1), 1)[:, 0]
