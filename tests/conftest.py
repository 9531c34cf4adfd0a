"""Tests run in x64 so agreement with the dense reference can be checked to 1e-10."""

import os
import tempfile

import jax

jax.config.update("jax_enable_x64", True)
# The CLI turns on JAX's persistent compilation cache; keep the suite's out of the user's home.
os.environ.setdefault("LRETJAX_CACHE_DIR", tempfile.mkdtemp(prefix="lretjax-test-cache-"))
