"""The package version, in one place: ``lretjax.__version__`` and the build (pyproject) read it."""

__version__ = "0.1.0"
