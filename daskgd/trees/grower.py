"""Growing the trees of one boosting iteration best-first, from histogram passes.

scikit-learn grows best-first: it splits the leaf of highest gain, builds the
histograms of its two children (the smaller one from its rows, the other as the
parent minus it), finds their splits, and repeats. Done literally on a cluster,
that is a pass over the data per split. Here each pass builds, for every leaf
whose split is known, the histogram of the smaller child that split would make,
before the split is taken. The best-first loop then runs on the client for as
long as the leaf it pops already has its children's histograms, and a pass is
needed only when a leaf made in this pass is the best. The trees are exactly
scikit-learn's (same heap, same order of pushes, same rules), in one pass per
level of best-first growth, for the ``n_trees_per_iteration`` trees together.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from daskgd.trees.kernels import COUNT, GRADIENT, HESSIAN
from daskgd.trees.splitting import Split, SplitParameters, find_split
from daskgd.trees.tree import TreeArrays

#: Most node histograms one pass builds (each is n_features x n_bins x 3 floats).
MAX_SLOTS_PER_PASS = 256

#: ``pass(trees, slots, real_nodes)``: per tree, the histograms of the leaves ``slots[k]``
#: numbers (``slots[k][node]`` is the leaf's slot, or -1), shape (n_slots_k, n_features,
#: n_bins, 3); tree ``k``'s first ``real_nodes[k]`` nodes are the splits taken, the others
#: tentative.
HistogramPass = Callable[[list[TreeArrays], list[np.ndarray], list[int]], list[np.ndarray]]


@dataclass(frozen=True)
class GrowthParameters:
    """The shape of a tree (scikit-learn's names and meanings)."""

    max_leaf_nodes: int | None = 31
    max_depth: int | None = None
    learning_rate: float = 0.1
    max_features: float = 1.0
    #: Monotonic constraint per feature (1, -1 or 0), or None.
    monotonic: np.ndarray | None = None
    #: Which features are categorical (their bins are category codes), or None.
    categorical: np.ndarray | None = None
    split: SplitParameters = field(default_factory=SplitParameters)
    #: Split every node whose children's histograms a pass brought (best gain first,
    #: within the leaf budget), not only while the best node has them: a pass per
    #: level of the tree instead of one per step deeper of best-first growth.
    level_wise: bool = False


@dataclass
class _Node:
    depth: int
    sum_gradient: float
    sum_hessian: float
    n_samples: int
    value: float
    histogram: np.ndarray | None = None
    split: Split | None = None
    left: int = -1
    right: int = -1
    leaf: bool = False  # finalised: it will not be split
    #: The children's histograms (left, right), built before the split is taken.
    children: tuple[np.ndarray, np.ndarray] | None = None
    #: Bounds of the children's values (monotonic constraints).
    lower: float = -np.inf
    upper: float = np.inf


class _HeapItem:
    """A splittable node in the heap, ordered as scikit-learn orders its TreeNodes."""

    __slots__ = ("gain", "index")

    def __init__(self, gain: float, index: int) -> None:
        self.gain, self.index = gain, index

    def __lt__(self, other: _HeapItem) -> bool:
        return self.gain > other.gain


class _GrowingTree:
    def __init__(self) -> None:
        self.nodes: list[_Node] = []

    def arrays(
        self,
        thresholds: Sequence[np.ndarray],
        n_bins_non_missing: np.ndarray,
        shrinkage: float,
        raw_thresholds: bool = True,
    ) -> TreeArrays:
        """The tree so far: nodes without children are leaves."""
        n = len(self.nodes)
        feature = np.zeros(n, dtype=np.int64)
        bin_threshold = np.zeros(n, dtype=np.uint8)
        threshold = np.zeros(n, dtype=np.float64)
        missing_left = np.zeros(n, dtype=np.bool_)
        left = np.full(n, -1, dtype=np.int64)
        right = np.full(n, -1, dtype=np.int64)
        is_leaf = np.ones(n, dtype=np.bool_)
        value = np.zeros(n, dtype=np.float64)
        categorical = np.zeros(n, dtype=np.bool_)
        bins_of = [node.split.left_bins for node in self.nodes if node.left >= 0 and node.split]
        width = max((len(b) for b in bins_of if b is not None), default=1)
        left_bins = np.zeros((n, width), dtype=np.bool_)
        for i, node in enumerate(self.nodes):
            if node.left >= 0:
                assert node.split is not None
                split = node.split
                feature[i], bin_threshold[i] = split.feature, split.bin
                if split.left_bins is not None:
                    categorical[i] = True
                    left_bins[i] = split.left_bins
                # A split on the last non-missing bin sends every value left, NaN right.
                elif raw_thresholds:
                    threshold[i] = (
                        np.inf
                        if split.bin == n_bins_non_missing[split.feature] - 1
                        else thresholds[split.feature][split.bin]
                    )
                missing_left[i] = split.missing_go_to_left
                left[i], right[i], is_leaf[i] = node.left, node.right, False
            else:
                value[i] = node.value * shrinkage
        return TreeArrays(
            feature,
            bin_threshold,
            threshold,
            missing_left,
            left,
            right,
            is_leaf,
            value,
            categorical,
            left_bins,
        )


def _find_split(
    node: _Node,
    params: GrowthParameters,
    n_bins_non_missing: np.ndarray,
    has_missing: np.ndarray,
    allowed: np.ndarray | None = None,
) -> None:
    """The node's split from its histogram; a node without one is finalised as a leaf.

    The root's value is 0, as in scikit-learn, whatever its bounds."""
    assert node.histogram is not None
    node.split = find_split(
        node.histogram,
        node.sum_gradient,
        node.sum_hessian,
        node.n_samples,
        node.value,
        n_bins_non_missing,
        has_missing,
        params.split,
        allowed,
        params.monotonic,
        node.lower,
        node.upper,
        params.categorical,
    )
    if node.split is None:
        node.leaf = True
        node.histogram = None


class _BestFirst:
    """scikit-learn's ``TreeGrower`` loop for one tree, paused where a pass is needed."""

    def __init__(
        self,
        params: GrowthParameters,
        n_bins_non_missing: np.ndarray,
        has_missing: np.ndarray,
        feature_rng: np.random.Generator | None = None,
    ) -> None:
        self.feature_rng = feature_rng
        self.tree = _GrowingTree()
        self.heap: list[_HeapItem] = []
        self.params = params
        self.n_bins_non_missing = n_bins_non_missing
        self.has_missing = has_missing
        self.n_leaves = 0

    def start(self, histogram: np.ndarray) -> None:
        """The root, from its histogram."""
        split_params = self.params.split
        feature_zero = histogram[0]
        n_samples = int(round(float(feature_zero[:, COUNT].sum())))
        root = _Node(
            0,
            float(np.sum(feature_zero[:, GRADIENT])),
            float(np.sum(feature_zero[:, HESSIAN])),
            n_samples,
            0.0,
            histogram=histogram,
        )
        self.tree.nodes.append(root)
        self.n_leaves = 1
        if n_samples < 2 * split_params.min_samples_leaf or (
            root.sum_hessian < split_params.min_hessian_to_split
        ):
            root.leaf, root.histogram = True, None
            return
        self._push(0)

    def _allowed_features(self) -> np.ndarray | None:
        """scikit-learn's draw of the features one split may use (``max_features``)."""
        if self.params.max_features >= 1.0:
            return None
        assert self.feature_rng is not None
        n_features = len(self.n_bins_non_missing)
        mask = np.full(n_features, False)
        mask[: max(1, int(np.ceil(self.params.max_features * n_features)))] = True
        self.feature_rng.shuffle(mask)
        return mask

    def _push(self, index: int) -> None:
        node = self.tree.nodes[index]
        _find_split(
            node, self.params, self.n_bins_non_missing, self.has_missing, self._allowed_features()
        )
        if not node.leaf:
            assert node.split is not None
            heapq.heappush(self.heap, _HeapItem(node.split.gain, index))

    def wanted(self) -> list[int]:
        """Splittable nodes whose children's histograms are not built yet, among those
        best-first growth can still split.

        With ``B`` leaves left in the budget, a node ranked below the ``B`` best of the
        heap is never split: the ``B`` nodes above it stay in the heap until popped,
        and each pop spends a leaf. Its children would be built for nothing (ties at
        the ``B``-th gain are kept). Level-wise growth splits whatever is built, so
        it builds for every node.
        """
        candidates = self.heap
        budget = self.params.max_leaf_nodes
        if budget is not None and not self.params.level_wise:
            left = budget - self.n_leaves
            if 0 < left < len(self.heap):
                cutoff = heapq.nsmallest(left, self.heap)[-1].gain  # the left-th best gain
                candidates = [item for item in self.heap if item.gain >= cutoff]
        return [item.index for item in candidates if self.tree.nodes[item.index].children is None]

    def routing(self, wanted: Sequence[int]) -> tuple[TreeArrays, np.ndarray]:
        """The tree with the ``wanted`` splits taken tentatively, and the slot of each
        tentative smaller child (the rows a pass must sum)."""
        nodes = list(self.tree.nodes)
        extra: list[_Node] = []
        for index in wanted:
            node = self.tree.nodes[index]
            assert node.split is not None
            tentative = replace(
                node,
                split=self._taken(node.split),
                left=len(nodes) + len(extra),
                right=len(nodes) + len(extra) + 1,
                histogram=None,
            )
            nodes[index] = tentative
            extra += [_Node(0, 0.0, 0.0, 0, 0.0), _Node(0, 0.0, 0.0, 0, 0.0)]
        routed = _GrowingTree()
        routed.nodes = nodes + extra
        slots = np.full(len(routed.nodes), -1, dtype=np.int64)
        for slot, index in enumerate(wanted):
            split = self.tree.nodes[index].split
            assert split is not None
            left = routed.nodes[index].left
            slots[left if split.n_samples_left < split.n_samples_right else left + 1] = slot
        return routed.arrays(
            [np.zeros(0)] * len(self.n_bins_non_missing),
            self.n_bins_non_missing,
            1.0,
            raw_thresholds=False,
        ), slots

    def built(self, wanted: Sequence[int], histograms: np.ndarray) -> None:
        """Store the children's histograms: the smaller built, the other by subtraction."""
        for slot, index in enumerate(wanted):
            node = self.tree.nodes[index]
            assert node.split is not None and node.histogram is not None
            small = histograms[slot]
            large = node.histogram - small
            left_is_small = node.split.n_samples_left < node.split.n_samples_right
            node.children = (small, large) if left_is_small else (large, small)
            node.histogram = None

    def advance(self) -> None:
        """Split the nodes whose children's histograms are known, as far as the rule allows.

        Best-first (scikit-learn's): while the best node has them. Level-wise: every
        node that has them, best gain first, within the leaf budget."""
        if self.params.level_wise:
            items = sorted(self.heap)  # best gain first
            ready = [item for item in items if self._ready(item)]
            self.heap = [item for item in items if not self._ready(item)]
            heapq.heapify(self.heap)
            for taken, item in enumerate(ready):
                if self._split(item.index):
                    self._finalise([rest.index for rest in ready[taken + 1 :]])
                    return
            return
        while self.heap and self._ready(self.heap[0]):
            if self._split(heapq.heappop(self.heap).index):
                self._finalise([])
                return

    def _ready(self, item: _HeapItem) -> bool:
        return self.tree.nodes[item.index].children is not None

    def _finalise(self, pending: Sequence[int]) -> None:
        """The leaf budget is spent: every node still splittable stays a leaf."""
        for index in [*pending, *(item.index for item in self.heap)]:
            rest = self.tree.nodes[index]
            rest.leaf, rest.histogram, rest.children = True, None, None
        self.heap.clear()

    def _taken(self, split: Split) -> Split:
        """The split as taken: without NaN in training, NaN follows the larger child at
        predict time. (A tentative split is sent as it will be taken, so that the rows a
        pass partitions for it are its children's rows, see ``partitions``.)"""
        if self.has_missing[split.feature]:
            return split
        return replace(split, missing_go_to_left=split.n_samples_left > split.n_samples_right)

    def _split(self, index: int) -> bool:
        """Take node ``index``'s split; True when that spends the leaf budget."""
        params, split_params = self.params, self.params.split
        node = self.tree.nodes[index]
        split, children = node.split, node.children
        assert split is not None and children is not None
        node.children = None
        depth = node.depth + 1
        left = _Node(
            depth,
            split.sum_gradient_left,
            split.sum_hessian_left,
            split.n_samples_left,
            split.value_left,
            histogram=children[0],
        )
        right = _Node(
            depth,
            split.sum_gradient_right,
            split.sum_hessian_right,
            split.n_samples_right,
            split.value_right,
            histogram=children[1],
        )
        node.split = self._taken(split)
        node.left, node.right = len(self.tree.nodes), len(self.tree.nodes) + 1
        self.tree.nodes += [left, right]
        self.n_leaves += 1
        if params.max_leaf_nodes is not None and self.n_leaves == params.max_leaf_nodes:
            for child in (left, right):
                child.leaf, child.histogram = True, None
            return True
        for child in (left, right):
            if (params.max_depth is not None and depth == params.max_depth) or (
                child.n_samples < 2 * split_params.min_samples_leaf
            ):
                child.leaf, child.histogram = True, None
        self._bound_children(node, split.feature, left, right)
        for child_index in (node.left, node.right):
            if not self.tree.nodes[child_index].leaf:
                self._push(child_index)
        return False

    def _bound_children(self, node: _Node, feature: int, left: _Node, right: _Node) -> None:
        """scikit-learn's bounds: a constrained split caps each side at the children's mean."""
        constraint = 0 if self.params.monotonic is None else int(self.params.monotonic[feature])
        if constraint == 0:
            left.lower = right.lower = node.lower
            left.upper = right.upper = node.upper
            return
        middle = (left.value + right.value) / 2
        if constraint == 1:
            left.lower, left.upper = node.lower, middle
            right.lower, right.upper = middle, node.upper
        else:
            left.lower, left.upper = middle, node.upper
            right.lower, right.upper = node.lower, middle

    def finish(self, thresholds: Sequence[np.ndarray]) -> TreeArrays:
        return self.tree.arrays(thresholds, self.n_bins_non_missing, self.params.learning_rate)


def grow_trees(
    histogram_pass: HistogramPass,
    n_trees: int,
    thresholds: Sequence[np.ndarray],
    n_bins_non_missing: np.ndarray,
    params: GrowthParameters,
    has_missing: np.ndarray | None = None,
    feature_rng: np.random.Generator | None = None,
) -> tuple[list[TreeArrays], int, np.ndarray]:
    """Grow ``n_trees`` trees (one per class) together, best-first.

    Parameters
    ----------
    histogram_pass : callable
        Builds leaf histograms over the training rows (see :data:`HistogramPass`).
    n_trees : int
        Trees of the iteration.
    thresholds : sequence of ndarray
        The bin thresholds per feature (for the raw-value thresholds of the splits).
    n_bins_non_missing : ndarray
        Bins of non-missing values per feature.
    params : GrowthParameters
    has_missing : ndarray of bool, optional
        Whether each feature has missing values among the training rows; read from
        the root histograms when not given.
    feature_rng : numpy Generator, optional
        Draws the features of each split when ``params.max_features < 1``, in
        scikit-learn's order (with several trees per iteration, their splits draw
        in turn, where scikit-learn grows one tree after the other).

    Returns
    -------
    trees : list of TreeArrays
        Leaf values include the shrinkage (``learning_rate``).
    n_passes : int
        Histogram passes made.
    has_missing : ndarray of bool
    """
    root_slots = [np.zeros(1, dtype=np.int64) for _ in range(n_trees)]
    roots = histogram_pass(
        [TreeArrays.single_leaf() for _ in range(n_trees)], root_slots, [1] * n_trees
    )
    n_passes = 1
    if has_missing is None:
        has_missing = roots[0][0][:, -1, COUNT] > 0
    growers = [
        _BestFirst(params, n_bins_non_missing, has_missing, feature_rng) for _ in range(n_trees)
    ]
    for grower, histogram in zip(growers, roots, strict=True):
        grower.start(histogram[0])
    while True:
        wanted, budget = [], MAX_SLOTS_PER_PASS
        for grower in growers:
            take = grower.wanted()[: max(0, budget)]
            budget -= len(take)
            wanted.append(take)
        if not any(wanted):
            break
        routing = [grower.routing(take) for grower, take in zip(growers, wanted, strict=True)]
        result = histogram_pass(
            [r[0] for r in routing],
            [r[1] for r in routing],
            [len(grower.tree.nodes) for grower in growers],
        )
        n_passes += 1
        for grower, take, histograms in zip(growers, wanted, result, strict=True):
            grower.built(take, histograms)
            grower.advance()
    return [grower.finish(thresholds) for grower in growers], n_passes, has_missing
