"""vlmkit: learn and do visual grounding with a small vision-language model."""
