"""The bank's product catalogue: every product's terms, its index constants and lookups by type."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Product:
    name: str
    product_type: str
    subtype: str
    interest_rate_pct: float | None
    annual_fee: float
    interchange_rate_pct: float | None
    tenure_months: int | None
    min_amount: float
    max_amount: float
    terms: str
    launched_days_before_start: int


PRODUCTS: tuple[Product, ...] = (
    Product(
        "FinMatch Classic Credit Card",
        "Credit Card",
        "Classic",
        42.0,
        499.0,
        1.8,
        None,
        25_000,
        150_000,
        "Annual fee INR 499, waived on spends above INR 1,00,000; 1 reward point per INR 150; 3.5% per month on revolving balances.",
        2900,
    ),
    Product(
        "FinMatch Rewards Credit Card",
        "Credit Card",
        "Rewards",
        42.0,
        999.0,
        1.9,
        None,
        50_000,
        300_000,
        "Annual fee INR 999; 5x reward points on dining and online shopping; 3.5% per month on revolving balances.",
        2100,
    ),
    Product(
        "FinMatch Voyager Travel Credit Card",
        "Credit Card",
        "Travel",
        42.0,
        2999.0,
        2.0,
        None,
        100_000,
        800_000,
        "Annual fee INR 2,999; 4 air miles per INR 100 on travel; 8 lounge visits a year; 1.99% forex mark-up.",
        1500,
    ),
    Product(
        "FinMatch Fuel Saver Credit Card",
        "Credit Card",
        "Fuel",
        42.0,
        499.0,
        1.5,
        None,
        25_000,
        200_000,
        "Annual fee INR 499; 1% fuel surcharge waiver up to INR 250 a month; 4x points at fuel stations.",
        2500,
    ),
    Product(
        "FinMatch Platinum Credit Card",
        "Credit Card",
        "Premium",
        39.0,
        4999.0,
        2.1,
        None,
        300_000,
        2_500_000,
        "Annual fee INR 4,999; concierge, unlimited lounge access, golf privileges; 3.25% per month on revolving balances.",
        1200,
    ),
    Product(
        "FinMatch Campus Credit Card",
        "Credit Card",
        "Student",
        42.0,
        0.0,
        1.6,
        None,
        10_000,
        50_000,
        "Lifetime free for students; 2x points on exam fees and education; limit against a fixed deposit.",
        900,
    ),
    Product(
        "FinMatch Personal Loan",
        "Loan",
        "Personal Loan",
        11.5,
        0.0,
        None,
        60,
        50_000,
        4_000_000,
        "10.5%-14% p.a. depending on CIBIL score; processing fee 1.5%; tenure 12-60 months; no collateral.",
        3300,
    ),
    Product(
        "FinMatch Home Loan",
        "Loan",
        "Home Loan",
        8.6,
        0.0,
        None,
        240,
        1_000_000,
        50_000_000,
        "Floating rate linked to repo; up to 80% of property value; tenure up to 20 years; no prepayment charges.",
        3600,
    ),
    Product(
        "FinMatch Auto Loan",
        "Loan",
        "Auto Loan",
        9.2,
        0.0,
        None,
        84,
        200_000,
        3_000_000,
        "Up to 90% on-road funding; tenure up to 7 years; processing fee INR 3,500.",
        3000,
    ),
    Product(
        "FinMatch Education Loan",
        "Loan",
        "Education Loan",
        9.8,
        0.0,
        None,
        120,
        100_000,
        7_500_000,
        "Moratorium for the course plus 1 year; tax benefit under section 80E; co-applicant required.",
        2700,
    ),
    Product(
        "FinMatch Gold Loan",
        "Loan",
        "Gold Loan",
        9.0,
        0.0,
        None,
        12,
        10_000,
        2_500_000,
        "Up to 75% of gold value; bullet repayment; same-day disbursal.",
        1800,
    ),
    Product(
        "FinMatch Term Life Cover",
        "Insurance",
        "Term Life",
        None,
        12_000.0,
        None,
        360,
        2_500_000,
        20_000_000,
        "Pure term cover to age 85; premium fixed at purchase; tax benefit under section 80C.",
        2400,
    ),
    Product(
        "FinMatch Health Shield",
        "Insurance",
        "Health",
        None,
        18_000.0,
        None,
        12,
        500_000,
        5_000_000,
        "Family floater; cashless at 9,000 hospitals; no-claim bonus up to 100%.",
        2000,
    ),
    Product(
        "FinMatch Motor Secure",
        "Insurance",
        "Motor",
        None,
        9_000.0,
        None,
        12,
        100_000,
        3_000_000,
        "Comprehensive motor cover with zero depreciation add-on and roadside assistance.",
        1700,
    ),
    Product(
        "FinMatch Travel Guard",
        "Insurance",
        "Travel",
        None,
        1_500.0,
        None,
        1,
        100_000,
        5_000_000,
        "Single or multi-trip cover: medical, baggage and flight delay; Schengen compliant.",
        1100,
    ),
    Product(
        "FinMatch Fixed Deposit 1 Year",
        "Deposit",
        "Fixed Deposit",
        6.8,
        0.0,
        None,
        12,
        5_000,
        50_000_000,
        "6.8% p.a. compounded quarterly; premature withdrawal penalty 1%.",
        3500,
    ),
    Product(
        "FinMatch Fixed Deposit 3 Years",
        "Deposit",
        "Fixed Deposit",
        7.0,
        0.0,
        None,
        36,
        5_000,
        50_000_000,
        "7.0% p.a. compounded quarterly; loan against deposit up to 90%.",
        3500,
    ),
    Product(
        "FinMatch Senior Citizen Deposit",
        "Deposit",
        "Fixed Deposit",
        7.5,
        0.0,
        None,
        36,
        5_000,
        50_000_000,
        "7.5% p.a. for customers aged 60 and over; monthly or quarterly payout.",
        3100,
    ),
    Product(
        "FinMatch Recurring Deposit",
        "Deposit",
        "Recurring Deposit",
        6.5,
        0.0,
        None,
        24,
        500,
        200_000,
        "Monthly instalments from INR 500; 6.5% p.a.; tenure 6-120 months.",
        3400,
    ),
    Product(
        "FinMatch Tax Saver Deposit",
        "Deposit",
        "Fixed Deposit",
        6.9,
        0.0,
        None,
        60,
        10_000,
        150_000,
        "5-year lock-in; deduction under section 80C up to INR 1,50,000.",
        2800,
    ),
    Product(
        "FinMatch Bluechip Equity Fund",
        "Investment",
        "Mutual Fund",
        None,
        0.0,
        None,
        None,
        500,
        10_000_000,
        "Large-cap equity fund; expense ratio 0.9%; exit load 1% within 12 months.",
        2600,
    ),
    Product(
        "FinMatch Short Term Debt Fund",
        "Investment",
        "Mutual Fund",
        None,
        0.0,
        None,
        None,
        1_000,
        10_000_000,
        "Debt fund with 1-3 year duration; expense ratio 0.4%; no exit load.",
        2300,
    ),
    Product(
        "FinMatch ELSS Tax Saver Fund",
        "Investment",
        "Mutual Fund",
        None,
        0.0,
        None,
        36,
        500,
        150_000,
        "Equity-linked savings scheme; 3-year lock-in; deduction under section 80C.",
        2200,
    ),
    Product(
        "FinMatch Nifty 50 Index Fund",
        "Investment",
        "Mutual Fund",
        None,
        0.0,
        None,
        None,
        100,
        10_000_000,
        "Tracks the Nifty 50; expense ratio 0.2%; SIP from INR 100.",
        1300,
    ),
    Product(
        "FinMatch Sovereign Gold Bond",
        "Investment",
        "Gold Bond",
        2.5,
        0.0,
        None,
        96,
        5_000,
        4_000_000,
        "Government of India gold bond; 2.5% p.a. interest plus gold price; exit after year 5.",
        1000,
    ),
)
PRODUCT_TYPE_CODES = ("Credit Card", "Loan", "Insurance", "Deposit", "Investment")
PT_CARD, PT_LOAN, PT_INSURANCE, PT_DEPOSIT, PT_INVESTMENT = range(5)
PRODUCT_TYPE = np.array([PRODUCT_TYPE_CODES.index(p.product_type) for p in PRODUCTS], dtype=np.int8)
PRODUCT_SUBTYPE = tuple(p.subtype for p in PRODUCTS)
PRODUCT_MIN = np.array([p.min_amount for p in PRODUCTS])
PRODUCT_MAX = np.array([p.max_amount for p in PRODUCTS])
PRODUCT_FEE = np.array([p.annual_fee for p in PRODUCTS])


def product_index(name: str) -> int:
    return next(i for i, p in enumerate(PRODUCTS) if p.name == name)


def product_id(index: int) -> str:
    return f"P{index + 1:04d}"


def subtype_indices(product_type: int, subtype: str | None = None) -> np.ndarray:
    return np.array(
        [
            i
            for i, p in enumerate(PRODUCTS)
            if PRODUCT_TYPE[i] == product_type and (subtype is None or p.subtype == subtype)
        ]
    )


CARD_CLASSIC = product_index("FinMatch Classic Credit Card")
CARD_REWARDS = product_index("FinMatch Rewards Credit Card")
CARD_TRAVEL = product_index("FinMatch Voyager Travel Credit Card")
CARD_FUEL = product_index("FinMatch Fuel Saver Credit Card")
CARD_PLATINUM = product_index("FinMatch Platinum Credit Card")
CARD_CAMPUS = product_index("FinMatch Campus Credit Card")
LOAN_PERSONAL = product_index("FinMatch Personal Loan")
LOAN_HOME = product_index("FinMatch Home Loan")
LOAN_AUTO = product_index("FinMatch Auto Loan")
LOAN_EDUCATION = product_index("FinMatch Education Loan")
LOAN_GOLD = product_index("FinMatch Gold Loan")
INS_TERM = product_index("FinMatch Term Life Cover")
INS_HEALTH = product_index("FinMatch Health Shield")
INS_MOTOR = product_index("FinMatch Motor Secure")
INS_TRAVEL = product_index("FinMatch Travel Guard")
FD_1Y = product_index("FinMatch Fixed Deposit 1 Year")
FD_3Y = product_index("FinMatch Fixed Deposit 3 Years")
FD_SENIOR = product_index("FinMatch Senior Citizen Deposit")
RD = product_index("FinMatch Recurring Deposit")
FD_TAX = product_index("FinMatch Tax Saver Deposit")
MF_EQUITY = product_index("FinMatch Bluechip Equity Fund")
MF_DEBT = product_index("FinMatch Short Term Debt Fund")
MF_ELSS = product_index("FinMatch ELSS Tax Saver Fund")
MF_INDEX = product_index("FinMatch Nifty 50 Index Fund")
SGB = product_index("FinMatch Sovereign Gold Bond")


def launched_on(index: int, start: dt.date) -> dt.date:
    return start - dt.timedelta(days=PRODUCTS[index].launched_days_before_start)
