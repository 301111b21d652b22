"""Linear blend skinning, level by level along the kinematic tree.

Conventions used by these functions (the :class:`~vposer.body.BodyModel` prepares its buffers
in them once, so that the forward pass does no reshuffling):

- joints are in *level order*: sorted by depth in the tree (root first), so that the parents of
  the joints of one level are all in the level before; ``order`` maps level positions to joint
  indices and ``inverse`` back;
- rigid transforms are ``(N, J, 3, 4)``: rotation in ``[..., :3]``, translation in ``[..., 3]``;
- vertices of the rest and blend-shaped meshes are *coordinate-major*, ``(N, 3, V)``, so that
  skinning works on long contiguous rows; the output is the usual ``(N, V, 3)``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = [
    "TreeLevels", "kinematic_chain", "parent_index", "skin", "skinning_transforms", "tree_levels",
]

# skinning works on batch chunks whose (chunk, 12, V) blended transforms fit in this many bytes:
# large enough that a batch takes few chunks (each chunk is a handful of parallel regions, which
# stall on a busy machine), small enough to stay in the last-level cache
_CHUNK_BYTES = 1 << 24


@dataclass(frozen=True)
class TreeLevels:
    """A kinematic tree grouped by depth.

    Attributes:
        order: ``(J,)`` joint index at each level position.
        inverse: ``(J,)`` level position of each joint.
        sizes: number of joints on each level (level 0 holds the root only).
        parent_pos: for each level after the first, the position of each joint's parent within
            the previous level, as a list of ints.
        parents: ``(J,)`` parent level position of each level position (-1 for the root).
    """

    order: tuple[int, ...]
    inverse: tuple[int, ...]
    sizes: tuple[int, ...]
    parent_pos: tuple[tuple[int, ...], ...]
    parents: tuple[int, ...]


def tree_levels(parents: Sequence[int]) -> TreeLevels:
    """Group a tree (``parents[j]``, -1 for the root, one root at index 0) by depth."""
    parents = [int(p) for p in parents]
    if parents[0] != -1 or any(p < 0 for p in parents[1:]):
        raise ValueError("the tree must have its only root at joint 0")
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        d, p = 0, j
        while p != 0:
            p, d = parents[p], d + 1
        depth[j] = d
    order = sorted(range(len(parents)), key=lambda j: (depth[j], j))
    inverse = [0] * len(order)
    for pos, j in enumerate(order):
        inverse[j] = pos
    sizes = [depth.count(d) for d in range(max(depth) + 1)]
    starts = [sum(sizes[:d]) for d in range(len(sizes))]
    parent_pos = tuple(
        tuple(inverse[parents[j]] - starts[d - 1] for j in order[starts[d]:starts[d] + sizes[d]])
        for d in range(1, len(sizes))
    )
    level_parents = tuple(-1 if parents[j] < 0 else inverse[parents[j]] for j in order)
    return TreeLevels(tuple(order), tuple(inverse), tuple(sizes), parent_pos, level_parents)


def parent_index(levels: TreeLevels) -> list:
    """Per level after the first: a ``slice`` of the previous level when the parents are
    consecutive positions there (no gather needed), else the ``(start, stop)`` range of this
    level's entries in the concatenation of ``levels.parent_pos``."""
    out: list = []
    start = 0
    for pos in levels.parent_pos:
        if list(pos) == list(range(pos[0], pos[0] + len(pos))):
            out.append(slice(pos[0], pos[0] + len(pos)))
        else:
            out.append((start, start + len(pos)))
        start += len(pos)
    return out


def kinematic_chain(rot: Tensor, rel: Tensor, sizes: Sequence[int],
                    parent_pos: Sequence[Tensor | slice]) -> Tensor:
    """World transforms of every joint, one batched matmul per tree level.

    Args:
        rot: ``(N, J, 3, 3)`` local joint rotations, level order.
        rel: ``(N, J, 3)`` or ``(1, J, 3)`` rest offset of each joint from its parent (the root's
            rest position for the root), level order.
        sizes: joints per level.
        parent_pos: per level after the first, the positions of the parents within the
            previous level: a ``(k,)`` long tensor, or a ``slice`` when they are consecutive.

    Returns:
        ``(N, J, 3, 4)`` world rotation and position of each joint, level order.
    """
    n, j = rot.shape[:2]
    local = torch.cat([rot, rel.expand(n, j, 3).unsqueeze(-1)], dim=-1)  # (N, J, 3, 4)
    bottom = torch.zeros(4, dtype=rot.dtype, device=rot.device)
    bottom[3] = 1.0
    local4 = torch.cat([local, bottom.expand(n, j, 1, 4)], dim=-2)  # (N, J, 4, 4)
    blocks = [local[:, : sizes[0]]]
    start = sizes[0]
    for size, pos in zip(sizes[1:], parent_pos):
        prev = blocks[-1]
        parent = prev[:, pos] if isinstance(pos, slice) else prev.index_select(1, pos)
        blocks.append(torch.matmul(parent, local4[:, start:start + size]))
        start += size
    return torch.cat(blocks, dim=1)


def skinning_transforms(world: Tensor, rest_joints: Tensor) -> Tensor:
    """Transforms that move rest-pose vertices: world transform after undoing the rest position.

    Args:
        world: ``(N, J, 3, 4)`` world transforms.
        rest_joints: ``(N, J, 3)`` or ``(1, J, 3)`` rest joint positions.

    Returns:
        ``(N, 12, J)``: row ``4 i + k`` holds entry ``(i, k)`` of each joint's 3 x 4 transform.
    """
    rotation = world[..., :3]
    shift = world[..., 3] - (rotation * rest_joints.unsqueeze(-2)).sum(-1)
    a = torch.cat([rotation, shift.unsqueeze(-1)], dim=-1)  # (N, J, 3, 4)
    return a.flatten(2).transpose(1, 2).contiguous()


def _skin_chunk(a: Tensor, weights_t: Tensor, verts_t: Tensor, trans: Tensor | None) -> Tensor:
    """``(n, 12, J)`` transforms, ``(J, V)`` weights, ``(n, 3, V)`` vertices -> ``(n, 3, V)``."""
    t = torch.matmul(a, weights_t).unflatten(1, (3, 4))  # (n, 3, 4, V) blended transforms
    base = t[:, :, 3] if trans is None else t[:, :, 3] + trans.unsqueeze(-1)
    out = torch.addcmul(base, t[:, :, 0], verts_t[:, 0:1])  # a new tensor: in place from here
    out.addcmul_(t[:, :, 1], verts_t[:, 1:2])
    return out.addcmul_(t[:, :, 2], verts_t[:, 2:3])


def skin(a: Tensor, weights_t: Tensor, verts_t: Tensor, trans: Tensor | None = None,
         chunk: int | None = None) -> Tensor:
    """Linear blend skinning.

    Args:
        a: ``(N, 12, J)`` skinning transforms (see :func:`skinning_transforms`).
        weights_t: ``(J, V)`` skinning weights, transposed.
        verts_t: ``(N, 3, V)`` or ``(1, 3, V)`` posed rest vertices, coordinate-major.
        trans: ``(N, 3)`` translation added to every vertex, or None.
        chunk: batch rows processed at once (None: sized to stay in cache on CPU, the whole
            batch on other devices).

    Returns:
        ``(N, V, 3)`` skinned vertices, contiguous.
    """
    n, _, num_v = a.shape[0], a.shape[1], weights_t.shape[1]
    if torch.is_grad_enabled() and any(
            x is not None and x.requires_grad for x in (a, weights_t, verts_t, trans)):
        return _skin_differentiable(a, weights_t, verts_t, trans)
    if chunk is None:
        chunk = n if a.device.type != "cpu" else max(1, _CHUNK_BYTES // (48 * num_v))
    if n <= chunk:
        return _skin_chunk(a, weights_t, verts_t.expand(n, 3, num_v), trans).transpose(1, 2) \
            .contiguous()
    track = torch.is_grad_enabled() and any(
        x is not None and x.requires_grad for x in (a, weights_t, verts_t, trans))
    if track:
        return _skin_differentiable(a, weights_t, verts_t, trans)
    out = a.new_empty((n, num_v, 3))
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        out[s:e] = _skin_chunk(a[s:e], weights_t, _rows(verts_t, s, e),
                               None if trans is None else trans[s:e]).transpose(1, 2)
    return out


def _skin_differentiable(a: Tensor, weights_t: Tensor, verts_t: Tensor,
                         trans: Tensor | None) -> Tensor:
    """Skinning as few large matrix products, whose backward passes are cheap (the inference
    path's in-place, chunked form is fast forward but slow to differentiate).

    With one rest shape for the whole batch (no shape or pose blend shapes), every vertex is a
    fixed combination of the joints' 3x4 transforms: ``(V, 4 J) @ (4 J, 3 N)``.
    """
    n, num_j, num_v = a.shape[0], weights_t.shape[0], weights_t.shape[1]
    transforms = a.view(n, 3, 4, num_j)
    if verts_t.shape[0] == 1:
        homogeneous = torch.cat([verts_t[0], verts_t.new_ones(1, num_v)], dim=0)  # (4, V)
        mix = (weights_t.t().unsqueeze(2) * homogeneous.t().unsqueeze(1)).reshape(num_v, num_j * 4)
        # one large GEMM (V, 4J) @ (4J, 3N): far faster than N thin batched products
        stacked = transforms.permute(3, 2, 0, 1).reshape(num_j * 4, n * 3)
        out = torch.matmul(mix, stacked).view(num_v, n, 3).transpose(0, 1)
    else:
        blended = torch.matmul(weights_t.t(), a.transpose(1, 2)).view(n, num_v, 3, 4)
        verts = verts_t.transpose(1, 2)
        out = (blended[..., :3] * verts.unsqueeze(-2)).sum(-1) + blended[..., 3]
    return out if trans is None else out + trans.unsqueeze(1)


def _rows(x: Tensor, s: int, e: int) -> Tensor:
    """Rows ``s:e`` of a batch that may be a single broadcast row."""
    return x.expand(e - s, *x.shape[1:]) if x.shape[0] == 1 else x[s:e]
