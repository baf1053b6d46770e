"""Loki's protobuf push body: a snappy block (not framed) holding a ``logproto.PushRequest``.

The message descriptors are written here by hand from pkg/push/push.proto (no protoc at
build time); the gogoproto options there change only the Go types, not the wire format.
The body is snappy-decoded as ``util.ParseProtoReader(..., util.RawSnappy)`` does
(pkg/util/http.go), i.e. the block format.
"""

from __future__ import annotations

from typing import Any

import cramjam
from google.protobuf import (  # type: ignore[import-untyped]
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    timestamp_pb2,
)

__all__ = ["ProtoError", "decode_push", "encode_push"]

_F = descriptor_pb2.FieldDescriptorProto


def _build() -> Any:
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    proto = descriptor_pb2.FileDescriptorProto(
        name="covenant_loki_push.proto",
        package="logproto",
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto"],
    )

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        msg = proto.message_type.add(name=name)
        for field_name, number, kind, label, type_name in fields:
            field = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name

    one, many = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED
    message(
        "LabelPairAdapter",
        ("name", 1, _F.TYPE_STRING, one, ""),
        ("value", 2, _F.TYPE_STRING, one, ""),
    )
    message(
        "EntryAdapter",
        ("timestamp", 1, _F.TYPE_MESSAGE, one, ".google.protobuf.Timestamp"),
        ("line", 2, _F.TYPE_STRING, one, ""),
        ("structuredMetadata", 3, _F.TYPE_MESSAGE, many, ".logproto.LabelPairAdapter"),
        ("parsed", 4, _F.TYPE_MESSAGE, many, ".logproto.LabelPairAdapter"),
    )
    message(
        "StreamAdapter",
        ("labels", 1, _F.TYPE_STRING, one, ""),
        ("entries", 2, _F.TYPE_MESSAGE, many, ".logproto.EntryAdapter"),
        ("hash", 3, _F.TYPE_UINT64, one, ""),
    )
    message(
        "PushRequest",
        ("streams", 1, _F.TYPE_MESSAGE, many, ".logproto.StreamAdapter"),
        ("format", 2, _F.TYPE_STRING, one, ""),
    )
    pool.Add(proto)
    push = message_factory.GetMessageClass(pool.FindMessageTypeByName("logproto.PushRequest"))
    return push


PushRequest = _build()


class ProtoError(ValueError):
    """A body that is not snappy-compressed ``PushRequest``."""


def decode_push(body: bytes) -> list[tuple[str, list[tuple[int, str, dict[str, str]]]]]:
    """(labels string, [(unix ns, line, structured metadata)]) per stream."""
    try:
        raw = bytes(cramjam.snappy.decompress_raw(body))
    except Exception as exc:  # cramjam raises its own DecompressionError
        raise ProtoError(f"snappy: corrupt input ({exc})") from None
    request = PushRequest()
    try:
        request.ParseFromString(raw)
    except Exception as exc:  # google.protobuf.message.DecodeError
        raise ProtoError(f"proto: {exc}") from None
    streams = []
    for stream in request.streams:
        entries = [
            (
                entry.timestamp.seconds * 1_000_000_000 + entry.timestamp.nanos,
                entry.line,
                {pair.name: pair.value for pair in entry.structuredMetadata},
            )
            for entry in stream.entries
        ]
        streams.append((stream.labels, entries))
    return streams


def encode_push(streams: list[tuple[str, list[tuple[int, str, dict[str, str]]]]]) -> bytes:
    """The inverse of ``decode_push`` (what Promtail or Alloy send), for tests and clients."""
    request = PushRequest()
    for labels, entries in streams:
        stream = request.streams.add(labels=labels)
        for ts, line, metadata in entries:
            entry = stream.entries.add(line=line)
            entry.timestamp.seconds, entry.timestamp.nanos = divmod(ts, 1_000_000_000)
            for name, value in metadata.items():
                entry.structuredMetadata.add(name=name, value=value)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))
