"""The wire format: framing (:mod:`.frames`) and message encoding (:mod:`.serialize`).

Both modules are pure: no sockets, no event loop, no clock.
"""

from __future__ import annotations

from futurelab.protocol.frames import Frame as Frame
from futurelab.protocol.frames import FrameDecoder as FrameDecoder
from futurelab.protocol.frames import pack_frames as pack_frames
from futurelab.protocol.serialize import Opaque as Opaque
from futurelab.protocol.serialize import dumps as dumps
from futurelab.protocol.serialize import dumps_obj as dumps_obj
from futurelab.protocol.serialize import loads as loads
from futurelab.protocol.serialize import loads_obj as loads_obj

__all__ = [
    "Frame",
    "FrameDecoder",
    "Opaque",
    "dumps",
    "dumps_obj",
    "loads",
    "loads_obj",
    "pack_frames",
]
