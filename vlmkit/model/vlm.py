"""MiniVLM: vision encoder -> projector -> causal language model.

The image becomes a short sequence of embeddings placed before the text. Training
sees ``[image tokens][prompt][answer][eos]`` and is scored only on answer and eos;
generation feeds ``[image tokens][prompt]`` and lets the LM continue.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import LogitsProcessorList, PreTrainedTokenizerBase
from transformers.modeling_outputs import CausalLMOutputWithPast

from ..codecs import Codec
from .config import VLMConfig
from .language import build_language_model
from .projector import Projector
from .vision import VisionEncoder

IGNORE_INDEX = -100


class MiniVLM(nn.Module):
    def __init__(self, config: VLMConfig, tokenizer: PreTrainedTokenizerBase):
        super().__init__()
        self.config, self.tokenizer = config, tokenizer
        self.vision = VisionEncoder(config)
        self.lm = build_language_model(config, tokenizer)
        self.projector = Projector(self.vision.hidden_size, self.lm.config.hidden_size, self.vision.grid,
                                   config.mp_pixel_shuffle, config.mp_hidden)

    @property
    def codec(self) -> Codec:
        return Codec(self.config.codec_format, self.config.codec_bins)

    @property
    def num_image_tokens(self) -> int:
        return self.projector.num_tokens

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self) -> dict[str, int]:
        count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
        return {"vision": count(self.vision), "projector": count(self.projector), "language": count(self.lm),
                "total": count(self)}

    def _embed(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor):
        image = self.projector(self.vision(pixel_values))
        text = self.lm.get_input_embeddings()(input_ids)
        embeds = torch.cat([image.to(text.dtype), text], dim=1)
        mask = torch.cat([attention_mask.new_ones(image.shape[:2]), attention_mask], dim=1)
        return embeds, mask

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                labels: torch.Tensor | None = None) -> CausalLMOutputWithPast:
        """Loss (mean over answer tokens) when ``labels`` is given; logits over text positions."""
        embeds, mask = self._embed(pixel_values, input_ids, attention_mask)
        # positions follow the mask so padded and unpadded samples see the same positions
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids)
        logits = out.logits[:, self.num_image_tokens:]
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                                               labels[:, 1:].reshape(-1), ignore_index=IGNORE_INDEX)
        return CausalLMOutputWithPast(loss=loss, logits=logits)

    @torch.no_grad()
    def generate(self, pixel_values: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                 max_new_tokens: int = 32, do_sample: bool = False, temperature: float = 1.0,
                 top_k: int | None = None, logits_processor: LogitsProcessorList | None = None,
                 use_cache: bool = True) -> torch.Tensor:
        """New token ids ``(B, <= max_new_tokens)`` for left-padded prompts; rows that
        finish early are padded with ``pad_token_id`` after their eos.

        Hugging Face ``generate`` runs the prefill and the KV-cached decode loop; with
        ``inputs_embeds`` it returns only the new tokens and derives position ids from
        the attention mask, so left padding is safe.
        """
        embeds, mask = self._embed(pixel_values, input_ids, attention_mask)
        tok = self.tokenizer
        sampling = {"temperature": temperature, "top_k": top_k} if do_sample else {}
        return self.lm.generate(
            inputs_embeds=embeds, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=do_sample,
            logits_processor=logits_processor, use_cache=use_cache, eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id, **sampling,
        )
