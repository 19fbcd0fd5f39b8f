from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.gis.admin import GISModelAdmin
from django.db.models import URLField
from django.utils.translation import gettext_lazy as _

from accounts.models import Organisation, Partner, PartnerAPIKey, Unit, User


class GeometryTextarea(forms.Textarea):
    """Geometry as text (WKT or GeoJSON): Django's map widget loads OpenLayers from a CDN with
    an inline script, which the Content-Security-Policy refuses."""

    supports_3d = False


class PlainGeometryAdmin(GISModelAdmin):
    gis_widget = GeometryTextarea  # type: ignore[assignment]  # any widget class will do
    gis_widget_kwargs = {"attrs": {"rows": 4, "cols": 80}}


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "get_full_name", "organisation", "is_active", "is_staff")
    list_filter = ("groups", "organisation", "is_active", "is_staff")
    list_select_related = ("organisation",)
    fieldsets = (
        *(BaseUserAdmin.fieldsets or ()),
        (_("Beacon"), {"fields": ("organisation", "phone")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (_("Beacon"), {"fields": ("organisation", "groups")}),
    )


@admin.register(Organisation)
class OrganisationAdmin(PlainGeometryAdmin):
    list_display = ("code", "name", "level", "parent")
    list_filter = ("level",)
    list_select_related = ("parent",)
    search_fields = ("code", "name")


@admin.register(Unit)
class UnitAdmin(PlainGeometryAdmin):
    list_display = ("name", "organisation", "kind", "availability", "last_position_at")
    list_filter = ("organisation", "kind", "availability")
    list_select_related = ("organisation",)
    search_fields = ("name",)
    filter_horizontal = ("members",)


@admin.register(Partner)
class PartnerAdmin(PlainGeometryAdmin):
    list_display = ("organisation", "base_url", "auto_send", "is_active")
    list_filter = ("is_active", "auto_send")
    list_select_related = ("organisation",)
    # Partners are reached over https; say so now rather than inherit Django 5's http guess.
    formfield_overrides = {URLField: {"assume_scheme": "https"}}


@admin.register(PartnerAPIKey)
class PartnerAPIKeyAdmin(admin.ModelAdmin):
    """Keys are issued with `manage.py issue_partner_key` (shown once); here they are revoked."""

    list_display = ("prefix", "partner", "name", "created", "expiry_date", "revoked")
    list_filter = ("revoked", "partner")
    list_select_related = ("partner__organisation",)
    readonly_fields = ("prefix", "hashed_key", "partner", "created")
    fields = ("name", "partner", "prefix", "hashed_key", "created", "expiry_date", "revoked")

    def has_add_permission(self, request):
        return False
