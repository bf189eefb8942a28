"""Residents' satisfaction (issue 20, point 3): one optional 5-point question and a free-text box at the end of a
journey (submitted, issued), kept apart from the application, never required, counted into the open-data KPIs.
The free text is shown to the municipality's staff only.
"""
