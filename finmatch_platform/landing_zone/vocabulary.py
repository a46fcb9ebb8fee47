"""The enumerations of the source contract: the values a column may hold.

One home for them so the generator that produces the data and the rules that validate it can
never drift apart.
"""

from __future__ import annotations

GENDERS = ("Male", "Female")
TITLES = ("Mr", "Mrs", "Ms", "Miss", "Master")
MARITAL_STATUSES = ("Single", "Married", "Divorced", "Widowed")
SEGMENTS = ("Urban", "Semi-Urban", "Rural")
CATEGORIES = ("Resident", "Non Resident")
PRIVILEGES = ("Regular", "Silver", "Gold", "Platinum")
CUSTOMER_TYPES = ("Personal", "Corporate", "Merchant")
OCCUPATIONS = (
    "Student",
    "Salaried",
    "Self-Employed",
    "Business",
    "Professional",
    "Homemaker",
    "Retired",
    "Unemployed",
)
SOURCING_CHANNELS = ("Branch", "Partner", "Online")
STATUSES = ("Active", "Dormant", "Deceased")
RISK_CATEGORIES = ("Low", "Medium", "High")
AFFLUENCE_LEVELS = ("Mass", "Mass Affluent", "Affluent", "HNI")
FPR_STATUSES = ("Recommended", "Viewed", "Accepted", "Rejected", "Expired")
LIFECYCLE_STAGES = ("New", "Growing", "Mature", "At Risk", "Dormant")
TRENDS = ("Increasing", "Stable", "Decreasing")
