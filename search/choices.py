"""Every status and category of the search app, in one place."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CaseStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ACTIVE = "active", _("Active")
    FOUND = "found", _("Found")
    CLOSED = "closed", _("Closed")


class SubjectCategory(models.TextChoices):
    YOUNG_CHILD = "young_child", _("Young child (1-6)")
    CHILD = "child", _("Child (7-12)")
    YOUTH = "youth", _("Youth (13-17)")
    ADULT = "adult", _("Adult")
    DEMENTIA = "dementia", _("Elderly with dementia")
    AUTISM = "autism", _("Autism")
    INTELLECTUAL_DISABILITY = "intellectual_disability", _("Intellectual disability")
    DESPONDENT = "despondent", _("Despondent / at risk of self-harm")
    OTHER = "other", _("Other")
