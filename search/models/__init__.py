from .cases import Case, CaseReferenceCounter, CrisisContact
from .ops import HealthPing
from .timeline import CaseEvent

__all__ = ["Case", "CaseEvent", "CaseReferenceCounter", "CrisisContact", "HealthPing"]
