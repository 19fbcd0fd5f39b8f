from .areas import SearchArea, Sector, SubjectProfile
from .cases import Case, CaseReferenceCounter, CrisisContact, Sighting
from .ops import HealthPing
from .tasks import Alert, FieldAction, Task
from .timeline import CaseEvent

__all__ = [
    "Alert",
    "Case",
    "CaseEvent",
    "CaseReferenceCounter",
    "CrisisContact",
    "FieldAction",
    "HealthPing",
    "SearchArea",
    "Sighting",
    "Sector",
    "SubjectProfile",
    "Task",
]
