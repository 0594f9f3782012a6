"""Stage 1, the study: its specification (:mod:`.spec`), the synthetic survey
(:mod:`.simulate`), the validating reader (:mod:`.loader`), scale scores and reliability
(:mod:`.measurement`), and the description of the sample (:mod:`.describe`)."""
