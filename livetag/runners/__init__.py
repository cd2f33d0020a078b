"""Processes, the OS and browsers: serving, desktop windows, the command line."""
