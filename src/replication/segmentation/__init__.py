"""Stage 2, segmentation: Ward's method (:mod:`.ward`), k-means from the Ward centroids
(:mod:`.kmeans`), both as one estimator (:mod:`.two_stage`), choosing k (:mod:`.kselect`),
naming clusters by the reported profiles (:mod:`.naming`), and describing the segments
(:mod:`.profiles`)."""
