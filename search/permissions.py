"""Who may see and do what with cases: one place, used by pages and the API alike."""

from accounts.models import Role, User

# Roles that work with cases in general (list, page, timeline).
CASE_READERS = {Role.CLERK, Role.COORDINATOR, Role.SUPERVISOR}
CASE_WRITERS = {Role.CLERK, Role.COORDINATOR}
# Sensitive parts of a case and the roles that need them to do their work.
SENSITIVE_FIELDS = {
    "reporter": ("reporter_phone",),
    "medical": ("medical_needs", "medication"),
}
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


def can_work_crisis_desk(user: User) -> bool:
    return has_any_role(user, {Role.COUNSELLOR})


def sensitive_groups_for(user: User) -> set[str]:
    """Return which sensitive parts ('reporter', 'medical') this user may see."""
    return {group for group, roles in SENSITIVE_ROLES.items() if has_any_role(user, roles)}
