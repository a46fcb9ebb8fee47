"""Reference data of the synthetic bank: enumerations, places, and the product catalogue (kept in
:mod:`.products`, re-exported here so the generator reads every reference table from one module).

Places are a curated table rather than Faker output because city, state, postcode, country and
dialling code must agree with each other (Faker's en_IN city and state are drawn independently).
Coordinates let the fraud bursts pick cities that are genuinely far apart.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

# Re-exported: the generator's modules read the enumerations from here.
from finmatch_platform.landing_zone.vocabulary import (  # noqa: F401
    AFFLUENCE_LEVELS,
    CATEGORIES,
    CUSTOMER_TYPES,
    FPR_STATUSES,
    GENDERS,
    LIFECYCLE_STAGES,
    MARITAL_STATUSES,
    OCCUPATIONS,
    PRIVILEGES,
    RISK_CATEGORIES,
    SEGMENTS,
    SOURCING_CHANNELS,
    STATUSES,
    TITLES,
    TRENDS,
)

# Re-exported: the catalogue lives in products.py.
from .products import (  # noqa: F401
    CARD_CAMPUS,
    CARD_CLASSIC,
    CARD_FUEL,
    CARD_PLATINUM,
    CARD_REWARDS,
    CARD_TRAVEL,
    FD_1Y,
    FD_3Y,
    FD_SENIOR,
    FD_TAX,
    INS_HEALTH,
    INS_MOTOR,
    INS_TERM,
    INS_TRAVEL,
    LOAN_AUTO,
    LOAN_EDUCATION,
    LOAN_GOLD,
    LOAN_HOME,
    LOAN_PERSONAL,
    MF_DEBT,
    MF_ELSS,
    MF_EQUITY,
    MF_INDEX,
    PRODUCT_FEE,
    PRODUCT_MAX,
    PRODUCT_MIN,
    PRODUCT_SUBTYPE,
    PRODUCT_TYPE,
    PRODUCT_TYPE_CODES,
    PRODUCTS,
    PT_CARD,
    PT_DEPOSIT,
    PT_INSURANCE,
    PT_INVESTMENT,
    PT_LOAN,
    RD,
    SGB,
    Product,
    launched_on,
    product_id,
    product_index,
    subtype_indices,
)

# Integer codes into those enumerations, as held in the latent tables.
MALE, FEMALE = 0, 1
TITLE_MR, TITLE_MRS, TITLE_MS, TITLE_MISS, TITLE_MASTER = range(5)
SINGLE, MARRIED, DIVORCED, WIDOWED = range(4)
STUDENT, SALARIED, SELF_EMPLOYED, BUSINESS, PROFESSIONAL, HOMEMAKER, RETIRED, UNEMPLOYED = range(8)
ACTIVE, DORMANT, DECEASED = range(3)
# Spend multiplier per affluence level (Mass .. HNI).
AFFLUENCE_SPEND = np.array([0.7, 1.0, 1.6, 3.0])

# (min age, max age, share of the book): the age bands of a real retail book.
AGE_BANDS: tuple[tuple[float, float, float], ...] = (
    (0.5, 18.0, 0.10),
    (18.0, 30.0, 0.30),
    (30.0, 45.0, 0.35),
    (45.0, 60.0, 0.10),
    (60.0, 85.0, 0.15),
)
ADULT_AGE = 18
SENIOR_AGE = 60
MARRIAGE_MIN_AGE = 21

ACCOUNT_TYPES = ("Savings", "Current", "Credit Card", "Loan", "Deposit", "Investment")
ACC_SAVINGS, ACC_CURRENT, ACC_CARD, ACC_LOAN, ACC_DEPOSIT, ACC_INVESTMENT = range(6)
ACCOUNT_STATUSES = ("Open", "Closed")
CURRENCY = "INR"

MODES = ("UPI", "QR", "Card", "NetBanking")
MODE_UPI, MODE_QR, MODE_CARD, MODE_NETBANKING = range(4)
REASONS = ("Food & Grocery", "Travel", "Ecom", "Exam", "Utilities", "Fuel", "Entertainment", "Health")
R_FOOD, R_TRAVEL, R_ECOM, R_EXAM, R_UTILITIES, R_FUEL, R_ENTERTAINMENT, R_HEALTH = range(8)
# Median amount (INR) and log-sd per reason, before the affluence multiplier.
REASON_MEDIAN_INR = np.array([550.0, 5500.0, 1400.0, 1500.0, 1600.0, 1800.0, 700.0, 1100.0])
REASON_SIGMA = np.array([0.7, 0.8, 0.9, 0.6, 0.5, 0.4, 0.7, 0.9])
# Base reason mix of an adult; Travel is scaled by the travel-affinity latent, Exam by age.
REASON_BASE_WEIGHTS = np.array([0.36, 0.05, 0.16, 0.01, 0.10, 0.10, 0.08, 0.07])
# Mode mix by age group (young < 30, middle, senior 60+) and how each reason tilts it.
MODE_BY_AGE_GROUP = np.array(
    [
        [0.55, 0.20, 0.15, 0.10],
        [0.40, 0.15, 0.30, 0.15],
        [0.20, 0.05, 0.35, 0.40],
    ]
)
MODE_TILT_BY_REASON = np.array(
    [
        [1.2, 1.6, 0.6, 0.3],  # Food & Grocery: scan-and-pay
        [0.6, 0.2, 1.8, 1.6],  # Travel: cards and net banking
        [0.9, 0.1, 1.5, 1.3],  # Ecom
        [0.8, 0.1, 0.8, 2.5],  # Exam fees: portals
        [1.0, 0.2, 0.6, 2.0],  # Utilities
        [1.2, 1.2, 1.2, 0.1],  # Fuel
        [1.0, 0.8, 1.3, 0.6],  # Entertainment
        [1.0, 0.9, 1.2, 0.8],  # Health
    ]
)
MERCHANT_SUFFIXES: dict[int, tuple[str, ...]] = {
    R_FOOD: ("Kirana Store", "Supermarket", "Sweets", "Restaurant", "Fresh Mart", "Dairy"),
    R_TRAVEL: ("Travels", "Tours", "Holidays", "Air Travels", "Cabs", "Residency"),
    R_ECOM: ("Online", "Mart", "Retail", "Bazaar Online", "Shoppe", "Electronics"),
    R_EXAM: ("Coaching Centre", "Academy", "Institute", "Tutorials", "Classes", "Exam Services"),
    R_UTILITIES: ("Power Services", "Gas Agency", "Broadband", "Water Works", "Telecom", "DTH Services"),
    R_FUEL: ("Fuel Station", "Petroleum", "Filling Station", "Fuels", "Auto Fuels", "Service Station"),
    R_ENTERTAINMENT: ("Cinemas", "Entertainment", "Multiplex", "Gaming Zone", "Events", "Club"),
    R_HEALTH: ("Medicals", "Hospital", "Clinic", "Diagnostics", "Pharmacy", "Dental Care"),
}
DEVICE_TYPES = ("Android", "iOS", "Web")
DEVICE_TYPE_WEIGHTS = np.array([0.68, 0.22, 0.10])

ST_RECOMMENDED, ST_VIEWED, ST_ACCEPTED, ST_REJECTED, ST_EXPIRED = range(5)
STAGE_NEW, STAGE_GROWING, STAGE_MATURE, STAGE_AT_RISK, STAGE_DORMANT = range(5)
INTERESTS = (
    "Travel",
    "Dining",
    "Online Shopping",
    "Investments",
    "Education",
    "Health & Wellness",
    "Movies",
    "Motoring",
)


@dataclass(frozen=True)
class Country:
    name: str
    dialling_code: str
    nationality: str


COUNTRIES: tuple[Country, ...] = (
    Country("India", "+91", "Indian"),
    Country("United Arab Emirates", "+971", "Indian"),  # the UAE does not naturalise: NRIs stay Indian
    Country("United Kingdom", "+44", "British"),
    Country("United States", "+1", "American"),
    Country("Singapore", "+65", "Singaporean"),
)
INDIA, UAE, UK, USA, SINGAPORE = range(5)
# Share of Non Resident customers, and where they live.
NON_RESIDENT_SHARE = 0.04
NON_RESIDENT_COUNTRY_WEIGHTS = np.array([0.0, 0.40, 0.20, 0.25, 0.15])
# Non Residents of the UK/US/Singapore holding that citizenship (OCI cardholders); the rest are Indian.
FOREIGN_NATIONALITY_SHARE = 0.3


@dataclass(frozen=True)
class City:
    name: str
    state: str
    country: int
    lat: float
    lon: float
    tier: int  # 1 metro, 2 large city, 3 town (India); 1 abroad
    weight: float  # relative share of customers within the country
    postcode_key: str  # India: 3-digit PIN prefix; UK: outward codes "|"-joined; US: 3-digit ZIP prefix


CITIES: tuple[City, ...] = (
    # India, tier 1
    City("Mumbai", "Maharashtra", INDIA, 19.08, 72.88, 1, 10.0, "400"),
    City("Delhi", "Delhi", INDIA, 28.61, 77.21, 1, 10.0, "110"),
    City("Bengaluru", "Karnataka", INDIA, 12.97, 77.59, 1, 8.0, "560"),
    City("Chennai", "Tamil Nadu", INDIA, 13.08, 80.27, 1, 6.0, "600"),
    City("Kolkata", "West Bengal", INDIA, 22.57, 88.36, 1, 6.0, "700"),
    City("Hyderabad", "Telangana", INDIA, 17.39, 78.49, 1, 6.0, "500"),
    City("Pune", "Maharashtra", INDIA, 18.52, 73.86, 1, 4.0, "411"),
    City("Ahmedabad", "Gujarat", INDIA, 23.02, 72.57, 1, 4.0, "380"),
    # India, tier 2
    City("Jaipur", "Rajasthan", INDIA, 26.91, 75.79, 2, 2.0, "302"),
    City("Lucknow", "Uttar Pradesh", INDIA, 26.85, 80.95, 2, 2.0, "226"),
    City("Kochi", "Kerala", INDIA, 9.93, 76.27, 2, 1.5, "682"),
    City("Chandigarh", "Chandigarh", INDIA, 30.73, 76.78, 2, 1.2, "160"),
    City("Indore", "Madhya Pradesh", INDIA, 22.72, 75.86, 2, 1.5, "452"),
    City("Bhopal", "Madhya Pradesh", INDIA, 23.26, 77.41, 2, 1.2, "462"),
    City("Nagpur", "Maharashtra", INDIA, 21.15, 79.09, 2, 1.5, "440"),
    City("Coimbatore", "Tamil Nadu", INDIA, 11.02, 76.96, 2, 1.5, "641"),
    City("Visakhapatnam", "Andhra Pradesh", INDIA, 17.69, 83.22, 2, 1.3, "530"),
    City("Patna", "Bihar", INDIA, 25.59, 85.14, 2, 1.5, "800"),
    City("Bhubaneswar", "Odisha", INDIA, 20.30, 85.82, 2, 1.0, "751"),
    City("Guwahati", "Assam", INDIA, 26.14, 91.74, 2, 1.0, "781"),
    City("Surat", "Gujarat", INDIA, 21.17, 72.83, 2, 1.8, "395"),
    City("Vadodara", "Gujarat", INDIA, 22.31, 73.18, 2, 1.0, "390"),
    City("Thiruvananthapuram", "Kerala", INDIA, 8.52, 76.94, 2, 1.0, "695"),
    City("Mysuru", "Karnataka", INDIA, 12.30, 76.64, 2, 0.8, "570"),
    City("Madurai", "Tamil Nadu", INDIA, 9.93, 78.12, 2, 0.9, "625"),
    City("Nashik", "Maharashtra", INDIA, 19.99, 73.79, 2, 0.9, "422"),
    City("Ludhiana", "Punjab", INDIA, 30.90, 75.86, 2, 1.0, "141"),
    City("Dehradun", "Uttarakhand", INDIA, 30.32, 78.03, 2, 0.7, "248"),
    City("Ranchi", "Jharkhand", INDIA, 23.34, 85.31, 2, 0.8, "834"),
    City("Raipur", "Chhattisgarh", INDIA, 21.25, 81.63, 2, 0.8, "492"),
    # India, tier 3 towns
    City("Nanded", "Maharashtra", INDIA, 19.14, 77.32, 3, 0.5, "431"),
    City("Hubballi", "Karnataka", INDIA, 15.36, 75.12, 3, 0.5, "580"),
    City("Tirunelveli", "Tamil Nadu", INDIA, 8.71, 77.76, 3, 0.5, "627"),
    City("Gaya", "Bihar", INDIA, 24.79, 85.00, 3, 0.5, "823"),
    City("Bikaner", "Rajasthan", INDIA, 28.02, 73.31, 3, 0.4, "334"),
    City("Sambalpur", "Odisha", INDIA, 21.47, 83.97, 3, 0.4, "768"),
    City("Jorhat", "Assam", INDIA, 26.75, 94.20, 3, 0.3, "785"),
    City("Kurnool", "Andhra Pradesh", INDIA, 15.83, 78.04, 3, 0.4, "518"),
    City("Ballari", "Karnataka", INDIA, 15.14, 76.92, 3, 0.4, "583"),
    City("Bathinda", "Punjab", INDIA, 30.21, 74.95, 3, 0.4, "151"),
    City("Shimla", "Himachal Pradesh", INDIA, 31.10, 77.17, 3, 0.3, "171"),
    City("Udaipur", "Rajasthan", INDIA, 24.59, 73.71, 3, 0.4, "313"),
    City("Thrissur", "Kerala", INDIA, 10.53, 76.21, 3, 0.5, "680"),
    City("Warangal", "Telangana", INDIA, 17.97, 79.59, 3, 0.4, "506"),
    City("Gorakhpur", "Uttar Pradesh", INDIA, 26.76, 83.37, 3, 0.5, "273"),
    City("Muzaffarpur", "Bihar", INDIA, 26.12, 85.39, 3, 0.4, "842"),
    City("Satara", "Maharashtra", INDIA, 17.68, 74.02, 3, 0.4, "415"),
    City("Belagavi", "Karnataka", INDIA, 15.85, 74.50, 3, 0.4, "590"),
    City("Silchar", "Assam", INDIA, 24.83, 92.78, 3, 0.3, "788"),
    City("Karimnagar", "Telangana", INDIA, 18.44, 79.13, 3, 0.3, "505"),
    # Abroad: where the Non Resident customers live
    City("Dubai", "Dubai", UAE, 25.20, 55.27, 1, 6.0, ""),
    City("Abu Dhabi", "Abu Dhabi", UAE, 24.45, 54.38, 1, 3.0, ""),
    City("Sharjah", "Sharjah", UAE, 25.35, 55.42, 1, 2.0, ""),
    City("London", "England", UK, 51.51, -0.13, 1, 6.0, "E14|SW1A|NW3|HA0|UB1|IG1"),
    City("Leicester", "England", UK, 52.64, -1.13, 1, 2.0, "LE1|LE4|LE5"),
    City("Birmingham", "England", UK, 52.49, -1.89, 1, 2.0, "B1|B15|B21"),
    City("New York", "New York", USA, 40.71, -74.01, 1, 3.0, "100"),
    City("Edison", "New Jersey", USA, 40.52, -74.41, 1, 3.0, "088"),
    City("San Jose", "California", USA, 37.34, -121.89, 1, 3.0, "951"),
    City("Houston", "Texas", USA, 29.76, -95.37, 1, 2.0, "770"),
    City("Chicago", "Illinois", USA, 41.88, -87.63, 1, 2.0, "606"),
    City("Singapore", "Singapore", SINGAPORE, 1.35, 103.82, 1, 1.0, ""),
)
CITY_COUNTRY = np.array([c.country for c in CITIES], dtype=np.int8)
CITY_TIER = np.array([c.tier for c in CITIES], dtype=np.int8)
CITY_LAT = np.array([c.lat for c in CITIES])
CITY_LON = np.array([c.lon for c in CITIES])
INDIAN_CITIES = np.nonzero(CITY_COUNTRY == INDIA)[0]
# Segment mix by Indian city tier (Urban, Semi-Urban, Rural); abroad is always Urban.
SEGMENT_BY_TIER = np.array([[0.95, 0.05, 0.0], [0.60, 0.35, 0.05], [0.0, 0.45, 0.55]])


def city_distance_km(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Great-circle distance between city indices (haversine, Earth radius 6371 km)."""
    lat1, lon1 = np.radians(CITY_LAT[a]), np.radians(CITY_LON[a])
    lat2, lon2 = np.radians(CITY_LAT[b]), np.radians(CITY_LON[b])
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(h))


# Streets abroad that Faker has no locale for; Indian, British and American streets come from Faker.
UAE_STREETS = (
    "Sheikh Zayed Road",
    "Al Wasl Road",
    "Al Nahda Street",
    "Corniche Road",
    "Khalid Bin Al Waleed Road",
    "Al Rigga Road",
    "Hamdan Street",
    "Al Khan Street",
)
SINGAPORE_STREETS = (
    "Ang Mo Kio Avenue 3",
    "Tampines Street 21",
    "Jurong West Street 41",
    "Bedok North Road",
    "Clementi Avenue 2",
    "Serangoon Road",
    "Toa Payoh Lorong 1",
    "Woodlands Drive 14",
)
INDIAN_LOCALITY_SUFFIXES = ("Nagar", "Colony", "Layout", "Puram", "Vihar", "Enclave")
EMAIL_DOMAINS_INDIA = ("rediffmail.com", "yahoo.co.in", "outlook.com", "icloud.com")

# Account type of each product type (PRODUCT_TYPE_CODES order; insurance has no account).
ACCOUNT_TYPE_OF_PRODUCT_TYPE = np.array([ACC_CARD, ACC_LOAN, -1, ACC_DEPOSIT, ACC_INVESTMENT], dtype=np.int8)


EPOCH = dt.date(1970, 1, 1)


def epoch_day(day: dt.date) -> int:
    return (day - EPOCH).days


def from_epoch_day(days: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(days))
