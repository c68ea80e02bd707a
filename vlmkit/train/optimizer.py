"""The optimizer a Trainer steps: AdamW, or Muon on the hidden weight matrices and AdamW on the rest.

Muon (Jordan et al., 2024; ``torch.optim.Muon``) replaces each hidden matrix's momentum update by
the nearest orthogonal matrix, so every direction of the matrix moves at the same rate. On the tiny
model, at twice AdamW's rate, it learned every notebook's task in 33-50% fewer examples, at 1.5x the
step's cost on a 2-core CPU (docs/experiments/optimizer.md). Embeddings, heads, norms and biases stay
on AdamW, as Muon's authors advise; the convolution too (torch's Muon takes 2-D parameters only). ``adjust_lr_fn="match_rms_adamw"`` (Moonshot's scaling) sizes
Muon's update like AdamW's at the same rate; ``muon_lr_scale`` sets Muon's rate as a share of
each group's.
"""

from __future__ import annotations

import torch
from torch import nn

OPTIMIZERS = ("adamw", "muon")


def hidden_matrices(model: nn.Module) -> set[int]:
    """ids of the parameters Muon trains: the 2-D weights of the vision encoder, the projector and
    the language model's layers; not the token embeddings, the output layer or the box head."""
    outer = [model.lm.get_input_embeddings(), model.lm.get_output_embeddings(), model.box_head]
    excluded = {id(p) for part in outer if part is not None for p in part.parameters()}
    return {id(p) for p in model.parameters() if p.ndim == 2 and id(p) not in excluded}


class MuonWithAdamW(torch.optim.Optimizer):
    """``torch.optim.Muon`` on the groups marked ``"muon": True``, ``torch.optim.AdamW`` on the
    others, as one optimizer, so the schedule, accelerate and a checkpoint see one. Its
    ``param_groups`` are the two optimizers' own (Muon's first), also after loading a state."""

    def __init__(self, groups: list[dict], lr: float):
        for group in groups:
            if "muon" not in group:
                raise ValueError("each parameter group says whether Muon trains it: a 'muon' key, True or False")
        ordered = [g for g in groups if g["muon"]] + [g for g in groups if not g["muon"]]
        super().__init__(ordered, {"lr": lr})
        muon, adamw = [g for g in self.param_groups if g["muon"]], [g for g in self.param_groups if not g["muon"]]
        self.parts = [torch.optim.Muon(muon, lr=lr, adjust_lr_fn="match_rms_adamw")] if muon else []
        self.parts += [torch.optim.AdamW(adamw, lr=lr)] if adamw else []
        self._share_groups()

    def _share_groups(self) -> None:
        # the schedule sets each group's rate here; the parts must step with those same dicts
        self.param_groups = [g for part in self.parts for g in part.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("MuonWithAdamW.step takes no closure")
        for part in self.parts:
            part.step()

    def state_dict(self) -> dict:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict) -> None:
        parts = state_dict.get("parts")
        if parts is None or len(parts) != len(self.parts):
            raise ValueError(f"not a state of this optimizer ({len(self.parts)} parts: Muon and AdamW); an AdamW "
                             "run's state cannot resume a Muon run")
        for part, state in zip(self.parts, parts, strict=True):
            part.load_state_dict(state)
        self._share_groups()


def build_optimizer(groups: list[dict], model: nn.Module, name: str, lr: float,
                    muon_lr_scale: float = 1.0) -> torch.optim.Optimizer:
    """The optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``groups`` (parameter groups, each
    with its ``lr`` and ``weight_decay``); for Muon each group is split into its hidden matrices,
    at ``muon_lr_scale`` times the group's rate, and the rest."""
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name != "muon":
        raise ValueError(f"optimizer={name!r}: choose one of {OPTIMIZERS}")
    if not hasattr(torch.optim, "Muon"):
        raise RuntimeError(f"optimizer='muon' needs torch.optim.Muon, which torch {torch.__version__} lacks: "
                           "install the torch that vlmkit pins (constraints.txt), or train with optimizer='adamw'")
    matrices = hidden_matrices(model)
    split = []
    for group in groups:
        for muon in (True, False):
            params = [p for p in group["params"] if (id(p) in matrices) == muon]
            if params:
                rate = group["lr"] * (muon_lr_scale if muon else 1.0)
                split.append({**group, "params": params, "muon": muon, "lr": rate})
    return MuonWithAdamW(split, lr=lr)
