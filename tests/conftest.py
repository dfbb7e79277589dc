# Importing Feast sets PROMETHEUS_MULTIPROC_DIR, and prometheus_client picks file-backed values, shared
# by every metric of the same name in the process, when it is first imported after that. The tests'
# registries must stay private to each test, so prometheus_client is imported before anything imports
# Feast. (The services under test are processes of their own, with BentoML's multiprocess directory.)
import prometheus_client  # noqa: F401

pytest_plugins = ["predictflow_devtools.pytest_plugin"]
