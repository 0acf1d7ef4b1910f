import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(config, items):
    """Files holding `slow` tests run first: with `-n 2 --dist loadfile` the long files start
    at once and the short ones fill in around them, instead of one long file running alone at
    the end while the other worker idles. The order is the same in every worker."""
    slow_files = {str(item.path) for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: str(item.path) not in slow_files)
