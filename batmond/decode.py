"""`batmond decode`: raw notification bytes (e.g. from `snoop`) through a codec's framer and decoder."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from batmond.aio import AioType, AioUnavailable
from batmond.protocols import codec_for
from batmond.protocols.base import Codec, unplaced_report


class DecodeError(Exception):
    """The bytes hold no frame this codec accepts; the message says why in one line."""


def parse_hex(text: str) -> bytes:
    """Hex as people paste it: spaces, colons, a 0x prefix and a timestamp column from snoop are fine."""
    cleaned = text.strip()
    if " " in cleaned and cleaned.split(" ", 1)[0].count(":") == 2:
        cleaned = cleaned.split(" ", 1)[1]  # "12:00:01.234 55 aa …" from a snoop log
    cleaned = cleaned.replace("0x", "").replace(":", "").replace(" ", "").replace(",", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise DecodeError(f"not hex: {text.strip()[:40]!r}") from None


def decode(type_name: str, notifications: list[bytes]) -> dict[str, Any]:
    try:
        codec_type = codec_for(type_name)
    except AioUnavailable as exc:
        raise DecodeError(str(exc)) from None
    if isinstance(codec_type, AioType):  # its decoder is inside aiobmsble's BMS class, which does its own I/O
        raise DecodeError(f"{type_name!r} is decoded by aiobmsble while reading the BMS, not offline")
    codec: Codec = codec_type()
    kinds, unplaced = [], []
    for data in notifications:
        kinds += codec.feed(data)
        unplaced += codec.take_unplaced()
    sample = codec.sample()
    if sample is None and not kinds:
        stats = codec.stats
        if unplaced:
            raise DecodeError(unplaced_report(type_name, unplaced[0]))
        raise DecodeError(
            f"no complete {type_name} frame in {sum(map(len, notifications))} bytes "
            f"({stats.bad_checksum} with a bad checksum, {stats.junk_bytes} junk bytes)"
        )
    result: dict[str, Any] = {"type": type_name, "frames": kinds}
    if unplaced:
        result["unplaced"] = [frame.hex(" ") for frame in unplaced]
    if sample is not None:
        result.update(sample.completed().to_dict())
    if codec.info is not None:
        result["device_info"] = {k: v for k, v in dataclasses.asdict(codec.info).items() if v is not None}
    return result


def decode_to_json(type_name: str, texts: list[str]) -> str:
    notifications = [parse_hex(text) for text in texts if text.strip() and not text.lstrip().startswith("#")]
    return json.dumps(decode(type_name, notifications), indent=2)
