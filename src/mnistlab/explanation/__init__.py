"""Why a run answered what it did, for one image: attributions, each layer's response, the
nearest training images and the image's place on a map of the test set.

The layer above models and runs: it reads a model and its run folder (where it keeps its
neighbour index and map, RUN_DIR/explain/), and never imports prediction; evaluation, serve
and cli use it. docs/explaining.md says what each part means and how it was checked.
"""

from mnistlab.explanation.activations import LayerMaps, layer_maps
from mnistlab.explanation.attribution import attribute
from mnistlab.explanation.embedding import DataMap, data_map
from mnistlab.explanation.explain import Explanation, explain_image
from mnistlab.explanation.neighbors import Neighbor, NeighborIndex, neighbor_index

__all__ = [
    "DataMap",
    "Explanation",
    "LayerMaps",
    "Neighbor",
    "NeighborIndex",
    "attribute",
    "data_map",
    "explain_image",
    "layer_maps",
    "neighbor_index",
]
