"""edgernn: streaming edge inference for recurrent networks."""

from ._version import __version__

__all__ = ["__version__"]
