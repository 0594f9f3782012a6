"""Stage 2, segmentation, one module per step of the method:

* :mod:`.ward` (Ward's hierarchical method) and :mod:`.weighted_ward` (Ward on weighted
  points or micro-clusters), :mod:`.kmeans` (k-means from the Ward centroids), and both
  as one estimator, :mod:`.ward_kmeans` (``TwoStageClustering``, the method ``ward_kmeans``);
* the other readings of "two-stage": :mod:`.spss_twostep` (SPSS's TwoStep, ``twostep``)
  and :mod:`.mixture` (a latent profile model, ``lpa``), behind one :mod:`.registry`;
* choosing k (:mod:`.kselect`), naming clusters by the reported profiles (:mod:`.naming`),
  describing the segments (:mod:`.profiles`), the profiling variables (:mod:`.profiling`)
  and the carried columns (:mod:`.carried`)."""
