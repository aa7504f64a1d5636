"""Input sources for streaming inference: audio and IMU samples as timed blocks.

Every source is an iterator of :class:`Block` (``data`` f32[n, channels],
``time`` = stream time of the first sample in seconds, ``dropped`` = samples
lost just before it) and a context manager, with ``rate``, ``channels``, the
counters ``frames`` / ``dropped`` / ``malformed`` and ``summary()``::

    from edgernn.sources import Microphone
    with Microphone("USB", rate=16000) as mic:
        for block in mic:
            features.push(block.data[:, 0])

=====================  ===================================================
``Microphone``         PortAudio through sounddevice (``edgernn[audio]``)
``WavFile``            any PCM/float/extensible WAV, resampled
``RawPCM``             s16le bytes from stdin or any binary stream
``SerialIMU``          CSV lines or binary frames from a serial port (``edgernn[imu]``)
``UdpIMU``             one CSV line or binary frame per datagram
``CsvIMU``             a CSV file, optionally with a time column
=====================  ===================================================

Only numpy, numba and the standard library are imported here; sounddevice
and pyserial load when a Microphone or SerialIMU is opened.
"""

from .base import Block, Source
from .files import RawPCM, WavFile
from .imu import CsvIMU, SerialIMU, UdpIMU
from .microphone import Microphone

__all__ = ["Block", "CsvIMU", "Microphone", "RawPCM", "SerialIMU", "Source", "UdpIMU",
           "WavFile"]
