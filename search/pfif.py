"""PFIF (People Finder Interchange Format) documents: read 1.2, 1.3 and 1.4, write 1.4.

Pure functions, no database. Reading is done by defusedxml with every DTD, entity and external
reference forbidden: a person registry's document comes from outside, and the classic XML
attacks (billion laughs, an external entity naming a local file) all need a DTD, which PFIF
never uses. What is read is mapped onto the 1.4 field names, whichever version was sent.
"""

import re
import xml.etree.ElementTree as ET  # noqa: S405 - used only to write, never to parse
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import ParseError
from defusedxml.ElementTree import fromstring as safe_fromstring
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from search.validators import EARLIEST_TIME

PFIF_1_2 = "http://zesty.ca/pfif/1.2"
PFIF_1_3 = "http://zesty.ca/pfif/1.3"
PFIF_1_4 = "http://zesty.ca/pfif/1.4"
NAMESPACES = {PFIF_1_2: "1.2", PFIF_1_3: "1.3", PFIF_1_4: "1.4"}
# Refused before parsing: a registry's export of a few thousand people is far below this.
MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
# The PFIF note status values (1.2 to 1.4).
NOTE_STATUSES = (
    "information_sought",
    "is_note_author",
    "believed_alive",
    "believed_missing",
    "believed_dead",
)
# PFIF 1.4 sex values.
SEXES = ("female", "male", "other")

# 1.4 order: the schema's xs:sequence, so a document we write validates.
PERSON_FIELDS = (
    "person_record_id",
    "entry_date",
    "expiry_date",
    "author_name",
    "author_email",
    "author_phone",
    "source_name",
    "source_date",
    "source_url",
    "full_name",
    "given_name",
    "family_name",
    "alternate_names",
    "description",
    "sex",
    "date_of_birth",
    "age",
    "home_street",
    "home_neighborhood",
    "home_city",
    "home_state",
    "home_postal_code",
    "home_country",
    "photo_url",
    "profile_urls",
)
NOTE_FIELDS = (
    "note_record_id",
    "person_record_id",
    "linked_person_record_id",
    "entry_date",
    "author_name",
    "author_email",
    "author_phone",
    "source_date",
    "author_made_contact",
    "status",
    "email_of_found_person",
    "phone_of_found_person",
    "last_known_location",
    "text",
    "photo_url",
)
PERSON_REQUIRED = ("person_record_id", "source_date", "full_name")
NOTE_REQUIRED = ("note_record_id", "author_name", "source_date", "text")
_DATE_FIELDS = {"entry_date", "expiry_date", "source_date"}
_UTC_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
_AGE = re.compile(r"^\d{1,3}(-\d{1,3})?$")
_BIRTH = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_LATEST_YEAR = 9000


@dataclass
class PfifNote:
    note_record_id: str = ""
    person_record_id: str = ""
    linked_person_record_id: str = ""
    entry_date: str = ""
    author_name: str = ""
    author_email: str = ""
    author_phone: str = ""
    source_date: str = ""
    author_made_contact: str = ""  # "true", "false" or ""
    status: str = ""
    email_of_found_person: str = ""
    phone_of_found_person: str = ""
    last_known_location: str = ""
    text: str = ""
    photo_url: str = ""

    def as_dict(self) -> dict[str, str]:
        """Return the note's non-empty fields, as a draft keeps them."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name)}


@dataclass
class PfifPerson:
    person_record_id: str = ""
    entry_date: str = ""
    expiry_date: str = ""
    author_name: str = ""
    author_email: str = ""
    author_phone: str = ""
    source_name: str = ""
    source_date: str = ""
    source_url: str = ""
    full_name: str = ""
    given_name: str = ""
    family_name: str = ""
    alternate_names: str = ""
    description: str = ""
    sex: str = ""
    date_of_birth: str = ""
    age: str = ""
    home_street: str = ""
    home_neighborhood: str = ""
    home_city: str = ""
    home_state: str = ""
    home_postal_code: str = ""
    home_country: str = ""
    photo_url: str = ""
    profile_urls: str = ""
    notes: list[PfifNote] = field(default_factory=list)


@dataclass
class PfifDocument:
    version: str
    persons: list[PfifPerson]
    # Top-level notes about a person the document does not carry (sent on their own).
    unmatched_notes: list[PfifNote] = field(default_factory=list)


def _q(namespace: str, name: str) -> str:
    """Return the ElementTree name of an element in a namespace."""
    return f"{{{namespace}}}{name}"


def _refuse(message: str, code: str) -> ValidationError:
    return ValidationError({"document": message}, code=code)


def pfif_time(value: datetime) -> str:
    """Return a time as PFIF writes it: UTC, to the second, with a Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_pfif_time(value: str) -> datetime | None:
    """Return a PFIF time (UTC, "2026-05-01T10:00:00Z") as an aware datetime, or None if it is
    not one or lies outside the years Beacon can store."""
    if not _UTC_TIME.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment < EARLIEST_TIME or moment.year > _LATEST_YEAR:
        return None
    return moment


def _root(data: bytes):
    if len(data) > MAX_DOCUMENT_BYTES:
        raise _refuse(
            _("The document is larger than %(mb)d MB.") % {"mb": MAX_DOCUMENT_BYTES // 2**20},
            "too_large",
        )
    try:
        return safe_fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden as exc:
        raise _refuse(
            _("The document declares a DTD (<!DOCTYPE>); PFIF needs none, so it is refused."),
            "dtd",
        ) from exc
    except EntitiesForbidden as exc:
        raise _refuse(_("The document declares XML entities; they are refused."), "entity") from exc
    except ExternalReferenceForbidden as exc:
        raise _refuse(
            _("The document refers to an external entity; it is refused."), "external"
        ) from exc
    except (ParseError, ValueError) as exc:
        raise _refuse(
            _("The document is not well-formed XML: %(error)s") % {"error": exc}, "malformed"
        ) from exc


def _version(root) -> str:
    if root.tag.startswith("{"):
        namespace, _sep, local = root.tag[1:].partition("}")
    else:
        namespace, local = "", root.tag
    if namespace in NAMESPACES and local == "pfif":
        return NAMESPACES[namespace]
    found = re.fullmatch(r"https?://zesty\.ca/pfif/(\d+\.\d+)/?", namespace)
    if found:
        raise _refuse(
            _("PFIF %(version)s is not supported; send 1.2, 1.3 or 1.4.")
            % {"version": found.group(1)},
            "version",
        )
    if local != "pfif":
        raise _refuse(
            _("The root element is <%(tag)s>, not <pfif:pfif>.") % {"tag": local}, "not_pfif"
        )
    if not namespace:
        raise _refuse(
            _("The <pfif> element has no namespace; use %(ns)s.") % {"ns": PFIF_1_4}, "namespace"
        )
    raise _refuse(
        _("The namespace %(ns)s is not PFIF; send PFIF 1.2, 1.3 or 1.4 (%(expected)s).")
        % {"ns": namespace, "expected": PFIF_1_4},
        "namespace",
    )


def _values(element, namespace: str) -> dict[str, str]:
    """Return the element's simple children in the namespace, by local name, text stripped."""
    prefix = "{" + namespace + "}"
    values = {}
    for child in element:
        if isinstance(child.tag, str) and child.tag.startswith(prefix) and len(child) == 0:
            values[child.tag[len(prefix) :]] = (child.text or "").strip()
    return values


def _person_values(raw: dict[str, str], version: str) -> dict[str, str]:
    """Map one person's fields of any version onto the 1.4 names."""
    values = {name: raw.get(name, "") for name in PERSON_FIELDS}
    first, last = raw.get("first_name", ""), raw.get("last_name", "")
    if version in ("1.2", "1.3"):
        values["given_name"] = values["given_name"] or first
        values["family_name"] = values["family_name"] or last
    if version == "1.2" or not values["full_name"]:
        values["full_name"] = values["full_name"] or " ".join(p for p in (first, last) if p)
    values["home_postal_code"] = values["home_postal_code"] or raw.get("home_zip", "")
    return values


def _which(index: int, record_id: str) -> str:
    return f"{index} ({record_id})" if record_id else str(index)


def _check_times(values: dict[str, str], where: str) -> None:
    for name in _DATE_FIELDS & values.keys():
        if values[name] and parse_pfif_time(values[name]) is None:
            raise _refuse(
                _("%(where)s: %(field)s is not a UTC time like 2026-05-01T10:00:00Z.")
                % {"where": where, "field": name},
                "bad_time",
            )


def _note(element, namespace: str, *, where: str, person_record_id: str = "") -> PfifNote:
    raw = _values(element, namespace)
    values = {name: raw.get(name, "") for name in NOTE_FIELDS}
    label = _("Note %(which)s") % {"which": where}
    if person_record_id:
        if values["person_record_id"] and values["person_record_id"] != person_record_id:
            raise _refuse(
                _("%(note)s names person %(other)s but sits inside person %(person)s.")
                % {"note": label, "other": values["person_record_id"], "person": person_record_id},
                "note_person",
            )
        values["person_record_id"] = person_record_id
    required = (*NOTE_REQUIRED, "person_record_id")
    for name in required:
        if not values[name]:
            raise _refuse(
                _("%(note)s has no %(field)s, which PFIF requires.")
                % {"note": label, "field": name},
                "note_required",
            )
    _check_times(values, label)
    if values["status"] and values["status"] not in NOTE_STATUSES:
        raise _refuse(
            _("%(note)s: status %(status)s is not a PFIF status (%(allowed)s).")
            % {"note": label, "status": values["status"], "allowed": ", ".join(NOTE_STATUSES)},
            "note_status",
        )
    values["author_made_contact"] = values["author_made_contact"].lower()
    if values["author_made_contact"] not in ("", "true", "false"):
        raise _refuse(
            _("%(note)s: author_made_contact must be true or false.") % {"note": label},
            "note_contact",
        )
    return PfifNote(**values)


def _person(element, namespace: str, version: str, index: int) -> PfifPerson:
    values = _person_values(_values(element, namespace), version)
    where = _("Person %(which)s") % {"which": _which(index, values["person_record_id"])}
    for name in PERSON_REQUIRED:
        if not values[name]:
            # 1.2 has no full_name: what it lacks is a first or last name.
            missing = "first_name/last_name" if name == "full_name" and version == "1.2" else name
            raise _refuse(
                _("%(person)s has no %(field)s, which PFIF requires.")
                % {"person": where, "field": missing},
                "person_required",
            )
    _check_times(values, where)
    if values["sex"] and values["sex"] not in SEXES:
        raise _refuse(
            _("%(person)s: sex %(sex)s is not female, male or other.")
            % {"person": where, "sex": values["sex"]},
            "person_sex",
        )
    if values["age"] and not _AGE.match(values["age"]):
        raise _refuse(
            _("%(person)s: age %(age)s is not a number or a range like 30-40.")
            % {"person": where, "age": values["age"]},
            "person_age",
        )
    if values["date_of_birth"] and not _BIRTH.match(values["date_of_birth"]):
        raise _refuse(
            _("%(person)s: date_of_birth %(value)s is not YYYY, YYYY-MM or YYYY-MM-DD.")
            % {"person": where, "value": values["date_of_birth"]},
            "person_birth",
        )
    person = PfifPerson(**values)
    for number, child in enumerate(element.iterfind(_q(namespace, "note")), start=1):
        person.notes.append(
            _note(
                child,
                namespace,
                where=_("%(number)d of person %(which)s")
                % {"number": number, "which": _which(index, person.person_record_id)},
                person_record_id=person.person_record_id,
            )
        )
    return person


def pfif_parse(data: bytes) -> PfifDocument:
    """Return the persons and notes of a PFIF 1.2, 1.3 or 1.4 document, on 1.4 names.

    Raise ValidationError({"document": message}) for anything refused: too large, not
    well-formed, a DTD or entity, another format or version, a person or note lacking a field
    PFIF requires. Top-level notes join their person when the document carries it.
    """
    root = _root(data)
    version = _version(root)
    namespace = root.tag[1:].partition("}")[0]
    persons: list[PfifPerson] = []
    by_id: dict[str, PfifPerson] = {}
    for index, element in enumerate(root.iterfind(_q(namespace, "person")), start=1):
        person = _person(element, namespace, version, index)
        if person.person_record_id in by_id:
            raise _refuse(
                _("Person %(index)d repeats the person_record_id %(id)s.")
                % {"index": index, "id": person.person_record_id},
                "person_repeated",
            )
        by_id[person.person_record_id] = person
        persons.append(person)
    unmatched: list[PfifNote] = []
    for number, element in enumerate(root.iterfind(_q(namespace, "note")), start=1):
        note = _note(element, namespace, where=str(number))
        if note.person_record_id in by_id:
            by_id[note.person_record_id].notes.append(note)
        else:
            unmatched.append(note)
    for person in persons:
        seen: set[str] = set()
        for note in person.notes:
            if note.note_record_id in seen:
                raise _refuse(
                    _("The note_record_id %(id)s appears twice.") % {"id": note.note_record_id},
                    "note_repeated",
                )
            seen.add(note.note_record_id)
    if not persons and not unmatched:
        raise _refuse(_("The document holds no person and no note."), "empty")
    return PfifDocument(version=version, persons=persons, unmatched_notes=unmatched)


def _append(parent, namespace: str, name: str, value: str) -> None:
    if value:
        ET.SubElement(parent, _q(namespace, name)).text = value


def pfif_document(persons: list[PfifPerson]) -> bytes:
    """Return a PFIF 1.4 document of these persons, each with its notes nested, in UTF-8."""
    ET.register_namespace("pfif", PFIF_1_4)
    root = ET.Element(_q(PFIF_1_4, "pfif"))
    for person in persons:
        element = ET.SubElement(root, _q(PFIF_1_4, "person"))
        for name in PERSON_FIELDS:
            _append(element, PFIF_1_4, name, getattr(person, name))
        for note in person.notes:
            child = ET.SubElement(element, _q(PFIF_1_4, "note"))
            for name in NOTE_FIELDS:
                _append(child, PFIF_1_4, name, getattr(note, name))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
