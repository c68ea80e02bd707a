"""Training: the loop, the recipes, and the notebooks' stages.

``trainer`` (one loop for every task, on accelerate, resumable exactly), ``optimizer`` (AdamW, or
Muon on the hidden matrices), ``batches`` (its micro-batches, built ahead in DataLoader worker processes), ``rounding``
(bf16's or fp16's rounding in fp32, where the CPU lacks that arithmetic), ``recipes`` (every number a stage trains
with), ``streams`` (ShapeWorld training streams and curricula), ``profiles`` (tiny or full:
model, tokenizer, data and recipes), ``stages`` (a notebook's training cell: resume, train,
evaluate, save), ``cycle`` (notebook 04's describe-then-ground experiment).
May import: every folder but the command line.
"""
