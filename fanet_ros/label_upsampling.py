"""Labels (and confidence) at any size from stride-8 class logits, exactly as full-resolution
bilinear ``Resize`` + ``ArgMax`` would give them, for a fraction of the work.

Bilinear upsampling makes each output pixel a convex combination of four source logit
vectors. If all four have the same arg-max class, the combination keeps it (class ``c``
is the largest entry of every vector, so of any weighted mean of them; ties go to the
lowest id, as ``ArgMax`` breaks them). Only pixels whose four sources disagree -- the
boundary, about a tenth of a street scene -- need their interpolated logits and an arg-max.

Sampling follows ONNX ``Resize`` (``mode=linear``, ``coordinate_transformation_mode=
half_pixel``), which is what Keras' bilinear resize exports to, and OpenCV's
``INTER_LINEAR``: source ``x = (x_out + 0.5) * in / out - 0.5``, clamped to the edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from fanet_ros.onnx.heads import argmax_labels

LOGITS_STRIDE = 8
"""Input pixels per logit of a ``logits`` model: its output is ``[1, H/8, W/8, C]``."""

_MIXED = 255
"""Marks source cells whose four logit vectors disagree (class ids stay below 255)."""


class ClassArgmax:
    """``[1, H, W, C]`` float32 scores -> ``[H, W]`` uint8 ids of the largest.

    A one-node ONNX Runtime graph (ArgMax + Cast): about 4x faster than
    ``np.argmax(axis=-1)`` over the short, strided class axis of a 512x1024x11
    map (bench/pipeline_stages.py); same rule on ties (the first class). One
    thread: no thread pool left spinning to slow the steps that follow.
    """

    def __init__(self) -> None:
        graph = helper.make_graph(
            argmax_labels("probabilities", "labels", axis=3),
            "class_argmax",
            [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, "h", "w", "c"])],
            [helper.make_tensor_value_info("labels", TensorProto.UINT8, [1, "h", "w"])],
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        model.ir_version = 8
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        self._session = ort.InferenceSession(
            model.SerializeToString(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"probabilities": probabilities})[0][0]


@dataclass(frozen=True)
class SourceAxis:
    """Along one axis, for every output index: the two source indices and the second's weight.

    Indices are into the source padded by one repeated edge sample on each side, so that
    ``high = low + 1`` everywhere and no position needs clamping: sampling the padding
    gives the edge value, as clamping does.
    """

    low: np.ndarray
    weight: np.ndarray
    """float32 in ``[0, 1)``; the value is ``(1 - weight) * src[low] + weight * src[low + 1]``."""


def source_axis(in_size: int, out_size: int) -> SourceAxis:
    """Half-pixel source positions of ``out_size`` samples over ``in_size`` (edge-padded) inputs."""
    position = (np.arange(out_size, dtype=np.float64) + 0.5) * (in_size / out_size) + 0.5
    position = np.clip(position, 0.0, in_size)  # already inside; guards rounding
    low = np.minimum(np.floor(position).astype(np.intp), in_size)
    return SourceAxis(low, (position - low).astype(np.float32))


@dataclass(frozen=True)
class CellBlocks:
    """The output indices each source cell covers along one axis, padded to one length.

    Cell ``i`` (padded source ``i`` and ``i + 1``) covers the outputs whose ``low`` is ``i``: a
    run, as ``low`` never decreases. Short runs repeat their last index, so writing a
    padded block writes some pixels twice with the same value.
    """

    index: np.ndarray
    """``[cells, longest run]`` output indices."""
    weight: np.ndarray
    """The ``SourceAxis.weight`` of each of those outputs."""
    counts: np.ndarray
    """How many outputs each cell covers (0 for cells no output reads, only when shrinking)."""

    @property
    def covers(self) -> np.ndarray:
        return self.counts > 0

    @classmethod
    def along(cls, axis: SourceAxis, in_size: int) -> CellBlocks:
        counts = np.bincount(axis.low, minlength=in_size + 1)
        starts = np.cumsum(counts) - counts
        offsets = np.minimum(np.arange(counts.max()), np.maximum(counts - 1, 0)[:, None])
        index = np.minimum(starts[:, None] + offsets, axis.low.size - 1)
        return cls(index, axis.weight[index], counts)


@dataclass
class Refinement:
    """One frame's labels and what :meth:`LogitsUpsampler.confidence` reuses."""

    labels: np.ndarray
    """``[H, W]`` uint8 class ids."""
    logits: np.ndarray
    """The ``[h, w, C]`` source logits."""
    padded: np.ndarray
    """The logits with one repeated edge sample on each side, ``[h + 2, w + 2, C]``."""
    cells: tuple[np.ndarray, np.ndarray]
    """Row and column (in ``padded``) of the ``M`` boundary cells: cells of mixed classes."""
    rows: np.ndarray
    """``[M, by]`` output rows of each boundary cell (short runs repeat their last)."""
    cols: np.ndarray
    """``[M, bx]`` output columns of each boundary cell."""
    row_weights: np.ndarray
    col_weights: np.ndarray

    def flat_indices(self, cells: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``[m, by, bx]`` indices into the flattened labels of the blocks of ``cells``
        (cheaper to write through than a pair of broadcast row and column indices)."""
        return (self.rows[cells][:, :, None] * self.labels.shape[1]
                + self.cols[cells][:, None, :])

    @property
    def boundary_pixels(self) -> int:
        """Pixels whose labels needed interpolated logits."""
        if not self.rows.size:
            return 0
        return int(np.unique(self.flat_indices()).size)


class LogitsUpsampler:
    """``[h, w, C]`` float32 logits -> ``[H, W]`` uint8 labels (and mono8 confidence).

    Index tables are kept for the last (source, output) size pair, so a stream of
    same-sized frames pays for them once.
    """

    def __init__(self) -> None:
        self._argmax = ClassArgmax()
        self._plan: tuple[tuple[int, ...], tuple[CellBlocks, CellBlocks] | None] = ((), None)

    def _plan_for(self, low: tuple[int, int], size: tuple[int, int]):
        key = (*low, *size)
        plan_key, plan = self._plan  # key and tables read and replaced as one: threads share it
        if key != plan_key or plan is None:
            plan = (CellBlocks.along(source_axis(low[0], size[0]), low[0]),
                    CellBlocks.along(source_axis(low[1], size[1]), low[1]))
            self._plan = (key, plan)
        return plan

    def labels(
        self, logits: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None
    ) -> np.ndarray:
        """``[H, W]`` = ``size`` uint8 arg-max of the bilinearly upsampled ``logits``."""
        return self.refine(logits, size, out).labels

    def refine(
        self, logits: np.ndarray, size: tuple[int, int], out: np.ndarray | None = None
    ) -> Refinement:
        """Labels at ``size`` (written into ``out`` when given) and how they were found.

        Each boundary cell's output block is computed for the classes that can win in it
        only: class ``k`` cannot where another class beats it at all four corners.
        """
        logits = np.ascontiguousarray(logits, dtype=np.float32)
        h, w, _ = logits.shape
        row_blocks, col_blocks = self._plan_for((h, w), size)
        padded = np.pad(logits, ((1, 1), (1, 1), (0, 0)), mode="edge")
        cells = _cell_labels(self._argmax(padded[None]))
        if out is None:
            out = np.empty(size, np.uint8)
        # Each cell's class over the output run it covers (runs are contiguous: repeat).
        out[...] = cells.repeat(row_blocks.counts, axis=0).repeat(col_blocks.counts, axis=1)
        mixed = (cells == _MIXED) & row_blocks.covers[:, None] & col_blocks.covers
        cy, cx = np.nonzero(mixed)
        found = Refinement(out, logits, padded, (cy, cx), row_blocks.index[cy],
                           col_blocks.index[cx], row_blocks.weight[cy], col_blocks.weight[cx])
        if not cy.size:
            return found
        candidates = _candidates(_corners(padded, cy, cx))
        counts = candidates.sum(axis=1)
        for count in np.unique(counts):
            group = np.flatnonzero(counts == count)
            classes = np.nonzero(candidates[group])[1].reshape(group.size, count)
            values = _block_values(padded, cy[group], cx[group], found.row_weights[group],
                                   found.col_weights[group], classes)
            winner = _first_max(values)
            ids = classes.astype(np.uint8)[np.arange(group.size)[:, None, None], winner]
            out.reshape(-1)[found.flat_indices(group)] = ids
        return found

    def confidence(self, found: Refinement, out: np.ndarray | None = None) -> np.ndarray:
        """mono8 ``[H, W]``: 255 x the winning class's softmax probability.

        Boundary pixels: the softmax of their interpolated logits (exact). Elsewhere the
        winning class is the same at all four source logits: its probability at the source
        pixels, bilinearly resized (the error is measured by ``bench/model_table.py``).
        """
        height, width = found.labels.shape
        low = _max_probability(np.moveaxis(found.logits, -1, 0))
        conf = cv2.resize(_to_mono8(low), (width, height), dst=out,
                          interpolation=cv2.INTER_LINEAR)
        cy, cx = found.cells
        if cy.size:
            classes = found.logits.shape[2]
            every = np.broadcast_to(np.arange(classes), (cy.size, classes))
            values = _block_values(found.padded, cy, cx, found.row_weights, found.col_weights,
                                   every)
            exact = _to_mono8(_max_probability(values))
            conf.reshape(-1)[found.flat_indices()] = exact
        return conf


_DEFAULT: LogitsUpsampler | None = None


def labels_from_logits(logits: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """``[H, W]`` uint8 labels of ``[h, w, C]`` logits; ``size`` defaults to the model input
    (``LOGITS_STRIDE`` times the logits)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = LogitsUpsampler()
    h, w = logits.shape[:2]
    return _DEFAULT.labels(logits, size or (h * LOGITS_STRIDE, w * LOGITS_STRIDE))


def _cell_labels(labels: np.ndarray) -> np.ndarray:
    """Per cell of ``labels`` (a pixel and its right, lower and lower-right neighbours):
    the class all four share, or ``_MIXED``; one row and column fewer."""
    here = labels[:-1, :-1]
    same = (here == labels[1:, :-1]) & (here == labels[:-1, 1:]) & (here == labels[1:, 1:])
    return np.where(same, here, np.uint8(_MIXED))


def _corners(padded: np.ndarray, cy: np.ndarray, cx: np.ndarray) -> np.ndarray:
    """``[M, 4, C]`` logits at the corners of cells ``(cy, cx)``: top-left, top-right,
    bottom-left, bottom-right."""
    return np.stack([padded[cy, cx], padded[cy, cx + 1], padded[cy + 1, cx],
                     padded[cy + 1, cx + 1]], axis=1)


def _candidates(corners: np.ndarray) -> np.ndarray:
    """``[M, C]`` bool: the classes not beaten by one other class at all four corners.

    A class beaten at every corner by the same rival is beaten everywhere in the cell
    (interpolation weights are non-negative and sum to one), so it cannot be the arg-max.
    """
    beaten = (corners[:, :, None, :] > corners[:, :, :, None]).all(axis=1)  # [M, k, rival]
    return ~beaten.any(axis=2)


def _block_values(
    padded: np.ndarray, cy: np.ndarray, cx: np.ndarray, wy: np.ndarray, wx: np.ndarray,
    classes: np.ndarray,
) -> np.ndarray:
    """``[K, M, by, bx]`` bilinear logits of classes ``classes`` ``[M, K]`` over the output
    blocks of cells ``(cy, cx)``, whose rows and columns have weights ``wy`` ``[M, by]`` and
    ``wx`` ``[M, bx]``."""
    cell = np.arange(cy.size)[:, None]
    corners = [padded[y, x][cell, classes].T[:, :, None]  # [K, M, 1]
               for y, x in ((cy, cx), (cy, cx + 1), (cy + 1, cx), (cy + 1, cx + 1))]
    top_left, top_right, bottom_left, bottom_right = corners
    top = top_left + wx * (top_right - top_left)  # [K, M, bx]
    bottom = bottom_left + wx * (bottom_right - bottom_left)
    bottom -= top
    values = wy[None, :, :, None] * bottom[:, :, None, :]
    values += top[:, :, None, :]
    return values


def _first_max(values: np.ndarray) -> np.ndarray:
    """Index along axis 0 of the largest value, the first on ties (as ``ArgMax``), uint8."""
    best = values[0].copy()
    index = np.zeros(best.shape, np.uint8)
    for k in range(1, values.shape[0]):
        better = values[k] > best
        index[better] = k
        np.maximum(best, values[k], out=best)
    return index


def _max_probability(values: np.ndarray) -> np.ndarray:
    """Softmax probability of the largest entry along axis 0 (classes first)."""
    peak = values.max(axis=0)
    total = np.zeros(peak.shape, np.float32)
    scratch = np.empty_like(peak)
    for row in values:
        np.subtract(row, peak, out=scratch)
        np.exp(scratch, out=scratch)
        total += scratch
    return 1.0 / total


def _to_mono8(probability: np.ndarray) -> np.ndarray:
    return np.rint(probability * 255.0).astype(np.uint8)
