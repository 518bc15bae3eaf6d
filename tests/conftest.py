import os

# keep kernels compiled by one test run for the next one, but away from the user's cache
os.environ.setdefault("NUMGRAD_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numgrad-cache"))
