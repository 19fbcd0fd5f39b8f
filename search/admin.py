from django.contrib import admin
from django.contrib.gis.admin import GISModelAdmin

from search.models import Case, HealthPing


@admin.register(Case)
class CaseAdmin(GISModelAdmin):
    list_display = ("reference", "subject_name", "category", "status", "organisation", "created_at")
    list_filter = ("status", "category", "organisation")
    list_select_related = ("organisation",)
    search_fields = ("reference", "subject_name")
    readonly_fields = ("created_by", "created_at")


@admin.register(HealthPing)
class HealthPingAdmin(admin.ModelAdmin):
    list_display = ("pk", "created_at", "processed_at", "worker")
    readonly_fields = ("created_at", "processed_at", "worker")
