"""JAX's persistent compilation cache, for runs that start a fresh process.

A simulation compiles one loop per width of L (``lretjax.engine``); with the cache on, a second
process running a circuit of the same shapes reads the compiled programs from disk instead of
compiling them. The ``lretjax`` command turns it on by default; from Python it is one line:

    >>> lretjax.enable_compilation_cache()          # in the user's cache directory
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "LRETJAX_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$LRETJAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/lretjax/jax``, else ``~/.cache/lretjax/jax``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "lretjax" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path:
    """Turn on JAX's persistent compilation cache in ``path`` (default ``default_cache_dir()``).

    Every compiled program is stored, however quick it was to compile: a cold start pays for
    many small ones. Returns the directory used.
    """
    directory = Path(path).expanduser() if path is not None else default_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory
