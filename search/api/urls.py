from django.urls import path
from rest_framework.routers import DefaultRouter

from search.api.federation import FederationMessageView
from search.api.interchange import PfifImportView
from search.api.mutual_aid import MutualAidViewSet
from search.api.views import (
    CaseSightingList,
    CaseTaskList,
    CaseTimelineList,
    CaseViewSet,
    MyTasksViewSet,
)

router = DefaultRouter()
router.register("cases", CaseViewSet, basename="case")
for child, view in (
    ("tasks", CaseTaskList),
    ("sightings", CaseSightingList),
    ("timeline", CaseTimelineList),
):
    router.register(rf"cases/(?P<id>\d+)/{child}", view, basename=f"case-{child}")
router.register("my/tasks", MyTasksViewSet, basename="my-task")
router.register("mutual-aid", MutualAidViewSet, basename="mutual-aid")
urlpatterns = [
    path("federation/messages/", FederationMessageView.as_view(), name="federation-messages"),
    path("pfif/import/", PfifImportView.as_view(), name="pfif-import"),
    *router.urls,
]
