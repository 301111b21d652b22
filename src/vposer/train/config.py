"""Training configuration: the fields of ``V02_05.yaml`` plus vposer's own, with two presets.

A config is YAML with the sections of the V02_05 release (``general``, ``model_params``,
``data_parms``, ``train_parms``, ``body_model``, ``logging``), two keys of vposer's own in
``model_params`` and three sections:

- ``recipe``: ``v2`` (default; the V02_05 objective and schedule) or ``v1`` (the 2019 recipe);
  the preset's values are the defaults under the user's;
- ``data``: ``prepared_dir`` (from ``vposer prepare`` / ``vposer import-mocap``), the split names
  and ``mirror`` (add the left-right mirror image of every training pose, :mod:`vposer.data.mirror`);
- ``model_params.latent_prior_components``: after training, fit a learned prior of that many
  Gaussians to the codes of the training poses (:mod:`vposer.model.latent_prior`; 0 or absent:
  none, samples come from ``N(0, I)`` as in the releases); ``latent_prior_weighting``: ``pose``
  (default: every training pose weighs the same) or ``source`` (every source of the prepared
  data, ``vposer import-mocap``'s dataset, weighs the same however many poses it has);
- ``trainer``: where and how to run (accelerator, devices, strategy, nodes, precision,
  determinism, checkpoint frequency, ``threads``: CPU threads of torch, fixed so that a CPU run
  gives the same weights each time).

Unknown keys are refused (a misspelt key would otherwise be ignored silently).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from collections.abc import Mapping

import yaml

from .._types import PathLike
from ..errors import ConfigError, reads_file

# Every key a config may hold; a dict value lists the keys of a section ("*" = free-form).
SCHEMA: dict[str, Any] = {
    "recipe": None,
    "general": {"expr_id": None, "rnd_seed": None, "work_basedir": None, "dataset_id": None,
                "dataset_basedir": None, "verbosity": None},
    "model_params": {"architecture": None, "num_neurons": None, "latentD": None,
                     "latent_prior_components": None, "latent_prior_weighting": None},
    "data_parms": {"amass_dir": None, "amass_splits": "*", "num_workers": None,
                   "num_timeseq_frames": "*", "dataset_dir": None},
    "data": {"prepared_dir": None, "train_split": None, "val_split": None, "test_split": None,
             "mirror": None},
    "train_parms": {
        "batch_size": None, "num_epochs": None, "restore_optimizer": None,
        "keep_extra_loss_terms_until_epoch": None,
        "gen_optimizer": {"type": None, "args": "*"},
        "lr_scheduler": {"type": None, "args": "*"},
        "early_stopping": {"monitor": None, "mode": None, "patience": None, "min_delta": None,
                           "verbose": None},
        "loss_weights": {"loss_kl_wt": None, "loss_rec_wt": None, "loss_matrot_wt": None,
                         "loss_jtr_wt": None, "loss_aa_wt": None,
                         "loss_sample_mmd_wt": None},
    },
    "body_model": {"bm_path": None, "gender": None, "model_type": None},
    "logging": {"expr_msg": None, "num_bodies_to_display": None, "render_during_training": None,
                "work_dir": None, "dataset_dir": None, "best_model_fname": None},
    "trainer": {"accelerator": None, "devices": None, "strategy": None, "num_nodes": None,
                "precision": None, "deterministic": None, "checkpoint_every_minutes": None,
                "checkpoint_every_steps": None, "max_steps": None, "progress_bar": None,
                "limit_train_batches": None, "threads": None},
}
RECIPES = ("v1", "v2")


def _check_keys(data: Mapping[str, Any], schema: Mapping[str, Any], where: str, path: PathLike | None) -> None:
    for key, value in data.items():
        if key not in schema:
            known = ", ".join(sorted(schema))
            raise ConfigError(f"unknown key '{where}{key}' (known here: {known})", path)
        sub = schema[key]
        if isinstance(sub, dict):
            if value is None:
                continue
            if not isinstance(value, Mapping):
                raise ConfigError(f"'{where}{key}' must be a mapping, got {type(value).__name__}", path)
            _check_keys(value, sub, f"{where}{key}.", path)


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def preset(recipe: str) -> dict[str, Any]:
    """The preset of a recipe (``'v1'`` or ``'v2'``) as a config dict."""
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}: use one of {', '.join(RECIPES)}")
    text = resources.files("vposer.train").joinpath("presets", f"{recipe}.yaml").read_text()
    return yaml.safe_load(text)


@dataclass
class TrainConfig:
    """A validated training configuration.

    Attributes:
        raw: the merged config (preset under the user's values), as written to the run folder.
        source: the file it came from, if any.
    """

    raw: dict[str, Any]
    source: Path | None = None

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, Mapping) or node.get(part) is None:
                return default
            node = node[part]
        return node

    @property
    def recipe(self) -> str:
        return self.raw.get("recipe", "v2")

    @property
    def seed(self) -> int:
        return int(self.get("general.rnd_seed", 100))

    @property
    def prepared_dir(self) -> Path | None:
        value = self.get("data.prepared_dir") or self.get("data_parms.dataset_dir")
        if value is None:
            return None
        path = Path(str(value)).expanduser()
        if not path.is_absolute() and self.source is not None:
            path = (self.source.parent / path).resolve()
        return path

    @property
    def work_dir(self) -> Path:
        value = self.get("logging.work_dir")
        if value is None:
            base = self.get("general.work_basedir", "runs")
            value = Path(str(base)) / str(self.get("general.expr_id", "vposer"))
        path = Path(str(value)).expanduser()
        if not path.is_absolute() and self.source is not None:
            path = (self.source.parent / path).resolve()
        return path


@reads_file
def load_config(path: PathLike | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """Read and validate a YAML config (or none: the v2 preset), apply ``overrides`` (nested dict).

    Raises:
        ConfigError: unreadable YAML, unknown keys, wrong types, unknown recipe.
    """
    user: dict[str, Any] = {}
    source = None
    if path is not None:
        source = Path(path).expanduser().resolve()
        if not source.is_file():
            raise ConfigError("no such config file", source)
        try:
            user = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the config ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})",
                              source) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML ({str(exc).splitlines()[0]})", source) from None
        except (ValueError, TypeError, AttributeError, LookupError, RecursionError,
                OverflowError) as exc:  # yaml's own bugs: !!timestamp, empty !!float
            raise ConfigError(f"not a usable config ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else 'nested too deeply'})",
                              source) from None
        if not isinstance(user, dict):
            raise ConfigError("the config must be a mapping of sections", source)
    if overrides:
        user = _merge(user, overrides)
    _check_keys(user, SCHEMA, "", source)
    recipe = user.get("recipe", "v2")
    if recipe not in RECIPES:
        raise ConfigError(f"unknown recipe {recipe!r}: use one of {', '.join(RECIPES)}", source)
    merged = _merge(preset(recipe), user)
    merged["recipe"] = recipe
    cfg = TrainConfig(merged, source)
    _check_values(cfg)
    return cfg


def _check_values(cfg: TrainConfig) -> None:
    src = cfg.source
    for key in ("train_parms.batch_size", "train_parms.num_epochs", "model_params.latentD",
                "model_params.num_neurons"):
        value = cfg.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"'{key}' must be a positive integer, got {value!r}", src)
    opt = cfg.get("train_parms.gen_optimizer.type", "Adam")
    if opt not in ("Adam", "AdamW", "SGD"):
        raise ConfigError(f"'train_parms.gen_optimizer.type' {opt!r} is not supported (Adam, AdamW, SGD)", src)
    sched = cfg.get("train_parms.lr_scheduler.type", "ReduceLROnPlateau")
    if sched not in ("ReduceLROnPlateau", "StepLR", "none"):
        raise ConfigError(
            f"'train_parms.lr_scheduler.type' {sched!r} is not supported (ReduceLROnPlateau, StepLR, none)", src)
    threads = cfg.get("trainer.threads")
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool)
                                or threads < 1):
        raise ConfigError(f"'trainer.threads' must be a positive integer, got {threads!r}", src)
    components = cfg.get("model_params.latent_prior_components", 0)
    if not isinstance(components, int) or isinstance(components, bool) or components < 0:
        raise ConfigError("'model_params.latent_prior_components' must be an integer >= 0, got "
                          f"{components!r}", src)
    weighting = cfg.get("model_params.latent_prior_weighting", "pose")
    if weighting not in ("pose", "source"):
        raise ConfigError("'model_params.latent_prior_weighting' must be pose or source, got "
                          f"{weighting!r}", src)
    mirror = cfg.get("data.mirror", False)
    if not isinstance(mirror, bool):
        raise ConfigError(f"'data.mirror' must be true or false, got {mirror!r}", src)
    arch = cfg.get("model_params.architecture", "v2")
    if arch not in ("v1", "v2"):
        raise ConfigError(f"'model_params.architecture' must be v1 or v2, got {arch!r}", src)


def check_data_and_body(cfg: TrainConfig) -> None:
    """Fail before training when the data folder or the body model is unusable."""
    from ..body import load_body
    from ..errors import BodyModelError

    data = cfg.prepared_dir
    if data is None:
        amass = cfg.get("data_parms.amass_dir")
        hint = f" (data_parms.amass_dir is raw AMASS: run 'vposer prepare {amass} -o DIR' first)" if amass else ""
        raise ConfigError(f"no training data: set data.prepared_dir{hint}", cfg.source)
    for split in (cfg.get("data.train_split", "train"), cfg.get("data.val_split", "vald")):
        if not (data / split / "pose_body.npy").is_file():
            raise ConfigError(
                f"the data folder has no '{split}' split ({data / split / 'pose_body.npy'} is missing); "
                "make it with 'vposer prepare' or 'vposer import-mocap'", cfg.source)
    bm = cfg.get("body_model.bm_path")
    try:
        body = load_body(None if bm in (None, "open") else bm, cfg.get("body_model.model_type"))
    except BodyModelError as exc:
        raise ConfigError(f"body_model.bm_path is unusable: {exc}", cfg.source) from None
    if body.model_type == "mano":
        raise ConfigError(
            f"body_model.bm_path is a MANO hand model ({bm}); VPoser trains on a body model "
            "(SMPL, SMPL+H, SMPL-X or the open body)", cfg.source)
