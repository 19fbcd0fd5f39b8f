"""Model checks that ask the database fewer times than Django's defaults."""

from django.core.exceptions import FieldError, ValidationError
from django.db import router
from django.db.models import (
    BooleanField,
    CheckConstraint,
    ExpressionWrapper,
    Model,
    Q,
    Value,
)
from django.db.models.functions import Coalesce
from django.db.models.sql import Query
from django.db.models.sql.constants import SINGLE


def constraints_check(instance: Model, *, exclude: set[str]) -> None:
    """Raise ValidationError for each check constraint the unsaved instance breaks, in one query.

    Model.validate_constraints asks the database once per constraint (each in a savepoint inside
    a transaction); the conditions are the same, evaluated together. Constraints naming an
    excluded field are skipped, as Django skips them; other kinds are validated as Django does.
    """
    against = instance._get_field_expression_map(meta=instance._meta, exclude=exclude)
    query = Query(None)
    for name, value in against.items():
        if not hasattr(value, "resolve_expression"):
            value = Value(value)
        query.add_annotation(value, name, select=False)
    checks = []
    for constraint in instance._meta.constraints:
        if not isinstance(constraint, CheckConstraint):
            constraint.validate(type(instance), instance, exclude=exclude)
            continue
        holds = Coalesce(
            ExpressionWrapper(Q(constraint.condition), output_field=BooleanField()),
            True,
            output_field=BooleanField(),
        )
        try:
            query.add_annotation(holds, f"_holds_{len(checks)}")
        except FieldError:
            continue  # it names an excluded field
        checks.append(constraint)
    if not checks:
        return
    row = query.get_compiler(using=router.db_for_write(type(instance))).execute_sql(SINGLE)
    broken = [c for c, ok in zip(checks, row, strict=True) if not ok]
    if broken:
        raise ValidationError(
            [
                ValidationError(c.get_violation_error_message(), code=c.violation_error_code)
                for c in broken
            ]
        )
