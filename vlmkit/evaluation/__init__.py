"""How good a model is, and why: scores, probes and the figures that show them.

``metrics`` (Acc@IoU, mIoU/oIoU, BLEU/CIDEr, tables), ``evaluate`` (a model scored on rows),
``verdicts`` (sentences about a run's own numbers, noise included),
``refcoco_protocol`` (the papers' RefCOCO/RefCOCO+/RefCOCOg table),
``probes`` (what the vision features and the LM carry), ``attention`` (where the answer
looked), ``viz`` (examples, answers, histories and attention maps drawn).
May import: vlmkit.core, vlmkit.data, vlmkit.text, vlmkit.model, vlmkit.storage,
vlmkit.inference.
"""
