"""Who may see and do what with cases: one place, used by pages and the API alike."""

from accounts.models import Role, User

# Roles that work with cases in general (list, page, timeline).
CASE_READERS = {Role.CLERK, Role.COORDINATOR, Role.SUPERVISOR}
CASE_WRITERS = {Role.CLERK, Role.COORDINATOR}
# The figures a centre is judged by: for those who run the searches and those who oversee them.
FIGURE_READERS = {Role.SUPERVISOR, Role.COORDINATOR}
# Sensitive parts of a case and the roles that need them to do their work. This is the one list:
# pages, forms, the API, the timeline, partner summaries and the admin all hide by it. Even the
# roles that may see a part see it only after asking, and the asking is recorded on the timeline.
SENSITIVE_FIELDS = {
    "reporter": ("reporter_name", "reporter_phone", "reporter_relation"),
    "medical": ("medical_needs", "medication"),
}
ALL_SENSITIVE_FIELDS = frozenset(f for fields in SENSITIVE_FIELDS.values() for f in fields)
MASK = "•••"
SENSITIVE_ROLES = {
    "reporter": {Role.CLERK, Role.COORDINATOR, Role.COUNSELLOR},
    "medical": {Role.CLERK, Role.COORDINATOR, Role.COUNSELLOR},
}


def has_any_role(user: User, roles) -> bool:
    return user.is_authenticated and user.is_active and bool(user.role_names & set(roles))


def can_read_cases(user: User) -> bool:
    return has_any_role(user, CASE_READERS)


def can_file_cases(user: User) -> bool:
    return has_any_role(user, CASE_WRITERS)


def can_edit_case(user: User) -> bool:
    return has_any_role(user, CASE_WRITERS)


def can_override_priority(user: User) -> bool:
    return has_any_role(user, {Role.COORDINATOR})


def can_close_case(user: User) -> bool:
    return has_any_role(user, {Role.COORDINATOR})


def can_withdraw_case(user: User) -> bool:
    return has_any_role(user, CASE_WRITERS)


# Supervision orders (督办) are issued and answered between these desks.
ORDER_ROLES = {Role.COORDINATOR, Role.SUPERVISOR}


def can_work_orders(user: User) -> bool:
    return has_any_role(user, ORDER_ROLES)


def can_work_crisis_desk(user: User) -> bool:
    return has_any_role(user, {Role.COUNSELLOR})


def can_see_figures(user: User) -> bool:
    """Return whether the user may see the figures of their tree (/supervision/ and its CSV)."""
    return has_any_role(user, FIGURE_READERS)


def sensitive_groups_for(user: User) -> set[str]:
    """Return which sensitive parts ('reporter', 'medical') this user may see."""
    return {group for group, roles in SENSITIVE_ROLES.items() if has_any_role(user, roles)}


def hidden_fields(revealed: set[str]) -> set[str]:
    """Return the sensitive field names not covered by the revealed parts."""
    return {
        field
        for group, fields in SENSITIVE_FIELDS.items()
        if group not in revealed
        for field in fields
    }


def without_hidden(values: dict, *, revealed: set[str]) -> dict:
    """Return the values without the sensitive fields the revealed parts do not cover."""
    hidden = hidden_fields(revealed)
    return {key: value for key, value in values.items() if key not in hidden}


def mask_event_data(data: dict, *, revealed: set[str]) -> dict:
    """Return a timeline event's data with every sensitive value not revealed masked.

    Edits store {"changes": {field: {"old", "new"}}}; any other event that names a sensitive
    field as a key is masked the same way, so a new kind of event cannot leak by accident.
    """
    hidden = hidden_fields(revealed)
    if not hidden or not data:
        return data
    masked = {key: (MASK if key in hidden else value) for key, value in data.items()}
    changes = data.get("changes")
    if isinstance(changes, dict):
        masked["changes"] = {
            name: ({"old": MASK, "new": MASK} if name in hidden else change)
            for name, change in changes.items()
        }
    return masked
