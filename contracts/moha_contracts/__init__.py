"""Event contracts of the MOHA survey and reporting platform.

Install this package alone to subscribe to the platform's events; it pulls in no service.
"""

from .envelope import CONTENT_TYPE, DEAD_LETTER_EXCHANGE, EVENTS_EXCHANGE, Envelope, Event
from .events import (
    ALL_EVENTS,
    BY_TYPE,
    AccountActivated,
    AccountIssued,
    AccountRevoked,
    AccountRoleChanged,
    CampaignOpened,
    FormApproved,
    FormRejected,
    FormSubmitted,
    NotificationDelivered,
    NotificationFailed,
    PasswordReset,
    ReviewTaskOpened,
    SupervisorAssigned,
    UnitMoved,
    UnitRegistered,
    UnitRenamed,
    UnitRetired,
)

__all__ = [
    "ALL_EVENTS",
    "BY_TYPE",
    "CONTENT_TYPE",
    "DEAD_LETTER_EXCHANGE",
    "EVENTS_EXCHANGE",
    "AccountActivated",
    "AccountIssued",
    "AccountRevoked",
    "AccountRoleChanged",
    "CampaignOpened",
    "Envelope",
    "Event",
    "FormApproved",
    "FormRejected",
    "FormSubmitted",
    "NotificationDelivered",
    "NotificationFailed",
    "PasswordReset",
    "ReviewTaskOpened",
    "SupervisorAssigned",
    "UnitMoved",
    "UnitRegistered",
    "UnitRenamed",
    "UnitRetired",
]
