"""The words the configuration, the review and the studio pages share with the clustering algorithms, kept
apart from them so that reading a configuration or a review (every studio page does) imports no scikit-learn:
the studio's first page draws before the algorithms load."""

NOISE = -1  # label HDBSCAN gives to points it leaves out of every cluster
OUTLIER_NAME = "outlier"  # the name of the NOISE cluster: what no cluster took
LOOP_CLUSTERINGS: tuple[str, ...] = ("ward", "kmeans")
LOOP_SPACES: tuple[str, ...] = ("umap", "embedding")  # where the Dial-In loop clusters
