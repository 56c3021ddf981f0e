from setuptools import find_namespace_packages, setup

setup(
    name="lamed",
    version="2.0.0",
    description="Self-hosted A/B testing backend: exact event counting on Chalice + Redis",
    python_requires=">=3.11",
    # dashboard_templates/ sits beside lamed/ (lamed.dashboard.views looks there), so
    # it is installed as a data-only package next to it.
    packages=find_namespace_packages(include=["lamed", "lamed.*", "dashboard_templates", "dashboard_templates.*"]),
    package_data={"dashboard_templates": ["*.html", "static/*"]},
    install_requires=[
        "chalice>=1.30",
        # 5.3 is the first whose pools hand out a connection without a command name;
        # 6.0 the first that imports without PyJWT, which the Lambda bundle does not carry.
        "redis>=6.0.0",
        # C reply parser: redis-py uses it when present (halves the store's CPU per event),
        # from 3.0 on (older ones it ignores); the lean track path reads with its Reader.
        "hiredis>=3.0",
        "jinja2>=3.1",
        "click>=8.1",
        # lamed deploy only, never in the Lambda bundle. 1.40.50 knows InvokedViaFunctionUrl;
        # 1.42.7 speaks CloudWatch's CBOR protocol, the one moto's server (the tests) answers.
        "boto3>=1.42.7",
        # lamed serve: waitress reads whole requests before a thread sees them;
        # gunicorn's master runs --workers N of it (lamed.cli.serve).
        "waitress>=3.0",
        "gunicorn>=23",
        # lamed serve's /metrics, added up across workers (multiprocess mode);
        # never imported by the Lambda function.
        "prometheus_client>=0.17",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "fakeredis>=2.20",
            "hypothesis>=6",
            "schemathesis>=4",
            "playwright>=1.40",
            "moto[server]>=5",
            "ruff",
            "import-linter",
            "mypy",
            "scipy",
            "statsmodels",
        ],
        "server": [],  # kept so `pip install 'lamed[server]'` still works: serving needs nothing extra
    },
    entry_points={"console_scripts": ["lamed=lamed.cli.main:main"]},
)
