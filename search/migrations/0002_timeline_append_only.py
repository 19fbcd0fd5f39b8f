"""The database itself refuses to change or delete a timeline event.

The hash chain shows tampering after the fact; this trigger stops the ordinary paths to it
(a bug, an ORM update, a careless script). Someone who can disable triggers can still tamper,
which is what `verify_timeline` is for.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION search_caseevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'case events are append-only (% refused)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER search_caseevent_append_only
    BEFORE UPDATE OR DELETE ON search_caseevent
    FOR EACH ROW EXECUTE FUNCTION search_caseevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS search_caseevent_append_only ON search_caseevent;
DROP FUNCTION IF EXISTS search_caseevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("search", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
