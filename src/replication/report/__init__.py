"""Stage 5, the report: figures (:mod:`.figures`), the study pages and landing page
(:mod:`.page`), the manifest (:mod:`.manifest`), and the executed notebooks
(:mod:`.notebooks`)."""
