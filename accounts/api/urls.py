from django.urls import path

from accounts.api.views import TokenRevokeAllView, TokenRevokeView, TokenView

urlpatterns = [
    path("auth/token/", TokenView.as_view(), name="api_token"),
    path("auth/token/revoke/", TokenRevokeView.as_view(), name="api_token_revoke"),
    path("auth/token/revoke-all/", TokenRevokeAllView.as_view(), name="api_token_revoke_all"),
]
