"""Operational records: proof that the workers are alive and reach the database."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class HealthPing(models.Model):
    """A round trip through the broker: written by the sender, completed by a worker."""

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("health ping")
        verbose_name_plural = _("health pings")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"ping {self.pk}"
