"""The landing page after sign-in: who you are and where your work is."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_safe

from accounts.models import Role


@login_required
@require_safe
def home(request):
    """Render the signed-in user's roles and organisation."""
    roles = [label for value, label in Role.choices if value in request.user.role_names]
    return render(request, "search/home.html", {"roles": roles})
