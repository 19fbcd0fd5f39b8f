from django.urls import path

from search.views import (
    alerts,
    cases,
    dashboard,
    interchange,
    mutual_aid,
    planning,
    public,
    supervision,
)
from search.views import field as field_views

urlpatterns = [
    path("cases/", cases.case_list, name="case_list"),
    path("cases/new/", cases.case_create, name="case_create"),
    path("cases/<int:pk>/", cases.case_detail, name="case_detail"),
    path("cases/<int:pk>/edit/", cases.case_edit, name="case_edit"),
    path("cases/<int:pk>/reveal/", cases.case_reveal, name="case_reveal"),
    path("cases/<int:pk>/priority/", cases.case_override_priority, name="case_override_priority"),
    path("cases/<int:pk>/withdraw/", cases.case_withdraw, name="case_withdraw"),
    path("cases/<int:pk>/close/", cases.case_close, name="case_close"),
    path("cases/<int:pk>/contact/", cases.crisis_contact, name="crisis_contact"),
    path("cases/<int:pk>/photo/", cases.case_photo, name="case_photo"),
    path("crisis/", cases.crisis_desk, name="crisis_desk"),
    path("cases/<int:pk>/map/", planning.case_map, name="case_map"),
    path("cases/<int:pk>/map/pause/", planning.case_pause, name="case_pause"),
    path("cases/<int:pk>/map/reassign/", planning.sector_reassign, name="sector_reassign"),
    path("cases/<int:pk>/map/area/", planning.area_draw, name="area_draw"),
    path(
        "cases/<int:pk>/map/sightings/<int:sighting_id>/confirm/",
        planning.sighting_confirm,
        name="sighting_confirm",
    ),
    path("cases/<int:pk>/map/sightings/", planning.case_sightings, name="case_sightings"),
    path(
        "cases/<int:pk>/map/sightings/<int:sighting_id>/photo/",
        planning.sighting_photo,
        name="sighting_photo",
    ),
    path(
        "cases/<int:pk>/map/alerts/<int:alert_id>/ack/",
        planning.alert_acknowledge,
        name="alert_acknowledge",
    ),
]

urlpatterns += [
    path("field/", field_views.field_home, name="field_home"),
    path("field/sw.js", field_views.service_worker, name="field_sw"),
    path("field/actions/", field_views.field_action, name="field_action"),
    path("field/tasks/<int:task_id>/", field_views.field_task, name="field_task"),
    path("field/tasks/<int:task_id>/photo/", field_views.field_task_photo, name="field_photo"),
]

urlpatterns += [
    path("aid/", mutual_aid.aid_board, name="aid_board"),
    path("cases/<int:pk>/aid/", mutual_aid.aid_ask, name="aid_ask"),
    path("aid/<uuid:uid>/accept/", mutual_aid.aid_accept, name="aid_accept"),
    path("aid/<uuid:uid>/decline/", mutual_aid.aid_decline, name="aid_decline"),
    path("aid/<uuid:uid>/cancel/", mutual_aid.aid_cancel, name="aid_cancel"),
    path("aid/<uuid:uid>/note/", mutual_aid.aid_note, name="aid_note"),
]

urlpatterns += [
    path("orders/", supervision.order_list, name="order_list"),
    path("cases/<int:pk>/orders/new/", supervision.order_issue, name="order_issue"),
    path("orders/<int:order_id>/", supervision.order_detail, name="order_detail"),
    path("orders/<int:order_id>/<slug:action>/", supervision.order_act, name="order_act"),
    path("supervision/", dashboard.dashboard, name="dashboard"),
    path("supervision/figures.csv", dashboard.dashboard_csv, name="dashboard_csv"),
]

# The public side: no sign-in, no session.
urlpatterns += [
    path("alerts/", public.alert_index, name="public_alert_index"),
    path("alerts/feed.atom", public.alert_feed, name="public_alert_feed"),
    path("alerts/<slug:identifier>.xml", public.alert_cap, name="public_alert_cap"),
    path("alerts/<slug:identifier>/", public.alert_page, name="public_alert"),
    path("alerts/<slug:identifier>/tip/", public.alert_tip, name="public_alert_tip"),
    path("alerts/<slug:identifier>/photo/", public.alert_photo, name="public_alert_photo"),
]

# PFIF interchange: records from other registries become drafts a clerk confirms.
urlpatterns += [
    path("pfif/import/", interchange.pfif_import, name="pfif_import"),
    path("drafts/", interchange.draft_list, name="draft_list"),
    path("drafts/<int:draft_id>/", interchange.draft_detail, name="draft_detail"),
    path("drafts/<int:draft_id>/discard/", interchange.draft_discard, name="draft_discard"),
]

# Publishing a case to the public (coordinators).
urlpatterns += [
    path("cases/<int:pk>/alert/", alerts.alert_edit, name="alert_edit"),
    path("cases/<int:pk>/alert/end/", alerts.alert_end, name="alert_end"),
]
