"""The ratings store's tables (SQLAlchemy 2 ORM). Migrations in ``annotations/migrations`` build the same.

Rater -> Rating (one per rater and interpretation, editable) -> RatingVersion (every submitted version,
each with the client's idempotency key). Case -> Interpretation. Preference compares two
interpretations of one case. Campaign -> CampaignItem (a case and its interpretations) -> Assignment
(rater, item, status, the rater's own position of the item).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, deferred, mapped_column, relationship

from annotations.metrics import METRIC_NAMES

ROLES = ("rater", "admin")
CHOICES = ("a", "b", "tie", "both_bad")
ASSIGNMENT_STATUSES = ("pending", "in_progress", "done", "skipped")
CAMPAIGN_KINDS = ("rate", "compare")
KEY_LENGTH = 128  # longest idempotency key accepted


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _in(column: str, values) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _score_checks(prefix: str) -> list[CheckConstraint]:
    return [CheckConstraint(f"{m} BETWEEN 1 AND 5", name=f"ck_{prefix}_{m}") for m in METRIC_NAMES]


class Base(DeclarativeBase):
    type_annotation_map = {dict: JSON, datetime: DateTime()}


class ScoresMixin:
    """The seven 1-5 integers (column names are ``annotations.metrics.METRIC_NAMES``)."""

    analytical_relevance: Mapped[int] = mapped_column(SmallInteger)
    analytical_accuracy: Mapped[int] = mapped_column(SmallInteger)
    analytical_completeness: Mapped[int] = mapped_column(SmallInteger)
    reasoning_quality: Mapped[int] = mapped_column(SmallInteger)
    findings_novelty: Mapped[int] = mapped_column(SmallInteger)
    clinical_value: Mapped[int] = mapped_column(SmallInteger)
    overall_satisfaction: Mapped[int] = mapped_column(SmallInteger)

    def scores(self) -> dict[str, int]:
        return {m: getattr(self, m) for m in METRIC_NAMES}


class Rater(Base):
    __tablename__ = "raters"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_raters_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(32), unique=True)  # the only id that leaves the store
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128), default="")
    role: Mapped[str] = mapped_column(String(16), default="rater")
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(KEY_LENGTH), unique=True)


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(String(512), default="")  # file path or sample id it came from
    record_id: Mapped[str] = mapped_column(String(128), default="")
    fs: Mapped[float] = mapped_column(Float)
    n_samples: Mapped[int] = mapped_column(Integer)
    meta: Mapped[dict] = mapped_column("metadata", JSON, default=dict)  # de-identified, see store.py
    signal_npz: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))  # to re-render at export
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Interpretation(Base):
    __tablename__ = "interpretations"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str] = mapped_column(String(128), default="")
    question: Mapped[str] = mapped_column(Text)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    text: Mapped[str] = mapped_column(Text)
    grounding: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)

    case: Mapped[Case] = relationship()


class Rating(ScoresMixin, Base):
    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("rater_id", "interpretation_id", name="uq_ratings_rater_interpretation"),
        *_score_checks("ratings"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    interpretation_id: Mapped[int] = mapped_column(ForeignKey("interpretations.id"), index=True)
    comment: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)  # of the first version
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class RatingVersion(ScoresMixin, Base):
    """Every submitted version of a rating, the current one included (added by migration 0002)."""

    __tablename__ = "rating_versions"
    __table_args__ = (
        UniqueConstraint("rating_id", "version", name="uq_rating_versions_rating_version"),
        *_score_checks("rating_versions"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)


class Preference(Base):
    __tablename__ = "preferences"
    __table_args__ = (
        CheckConstraint(_in("choice", CHOICES), name="ck_preferences_choice"),
        CheckConstraint("interpretation_a_id <> interpretation_b_id", name="ck_preferences_distinct"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    interpretation_a_id: Mapped[int] = mapped_column(ForeignKey("interpretations.id"))
    interpretation_b_id: Mapped[int] = mapped_column(ForeignKey("interpretations.id"))
    choice: Mapped[str] = mapped_column(String(16))
    rationale: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint(_in("kind", CAMPAIGN_KINDS), name="ck_campaigns_kind"),
        CheckConstraint("k_raters >= 1", name="ck_campaigns_k"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    guidelines_md: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16), default="rate")
    k_raters: Mapped[int] = mapped_column(Integer, default=2)
    blind_names: Mapped[dict] = mapped_column(JSON, default=dict)  # model name -> "Model A", ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    idempotency_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)


class CampaignItem(Base):
    __tablename__ = "campaign_items"
    __table_args__ = (UniqueConstraint("campaign_id", "position", name="uq_campaign_items_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    position: Mapped[int] = mapped_column(Integer)  # line number in the imported file
    interpretation_ids: Mapped[list] = mapped_column(JSON)  # in file order


class Assignment(Base):
    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("item_id", "rater_id", name="uq_assignments_item_rater"),
        CheckConstraint(_in("status", ASSIGNMENT_STATUSES), name="ck_assignments_status"),
        Index("ix_assignments_rater_campaign_status", "rater_id", "campaign_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    item_id: Mapped[int] = mapped_column(ForeignKey("campaign_items.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id"))
    order_index: Mapped[int] = mapped_column(Integer)  # the rater's own shuffled position
    status: Mapped[str] = mapped_column(String(16), default="pending")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
