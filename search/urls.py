from django.urls import path

from search.views import cases, planning

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
    path(
        "cases/<int:pk>/map/alerts/<int:alert_id>/ack/",
        planning.alert_acknowledge,
        name="alert_acknowledge",
    ),
]
