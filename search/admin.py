from django.contrib import admin

from accounts.admin import PlainGeometryAdmin
from search import permissions
from search.models import Alert, Case, HealthPing, SearchArea, SubjectProfile, Task


@admin.register(Case)
class CaseAdmin(PlainGeometryAdmin):
    list_display = ("reference", "subject_name", "category", "status", "organisation", "created_at")
    list_filter = ("status", "category", "organisation")
    list_select_related = ("organisation",)
    search_fields = ("reference", "subject_name")
    readonly_fields = ("created_by", "created_at")
    # The admin records nothing on the timeline, so it never shows or takes sensitive values:
    # those are seen through the case page's recorded reveal, and changed through its edit form.
    exclude = tuple(sorted(permissions.ALL_SENSITIVE_FIELDS))


@admin.register(HealthPing)
class HealthPingAdmin(admin.ModelAdmin):
    list_display = ("pk", "created_at", "processed_at", "worker")
    readonly_fields = ("created_at", "processed_at", "worker")


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


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("pk", "case", "unit", "status", "offered_at", "expires_at")
    list_filter = ("status",)
    list_select_related = ("case", "unit")
    raw_id_fields = ("case", "sector", "unit")


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("case", "kind", "created_at", "acknowledged_at")
    list_filter = ("kind",)
    list_select_related = ("case",)
    raw_id_fields = ("case", "task")
