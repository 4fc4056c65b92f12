"""Error correction for the watermark payload: CRC-32 + a rate-1/2 convolutional code.

The payload (64 bits) gets a CRC-32 so that a decode of noise is accepted with
probability 2^-32 per attempt: that, not a correlation threshold, is what keeps false
detections rare. The 96 bits are then coded with the K=7 (171, 133) convolutional code
and decoded with soft-decision Viterbi: soft decoding is worth about 2 dB over a
hard-decision block code (BCH), and the code is short and easy to check by hand.
"""

from __future__ import annotations

import zlib

import numpy as np

PAYLOAD_BITS = 64
CRC_BITS = 32
INFO_BITS = PAYLOAD_BITS + CRC_BITS
_K = 7  # constraint length
_G = (0o171, 0o133)
_STATES = 1 << (_K - 1)
CODED_BITS = 2 * (INFO_BITS + _K - 1)  # 6 zero tail bits bring the encoder back to state 0


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    for shift in (4, 2, 1):
        x ^= x >> shift
    return x & 1


def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # The register holds the new bit at the top: r = bit << 6 | state; next = r >> 1.
    # For every next state, its two predecessor states and the (+-1) outputs of each branch.
    ns = np.arange(_STATES)
    bit = ns >> (_K - 2)
    prev = np.stack([((ns & (_STATES // 2 - 1)) << 1) | lsb for lsb in (0, 1)])  # (2, 64)
    reg = (bit << (_K - 1)) | prev
    out = np.stack([_parity(reg & g) for g in _G], axis=-1)  # (2, 64, 2) in {0, 1}
    return prev, 1.0 - 2.0 * out, bit


_PREV, _OUT, _BIT = _tables()


def bytes_to_bits(data: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8))


def bits_to_bytes(bits: np.ndarray) -> bytes:
    return np.packbits(bits.astype(np.uint8)).tobytes()


def encode(payload: bytes) -> np.ndarray:
    """8 payload bytes -> CODED_BITS code bits (0/1)."""
    if len(payload) * 8 != PAYLOAD_BITS:
        raise ValueError(f"payload must be {PAYLOAD_BITS // 8} bytes")
    info = bytes_to_bits(payload + zlib.crc32(payload).to_bytes(4, "big"))
    bits = np.concatenate([info, np.zeros(_K - 1, dtype=np.uint8)])
    out = np.empty(CODED_BITS, dtype=np.uint8)
    state = 0
    for i, b in enumerate(bits):
        reg = (int(b) << (_K - 1)) | state
        out[2 * i] = bin(reg & _G[0]).count("1") & 1
        out[2 * i + 1] = bin(reg & _G[1]).count("1") & 1
        state = reg >> 1
    return out


def decode(soft: np.ndarray) -> bytes | None:
    """Soft values (positive means bit 0, as +1 chips) -> the payload, or None when the
    best path fails its CRC (no watermark, or too damaged to trust)."""
    if soft.shape != (CODED_BITS,):
        raise ValueError(f"expected {CODED_BITS} soft values")
    y = soft.reshape(-1, 2)
    steps = y.shape[0]
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choice = np.empty((steps, _STATES), dtype=np.uint8)
    for t in range(steps):
        cand = metric[_PREV] + _OUT @ y[t]  # (2, 64): arriving from either predecessor
        pick = cand[1] > cand[0]
        choice[t] = pick
        metric = np.where(pick, cand[1], cand[0])
    state = 0  # the tail forces the end state
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = _BIT[state]
        state = _PREV[choice[t, state], state]
    info = bits_to_bytes(bits[:INFO_BITS])
    payload, crc = info[: PAYLOAD_BITS // 8], info[PAYLOAD_BITS // 8:]
    return payload if zlib.crc32(payload).to_bytes(4, "big") == crc else None
