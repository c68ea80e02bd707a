"""MiniVLM: vision encoder -> projector -> causal language model.

The image becomes a short sequence of embeddings that take the places of ``<image>``
placeholder tokens in the text, as in LLaVA and nanoVLM. Training sees
``[bos][image tokens][prompt][answer][eos]`` (``image_after_prompt`` swaps image and
prompt) and is scored only on answer and eos; generation feeds everything up to the
answer and lets the LM continue.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn
from transformers import LogitsProcessorList, PreTrainedTokenizerBase
from transformers.modeling_outputs import CausalLMOutputWithPast

from vlmkit.model.box_head import BoxHead, box_regression_loss
from vlmkit.model.config import VLMConfig
from vlmkit.model.decoding import lean_decode, supports_lean_decoding
from vlmkit.model.language import build_language_model
from vlmkit.model.projector import Projector
from vlmkit.model.vision import VisionEncoder
from vlmkit.text.codecs import Codec
from vlmkit.text.processor import IGNORE_INDEX
from vlmkit.text.tokenizer import IMAGE

CPU_INFERENCE_CHUNK = 16  # images encoded at a time without gradients on the CPU; see MiniVLM._encode


class MiniVLM(nn.Module):
    def __init__(self, config: VLMConfig, tokenizer: PreTrainedTokenizerBase):
        super().__init__()
        self.tokenizer = tokenizer
        self.vision = VisionEncoder(config)
        self.lm = build_language_model(config, tokenizer)
        if config.lm_lora_rank:  # a saved LoRA model: rebuild its adapters before its weights load
            from vlmkit.model.lora import vlmkit_token_ids, wrap_with_lora

            self.lm = wrap_with_lora(self.lm, config.lm_lora_rank, config.lm_lora_alpha, config.lm_lora_targets,
                                     vlmkit_token_ids(tokenizer, Codec(config.codec_format, config.codec_bins)))
            self.vision.requires_grad_(False)
        # a copy of ``config`` with both parts' Hugging Face configs, so a save reloads offline;
        # the caller's config is left as it was
        self.config = dataclasses.replace(config, vit_hf_config=self.vision.vit.config.to_dict(),
                                          lm_hf_config=self.lm.config.to_dict())
        self.projector = Projector(self.vision.hidden_size, self.lm.config.hidden_size, self.vision.grid,
                                   config.mp_pixel_shuffle, config.mp_hidden, config.mp_output_norm,
                                   config.mp_layers, config.mp_skip)
        self.box_head = BoxHead(self.lm.config.hidden_size) if config.box_head else None
        if config.attn_implementation:  # not part of the HF configs we store: set on every build
            self.vision.vit.set_attn_implementation(config.attn_implementation)
            self.lm.set_attn_implementation(config.attn_implementation)
        # for the soft location targets: bin -> token id, and token id -> bin (-1: none)
        loc_ids = torch.tensor(tokenizer.convert_tokens_to_ids(self.codec.special_tokens()[:-1])
                               if config.codec_format == "loc" else [], dtype=torch.long)
        bin_of = torch.full((len(tokenizer),), -1, dtype=torch.long)
        bin_of[loc_ids] = torch.arange(len(loc_ids))
        self.register_buffer("loc_token_ids", loc_ids, persistent=False)
        self.register_buffer("bin_of_token", bin_of, persistent=False)

    @property
    def codec(self) -> Codec:
        return Codec(self.config.codec_format, self.config.codec_bins)

    @property
    def num_image_tokens(self) -> int:
        return self.projector.num_tokens

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def copy(self) -> "MiniVLM":
        """A new model with this one's config, tokenizer and weights: the start of a side
        experiment's arm, which must not train the original."""
        twin = MiniVLM(self.config, self.tokenizer)
        twin.load_state_dict(self.state_dict())
        return twin

    def num_parameters(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {"vision": count(self.vision), "projector": count(self.projector), "language": count(self.lm),
                "total": count(self)}

    @property
    def image_token_id(self) -> int:
        return self.tokenizer.convert_tokens_to_ids(IMAGE)

    def encode_images(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Projected image tokens ``(B, num_image_tokens, lm hidden)``. Identical images in a
        batch (several questions about one scene) are encoded once and shared: the same result
        up to float round-off, and the vision encoder, half of a tiny model's step, runs on
        fewer images."""
        unique, inverse = torch.unique(pixel_values.flatten(1), dim=0, return_inverse=True)
        if len(unique) == len(pixel_values):
            return self._encode(pixel_values)
        return self._encode(unique.view(-1, *pixel_values.shape[1:]))[inverse]

    def _encode(self, images: torch.Tensor) -> torch.Tensor:
        """Without gradients on the CPU (generation, evaluation), :data:`CPU_INFERENCE_CHUNK`
        images at a time: each image's features are computed alone either way, but a chunk's
        activations stay in the CPU's cache (docs/experiments/generation_speed.md). Training keeps
        the whole batch: its weight gradients would be summed in another order."""
        if torch.is_grad_enabled() or images.device.type != "cpu" or len(images) <= CPU_INFERENCE_CHUNK:
            return self.projector(self.vision(images))
        return torch.cat([self.projector(self.vision(chunk)) for chunk in images.split(CPU_INFERENCE_CHUNK)])

    def _embed(self, pixel_values: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
        """Text embeddings with the image embeddings written over the ``<image>`` placeholders."""
        image = self.encode_images(pixel_values)
        embeds = self.lm.get_input_embeddings()(input_ids)
        is_image = input_ids == self.image_token_id
        counts = is_image.sum(dim=1)
        if not torch.all(counts == image.shape[1]):
            raise ValueError(f"every sequence needs exactly {image.shape[1]} {IMAGE} placeholders (one per image "
                             f"token), found {counts.tolist()}; build batches with vlmkit.text.processor.Processor")
        return embeds.masked_scatter(is_image.unsqueeze(-1), image.to(embeds.dtype))

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None, box_targets: torch.Tensor | None = None) -> CausalLMOutputWithPast:
        """Loss (mean over answer tokens) when ``labels`` is given; logits at every position.
        With ``box_targets`` (a :meth:`vlmkit.text.processor.Processor.box_batch`), the box head's
        loss instead, and no logits: one entry point, so the Trainer (and a multi-GPU wrapper
        around the model) trains either the same way."""
        if box_targets is not None:
            return CausalLMOutputWithPast(loss=self.box_loss(pixel_values, input_ids, attention_mask, box_targets))
        embeds = self._embed(pixel_values, input_ids)
        # positions follow the mask so padded and unpadded samples see the same positions
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.lm(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids).logits
        loss = None if labels is None else self._answer_loss(logits[:, :-1], labels[:, 1:])
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    def regress_boxes(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                      attention_mask: torch.Tensor) -> torch.Tensor:
        """Normalised ``[x1, y1, x2, y2]`` ``(B, 4)`` from the box head, for left-padded prompts
        (:meth:`vlmkit.text.processor.Processor.prompt_batch`): it reads the hidden state of the
        last prompt position, the one that would write x1 as a token."""
        if self.box_head is None:
            raise ValueError("this model has no box head; build it with box_head=True (VLMConfig)")
        embeds = self._embed(pixel_values, input_ids)
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        out = self.lm(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                      output_hidden_states=True, logits_to_keep=1)
        return self.box_head(out.hidden_states[-1][:, -1])

    def box_loss(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 box_targets: torch.Tensor) -> torch.Tensor:
        """:func:`vlmkit.model.box_head.box_regression_loss` of the head's boxes against ``box_targets``."""
        return box_regression_loss(self.regress_boxes(pixel_values, input_ids, attention_mask), box_targets)

    def _answer_loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy over answer tokens. With ``codec_label_sigma`` > 0 the target of
        a location token is a Gaussian over the bins around the true one, scored by KL
        divergence (cross-entropy minus the target's own entropy, so a perfect answer still
        costs 0 and loss curves read as before)."""
        keep = targets != IGNORE_INDEX
        log_probs, targets = logits[keep].float().log_softmax(-1), targets[keep]
        losses = -log_probs.gather(1, targets[:, None]).squeeze(1)
        if self.config.codec_label_sigma > 0:
            bins = self.bin_of_token[targets]
            is_loc = bins >= 0
            centres = torch.arange(len(self.loc_token_ids), device=logits.device)
            soft = torch.softmax(-0.5 * ((centres - bins[is_loc, None]) / self.config.codec_label_sigma) ** 2, dim=-1)
            kl = (soft * (soft.clamp_min(1e-12).log() - log_probs[is_loc][:, self.loc_token_ids])).sum(-1)
            losses = losses.masked_scatter(is_loc, kl)
        return losses.mean()

    @torch.no_grad()
    def generate(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 max_new_tokens: int = 32, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, logits_processor: LogitsProcessorList | None = None,
                 use_cache: bool = True, min_new_tokens: int = 0) -> torch.Tensor:
        """New token ids ``(B, <= max_new_tokens)`` for left-padded prompts; rows that
        finish early are padded with ``pad_token_id`` after their eos.

        With the KV cache and a Llama-family LM (both profiles), vlmkit's lean loop decodes
        (:mod:`vlmkit.model.decoding`: a preallocated cache, the same answers, several times
        cheaper per token at batch 1); otherwise Hugging Face ``generate``, which with
        ``inputs_embeds`` returns only the new tokens and derives position ids from the
        attention mask, so left padding is safe either way.
        """
        embeds = self._embed(pixel_values, input_ids)
        tok = self.tokenizer
        if use_cache and supports_lean_decoding(self.lm):
            # cloned here, outside inference mode: an ordinary tensor the caller may change in place
            return lean_decode(self.lm, embeds, attention_mask, max_new_tokens, tok.eos_token_id, tok.pad_token_id,
                               logits_processor, do_sample, temperature, top_k, min_new_tokens).clone()
        sampling = {"temperature": temperature, "top_k": top_k} if do_sample else {}
        return self.lm.generate(
            inputs_embeds=embeds, attention_mask=attention_mask, max_new_tokens=max_new_tokens, do_sample=do_sample,
            logits_processor=logits_processor, use_cache=use_cache, min_new_tokens=min_new_tokens,
            eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id, **sampling,
        )
