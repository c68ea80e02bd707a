"""Models on disk and on the Hugging Face Hub.

``checkpoint`` (atomic, locked checkpoint directories with the training state; a Hub id
wherever a checkpoint path is accepted), ``hub`` (model cards, ``save_pretrained``,
``from_pretrained``, ``push_to_hub``).
May import: vlmkit.core, vlmkit.data, vlmkit.text, vlmkit.model.
"""
