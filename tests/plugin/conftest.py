"""The sample projects are run by test_pytest_plugin.py in their own pytest process, never collected here."""

collect_ignore = ["projects"]
