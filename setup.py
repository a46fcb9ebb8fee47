from setuptools import find_packages, setup

setup(
    name="finmatch_platform",
    version="0.1.0",
    description="Dagster asset-orchestrated data platform for retail banking analytics",
    packages=find_packages(exclude=["finmatch_platform_tests"]),
    package_data={"finmatch_platform": ["py.typed", "*.yaml"]},
    python_requires=">=3.11,<3.14",
    install_requires=[
        "dagster==1.13.*",
        "dagster-webserver==1.13.*",
        "dagster-graphql==1.13.*",
        "dagster-duckdb",
        "dagster-dbt",
        # 1.12 pulls a package whose build downloads from the internet.
        "dbt-core~=1.11.0",
        "dbt-duckdb~=1.11.0",
        "duckdb>=1.2",
        "numpy>=1.26",
        "pandas>=2.1",
        "pyarrow>=15",
        "faker>=25",
        "requests>=2.31",
        "pyyaml>=6",
        "tabulate>=0.9",  # pandas.DataFrame.to_markdown for metadata previews
        # The FPR API server: FastAPI for the OpenAPI document, uvicorn, orjson for fast JSON.
        "fastapi>=0.110",
        "uvicorn[standard]>=0.29",
        "orjson>=3.9",
        # make run's launcher: the process tree it supervises, and the local secrets file.
        "psutil>=5.9",
        "python-dotenv>=1.0",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            # make test-fast spreads the fast tier over both cores.
            "pytest-xdist>=3.6",
            "schemathesis>=4,<5",
            "hypothesis>=6",
            # Pinned: the formatter's output (checked by make lint) changes between releases.
            "ruff==0.17.6",
            # SQL lint of the dbt project (make lint-sql); the dbt templater pins its sqlfluff.
            "sqlfluff>=4.4,<5",
            "sqlfluff-templater-dbt>=4.4,<5",
        ],
        "bench": ["dlt[duckdb,parquet]>=1.0"],
    },
    entry_points={
        "console_scripts": [
            "finmatch-api=finmatch_platform.simulator.api.server:main",
            "finmatch-payscore-api=finmatch_platform.simulator.api.payscore_server:main",
            "finmatch-connector-debug=finmatch_platform.connector_debug:main",
        ],
    },
)
