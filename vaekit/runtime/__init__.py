"""Runtime: the streaming + tiling engine, backends, and file-level encode/decode jobs."""

from .backend import Backend, TorchBackend
from .streaming import DEFAULT_CHUNK_FRAMES, StreamingDecoder, StreamingEncoder, decode_all, encode_all
from .tiling import TileSpec

__all__ = [
    "DEFAULT_CHUNK_FRAMES",
    "Backend",
    "StreamingDecoder",
    "StreamingEncoder",
    "TileSpec",
    "TorchBackend",
    "decode_all",
    "encode_all",
]
