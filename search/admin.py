from django.contrib import admin
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.admin import PlainGeometryAdmin
from search import permissions
from search.models import (
    Alert,
    Case,
    CaseEvent,
    InboxMessage,
    MutualAidRequest,
    OutboxMessage,
    SearchArea,
    SubjectProfile,
    Task,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows an operator may look at but never add, change or delete: the services write them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Case)
class CaseAdmin(PlainGeometryAdmin):
    list_display = ("reference", "subject_name", "category", "status", "organisation", "created_at")
    list_filter = ("status", "category", "organisation")
    list_select_related = ("organisation",)
    search_fields = ("reference", "subject_name")
    # Status, outcome and priority change only through the services, which record each change
    # on the timeline; the version is theirs too (optimistic locking).
    readonly_fields = (
        "status",
        "outcome",
        "closed_at",
        "priority",
        "version",
        "created_by",
        "created_at",
    )
    # The admin records nothing on the timeline, so it never shows or takes sensitive values:
    # those are seen through the case page's recorded reveal, and changed through its edit form.
    exclude = tuple(sorted(permissions.ALL_SENSITIVE_FIELDS))


@admin.register(SubjectProfile)
class SubjectProfileAdmin(admin.ModelAdmin):
    list_display = ("category", "terrain", "p25_m", "p50_m", "p75_m", "p95_m", "speed_kmh")
    list_filter = ("terrain",)
    list_editable = ("p25_m", "p50_m", "p75_m", "p95_m", "speed_kmh")


@admin.register(SearchArea)
class SearchAreaAdmin(PlainGeometryAdmin):
    list_display = ("case", "version", "reason", "is_current", "computed_at")
    list_filter = ("reason", "is_current")
    list_select_related = ("case",)

    # Versions are never edited in place: a new one replaces the old.
    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# A task's state moves only through the services (offer, answer, search, expiry), which record
# each step on the timeline.
TASK_STATE_FIELDS = (
    "status",
    "coverage",
    "answered_at",
    "started_at",
    "finished_at",
    "stale_flagged_at",
)
# Needed to make a task at all, so the add form keeps them; fixed once the task exists.
TASK_OFFER_TIMES = ("offered_at", "expires_at", "last_activity_at")


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("pk", "case", "unit", "status", "offered_at", "expires_at")
    list_filter = ("status",)
    list_select_related = ("case", "unit")
    raw_id_fields = ("case", "sector", "unit")

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return TASK_STATE_FIELDS
        return TASK_STATE_FIELDS + TASK_OFFER_TIMES


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("case", "kind", "created_at", "acknowledged_at")
    list_filter = ("kind",)
    list_select_related = ("case",)
    raw_id_fields = ("case", "task")


@admin.register(CaseEvent)
class CaseEventAdmin(ReadOnlyAdmin):
    # Never `data`: an edit keeps the old and new values of sensitive fields there, and the
    # admin records no reveal. The case page's timeline masks them.
    list_display = ("case", "seq", "kind", "actor", "source", "created_at")
    list_filter = ("kind", "source")
    list_select_related = ("case", "actor")
    search_fields = ("case__reference",)
    fields = ("case", "seq", "kind", "actor", "source", "created_at")


@admin.register(MutualAidRequest)
class MutualAidRequestAdmin(ReadOnlyAdmin):
    # Never the summary: it may carry care detail a partner was allowed to receive.
    list_display = (
        "uid",
        "direction",
        "partner",
        "case",
        "status",
        "status_changed_at",
        "last_message_type",
        "last_message_at",
        "escalated_at",
    )
    list_filter = ("direction", "status")
    list_select_related = ("partner__organisation", "case")
    search_fields = ("case__reference", "partner__organisation__code")
    fields = (
        "uid",
        "direction",
        "partner",
        "case",
        "status",
        "reason",
        "decline_reason",
        "requested_by",
        "created_at",
        "status_changed_at",
        "last_message_type",
        "last_message_at",
        "seq_out",
        "seq_in",
        "escalated_at",
    )


class DeliveryFilter(admin.SimpleListFilter):
    title = _("delivery")
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [
            ("undelivered", _("Not delivered yet")),
            ("retrying", _("Not delivered, tried already")),
            ("failed", _("Refused by the partner")),
            ("delivered", _("Delivered")),
        ]

    def queryset(self, request, queryset):
        pending = Q(delivered_at__isnull=True, failed_at__isnull=True)
        return {
            "undelivered": queryset.filter(pending),
            "retrying": queryset.filter(pending, attempts__gt=0),
            "failed": queryset.filter(failed_at__isnull=False),
            "delivered": queryset.filter(delivered_at__isnull=False),
        }.get(self.value(), queryset)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    # Never the body: it may carry care detail a partner was allowed to receive.
    list_display = (
        "uid",
        "request",
        "seq",
        "type",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "failed_at",
        "lease_until",
        "response_status",
        "last_error",
    )
    list_filter = (DeliveryFilter, "type")
    list_select_related = ("request__partner__organisation",)
    search_fields = ("request__case__reference", "request__partner__organisation__code")
    fields = (
        "uid",
        "request",
        "seq",
        "type",
        "created_at",
        "attempts",
        "next_attempt_at",
        "delivered_at",
        "failed_at",
        "response_status",
        "last_error",
    )
    ordering = ("-created_at",)


@admin.register(InboxMessage)
class InboxMessageAdmin(ReadOnlyAdmin):
    # Never the bodies: what a partner sent may carry care detail.
    list_display = (
        "uid",
        "partner",
        "request",
        "seq",
        "type",
        "received_at",
        "applied_at",
        "outcome",
    )
    # Not applied yet: waiting for an earlier message of the same request.
    list_filter = (("applied_at", admin.EmptyFieldListFilter), "type")
    list_select_related = ("partner__organisation", "request__partner__organisation")
    search_fields = ("request__case__reference", "partner__organisation__code")
    fields = list_display
    ordering = ("-received_at",)
