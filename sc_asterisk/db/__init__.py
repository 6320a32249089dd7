"""Database room: models, engine/session helpers, schema upgrades."""
from .models import (AudioAsset, Base, CallAttempt, CallRecord, Campaign, CampaignSegment, Contact,
                     SegmentListen)
from .session import Database
from . import models_privacy  # noqa: F401  (registers the privacy tables on Base.metadata)
from . import models_telecom  # noqa: F401
from . import models_web  # noqa: F401

__all__ = ["AudioAsset", "Base", "CallAttempt", "CallRecord", "Campaign", "CampaignSegment",
           "Contact", "Database", "SegmentListen"]
