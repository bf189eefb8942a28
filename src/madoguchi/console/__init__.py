"""The clerk console: the queue, the application page, and counter filing (書かない窓口)."""
