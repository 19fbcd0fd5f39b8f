"""A case ready for a public alert, with every never-public field planted with a marker value."""

import io

from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from search.services import public
from tests.factories import CaseFactory, OrganisationFactory, SearchAreaFactory, UserFactory

# Values planted in every field that must never leave through an alert.
SECRETS = {
    "reporter_name": "REPORTER-SECRET",
    "reporter_phone": "+8613912345678",
    "medical_needs": "MEDICAL-SECRET",
    "medication": "MEDICATION-SECRET",
    "field_notes": "FIELDNOTE-SECRET",
    "circumstances": "CIRCUMSTANCE-SECRET",
    "last_seen_place": "EXACT-ADDRESS-SECRET",
    "distinguishing_marks": "MARK-SECRET",
}
CLEARANCE = ["photo", "given_name", "age", "sex", "height_cm", "clothing", "place", "phone"]


def jpeg(size=(32, 32), colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="JPEG")
    return out.getvalue()


def child_case(*, photo_size=(32, 32)) -> dict:
    """Return a city, its coordinator and clerk, and a child's case with a photo and an area."""
    city = OrganisationFactory(code="PUB")
    coordinator = UserFactory(organisation=city, roles=["coordinator"])
    clerk = UserFactory(organisation=city, roles=["clerk"])
    case = CaseFactory(
        organisation=city,
        subject_name="张小明",
        category="child",
        estimated_age=8,
        height_cm=128,
        clothing="Red jacket, blue trousers",
        **SECRETS,
    )
    case.photo.save("p.jpg", SimpleUploadedFile("p.jpg", jpeg(photo_size)), save=True)
    SearchAreaFactory(case=case)
    return {"city": city, "coordinator": coordinator, "clerk": clerk, "case": case}


def draft(**texts) -> public.AlertDraft:
    return public.AlertDraft(
        clearance=list(CLEARANCE),
        texts={
            "clothing": "Red jacket",
            "place": "Yunlong district, near the lake",
            "phone": "0516-110",
            **texts,
        },
    )
