pytest_plugins = ["predictflow_devtools.pytest_plugin"]
