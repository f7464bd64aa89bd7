"""How much of a conv layer's filters is average pooling: ``uniform_share``.

Kept under this name for existing callers; the function lives with the other filter diagnostics
in ``scaledetect.diagnostics.filters``.
"""

from ..diagnostics.filters import uniform_share

__all__ = ["uniform_share"]
