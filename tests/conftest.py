"""Tests run in x64 so agreement with the dense reference can be checked to 1e-10."""

import jax

jax.config.update("jax_enable_x64", True)
