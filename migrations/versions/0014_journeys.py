"""Journeys: journeys and their versions, enrolments, the step log, the runs their messages
go out in, admin notices, trigger feed positions and the RFM segments journeys last saw;
campaigns get a kind (a journey version's hidden campaign is never listed as a broadcast).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-11 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True)
ACTIVE = sa.text("status = 'active'")
EXIT_REASONS = ("completed", "exit", "goal", "unsubscribed", "blocked", "deactivated", "archived")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=16)


def upgrade() -> None:
    # Plain ALTER TABLE ADD COLUMN: on SQLite a batch would copy the table, and dropping
    # the old copy would cascade to every row referring to it (targets, runs, deliveries).
    op.add_column(
        "campaigns",
        sa.Column(
            "kind",
            _enum("campaignkind", "broadcast", "journey"),
            server_default="broadcast",
            nullable=False,
        ),
    )
    op.create_table(
        "journey_feeds",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_journey_feeds")),
    )
    op.create_table(
        "journeys",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column("status", _enum("journeystatus", "live", "paused", "archived"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("updated_at", MOMENT, nullable=False),
        sa.Column("checked_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journeys")),
        sa.UniqueConstraint("name", name=op.f("uq_journeys_name")),
    )
    op.create_table(
        "journey_versions",
        sa.Column("id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_journey_versions_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_journey_versions_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_versions")),
        sa.UniqueConstraint(
            "journey_id", "version", name=op.f("uq_journey_versions_journey_id_version")
        ),
    )
    op.create_table(
        "journey_enrolments",
        sa.Column("id", ID, nullable=False),
        sa.Column("journey_id", ID, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("subscriber_id", ID, nullable=False),
        sa.Column("entry", sa.Integer(), nullable=False),
        sa.Column("trigger_key", sa.String(length=96), nullable=False),
        sa.Column("status", _enum("enrolmentstatus", "active", "holdout", "ended"), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=True),
        sa.Column("step_since", MOMENT, nullable=False),
        sa.Column("next_due_at", MOMENT, nullable=True),
        sa.Column("waiting_for", sa.String(length=16), nullable=True),
        sa.Column("entered_at", MOMENT, nullable=False),
        sa.Column("ended_at", MOMENT, nullable=True),
        sa.Column("exit_reason", _enum("exitreason", *EXIT_REASONS), nullable=True),
        sa.Column("converted_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["journey_id"],
            ["journeys.id"],
            name=op.f("fk_journey_enrolments_journey_id_journeys"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_journey_enrolments_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["journey_versions.id"],
            name=op.f("fk_journey_enrolments_version_id_journey_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_enrolments")),
        sa.UniqueConstraint(
            "journey_id",
            "subscriber_id",
            "entry",
            name=op.f("uq_journey_enrolments_journey_id_subscriber_id_entry"),
        ),
        sa.UniqueConstraint(
            "journey_id",
            "subscriber_id",
            "trigger_key",
            name=op.f("uq_journey_enrolments_journey_id_subscriber_id_trigger_key"),
        ),
    )
    with op.batch_alter_table("journey_enrolments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_journey_enrolments_due",
            ["journey_id", "next_due_at"],
            unique=False,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
        batch_op.create_index(
            "ix_journey_enrolments_inside",
            ["journey_id", "subscriber_id"],
            unique=True,
            sqlite_where=ACTIVE,
            postgresql_where=ACTIVE,
        )
        batch_op.create_index(
            batch_op.f("ix_journey_enrolments_subscriber_id"), ["subscriber_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_journey_enrolments_version_id"), ["version_id"], unique=False
        )
    op.create_table(
        "journey_rfm_seen",
        sa.Column("customer_id", ID, autoincrement=False, nullable=False),
        sa.Column("segment", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_journey_rfm_seen_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_journey_rfm_seen")),
    )
    op.create_table(
        "journey_runs",
        sa.Column("version_id", ID, nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("entry", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["campaign_runs.id"],
            name=op.f("fk_journey_runs_run_id_campaign_runs"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["journey_versions.id"],
            name=op.f("fk_journey_runs_version_id_journey_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_id", "step", "entry", name=op.f("pk_journey_runs")),
        sa.UniqueConstraint("run_id", name=op.f("uq_journey_runs_run_id")),
    )
    op.create_table(
        "journey_notices",
        sa.Column("id", ID, nullable=False),
        sa.Column("enrolment_id", ID, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column(
            "status",
            _enum("noticestatus", "queued", "sending", "sent", "failed", "unknown"),
            nullable=False,
        ),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("sent_at", MOMENT, nullable=True),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["journey_enrolments.id"],
            name=op.f("fk_journey_notices_enrolment_id_journey_enrolments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["journey_versions.id"],
            name=op.f("fk_journey_notices_version_id_journey_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_notices")),
        sa.UniqueConstraint(
            "enrolment_id", "step", name=op.f("uq_journey_notices_enrolment_id_step")
        ),
    )
    with op.batch_alter_table("journey_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_journey_notices_status"), ["status"], unique=False)
    op.create_table(
        "journey_steps",
        sa.Column("id", ID, nullable=False),
        sa.Column("enrolment_id", ID, nullable=False),
        sa.Column("journey_id", sa.BigInteger(), nullable=False),
        sa.Column("version_id", sa.BigInteger(), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("happened_at", MOMENT, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["enrolment_id"],
            ["journey_enrolments.id"],
            name=op.f("fk_journey_steps_enrolment_id_journey_enrolments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journey_steps")),
        sa.UniqueConstraint(
            "enrolment_id", "step", name=op.f("uq_journey_steps_enrolment_id_step")
        ),
    )
    with op.batch_alter_table("journey_steps", schema=None) as batch_op:
        batch_op.create_index("ix_journey_steps_journey_step", ["journey_id", "step"], unique=False)


def downgrade() -> None:
    for table in (
        "journey_steps", "journey_notices", "journey_runs", "journey_rfm_seen",
        "journey_enrolments", "journey_versions", "journeys", "journey_feeds",
    ):  # fmt: skip
        op.drop_table(table)
    if op.get_bind().dialect.name == "sqlite":  # its own DROP COLUMN: no copy (see upgrade)
        op.execute("ALTER TABLE campaigns DROP COLUMN kind")
    else:
        op.drop_column("campaigns", "kind")
