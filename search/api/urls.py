from rest_framework.routers import DefaultRouter

from search.api.views import CaseViewSet, MyTasksViewSet

router = DefaultRouter()
router.register("cases", CaseViewSet, basename="case")
router.register("my/tasks", MyTasksViewSet, basename="my-task")
urlpatterns = router.urls
