"""Keep every version of a rating: rating_versions (backfilled), ratings.version, assignment lookup index.

Before this revision an edit overwrote the rating and its history was lost. Each existing rating
becomes version 1 in rating_versions, carrying the idempotency key it was submitted with, so a client
retrying that old submission still gets the original back.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

METRICS = (
    "analytical_relevance",
    "analytical_accuracy",
    "analytical_completeness",
    "reasoning_quality",
    "findings_novelty",
    "clinical_value",
    "overall_satisfaction",
)


def upgrade() -> None:
    op.create_table(
        "rating_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rating_id", sa.Integer(), sa.ForeignKey("ratings.id", ondelete="CASCADE"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        *[sa.Column(m, sa.SmallInteger(), nullable=False) for m in METRICS],
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.UniqueConstraint("rating_id", "version", name="uq_rating_versions_rating_version"),
        *[sa.CheckConstraint(f"{m} BETWEEN 1 AND 5", name=f"ck_rating_versions_{m}") for m in METRICS],
    )
    op.create_index("ix_rating_versions_rating_id", "rating_versions", ["rating_id"])
    op.add_column("ratings", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    columns = ", ".join(METRICS)
    op.execute(
        f"INSERT INTO rating_versions (rating_id, version, {columns}, comment, seconds, created_at, "
        f"idempotency_key) SELECT id, 1, {columns}, comment, seconds, updated_at, idempotency_key FROM ratings"
    )
    op.create_index(
        "ix_assignments_rater_campaign_status", "assignments", ["rater_id", "campaign_id", "status"]
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_rater_campaign_status", table_name="assignments")
    op.drop_index("ix_rating_versions_rating_id", table_name="rating_versions")
    op.drop_table("rating_versions")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("version")
