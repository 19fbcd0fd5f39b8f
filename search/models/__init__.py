from .cases import Case
from .ops import HealthPing

__all__ = ["Case", "HealthPing"]
