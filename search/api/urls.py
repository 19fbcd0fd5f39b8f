from django.urls import path
from rest_framework.routers import DefaultRouter

from search.api.federation import FederationMessageView
from search.api.mutual_aid import MutualAidViewSet
from search.api.views import CaseViewSet, MyTasksViewSet

router = DefaultRouter()
router.register("cases", CaseViewSet, basename="case")
router.register("my/tasks", MyTasksViewSet, basename="my-task")
router.register("mutual-aid", MutualAidViewSet, basename="mutual-aid")
urlpatterns = [
    path("federation/messages/", FederationMessageView.as_view(), name="federation-messages"),
    *router.urls,
]
