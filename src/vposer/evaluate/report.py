"""Presenting evaluation results: the terminal table, ``metrics.json`` and PNG plots."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "DEFINITIONS",
    "PUBLISHED",
    "ROWS",
    "format_table",
    "plot_latent",
    "plot_per_joint",
    "published_lines",
]

# (key, section, label, format) of the terminal table, in order
ROWS = (
    ("v2v_euclidean_mm", "reconstruction", "vertex error, Euclidean mean (mm)", "{:.2f}"),
    ("v2v_l1_mm", "reconstruction", "vertex error, per-coord L1 mean (mm)", "{:.2f}"),
    ("mpjpe_mm", "reconstruction", "joint position error, 22 joints (mm)", "{:.2f}"),
    ("geodesic_deg", "reconstruction", "joint rotation error (deg)", "{:.2f}"),
    ("kl", "reconstruction", "KL to N(0, I) (nats)", "{:.2f}"),
    ("active_units", "reconstruction", "active units (var > 0.01)", "{:d}"),
    ("apd_cm", "generation", "APD (cm)", "{:.2f}"),
    ("fid_aa", "generation", "FID, 63-D axis-angle", "{:.4f}"),
    ("fid_joints", "generation", "FID, 66-D joint positions (m^2)", "{:.5f}"),
    ("dnn_joint_rad", "generation", "dNN per joint (rad)", "{:.4f}"),
    ("dnn_sum_rad", "generation", "dNN sum over 21 joints (rad)", "{:.3f}"),
    ("precision", "generation", "precision (k-NN, joints)", "{:.3f}"),
    ("recall", "generation", "recall (k-NN, joints)", "{:.3f}"),
    ("density", "generation", "density (k-NN, joints)", "{:.3f}"),
    ("coverage", "generation", "coverage (k-NN, joints)", "{:.3f}"),
    ("out_of_range_share", "generation", "share outside training ranges", "{:.3f}"),
)

DEFINITIONS = {
    "v2v_euclidean_mm": "mean over held-out poses and vertices of the Euclidean distance between "
                        "the body posed with the pose and with its encode-decode (posterior mean); "
                        "zero shape and root; mm",
    "v2v_l1_mm": "mean absolute per-coordinate difference of the same vertices (the reference "
                 "implementation's figure); mm",
    "mpjpe_mm": "mean Euclidean error of the 22 body joints (pelvis included); mm",
    "geodesic_deg": "rotation angle between original and reconstructed joint rotations, mean "
                    "over the 21 body joints; degrees",
    "kl": "KL(q(z|x) || N(0, I)) summed over latent dimensions, mean over held-out poses; nats",
    "active_units": "latent dimensions whose posterior mean has variance > 0.01 over the "
                    "held-out poses (Burda et al. 2016)",
    "apd_cm": "mean over ordered pairs of distinct samples of the mean Euclidean distance of the "
              "22 body joints (zero shape, zero root); cm",
    "fid_aa": "Frechet distance between Gaussian fits of the generated and held-out raw 63-D "
              "axis-angle poses",
    "fid_joints": "Frechet distance between Gaussian fits of the generated and held-out 66-D "
                  "joint positions (22 joints, metres)",
    "dnn_sum_rad": "for each sample, the minimum over training poses of the sum over 21 joints of "
                   "2 acos(|<q1, q2>|), averaged over samples (DPoser's code); rad",
    "dnn_joint_rad": "dnn_sum_rad / 21, the per-joint mean (how published tables read); rad",
    "precision": "share of generated poses inside the k-NN ball of a held-out pose (Kynkaanniemi "
                 "et al. 2019), features: 66-D joint positions",
    "recall": "share of held-out poses inside the k-NN ball of a generated pose",
    "density": "mean number of held-out k-NN balls holding a generated pose, over k (Naeem et al. "
               "2020)",
    "coverage": "share of held-out poses whose k-NN ball holds a generated pose (Naeem et al. 2020)",
    "out_of_range_share": "share of generated poses with a joint whose axis-angle component lies "
                          "outside the training [0.5, 99.5] percentile range widened by 0.05 rad",
}

PUBLISHED = {
    "V02_05 (published by later papers; AMASS, DPoser protocol - a different data set)": {
        "apd_cm": 14.68, "fid_aa": 0.048, "dnn_joint_rad": 0.074},
}


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def format_table(methods: Mapping[str, Mapping[str, Any]], markdown: bool = False) -> str:
    """The metrics of each method side by side (one column per method, ``-`` where n/a).

    Args:
        methods: ``{column name: {'reconstruction': {...}, 'generation': {...}}}``.
        markdown: a markdown table instead of aligned plain text.
    """
    names = list(methods)
    rows = []
    for key, section, label, fmt in ROWS:
        cells = [_cell((methods[m].get(section) or {}).get(key), fmt) for m in names]
        if any(c != "-" for c in cells):
            rows.append([label] + cells)
    header = ["metric"] + names
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    fmt_row = lambda r: "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                                  for i, (c, w) in enumerate(zip(r, widths)))
    lines = [fmt_row(header), "  ".join("-" * w for w in widths)]
    lines += [fmt_row(r) for r in rows]
    return "\n".join(lines)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_per_joint(path: Path, joint_names: Sequence[str],
                   geodesic: Mapping[str, Sequence[float]],
                   out_of_range: Mapping[str, Sequence[float]]) -> Path:
    """Two panels over the 21 body joints: reconstruction error (degrees) of each model, and the
    share of generated poses out of the training range for each method."""
    plt = _pyplot()
    fig, axes = plt.subplots(2, 1, figsize=(11, 7.5), sharex=True)
    x = list(range(len(joint_names)))
    for ax, series, ylabel, title in (
            (axes[0], geodesic, "degrees", "reconstruction: joint rotation error (held-out poses)"),
            (axes[1], out_of_range, "share of poses",
             "generation: joint outside the training range")):
        width = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series.items()):
            ax.bar([v + (i - (len(series) - 1) / 2) * width for v in x], values, width, label=name)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        if series:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0))
        else:
            ax.text(0.5, 0.5, "no model to reconstruct with", ha="center", transform=ax.transAxes)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(joint_names, rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latent(path: Path, name: str, kl_per_dim: Sequence[float], mean_var: Sequence[float],
                threshold: float = 0.01) -> Path:
    """Per latent dimension: KL to the prior (nats) and the variance of the posterior mean over
    the data (log scale, the active-unit threshold drawn), dimensions sorted by KL."""
    plt = _pyplot()
    order = sorted(range(len(kl_per_dim)), key=lambda i: -kl_per_dim[i])
    fig, axes = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    labels = [str(i) for i in order]
    x = list(range(len(order)))
    axes[0].bar(x, [kl_per_dim[i] for i in order], color="tab:blue")
    axes[0].set_ylabel("KL (nats)")
    axes[0].set_title(f"{name}: per-dimension KL, total {sum(kl_per_dim):.2f} nats", fontsize=10)
    var = [max(mean_var[i], 1e-8) for i in order]
    active = sum(v > threshold for v in mean_var)
    axes[1].bar(x, var, color=["tab:green" if v > threshold else "tab:gray" for v in var])
    axes[1].axhline(threshold, color="tab:red", lw=1, ls="--", label=f"active threshold {threshold}")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("var of posterior mean")
    axes[1].set_title(f"active units: {active} of {len(mean_var)}", fontsize=10)
    axes[1].legend(fontsize=8)
    axes[1].set_xticks(x)
    axes[1].set_xticklabels(labels, fontsize=7)
    axes[1].set_xlabel("latent dimension (sorted by KL)")
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def published_lines() -> list[str]:
    """Footnote lines with the published V02_05 figures (marked as another data set)."""
    lines = []
    for name, values in PUBLISHED.items():
        parts = [f"APD {values['apd_cm']} cm", f"FID {values['fid_aa']}",
                 f"dNN {values['dnn_joint_rad']} rad"]
        lines.append(f"{name}: " + ", ".join(parts))
    return lines
