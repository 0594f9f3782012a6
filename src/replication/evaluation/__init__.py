"""Stage 4, evaluation: the scorecard of claims (:mod:`.claims`) and, on synthetic data
only, recovery of the generating truth (:mod:`.recovery`)."""
