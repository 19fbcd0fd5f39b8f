from .areas import SearchArea, Sector, SubjectProfile
from .cases import (
    APPEARANCE_FIELDS,
    CARE_FIELDS,
    PLACE_FIELDS,
    REPORT_FIELDS,
    Case,
    CaseReferenceCounter,
    CrisisContact,
    Sighting,
)
from .interchange import DraftReport
from .mutual_aid import InboxMessage, MutualAidRequest, OutboxMessage, PartnerLink
from .public import PublicAlert, PublicAlertMessage
from .supervision import SupervisionOrder
from .tasks import Alert, FieldAction, Task
from .timeline import CaseEvent

__all__ = [
    "APPEARANCE_FIELDS",
    "CARE_FIELDS",
    "PLACE_FIELDS",
    "REPORT_FIELDS",
    "Alert",
    "Case",
    "CaseEvent",
    "CaseReferenceCounter",
    "CrisisContact",
    "DraftReport",
    "FieldAction",
    "InboxMessage",
    "MutualAidRequest",
    "OutboxMessage",
    "PartnerLink",
    "PublicAlert",
    "PublicAlertMessage",
    "SearchArea",
    "Sighting",
    "Sector",
    "SubjectProfile",
    "SupervisionOrder",
    "Task",
]
