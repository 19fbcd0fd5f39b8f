from django.urls import path

from search.views import cases

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
]
