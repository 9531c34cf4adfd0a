"""Kraus channels, as ``lretjax.noise.channels``: the definitions live in ``lretjax.channels``.

They sit below the circuit IR (the IR holds channels and checks them), so the IR and the
compiler import them without reaching up into ``lretjax.noise``; this module keeps the names
where users and noise models find them.
"""

from ..channels import (
    ALIASES,
    CHANNELS,
    PAULI_LABELS_2,
    PAULIS_1,
    PAULIS_2,
    ChannelSpec,
    KrausFn,
    amplitude_damping,
    bit_flip,
    bit_phase_flip,
    channel_canonical_name,
    check_kraus,
    correlated_pauli,
    depolarizing,
    depolarizing2,
    generalized_amplitude_damping,
    kraus_sqrt,
    over_rotation,
    pauli_channel,
    pauli_channel2,
    pauli_mixture,
    phase_damping,
    phase_flip,
    reset,
    reset_error,
    thermal_relaxation,
    zz_crosstalk,
)

__all__ = [
    "ALIASES", "CHANNELS", "PAULI_LABELS_2", "PAULIS_1", "PAULIS_2", "ChannelSpec", "KrausFn",
    "amplitude_damping", "bit_flip", "bit_phase_flip", "channel_canonical_name", "check_kraus",
    "correlated_pauli", "depolarizing", "depolarizing2", "generalized_amplitude_damping", "kraus_sqrt",
    "over_rotation", "pauli_channel", "pauli_channel2", "pauli_mixture", "phase_damping", "phase_flip",
    "reset", "reset_error", "thermal_relaxation", "zz_crosstalk",
]
