"""payroll lines name their practitioner, employer and writer without a foreign key checked per
line: the lines a statement writes are checked once as a set, and a practitioner, organization or
user named by a payroll line cannot be deleted nor have its id changed (a guard on their side)

A foreign key checks every inserted line with its own locking look-up of the row it names: with
100,000 paid lines that was about 4.7 s of the 6.4 s COPY of a run's lines. The run's own key
(``run_id``, ON DELETE CASCADE) stays a foreign key.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 17:00:00.000000+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (payroll_line column, the table it names, the foreign key it replaces)
REFERENCES = (
    ("practitioner_id", "practitioner", "fk_payroll_line_practitioner_id_practitioner"),
    ("organization_id", "organization", "fk_payroll_line_organization_id_organization"),
    ("created_by_id", "app_user", "fk_payroll_line_created_by_id_app_user"),
)

# The check of the written lines, once per statement over its transition table: every named
# practitioner, organization and user exists. It runs after the statement, when a deletion that
# was under way has committed or rolled back (the guard below holds a SHARE lock on payroll_line,
# which waits for the writers of lines and is waited for by them).
CHECK = """
CREATE FUNCTION payroll_line_references_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    SELECT 'practitioner ' || n.practitioner_id INTO missing FROM written_lines n
     WHERE NOT EXISTS (SELECT FROM practitioner p WHERE p.id = n.practitioner_id) LIMIT 1;
    IF missing IS NULL THEN
        SELECT 'organization ' || n.organization_id INTO missing
          FROM (SELECT DISTINCT organization_id FROM written_lines WHERE organization_id IS NOT NULL) n
         WHERE NOT EXISTS (SELECT FROM organization o WHERE o.id = n.organization_id) LIMIT 1;
    END IF;
    IF missing IS NULL THEN
        SELECT 'app_user ' || n.created_by_id INTO missing
          FROM (SELECT DISTINCT created_by_id FROM written_lines WHERE created_by_id IS NOT NULL) n
         WHERE NOT EXISTS (SELECT FROM app_user u WHERE u.id = n.created_by_id) LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'payroll_line names % which does not exist', missing
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'payroll_line_references';
    END IF;
    RETURN NULL;
END
$$"""

# A row named by payroll lines keeps existing with its id: history is never overwritten.
GUARD = """
CREATE FUNCTION payroll_line_referenced_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    named boolean;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id THEN
        RETURN NEW;
    END IF;
    -- Wait for transactions writing payroll lines (which may name this row) to end, and keep
    -- new ones waiting until this one ends; then look with a fresh snapshot.
    LOCK TABLE payroll_line IN SHARE MODE;
    EXECUTE format('SELECT EXISTS (SELECT FROM payroll_line WHERE %I = $1)', TG_ARGV[0]) INTO named USING OLD.id;
    IF named THEN
        RAISE EXCEPTION '% % is named by payroll lines: % refused', TG_TABLE_NAME, OLD.id, TG_OP
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'payroll_line_referenced',
                  HINT = 'Payroll lines are history: the people, employers and users they name stay.';
    END IF;
    RETURN COALESCE(NEW, OLD);
END
$$"""

TRUNCATE_GUARD = """
CREATE FUNCTION payroll_line_referenced_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT FROM payroll_line) THEN
        RAISE EXCEPTION '% is named by payroll lines: TRUNCATE refused', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', CONSTRAINT = 'payroll_line_referenced';
    END IF;
    RETURN NULL;
END
$$"""


def upgrade() -> None:
    op.execute(CHECK)
    op.execute(GUARD)
    op.execute(TRUNCATE_GUARD)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER payroll_line_references_{event.lower()} AFTER {event} ON payroll_line"
            " REFERENCING NEW TABLE AS written_lines"
            " FOR EACH STATEMENT EXECUTE FUNCTION payroll_line_references_check()"
        )
    for column, table, fk in REFERENCES:
        op.execute(
            f"CREATE TRIGGER payroll_line_referenced BEFORE DELETE OR UPDATE OF id ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION payroll_line_referenced_guard('{column}')"
        )
        op.execute(
            f"CREATE TRIGGER payroll_line_referenced_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION payroll_line_referenced_no_truncate()"
        )
        op.drop_constraint(fk, "payroll_line", type_="foreignkey")


def downgrade() -> None:
    for column, table, fk in REFERENCES:
        op.create_foreign_key(fk, "payroll_line", table, [column], ["id"])
        op.execute(f"DROP TRIGGER payroll_line_referenced_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER payroll_line_referenced ON {table}")
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER payroll_line_references_{event} ON payroll_line")
    op.execute("DROP FUNCTION payroll_line_referenced_no_truncate()")
    op.execute("DROP FUNCTION payroll_line_referenced_guard()")
    op.execute("DROP FUNCTION payroll_line_references_check()")
