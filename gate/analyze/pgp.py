"""Is an OpenPGP secret key protected by a passphrase? (RFC 4880 section 5.5.3, version 4 keys.)

The first packet of an exported secret key is a Secret-Key packet (tag 5): the public key
fields, then the string-to-key usage octet, which is 0 when the secret material is stored
in the clear. Only the fields needed to reach that octet are parsed.
"""

from __future__ import annotations

SECRET_KEY_TAG = 5
# public-key algorithm -> how many MPIs its public key has (after an OID for the EC ones)
_MPI_COUNTS = {1: 2, 2: 2, 3: 2, 16: 3, 17: 4, 20: 3, 18: 1, 19: 1, 22: 1}
_CURVE_ALGORITHMS = {18, 19, 22}  # ECDH, ECDSA, EdDSA: an OID precedes the point
_ECDH = 18  # its KDF parameters follow the point


def secret_key_encrypted(packets: bytes) -> bool | None:
    """True/False for a version 4 Secret-Key packet first in ``packets``; None when unknown."""
    try:
        body = _first_packet_body(packets, SECRET_KEY_TAG)
        if body is None or body[0] != 4:
            return None
        algorithm = body[5]
        if algorithm not in _MPI_COUNTS:
            return None
        offset = 6
        if algorithm in _CURVE_ALGORITHMS:
            offset += 1 + body[offset]  # OID length, OID
        for _ in range(_MPI_COUNTS[algorithm]):
            offset = _skip_mpi(body, offset)
        if algorithm == _ECDH:
            offset += 1 + body[offset]  # KDF parameters length, parameters
        return body[offset] != 0
    except IndexError:
        return None


def _first_packet_body(data: bytes, tag: int) -> bytes | None:
    header = data[0]
    if not header & 0x80:
        return None
    if header & 0x40:  # new format
        packet_tag, length, start = header & 0x3F, *_new_length(data)
    else:  # old format
        packet_tag, size = (header >> 2) & 0x0F, header & 0x03
        if size == 3:
            return None  # indeterminate length: not used for keys
        width = 1 << size
        length, start = int.from_bytes(data[1 : 1 + width], "big"), 1 + width
    if packet_tag != tag:
        return None
    return data[start : start + length]


def _new_length(data: bytes) -> tuple[int, int]:
    first = data[1]
    if first < 192:
        return first, 2
    if first < 224:
        return ((first - 192) << 8) + data[2] + 192, 3
    if first == 255:
        return int.from_bytes(data[2:6], "big"), 6
    raise IndexError("partial body lengths are not used for keys")


def _skip_mpi(body: bytes, offset: int) -> int:
    bits = int.from_bytes(body[offset : offset + 2], "big")
    if offset + 2 > len(body):
        raise IndexError("truncated MPI")
    return offset + 2 + (bits + 7) // 8
