"""The package version, written once: ``pyproject.toml`` reads it from here
(``[tool.setuptools.dynamic]``) and ``vposer.__version__`` re-exports it."""

__version__ = "0.1.0"
