"""A VPoser's weights as the numpy layer lists that :mod:`vposer.export.onnx_graphs` builds from.

Handles both release layouts (and so anything ``vposer train`` makes): v1's named layers and
v2's ``encoder_net`` sequence. Batch norm becomes its eval-mode affine map, computed in float64
and rounded once; dropout and flattening, which do nothing in eval mode, are left out.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..errors import VPoserError
from ..model import V1Layers, V2Layers, VPoser
from ..model.networks import NormalHead, _Flatten
from .onnx_graphs import Affine, DecoderWeights, EncoderWeights, Leaky, Linear

__all__ = ["decoder_weights", "encoder_weights"]


def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=torch.float32).numpy().copy()


def _linear(layer: nn.Linear) -> Linear:
    return Linear(_array(layer.weight), _array(layer.bias))


def _affine(bn: nn.BatchNorm1d) -> Affine:
    """``x * scale + shift``: ``BatchNorm1d`` in eval mode (running statistics)."""
    if bn.running_mean is None or bn.running_var is None:
        raise VPoserError("cannot export a batch norm without running statistics")
    var = bn.running_var.detach().double().cpu()
    mean = bn.running_mean.detach().double().cpu()
    weight = bn.weight.detach().double().cpu() if bn.weight is not None else torch.ones_like(var)
    bias = bn.bias.detach().double().cpu() if bn.bias is not None else torch.zeros_like(var)
    scale = weight / torch.sqrt(var + bn.eps)
    return Affine(scale.float().numpy(), (bias - mean * scale).float().numpy())


def decoder_weights(model: VPoser) -> DecoderWeights:
    """The decoder MLP's three linear layers and leaky-ReLU slope."""
    if not isinstance(model, (V1Layers, V2Layers)):
        raise VPoserError(f"cannot export a {type(model).__name__}: not a v1 or v2 VPoser layout")
    fc1, fc2, out, _ = model._decoder
    return DecoderWeights(_linear(fc1), _linear(fc2), _linear(out), float(model.slope))


def encoder_weights(model: VPoser) -> EncoderWeights:
    """The encoder's layers in order (eval mode), then its mean and scale heads."""
    if isinstance(model, V1Layers):
        slope = Leaky(float(model.slope))
        return EncoderWeights(
            body=[_affine(model.bodyprior_enc_bn1), _linear(model.bodyprior_enc_fc1), slope,
                  _affine(model.bodyprior_enc_bn2), _linear(model.bodyprior_enc_fc2), slope],
            mean=_linear(model.bodyprior_enc_mu), scale=_linear(model.bodyprior_enc_logvar))
    if isinstance(model, V2Layers):
        out = EncoderWeights()
        for layer in model.encoder_net:
            if isinstance(layer, nn.BatchNorm1d):
                out.body.append(_affine(layer))
            elif isinstance(layer, nn.Linear):
                out.body.append(_linear(layer))
            elif isinstance(layer, nn.LeakyReLU):
                out.body.append(Leaky(float(layer.negative_slope)))
            elif isinstance(layer, NormalHead):
                out.mean, out.scale = _linear(layer.mu), _linear(layer.logvar)
            elif not isinstance(layer, (nn.Dropout, _Flatten)):
                raise VPoserError(f"cannot export the encoder layer {type(layer).__name__}")
        if out.mean is None:
            raise VPoserError("cannot export: the encoder has no mean/scale head")
        return out
    raise VPoserError(f"cannot export a {type(model).__name__}: not a v1 or v2 VPoser layout")
