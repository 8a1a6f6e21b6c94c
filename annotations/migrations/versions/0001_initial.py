"""Initial schema: raters, cases, interpretations, ratings (edited in place), preferences, campaigns.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copy of the metric names at this revision (migrations never import the live models).
METRICS = (
    "analytical_relevance",
    "analytical_accuracy",
    "analytical_completeness",
    "reasoning_quality",
    "findings_novelty",
    "clinical_value",
    "overall_satisfaction",
)


def score_columns() -> list:
    return [sa.Column(m, sa.SmallInteger(), nullable=False) for m in METRICS]


def score_checks(table: str) -> list:
    return [sa.CheckConstraint(f"{m} BETWEEN 1 AND 5", name=f"ck_{table}_{m}") for m in METRICS]


def upgrade() -> None:
    op.create_table(
        "raters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("pseudonym", sa.String(32), nullable=False, unique=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=True, unique=True),
        sa.CheckConstraint("role IN ('rater', 'admin')", name="ck_raters_role"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("source", sa.String(512), nullable=False),
        sa.Column("record_id", sa.String(128), nullable=False),
        sa.Column("fs", sa.Float(), nullable=False),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("signal_npz", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "interpretations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("grounding", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
    )
    op.create_index("ix_interpretations_case_id", "interpretations", ["case_id"])
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rater_id", sa.Integer(), sa.ForeignKey("raters.id"), nullable=False),
        sa.Column("interpretation_id", sa.Integer(), sa.ForeignKey("interpretations.id"), nullable=False),
        *score_columns(),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.UniqueConstraint("rater_id", "interpretation_id", name="uq_ratings_rater_interpretation"),
        *score_checks("ratings"),
    )
    op.create_index("ix_ratings_rater_id", "ratings", ["rater_id"])
    op.create_index("ix_ratings_interpretation_id", "ratings", ["interpretation_id"])
    op.create_table(
        "preferences",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("rater_id", sa.Integer(), sa.ForeignKey("raters.id"), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("interpretation_a_id", sa.Integer(), sa.ForeignKey("interpretations.id"), nullable=False),
        sa.Column("interpretation_b_id", sa.Integer(), sa.ForeignKey("interpretations.id"), nullable=False),
        sa.Column("choice", sa.String(16), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.CheckConstraint("choice IN ('a', 'b', 'tie', 'both_bad')", name="ck_preferences_choice"),
        sa.CheckConstraint("interpretation_a_id <> interpretation_b_id", name="ck_preferences_distinct"),
    )
    op.create_index("ix_preferences_rater_id", "preferences", ["rater_id"])
    op.create_index("ix_preferences_case_id", "preferences", ["case_id"])
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("guidelines_md", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("k_raters", sa.Integer(), nullable=False),
        sa.Column("blind_names", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.CheckConstraint("kind IN ('rate', 'compare')", name="ck_campaigns_kind"),
        sa.CheckConstraint("k_raters >= 1", name="ck_campaigns_k"),
    )
    op.create_table(
        "campaign_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("interpretation_ids", sa.JSON(), nullable=False),
        sa.UniqueConstraint("campaign_id", "position", name="uq_campaign_items_position"),
    )
    op.create_index("ix_campaign_items_campaign_id", "campaign_items", ["campaign_id"])
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "item_id", sa.Integer(), sa.ForeignKey("campaign_items.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("rater_id", sa.Integer(), sa.ForeignKey("raters.id"), nullable=False),
        sa.Column("order_index", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("item_id", "rater_id", name="uq_assignments_item_rater"),
        sa.CheckConstraint(
            "status IN ('pending', 'in_progress', 'done', 'skipped')", name="ck_assignments_status"
        ),
    )
    op.create_index("ix_assignments_item_id", "assignments", ["item_id"])


def downgrade() -> None:
    for table in (
        "assignments",
        "campaign_items",
        "campaigns",
        "preferences",
        "ratings",
        "interpretations",
        "cases",
        "raters",
    ):
        op.drop_table(table)
