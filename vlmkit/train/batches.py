"""Training micro-batches, built ahead of the step in ``DataLoader`` worker processes.

Micro-batch ``m`` (``step * grad_accum + micro``) of process ``p`` holds the stream's examples
at fixed indices (``(m * processes + p) * batch_size`` onwards), so *which* examples a batch
holds depends on neither the worker count nor on where a run was resumed: the loader's
sampler is the plain range of micro-batch indices from the resume point on, and a map-style
dataset builds each one by its index. With ``workers`` = 0 the batches are built in the
training process as it asks for them (no processes to start: the tiny profile on 2 cores);
with more, that many processes build them ahead (``prefetch`` each), and on CUDA into pinned
memory so the copy to the GPU need not wait.
"""

from __future__ import annotations

import multiprocessing

import torch
from torch.utils.data import DataLoader, Dataset

from vlmkit.text.processor import IGNORE_INDEX, Processor
from vlmkit.text.tasks import Example, Stream

PREFETCH = 4  # micro-batches each worker builds ahead (torch's default is 2; a step of the full recipe takes 4)


def keep_first_answer_label(labels: torch.Tensor) -> torch.Tensor:
    """``labels`` with every answer token but the first ignored."""
    answer = labels != IGNORE_INDEX
    first = answer & (answer.cumsum(dim=1) == 1)
    return torch.where(first, labels, torch.full_like(labels, IGNORE_INDEX))


class MicroBatches(Dataset):
    """Index ``m`` -> the collated micro-batch ``m`` of this process (see the module doc):
    the processor's training batch (``objective="tokens"``, with only the first answer token
    labelled during the first ``first_token_steps`` steps) or box batch (``"box"``)."""

    def __init__(self, stream: Stream, processor: Processor, batch_size: int, steps: int, grad_accum: int = 1,
                 processes: int = 1, process_index: int = 0, objective: str = "tokens", first_token_steps: int = 0):
        self.stream, self.processor, self.batch_size, self.steps = stream, processor, batch_size, steps
        self.grad_accum, self.processes, self.process_index = grad_accum, processes, process_index
        self.objective, self.first_token_steps = objective, first_token_steps

    def __len__(self) -> int:
        return self.steps * self.grad_accum

    def index(self, step: int, micro: int = 0) -> int:
        """The index of micro-batch ``micro`` of ``step``."""
        return step * self.grad_accum + micro

    def examples(self, index: int) -> list[Example]:
        """The examples of micro-batch ``index`` on this process (fixed stream indices)."""
        start = (index * self.processes + self.process_index) * self.batch_size
        return [self.stream[i % len(self.stream)] for i in range(start, start + self.batch_size)]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        examples = self.examples(index)
        if self.objective == "box":
            return self.processor.box_batch(examples)
        batch = self.processor.training_batch(examples)
        if index // self.grad_accum < self.first_token_steps:
            batch["labels"] = keep_first_answer_label(batch["labels"])
        return batch


def batch_loader(batches: MicroBatches, start: int, workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """The micro-batches from index ``start`` to the end, in order, built by ``workers``
    processes (0: in this process). One iterator of it serves a whole run, so its workers
    start once (what ``persistent_workers`` gives a loop that iterates epoch after epoch).

    Workers are forked: a training stream holds closures (generated scenes, epoch orders)
    that a spawned process could not be sent, so where there is no fork (Windows) use 0."""
    if workers < 0:
        raise ValueError(f"data_workers is a number of processes, at least 0; got {workers}")
    extra = {}
    if workers:
        if "fork" not in multiprocessing.get_all_start_methods():
            raise ValueError(f"data_workers={workers} needs processes started by fork, which this platform lacks "
                             f"(the training streams cannot be sent to a spawned process): use data_workers=0")
        extra = {"prefetch_factor": PREFETCH, "multiprocessing_context": "fork"}
    # its own generator: a loader seeds its workers with a draw from the global one otherwise,
    # which would move the run's random numbers wherever a resumed run starts a new iterator
    return DataLoader(batches, batch_size=None, sampler=range(start, len(batches)), num_workers=workers,
                      pin_memory=pin_memory, generator=torch.Generator().manual_seed(0), **extra)
