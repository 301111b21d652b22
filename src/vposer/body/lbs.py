"""Linear blend skinning: joint transforms composed along the kinematic tree, then blended.

Conventions used by these functions (the :class:`~vposer.body.BodyModel` prepares its buffers
in them once, so that the forward pass does no reshuffling):

- joints are in the model's *joint order* (the root first), in
  and out; :func:`chain_by_level` alone works in *level order* (sorted by depth, so that the
  parents of one level's joints are all in the level before), which
  :func:`skinning_transforms` converts to and from with ``order`` and ``inverse``;
- rigid transforms are homogeneous ``(N, J, 4, 4)`` (or their top ``(N, J, 3, 4)``): rotation in
  ``[..., :3, :3]``, translation in ``[..., :3, 3]``; the *skinning transform* of a joint moves
  rest-pose vertices to the posed mesh (its world transform after undoing its rest position);
- vertices of the rest and blend-shaped meshes are *coordinate-major*, ``(N, 3, V)``, so that
  skinning works on long contiguous rows; the output is the usual ``(N, V, 3)``. Any point
  skinned rigidly to one joint (weight 1) lands where that joint's transform puts it, so a
  model can skin its joints along with its vertices.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from .._cache import constant_cache

__all__ = [
    "ChainIndex", "TreeLevels", "ancestor_tables", "chain_by_doubling", "chain_by_level",
    "chain_index", "local_transforms", "parent_index", "posed_joints", "skin", "skinning_transforms", "tree_levels",
]

#: batch sizes up to which :func:`skinning_transforms` composes by pointer jumping
DOUBLING_MAX_BATCH = 8

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


def ancestor_tables(parents: Sequence[int], num_levels: int) -> list[list[int]]:
    """Pointer-jumping tables for :func:`chain_by_doubling`, in joint order.

    Table ``s`` maps each joint to its ancestor ``2 ** s`` steps up, with ``J`` (an identity
    appended after the joints) above the root; ``ceil(log2(num_levels))`` tables in all (at
    least one), ``num_levels`` being the tree's depth plus one.
    """
    num_j = len(parents)
    up = [int(p) if p >= 0 else num_j for p in parents] + [num_j]
    tables = []
    while len(tables) == 0 or (1 << len(tables)) < num_levels:
        tables.append(up)
        up = [up[a] for a in up]
    return tables


def local_transforms(rot: Tensor, rest: Tensor) -> Tensor:
    """Each joint's rotation about its own rest position, as a homogeneous matrix.

    Composing these from the root down gives the skinning transforms directly: with ``W_j`` the
    world transform of joint ``j`` and ``A_j = W_j T(-r_j)`` the transform that moves rest-pose
    vertices, ``A_j = A_parent L_j`` where ``L_j = [R_j | r_j - R_j r_j]``.

    Args:
        rot: ``(N, J, 3, 3)`` local joint rotations.
        rest: ``(N, J, 3)`` or ``(1, J, 3)`` rest joint positions, same joint order.

    Returns:
        ``(N, J, 4, 4)``.
    """
    n, j = rot.shape[:2]
    r = rest.unsqueeze(-1)
    top = torch.cat([rot, r - torch.matmul(rot, r)], dim=-1)  # (N, J, 3, 4)
    bottom = _homogeneous(rot.dtype, rot.device)[0].expand(n, j, 1, 4)
    return torch.cat([top, bottom], dim=-2)


def chain_by_level(local: Tensor, sizes: Sequence[int],
                   parent_pos: Sequence[Tensor | slice]) -> Tensor:
    """Compose local transforms from the root down, one batched matmul per tree level.

    Args:
        local: ``(N, J, 4, 4)`` local transforms, level order.
        sizes: joints per level.
        parent_pos: per level after the first, the positions of the parents within the
            previous level: a ``(k,)`` long tensor, or a ``slice`` when they are consecutive.

    Returns:
        ``(N, J, 4, 4)`` products ``L_root ... L_parent L_j``, level order.
    """
    blocks = [local[:, : sizes[0]]]
    start = sizes[0]
    for size, pos in zip(sizes[1:], parent_pos):
        prev = blocks[-1]
        parent = prev[:, pos] if isinstance(pos, slice) else prev.index_select(1, pos)
        blocks.append(torch.matmul(parent, local[:, start:start + size]))
        start += size
    return torch.cat(blocks, dim=1)


def chain_by_doubling(local: Tensor, ancestors: Sequence[Tensor]) -> Tensor:
    """Same products as :func:`chain_by_level` by pointer jumping: ``log2(depth)`` steps over
    all joints at once (4 for SMPL-X instead of 10), each doing ``J`` matmuls per body instead
    of one level's; fewer operator calls, so faster for a few bodies, slower for many. Any joint
    order works, as long as ``local`` and the tables agree.

    Args:
        local: ``(N, J, 4, 4)`` local transforms.
        ancestors: the tables of :func:`ancestor_tables` as ``(J + 1,)`` long tensors.

    Returns:
        ``(N, J, 4, 4)`` products ``L_root ... L_parent L_j``, same order.
    """
    n, j = local.shape[:2]
    eye = _homogeneous(local.dtype, local.device)[1].expand(n, 1, 4, 4)
    out = torch.cat([local, eye], dim=1)
    for up in ancestors:
        out = torch.matmul(out.index_select(1, up), out)
    return out[:, :j]


class ChainIndex(NamedTuple):
    """A tree's indices on one device, as :func:`skinning_transforms` takes them.

    Attributes:
        sizes: joints per level.
        parent_slices: per level after the first, what :func:`parent_index` gives.
        parent_pos: ``(J - 1,)`` long, the concatenated ``TreeLevels.parent_pos``.
        ancestors: the ``S`` tables of :func:`ancestor_tables` as ``(J + 1,)`` long tensors.
        order: ``(J,)`` long, ``TreeLevels.order``; inverse: ``(J,)`` long, its inverse.
    """

    sizes: tuple[int, ...]
    parent_slices: list
    parent_pos: Tensor
    ancestors: tuple[Tensor, ...]
    order: Tensor
    inverse: Tensor


def chain_index(parents: Sequence[int], device: torch.device | str | None = None) -> ChainIndex:
    """The :class:`ChainIndex` of a tree (``parents[j]``, -1 for the root at joint 0)."""
    levels = tree_levels(parents)
    flat = [p for pos in levels.parent_pos for p in pos]

    def longs(values: Sequence) -> Tensor:
        return torch.as_tensor(values, dtype=torch.long, device=device)

    return ChainIndex(levels.sizes, parent_index(levels), longs(flat),
                      tuple(longs(up) for up in ancestor_tables(parents, len(levels.sizes))), longs(levels.order),
                      longs(levels.inverse))


def skinning_transforms(rot: Tensor, rest: Tensor, index: ChainIndex) -> Tensor:
    """Skinning transforms of every joint: each joint's local rotation about its rest position,
    composed from the root down.

    Args:
        rot: ``(N, J, 3, 3)`` local joint rotations, joint order.
        rest: ``(N, J, 3)`` or ``(1, J, 3)`` rest joint positions, joint order.
        index: the tree; up to :data:`DOUBLING_MAX_BATCH` bodies are composed by
            :func:`chain_by_doubling`, more by :func:`chain_by_level` (in level order, and back).

    Returns:
        ``(N, J, 4, 4)``, joint order.
    """
    local = local_transforms(rot, rest)
    if rot.shape[0] <= DOUBLING_MAX_BATCH:
        return chain_by_doubling(local, index.ancestors)
    positions = [p if isinstance(p, slice) else index.parent_pos[p[0]:p[1]]
                 for p in index.parent_slices]
    by_level = chain_by_level(local.index_select(1, index.order), index.sizes, positions)
    return by_level.index_select(1, index.inverse)


def posed_joints(transforms: Tensor, rest: Tensor) -> Tensor:
    """Joint positions after posing: each skinning transform applied to its rest joint.

    Args:
        transforms: ``(N, J, 3 or 4, 4)`` skinning transforms.
        rest: ``(N, J, 3)`` or ``(1, J, 3)`` rest joint positions.

    Returns:
        ``(N, J, 3)``.
    """
    rotation, shift = transforms[..., :3, :3], transforms[..., :3, 3]
    return torch.matmul(rotation, rest.unsqueeze(-1)).squeeze(-1) + shift


@constant_cache
def _homogeneous(dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(1, 1, 1, 4)`` bottom row ``[0, 0, 0, 1]`` and ``(1, 1, 4, 4)`` identity."""
    eye = torch.eye(4, dtype=dtype, device=device).view(1, 1, 4, 4)
    return eye[:, :, 3:], eye


def _skin_chunk(a: Tensor, weights_t: Tensor, verts_t: Tensor, trans: Tensor | None) -> Tensor:
    """``(n, 12, J)`` transforms, ``(J, V)`` weights, ``(n, 3, V)`` vertices -> ``(n, 3, V)``."""
    t = torch.matmul(a, weights_t).unflatten(1, (3, 4))  # (n, 3, 4, V) blended transforms
    base = t[:, :, 3] if trans is None else t[:, :, 3] + trans.unsqueeze(-1)
    out = torch.addcmul(base, t[:, :, 0], verts_t[:, 0:1])  # a new tensor: in place from here
    out.addcmul_(t[:, :, 1], verts_t[:, 1:2])
    return out.addcmul_(t[:, :, 2], verts_t[:, 2:3])


def skin(transforms: Tensor, weights_t: Tensor, verts_t: Tensor, trans: Tensor | None = None,
         chunk: int | None = None, out: Sequence[Tensor] | None = None) -> Tensor:
    """Linear blend skinning.

    Args:
        transforms: ``(N, J, 3, 4)`` skinning transforms (rest pose to posed), or ``(N, J, 4,
            4)`` whose last rows are ignored.
        weights_t: ``(J, V)`` skinning weights, transposed.
        verts_t: ``(N, 3, V)`` or ``(1, 3, V)`` posed rest vertices, coordinate-major.
        trans: ``(N, 3)`` translation added to every vertex, or None.
        chunk: batch rows processed at once (None: sized to stay in cache on CPU, the whole
            batch on other devices).
        out: tensors ``(N, V_i, 3)`` with ``sum(V_i) = V`` that receive the vertices in order
            (say, mesh vertices and joints skinned as points), instead of one new tensor.

    Returns:
        ``(N, V, 3)`` skinned vertices, contiguous; with ``out``, the first of ``out``.
    """
    n, num_j, num_v = transforms.shape[0], transforms.shape[1], weights_t.shape[1]
    transforms = transforms[:, :, :3]
    if torch.is_grad_enabled() and any(
            x is not None and x.requires_grad for x in (transforms, weights_t, verts_t, trans)):
        result = _skin_differentiable(transforms, weights_t, verts_t, trans)
        if out is None:
            return result
        for target, part in zip(out, result.split([o.shape[1] for o in out], dim=1)):
            target.copy_(part)
        return out[0]
    if out is None:
        out = (transforms.new_empty((n, num_v, 3)),)
    widths = [o.shape[1] for o in out]
    a = transforms.reshape(n, num_j, 12).transpose(1, 2)  # (N, 12, J)
    if chunk is None:
        chunk = n if a.device.type != "cpu" else max(1, _CHUNK_BYTES // (48 * num_v))
    if n <= chunk:
        skinned = _skin_chunk(a, weights_t, verts_t.expand(n, 3, num_v), trans)  # (N, 3, V)
        for target, part in zip(out, skinned.split(widths, dim=2)):
            target.copy_(part.transpose(1, 2))
        return out[0]
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        skinned = _skin_chunk(a[s:e], weights_t, _rows(verts_t, s, e),
                              None if trans is None else trans[s:e])
        for target, part in zip(out, skinned.split(widths, dim=2)):
            target[s:e].copy_(part.transpose(1, 2))
    return out[0]


def _skin_differentiable(transforms: Tensor, weights_t: Tensor, verts_t: Tensor,
                         trans: Tensor | None) -> Tensor:
    """Skinning as few large matrix products, whose backward passes are cheap (the inference
    path's in-place, chunked form is fast forward but slow to differentiate).

    With one rest shape for the whole batch (no shape or pose blend shapes), every vertex is a
    fixed combination of the joints' 3x4 transforms: ``(V, 4 J) @ (4 J, 3 N)``.
    """
    n, num_j, num_v = transforms.shape[0], weights_t.shape[0], weights_t.shape[1]
    if verts_t.shape[0] == 1:
        homogeneous = torch.cat([verts_t[0], verts_t.new_ones(1, num_v)], dim=0)  # (4, V)
        mix = (weights_t.t().unsqueeze(2) * homogeneous.t().unsqueeze(1)).reshape(num_v, num_j * 4)
        # one large GEMM (V, 4J) @ (4J, 3N): far faster than N thin batched products
        stacked = transforms.permute(1, 3, 0, 2).reshape(num_j * 4, n * 3)
        out = torch.matmul(mix, stacked).view(num_v, n, 3).transpose(0, 1)
    else:
        blended = torch.matmul(weights_t.t(), transforms.reshape(n, num_j, 12))
        blended = blended.view(n, num_v, 3, 4)
        verts = verts_t.transpose(1, 2)
        out = (blended[..., :3] * verts.unsqueeze(-2)).sum(-1) + blended[..., 3]
    return out if trans is None else out + trans.unsqueeze(1)


def _rows(x: Tensor, s: int, e: int) -> Tensor:
    """Rows ``s:e`` of a batch that may be a single broadcast row."""
    return x.expand(e - s, *x.shape[1:]) if x.shape[0] == 1 else x[s:e]
