"""Finding PortAudio input devices through sounddevice, with errors that say what to do.

``sounddevice`` is imported here, lazily: the runtime never needs it unless a
microphone is opened.  Importing it raises ``OSError`` when the PortAudio
library is missing, and ``ImportError`` when the package is.
"""

from __future__ import annotations

from typing import Any

from ..errors import SourceError

AUDIO_EXTRA = "pip install 'edgernn[audio]'"


def import_sounddevice() -> Any:
    """The sounddevice module, or a SourceError saying how to install what is missing."""
    try:
        import sounddevice
    except ImportError:
        raise SourceError("the microphone needs the sounddevice package: "
                          f"{AUDIO_EXTRA}") from None
    except OSError as e:
        raise SourceError(f"the PortAudio library is missing ({e}): on Debian / Raspberry Pi "
                          "OS run `sudo apt-get install libportaudio2`") from None
    return sounddevice


def input_devices(sd: Any) -> list[dict[str, Any]]:
    """Every device with input channels, as sounddevice describes it (with its index)."""
    try:
        devices = sd.query_devices()
    except sd.PortAudioError as e:
        raise SourceError(f"cannot list audio devices: {e}") from None
    return [dict(d, index=i) for i, d in enumerate(devices) if d["max_input_channels"] > 0]


def describe(devices: list[dict[str, Any]]) -> str:
    """One line per input device: index, name, channels, default rate."""
    if not devices:
        return "  (none: is a microphone plugged in? `arecord -l` lists ALSA capture cards)"
    return "\n".join(f"  {d['index']}: {d['name']!r} ({d['max_input_channels']} ch, "
                     f"{d['default_samplerate']:.0f} Hz)" for d in devices)


def _default_input(sd: Any, devices: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        idx = sd.default.device[0]
        if idx is None or idx < 0:
            idx = sd.query_hostapis(0)["default_input_device"]
    except Exception:  # noqa: BLE001 - any failure means "no default"
        idx = -1
    for d in devices:
        if d["index"] == idx:
            return d
    if devices:
        return devices[0]
    raise SourceError("no audio input device found; input devices:\n" + describe(devices))


def find_input(sd: Any, device: int | str | None) -> dict[str, Any]:
    """Resolve ``device`` (None: the default; an index; or a name substring) to an input device.

    A name matches exactly first, then as a case-insensitive substring; several
    substring matches are refused with the list.
    """
    devices = input_devices(sd)
    if device is None:
        return _default_input(sd, devices)
    if isinstance(device, int) or (isinstance(device, str) and device.strip().isdigit()):
        idx = int(device)
        for d in devices:
            if d["index"] == idx:
                return d
        raise SourceError(f"audio input device {idx} does not exist or has no input "
                          "channels; input devices:\n" + describe(devices))
    exact = [d for d in devices if d["name"] == device]
    if exact:
        return exact[0]
    found = [d for d in devices if device.lower() in d["name"].lower()]
    if len(found) == 1:
        return found[0]
    what = "matches several" if found else "matches no"
    raise SourceError(f"{device!r} {what} audio input device; pass a longer name or an "
                      "index. Input devices:\n" + describe(found or devices))


def pick_rate(sd: Any, dev: dict[str, Any], rate: int, channels: int, dtype: str,
              forced: int | None = None) -> int:
    """``rate`` if the device opens at it, else its default rate (the caller resamples);
    only ``forced`` if given."""
    if channels > dev["max_input_channels"]:
        raise SourceError(f"{dev['name']!r} has {dev['max_input_channels']} input channels, "
                          f"{channels} were asked for")
    errors = []
    default = int(round(dev["default_samplerate"]))
    for r in [int(forced)] if forced else dict.fromkeys((int(rate), default)):
        try:
            sd.check_input_settings(device=dev["index"], channels=channels, dtype=dtype,
                                    samplerate=r)
            return r
        except (sd.PortAudioError, ValueError) as e:
            errors.append(f"{r} Hz: {e}")
    raise SourceError(f"{dev['name']!r} cannot capture {channels} channel(s) of {dtype} ("
                      + "; ".join(errors) + "); try another device or dtype")
